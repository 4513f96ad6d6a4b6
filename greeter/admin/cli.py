"""``greeter-admin``: serve the admin web page (:mod:`greeter.admin.app`), or store its password.

    greeter-admin --db sqlite:///greeter.db            # http://127.0.0.1:8080
    greeter-admin set-password --config greeter.json   # store a hashed password

Without a password (``$GREETER_ADMIN_PASSWORD`` or ``admin_password_hash`` in the config file)
it serves only on a loopback address. On any other address it needs TLS (``--certfile`` and
``--keyfile``) or ``--allow-plain-http`` (a TLS reverse proxy in front), and the host names
browsers use (``--allowed-host``) when it listens on every address. The security settings
are also config file keys (``admin_allowed_hosts``, ``admin_trusted_proxies``,
``admin_certfile``, ``admin_keyfile``, ``admin_allow_plain_http``,
``admin_session_idle_minutes``, ``admin_session_max_hours``); a flag wins over the file.
It is a greeter, not access control.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from fr_utils.cli import default_help
from greeter.admin import auth, sessions
from greeter.admin.app import DEFAULT_HOST, DEFAULT_PORT, create_app
from greeter.config import (
    ADMIN_PREFIX,
    CONFIG_SOURCES,
    DB_SOURCES,
    WEIGHTS_SOURCES,
    find_config,
    load_config,
    read_config_file,
)
from greeter.library import Store, mask_url, resolve_db_url
from greeter.library.enroller import enroller_for

PROG = "greeter-admin"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # listen on every address
DESCRIPTION = f"""\
The greeter's admin web page: enrol people, review visitors and greetings.
`{PROG} set-password` stores a hashed admin password in the config file."""
EPILOG = f"""\
password: ${auth.PASSWORD_ENV} (plain text, hashed in memory at start), else the
config key {auth.HASH_KEY!r} written by `{PROG} set-password [--config FILE]`
(it reads the password from the terminal). A running page notices a new one and
ends every session. Without a password it serves on a loopback address only.

sessions live in this process's memory (a restart ends them): they end at logout,
after --session-idle minutes without a request, --session-max hours after login.

