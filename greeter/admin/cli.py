"""``greeter-admin``: serve the admin web page (:mod:`greeter.admin.app`), or store its password.

    greeter-admin --db sqlite:///greeter.db            # http://127.0.0.1:8080
    greeter-admin set-password --config greeter.json   # store a hashed password

Without a password (``$GREETER_ADMIN_PASSWORD`` or ``admin_password_hash`` in the config file)
it serves only on a loopback address. It is a greeter, not access control.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette

from fr_utils.cli import default_help
from greeter.admin import auth
from greeter.admin.app import DEFAULT_HOST, DEFAULT_PORT, create_app
from greeter.config import (
    CONFIG_SOURCES,
    DB_SOURCES,
    WEIGHTS_SOURCES,
    find_config,
    load_config,
    read_config_file,
)
from greeter.library import Store, mask_url, resolve_db_url
from greeter.library.enroller import enroller_for


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greeter-admin",
        description="The greeter's admin web page: enrol people, review visitors and greetings. "
        "`greeter-admin set-password` stores a hashed password in the config file.",
        epilog=f"Password: ${auth.PASSWORD_ENV}, else '{auth.HASH_KEY}' in the config file "
        "(greeter-admin set-password); without one the page is served on a loopback address "
        "only. A greeter, not access control.",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to serve on {default_help(DEFAULT_HOST)}"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port {default_help(str(DEFAULT_PORT))}"
    )
    parser.add_argument(
        "--db",
        help="library URL: sqlite:///path.db or postgresql://... "
        + default_help("'db' in the config file", *DB_SOURCES),
    )
    parser.add_argument("--config", help=f"config file (JSON) {default_help(*CONFIG_SOURCES)}")
    parser.add_argument(
        "--weights",
        help="weights used to encode new photos "
        + default_help("'weights' in the config file", *WEIGHTS_SOURCES),
    )
    return parser


def _set_password(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="greeter-admin set-password",
        description="Store an Argon2 hash of the admin password under `admin_password_hash` "
        "in the config file (other keys and the file mode are kept). Reads the password from "
        "the terminal, or one line from standard input when it is not a terminal.",
    )
    parser.add_argument("--config", help=f"config file (JSON) {default_help(*CONFIG_SOURCES)}")
    args = parser.parse_args(argv)
    path, _ = find_config(args.config)
    path = path or Path("greeter.json")
    if sys.stdin.isatty():
        password = getpass.getpass("New admin password: ")
        if getpass.getpass("Again: ") != password:
            print(
                "greeter-admin: error: the passwords differ; nothing changed.",
                file=sys.stderr,
            )
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        auth.write_password_hash(path, password)
    except (ValueError, OSError) as error:
        print(f"greeter-admin: error: {error}", file=sys.stderr)
        return 2
    print(f"Stored the admin password hash in {path}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the admin web app (or ``set-password``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["set-password"]:
        return _set_password(argv[1:])
    args = _parser().parse_args(argv)
    try:
        app, host = build_from_args(args)
    except (ValueError, OSError) as error:
        print(f"greeter-admin: error: {error}", file=sys.stderr)
        return 2
    import uvicorn

    print(f"greeter-admin on http://{host}:{args.port}/ (a greeter, not access control)")
    uvicorn.run(app, host=host, port=args.port, log_level="info", server_header=False)
    return 0


def build_from_args(args: argparse.Namespace) -> tuple[Starlette, str]:
    """The app for parsed command-line ``args``; raises ValueError when it must not start."""
    config_path, _ = find_config(args.config)
    config = read_config_file(config_path, missing_ok=True) if config_path else {}
    hashed = auth.password_hash(config)
    if hashed is None and not auth.is_loopback(args.host):
        raise ValueError(
            f"--host {args.host} is reachable from other machines and no password is set: "
            f"set ${auth.PASSWORD_ENV} or run `greeter-admin set-password`, "
            "or serve on 127.0.0.1."
        )
    url, source = resolve_db_url(args.db, config)
    settings = load_config(config_path) if config_path and config_path.is_file() else {}
    if args.weights:
        settings["weights"] = args.weights
    store = Store(url)
    print(f"greeter-admin: library {mask_url(url)} ({source})")
    return create_app(
        store, password_hash=hashed, enroller_factory=lambda: enroller_for(settings)
    ), args.host


if __name__ == "__main__":
    raise SystemExit(main())
