"""``greeter-library``: manage the shared face library from a terminal.

Every subcommand takes ``--db URL`` (else ``db`` in the config file, else ``$GREETER_DB``,
else the default SQLite file; see :func:`greeter.library.url.resolve_db_url`). Only
``add`` and ``import`` load the model. Errors print ``greeter-library: error: …`` on
stderr; user errors (bad name, bad photo, unknown person) exit 2, an unreachable
database exits 1. Names, kiosk names and messages are printed through
:func:`greeter.names.printable`: a control character or a bidi override in the library
shows as its escape, it never acts on the terminal.
"""

import argparse
import json
import os
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fr_utils.cli import default_help, summary
from greeter.config import CONFIG_SOURCES, DB_SOURCES, WEIGHTS_SOURCES
from greeter.names import printable

PROG = "greeter-library"


class UsageError(ValueError):
    """A bad argument value (exit 2)."""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``today`` (local midnight), ``-1h`` / ``-30m`` / ``-2d`` / ``-90s`` (ago), or ISO 8601
    (a time without offset is local time) -> an aware datetime."""
    now = now or datetime.now(UTC)
    text = text.strip()
    if text == "today":
        local = now.astimezone()
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    match = re.fullmatch(r"-(\d+(?:\.\d+)?)([smhd])", text)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now - timedelta(**{unit: float(match.group(1))})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r}: use an ISO time (2026-05-01T09:00), 'today', or -30m / -1h / -2d"
        ) from None
    return when if when.tzinfo is not None else when.astimezone()


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///path/library.db or postgresql://user@host/dbname "
        + default_help("'db' in the config file", *DB_SOURCES)
        + "; a password here shows in `ps`: keep it in $GREETER_DB, the config file or ~/.pgpass",
    )
    common.add_argument(
        "--config", help=f"greeter config file to read 'db' from {default_help(*CONFIG_SOURCES)}"
    )
    encoding = argparse.ArgumentParser(add_help=False)
    encoding.add_argument(
        "--encoder",
        choices=("dlib-resnet", "facenet"),
        help="face encoder " + default_help("'encoder' in the config file", "dlib-resnet"),
    )
    encoding.add_argument(
        "--weights",
        help="FaceNet weights file or folder "
        + default_help("'weights' in the config file", *WEIGHTS_SOURCES),
    )
    p = argparse.ArgumentParser(prog=PROG, description=summary(__doc__))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser("add", parents=[common, encoding], help="enroll a person from photos")
    add.add_argument("name")
    add.add_argument("photos", nargs="+", metavar="PHOTO")
    rm = sub.add_parser("remove", parents=[common], help="delete a person and their photos")
    rm.add_argument("name")
    ren = sub.add_parser("rename", parents=[common], help="rename a person")
    ren.add_argument("old")
    ren.add_argument("new")
    sub.add_parser("list", parents=[common], help="everyone enrolled, with photo counts")
    imp = sub.add_parser(
        "import", parents=[common, encoding], help="sync an images/ folder into the library"
    )
    imp.add_argument("folder", metavar="DIR", help="<name>.jpg or <name>/*.jpg photos")
    exp = sub.add_parser("export", parents=[common], help="write <name>/<k>.<ext> originals")
    exp.add_argument("folder", metavar="DIR")
    ev = sub.add_parser("events", parents=[common], help="greetings and other kiosk events")
    ev.add_argument(
        "--since",
        default="today",
        help="ISO time, 'today', or a time ago as --since=-1h / --since=-30m (default: today)",
    )
    ev.add_argument("--kiosk", help="only this kiosk's events")
    ev.add_argument("--json", action="store_true", help="one JSON object per line")
    return p


def _config(config_flag) -> dict:
    """The greeter config file's settings, checked as ``greeter`` checks them (``{}`` when
    there is no file): its ``db`` and ``weights`` apply here too."""
    from greeter.config import find_config, load_config

    path, _ = find_config(config_flag)
    return load_config(path) if path is not None else {}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2, already printed by argparse)
        return int(stop.code or 0)
    import logging

    logging.basicConfig(format=f"{PROG}: %(levelname)s: %(message)s")  # a no-op if set up
    quiet = logging.getLogger("greeter.library")  # refusals are printed below, once
    loud = logging.getLogger("greeter.library.url")  # ... but the --db password warning shows
    levels = quiet.level, loud.level
    quiet.setLevel(logging.ERROR)
    loud.setLevel(logging.WARNING)
    try:
        return _main(args, argv)
    finally:  # main() may run inside another program (or a test)
        quiet.setLevel(levels[0])
        loud.setLevel(levels[1])


def _main(args, argv) -> int:
    from greeter.library.schema import SchemaTooNew
    from greeter.library.store import LibraryError, StoreUnavailable
    from greeter.library.url import mask_secrets

    url = None
    try:
        from greeter.library.store import Store
        from greeter.library.url import resolve_db_url

        config = _config(args.config)
        for flag in ("encoder", "weights"):  # a flag wins over the config file
            if getattr(args, flag, None) is not None:
                config[flag] = getattr(args, flag)
        args.settings = config
        url, _ = resolve_db_url(args.db, config, argv=argv)
        with Store(url) as store:
            return _COMMANDS[args.command](store, args)
    except (StoreUnavailable, SchemaTooNew) as err:
        return _error(str(err), 1)
    except (UsageError, LibraryError, ValueError) as err:
        return _error(mask_secrets(str(err), url or ""), 2)
    except OSError as err:
        return _error(mask_secrets(str(err), url or ""), 1)


def _error(message: str, code: int) -> int:
    print(f"{PROG}: error: {printable(message)}", file=sys.stderr)
    return code


def _enroller(args):
    """The enroller the kiosks use (the config file's encoder and weights, or the flags)."""
    from greeter.library.enroller import enroller_for

    return enroller_for(args.settings)


def _add(store, args) -> int:
    from fr_utils.preprocess import ImageError
    from greeter.library.enroller import PhotoIn, enrol_photos, read_photo
    from greeter.names import display_name

    name = display_name(args.name)  # a bad name stops before the model loads
    photos, refused = [], {}
    for path in args.photos:
        try:
            photos.append(PhotoIn(name, read_photo(path), path))
        except ImageError as err:
            refused[path] = str(err)
    result = enrol_photos(store, _enroller(args), photos)
    for reason in [*refused.values(), *result.refused.values()]:
        _error(reason, 2)
    if result.added:
        person = store.person(name)
        print(
            f"{printable(person.name)}: {len(result.added)} photo(s) added ({person.photos} in all)"
        )
    return 2 if refused or result.refused else 0


def _remove(store, args) -> int:
    n = store.remove_person(args.name)
    print(f"removed {printable(' '.join(args.name.split()))} ({n} photo(s))")
    return 0


def _rename(store, args) -> int:
    store.rename_person(args.old, args.new)
    old, new = (printable(" ".join(name.split())) for name in (args.old, args.new))
    print(f"renamed {old} -> {new}")
    return 0


def _list(store, args) -> int:
    people = store.people()
    for person in people:
        print(f"{printable(person.name)}\t{person.photos} photo(s)")
    print(f"{len(people)} people, {sum(p.photos for p in people)} photos ({store.url})")
    return 0


def _import(store, args) -> int:
    from greeter.library.sync import sync_folder

    result = sync_folder(store, args.folder, _enroller(args))
    for reason in result.refused.values():
        _error(reason, 2)
    print(
        f"{printable(args.folder)}: {len(result.added)} added, {len(result.changed)} changed, "
        f"{len(result.removed)} removed, {result.unchanged} unchanged, "
        f"{len(result.refused)} refused"
    )
    return 2 if result.refused else 0


def _suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    return ".jpg"


def _export(store, args) -> int:
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for person in store.people():
        for k, photo in enumerate(store.photos(person.name), 1):
            data = store.photo_original(photo.id)
            if data is None:  # a visitor crop: the crop is all there is
                data = store.photo_crop(photo.id)
            target = folder / person.name / f"{k}{_suffix(data)}"
            _atomic_write(target, data)
            written += 1
    print(f"{printable(folder)}: {written} photo(s) of {len(store.people())} people written")
    return 0


def _atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` via a temporary file + rename: never a half file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _events(store, args) -> int:
    since = parse_since(args.since)
    events = store.events(since=since, kiosk=args.kiosk)
    for ev in events:
        if args.json:
            print(json.dumps(ev.as_dict()))
        else:
            local = ev.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            dist = ", ".join("-" if d is None else f"{d:.3f}" for d in ev.distances)
            what = printable(", ".join(ev.names) or ev.message or "")
            line = f"{local}\t{printable(ev.kiosk)}\t{printable(ev.kind)}\t{what}"
            print(line + (f"\t({dist})" if dist else ""))
    if not args.json:
        print(f"{len(events)} event(s) since {since.astimezone().isoformat(timespec='seconds')}")
    return 0


_COMMANDS = {
    "add": _add,
    "remove": _remove,
    "rename": _rename,
    "list": _list,
    "import": _import,
    "export": _export,
    "events": _events,
}


if __name__ == "__main__":
    sys.exit(main())