A greeter, not access control."""

# Settings that can also come from the config file: flag attribute -> (key, kind).
_CONFIG_KEYS: dict[str, tuple[str, type]] = {
    "allowed_host": (f"{ADMIN_PREFIX}allowed_hosts", list),
    "trusted_proxy": (f"{ADMIN_PREFIX}trusted_proxies", list),
    "certfile": (f"{ADMIN_PREFIX}certfile", str),
    "keyfile": (f"{ADMIN_PREFIX}keyfile", str),
    "allow_plain_http": (f"{ADMIN_PREFIX}allow_plain_http", bool),
    "session_idle": (f"{ADMIN_PREFIX}session_idle_minutes", float),
    "session_max": (f"{ADMIN_PREFIX}session_max_hours", float),
}
_DEFAULTS: dict[str, Any] = {
    "allowed_host": [],
    "trusted_proxy": [],
    "certfile": None,
    "keyfile": None,
    "allow_plain_http": False,
    "session_idle": sessions.IDLE_TIMEOUT / 60,
    "session_max": sessions.MAX_AGE / 3600,
}
_HOST_NAME = re.compile(r"(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|\[[0-9a-f:.]+\]")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to serve on {default_help(DEFAULT_HOST)}"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port {default_help(str(DEFAULT_PORT))}"
    )
    parser.add_argument(
        "--db",
        help="library URL: sqlite:///path.db or postgresql://user@host/db "
        + default_help("'db' in the config file", *DB_SOURCES)
        + "; a password here shows in `ps`: keep it in $GREETER_DB, the config file or ~/.pgpass",
    )
    parser.add_argument("--config", help=f"config file (JSON) {default_help(*CONFIG_SOURCES)}")
    parser.add_argument(
        "--weights",
        help="FaceNet weights used to encode new photos "
        + default_help("'weights' in the config file", *WEIGHTS_SOURCES),
    )
    web = parser.add_argument_group(
        "security",
        textwrap.fill(
            "each is also a config file key: "
            + ", ".join(key for key, _ in _CONFIG_KEYS.values())
            + " (the first two: lists); a flag wins over the file",
            width=78,
        ),
    )
    web.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a host name browsers reach the page by (repeatable; *.example.org for a "
        "domain); localhost, 127.0.0.1, [::1] and --host always are; any other Host: 400",
    )
    web.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDR",
        help="a reverse proxy's address or network whose X-Forwarded-For/-Proto headers "
        "are believed (repeatable; default: none, not even 127.0.0.1)",
    )
    web.add_argument("--certfile", metavar="FILE", help="TLS certificate (PEM): serve HTTPS")
    web.add_argument("--keyfile", metavar="FILE", help="TLS private key (PEM) of --certfile")
    web.add_argument(
        "--allow-plain-http",
        action="store_true",
        default=None,
        help="serve plain HTTP on a non-loopback --host (only behind a TLS reverse proxy)",
    )
    web.add_argument(
        "--session-idle",
        type=float,
        metavar="MINUTES",
        help="end a session after this long without a request "
        + default_help(f"{_DEFAULTS['session_idle']:g}"),
    )
    web.add_argument(
        "--session-max",
        type=float,
        metavar="HOURS",
        help="end a session this long after its login "
        + default_help(f"{_DEFAULTS['session_max']:g}"),
    )
    return parser


def _set_password(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} set-password",
        description="Store an Argon2 hash of the admin password under `admin_password_hash` "
        "in the config file (other keys and the file mode are kept). Reads the password from "
        "the terminal, or one line from standard input when it is not a terminal. A running "
        "page takes the new password at its next request and ends every session.",
    )
    parser.add_argument("--config", help=f"config file (JSON) {default_help(*CONFIG_SOURCES)}")
    args = parser.parse_args(argv)
    path, _ = find_config(args.config)
    path = path or Path("greeter.json")
    if sys.stdin.isatty():
        password = getpass.getpass("New admin password: ")
        if getpass.getpass("Again: ") != password:
            print(f"{PROG}: error: the passwords differ; nothing changed.", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        auth.write_password_hash(path, password)
    except (ValueError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    print(f"Stored the admin password hash in {path}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the admin web app (or ``set-password``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["set-password"]:
        return _set_password(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(format=f"{PROG}: %(levelname)s: %(message)s")  # a no-op if set up
    try:
        app, server = build_from_args(args, argv=argv)
    except (ValueError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    import uvicorn

    scheme = "https" if server.get("ssl_certfile") else "http"
    host = f"[{server['host']}]" if ":" in server["host"] else server["host"]
    print(f"{PROG} on {scheme}://{host}:{server['port']}/ (a greeter, not access control)")
    uvicorn.run(app, log_level="info", server_header=False, **server)
    return 0


def _settings(args: argparse.Namespace, config: dict, config_path: Path | None) -> dict:
    """Each security setting: the flag, else the config key (type-checked), else the default.
    An ``admin_`` key this page does not know is an error (``greeter`` leaves them to us)."""
    known = {auth.HASH_KEY, *(key for key, _ in _CONFIG_KEYS.values())}
    unknown = sorted(k for k in config if k.startswith(ADMIN_PREFIX) and k not in known)
    if unknown:
        raise ValueError(
            f"{config_path}: unknown setting {unknown[0]!r}. Known admin settings: "
            f"{', '.join(sorted(known))}."
        )
    chosen = {}
    for name, (key, kind) in _CONFIG_KEYS.items():
        value = getattr(args, name, None)
        if value is None and key in config:
            value = config[key]
            ok = isinstance(value, kind) and not (kind is float and isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                ok, value = True, float(value)
            if kind is list:
                ok = ok and all(isinstance(item, str) for item in value)
            if not ok:
                raise ValueError(
                    f"{config_path}: {key!r} must be {kind.__name__}"
                    f"{' of strings' if kind is list else ''}. Received: {value!r}"
                )
        chosen[name] = _DEFAULTS[name] if value is None else value
    for name, unit in (("session_idle", "minutes"), ("session_max", "hours")):
        if not chosen[name] > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be > 0 {unit}: {chosen[name]!r}")
    return chosen


def _allowed_hosts(host: str, names: Sequence[str]) -> list[str]:
    """The ``Host`` names to accept besides the loopback ones: ``names`` and ``host``
    itself when it is one address (not every address)."""
    allowed = []
    for name in [*names, *([] if host in WILDCARD_HOSTS else [host])]:
        name = name.strip().lower()
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"  # an IPv6 address, as a Host header writes it
        if not _HOST_NAME.fullmatch(name):
            raise ValueError(
                f"--allowed-host {name!r} is not a host name (no port, no scheme; "
                "*.example.org for every name of a domain)."
            )
        allowed.append(name)
    return allowed


def _trusted_proxies(values: Sequence[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(
                f"--trusted-proxy {value!r} is not an IP address or network "
                "(e.g. 127.0.0.1 or 10.0.0.0/24)."
            ) from None
    return list(values)


def build_from_args(
    args: argparse.Namespace, argv: Sequence[str] | None = None
) -> tuple[Starlette, dict[str, Any]]:
    """The app and the keyword arguments for :func:`uvicorn.run` (host, port, TLS, proxy
    headers) for parsed command-line ``args``; raises ValueError when it must not start.
    ``argv``: the command line, to warn about a database password written in it."""
    config_path, _ = find_config(args.config)
    config = read_config_file(config_path, missing_ok=True) if config_path else {}
    chosen = _settings(args, config, config_path)
    hashed = auth.password_hash(config)
    from_env = bool(os.environ.get(auth.PASSWORD_ENV))
    watched = config_path if hashed is not None and not from_env else None
    host = args.host
    if hashed is None and not auth.is_loopback(host):
        raise ValueError(
            f"--host {host} is reachable from other machines and no password is set: "
            f"set ${auth.PASSWORD_ENV} or run `{PROG} set-password`, "
            "or serve on 127.0.0.1."
        )
    certfile, keyfile = chosen["certfile"], chosen["keyfile"]
    if bool(certfile) != bool(keyfile):
        raise ValueError("--certfile and --keyfile go together: give both, or neither.")
    for path in (certfile, keyfile):
        if path and not Path(path).is_file():
            raise ValueError(f"TLS file {path} not found.")
    if not auth.is_loopback(host) and not certfile and not chosen["allow_plain_http"]:
        raise ValueError(
            f"--host {host} over plain HTTP would send the password and the session cookie "
            "across the network in clear: give --certfile and --keyfile, or put a TLS reverse "
            "proxy in front and add --allow-plain-http (see docs/library.md)."
        )
    allowed = _allowed_hosts(host, chosen["allowed_host"])
    if host in WILDCARD_HOSTS and not allowed:
        raise ValueError(
            f"--host {host!r} listens on every address, but the page answers only the host "
            "names it is given: add --allowed-host NAME for each name or address browsers "
            "use to reach it (e.g. --allowed-host door-admin.office.lan)."
        )
    proxies = _trusted_proxies(chosen["trusted_proxy"])
    url, source = resolve_db_url(args.db, config, argv=argv)
    settings = load_config(config_path) if config_path and config_path.is_file() else {}
    if args.weights:
        settings["weights"] = args.weights  # the kiosks' encoder settings, the flag winning
    store = Store(url)
    print(f"{PROG}: library {mask_url(url)} ({source})")
    app = create_app(
        store,
        password_hash=hashed,
        password_file=watched,
        enroller_factory=lambda: enroller_for(settings),
        allowed_hosts=allowed,
        sessions=sessions.SessionStore(
            idle=chosen["session_idle"] * 60, max_age=chosen["session_max"] * 3600
        ),
    )
    server = {
        "host": host,
        "port": args.port,
        "ssl_certfile": certfile,
        "ssl_keyfile": keyfile,
        "proxy_headers": bool(proxies),  # uvicorn's default trusts 127.0.0.1: not here
        "forwarded_allow_ips": proxies or None,
    }
    return app, server


if __name__ == "__main__":
    raise SystemExit(main())
