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
    rm = sub.add_parser(
        "remove",
        parents=[common],
        help="erase a person: photos, encodings, kept faces; their name in old events",
    )
    rm.add_argument("name")
    sub.add_parser(
        "purge",
        parents=[common],
        help="rewrite the database files so erased photos and names are gone from them "
        "(PostgreSQL keeps deleted rows until then; see docs/library.md)",
    )
    ret = sub.add_parser(
        "retention",
        parents=[common],
        help="show or set how long events and kept faces stay in the library",
    )
    ret.add_argument(
        "--events", metavar="DAYS", help="days events are kept, or 'forever' (default: 90)"
    )
    ret.add_argument(
        "--visitor-faces",
        metavar="DAYS",
        help="most days a stranger's face is kept (kiosks keep none without "
        "--keep-visitor-faces), or 0/off: never (default: 30)",
    )
    ret.add_argument(
        "--recognitions",
        metavar="DAYS",
        help="most days the face of a known person's visit is kept, or 0/off (default: 7)",
    )
    bak = sub.add_parser(
        "backup", parents=[common], help="a consistent copy of a SQLite library, while it runs"
    )
    bak.add_argument("file", metavar="FILE", help="the copy (a folder: a dated file in it)")
    ren = sub.add_parser("rename", parents=[common], help="rename a person")
    ren.add_argument("old")
    ren.add_argument("new")
    sub.add_parser("list", parents=[common], help="everyone enrolled, with photo counts")
    imp = sub.add_parser(
        "import", parents=[common, encoding], help="sync an images/ folder into the library"
    )
    imp.add_argument("folder", metavar="DIR", help="<name>.jpg or <name>/*.jpg photos")
    exp = sub.add_parser(
        "export",
        parents=[common],
        help="write <name>/<k>.<ext> originals; with --person, everything held about one "
        "person (an access request)",
    )
    exp.add_argument("folder", metavar="DIR")
    exp.add_argument(
        "--person",
        metavar="NAME",
        help="only this person: photos, crops, encodings, events naming them, kept faces "
        "and a person.json that lists it all",
    )
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
    from greeter.names import display_name

    name = display_name(args.name)
    n = store.remove_person(name)
    shown = printable(name)
    print(f"removed {shown} ({n} photo(s)); their name is now '(removed)' in old events")
    ignored = store.tombstones(name=name)
    if ignored:
        print(f"the folder sync will ignore {len(ignored)} photo(s) of {shown} from now on:")
        for tombstone in ignored:
            print(f"  {printable(tombstone.path)}")
        print(
            "  to undo: delete these files (or keep them: they are ignored), or add "
            f"{shown} again (greeter-library add, or the admin page) to enrol them again"
        )
    if store.dialect == "postgresql":
        print("PostgreSQL keeps deleted rows in its files until they are rewritten: run "
              "greeter-library purge to erase the photos' bytes for good")  # fmt: skip
    return 0


def _purge(store, args) -> int:
    from greeter.library.maintenance import purge

    report = purge(store)
    for step in report.done:
        print(f"done: {step}")
    for step in report.left:
        print(f"not done: {printable(step)}")
    for copy in report.elsewhere:
        print(f"not reached: {copy}")
    return 0 if report.complete else 1


def _days(flag: str, text: str | None, word: str):
    """A ``--flag DAYS`` value: a number of days >= 0, or ``word`` (forever/off)."""
    if text is None:
        return None
    if text.strip().lower() == word:
        return None if word == "forever" else 0.0
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 <= days < 100_000 or days != days:
        raise UsageError(f"{flag} {text!r}: give a number of days (e.g. 30) or {word!r}")
    return days


def _retention(store, args) -> int:
    changes = {}
    if args.events is not None:
        changes["event_days"] = _days("--events", args.events, "forever")
        if changes["event_days"] == 0:
            raise UsageError("--events 0 would delete every event: give days, or 'forever'")
    for flag, key in (("visitor_faces", "visitor_face_days"), ("recognitions", "recognition_days")):
        value = getattr(args, flag)
        if value is not None:
            changes[key] = _days(f"--{flag.replace('_', '-')}", value, "off")
    retention = store.set_retention(**changes) if changes else store.retention(fresh=True)
    print(retention_text(retention))
    return 0


def retention_text(retention) -> str:
    """The retention setting in three lines, as ``greeter-library retention`` prints it."""

    def days(value, none):
        if value is None:
            return none
        return "never kept" if value == 0 else f"{value:g} days"

    return (
        f"events: {days(retention.event_days, 'kept forever')}\n"
        f"strangers' faces: at most {days(retention.visitor_face_days, '')} "
        "(only kiosks run with --keep-visitor-faces keep any)\n"
        f"faces of known people's visits: at most {days(retention.recognition_days, '')}"
    ).replace("at most never kept", "never kept")


def _backup(store, args) -> int:
    from greeter.library.maintenance import backup

    target = backup(store, args.file)
    print(f"{printable(target)}: a copy of {store.url} ({target.stat().st_size:,} bytes)")
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
    for path, why in result.ignored.items():
        print(f"ignored {printable(path)}: {why}")
    print(
        f"{printable(args.folder)}: {len(result.added)} added, {len(result.changed)} changed, "
        f"{len(result.removed)} removed, {result.unchanged} unchanged, "
        f"{len(result.refused)} refused, {len(result.ignored)} ignored"
    )
    return 2 if result.refused else 0


def _suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    return ".jpg"


def _export(store, args) -> int:
    if args.person is not None:
        return _export_person(store, args)
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


def _export_person(store, args) -> int:
    """Everything the library holds about one person, for an access request: their photos
    as given, the aligned crops, the encodings, the events naming them, the faces kept of
    their visits, and ``person.json`` listing it all."""
    person = store.person(args.person)
    folder = Path(args.folder) / person.name
    photos = []
    for k, photo in enumerate(store.photos(person.name), 1):
        original = store.photo_original(photo.id)
        entry = {"source": photo.source, "added": photo.created.isoformat(), "sha256": photo.sha256}
        if original is not None:
            entry["file"] = f"photos/{k}{_suffix(original)}"
            _atomic_write(folder / entry["file"], original)
        entry["crop"] = f"crops/{k}.png"
        _atomic_write(folder / entry["crop"], store.photo_crop(photo.id))
        entry["encodings"] = {
            key: [round(float(x), 7) for x in vector]
            for key, vector in store.photo_encodings(photo.id).items()
        }
        photos.append(entry)
    events = [e.as_dict() for e in store.events(name=person.name)]
    faces = []
    for visit in store.visitors(name=person.name):
        face = store.visitor(visit.id)
        entry = {"kiosk": visit.kiosk, "time": visit.time.isoformat(), "verdict": visit.verdict,
                 "distance": visit.distance, "kept until": visit.expires.isoformat(),
                 "crop": f"kept_faces/{visit.id}.png"}  # fmt: skip
        _atomic_write(folder / entry["crop"], face.crop_png)
        faces.append(entry)
    retention = store.retention(fresh=True)
    summary = {
        "name": person.name,
        "enrolled": person.created.isoformat(),
        "library": store.url,
        "exported": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "photos": photos,
        "events naming them": len(events),
        "kept faces of their visits": faces,
        "retention": retention.as_dict(),
    }
    _atomic_write(folder / "person.json", json.dumps(summary, indent=2).encode())
    lines = "".join(json.dumps(e) + "\n" for e in events)
    _atomic_write(folder / "events.jsonl", lines.encode())
    print(
        f"{printable(folder)}: {len(photos)} photo(s) with crops and encodings, "
        f"{len(events)} event(s), {len(faces)} kept face(s) of {printable(person.name)}"
    )
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
    "purge": _purge,
    "retention": _retention,
    "backup": _backup,
}


if __name__ == "__main__":
    sys.exit(main())
