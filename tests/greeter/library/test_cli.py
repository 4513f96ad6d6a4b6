"""``greeter-library`` end to end with real photos and the real model."""

import json
import logging
import os
import shutil
import subprocess
import sys
from datetime import UTC

import pytest
from sqlalchemy import insert

from greeter.library import schema
from greeter.library.cli import main, parse_since
from greeter.library.store import Store, utcnow
from greeter.library.url import password_on_command_line, resolve_db_url
from tests.helpers import REPO


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_end_to_end(db_url, photos, weights_path, tmp_path, capsys):
    db = ["--db", db_url, "--weights", str(weights_path)]
    code, out, err = _run(capsys, "add", "Lin-Manuel Miranda", str(photos["lin"]), *db)
    assert code == 0 and "1 photo(s) added" in out, err
    # a bad photo among good ones: the good ones are stored, the bad one named, exit 2
    code, out, err = _run(capsys, "add", "Aaron Peirsol", *map(str, photos["aaron"][:2]),
                          str(photos["two_faces"]), *db)  # fmt: skip
    assert code == 2 and "2 photo(s) added" in out
    assert err.startswith("greeter-library: error:") and str(photos["two_faces"]) in err
    code, out, _ = _run(capsys, "list", "--db", db_url)
    assert code == 0 and "Aaron Peirsol\t2 photo(s)" in out and "Lin-Manuel Miranda\t1" in out
    assert _run(capsys, "rename", "Aaron Peirsol", "Aaron P", "--db", db_url)[0] == 0
    code, _, err = _run(capsys, "rename", "Nobody", "X", "--db", db_url)
    assert code == 2 and err == "greeter-library: error: No person named 'Nobody' in the library.\n"

    images = tmp_path / "images"
    (images / "Abdullah_Gul").mkdir(parents=True)
    for p in photos["gul"]:
        shutil.copy(p, images / "Abdullah_Gul" / p.name)
    shutil.copy(photos["alex"], images / "Alex-Lacamoire.png")
    shutil.copy(photos["no_face"], images / "Nobody.jpg")
    code, out, err = _run(capsys, "import", str(images), *db)
    assert code == 2 and "3 added" in out and "1 refused" in out and "Nobody.jpg" in err
    code, out, _ = _run(capsys, "list", "--db", db_url)
    assert "Abdullah Gul\t2 photo(s)" in out and "Alex-Lacamoire\t1 photo(s)" in out

    out_dir = tmp_path / "export"
    assert _run(capsys, "export", str(out_dir), "--db", db_url)[0] == 0
    exported = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.*"))
    assert exported == [
        "Aaron P/1.jpg",
        "Aaron P/2.jpg",
        "Abdullah Gul/1.jpg",
        "Abdullah Gul/2.jpg",
        "Alex-Lacamoire/1.png",
        "Lin-Manuel Miranda/1.png",
    ]
    assert (out_dir / "Aaron P" / "1.jpg").read_bytes() == photos["aaron"][0].read_bytes()

    assert _run(capsys, "remove", "Aaron P", "--db", db_url)[0] == 0
    assert "Aaron P" not in _run(capsys, "list", "--db", db_url)[1]

    with Store(db_url) as store:
        store.write_event("lobby", "greeting", names=["Abdullah Gul"], distances=[0.4], frame=3)
        store.write_event("side", "unknown", distances=[0.9], frame=5)
    code, out, _ = _run(capsys, "events", "--since=-1h", "--json", "--db", db_url)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [(e["event"], e["kiosk"], e["names"]) for e in lines] == [
        ("greeting", "lobby", ["Abdullah Gul"]), ("unknown", "side", [])]  # fmt: skip
    assert all("time" in e for e in lines)
    code, out, _ = _run(capsys, "events", "--kiosk", "side", "--db", db_url)
    assert code == 0 and "unknown" in out and "1 event(s)" in out
    code, _, err = _run(capsys, "events", "--since", "yesterday-ish", "--db", db_url)
    assert code == 2 and "--since 'yesterday-ish'" in err


def test_parse_since():
    from datetime import datetime, timedelta

    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_since("-1h", now) == now - timedelta(hours=1)
    assert parse_since("-30m", now) == now - timedelta(minutes=30)
    assert parse_since("2026-05-01T09:00+00:00", now) == now.replace(hour=9)
    assert parse_since("today", now).hour == 0


# ---- hostile names print safely; database passwords stay off the command line

HOSTILE = "Ana\x1b]0;pwned\x07\x1b[2J\u202eevil\x9b31m"  # OSC title, clear, RLO, C1 CSI
SAFE = "Ana\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil\\x9b31m"


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _raw(text: str) -> bool:
    """True when ``text`` holds a control or bidi character (it would act on the terminal)."""
    return any((ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0 or c == "\u202e"
               for c in text)  # fmt: skip


def test_list_and_events_print_hostile_names_escaped(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'library.db'}"
    with Store(url) as store:  # a name written by an older version or another tool
        with store.engine.begin() as conn:
            conn.execute(insert(schema.people).values(name=HOSTILE, created=utcnow()))
        store.write_event(HOSTILE, "greeting", names=[HOSTILE], distances=[0.4])
        store.write_event("lobby", "error", message=f"camera {HOSTILE} lost\nfake line")
    code, out, err = _run(capsys, "list", "--db", url)
    assert code == 0 and f"{SAFE}\t0 photo(s)" in out and not _raw(out), out
    code, out, err = _run(capsys, "events", "--db", url, "--since=-1h")
    assert code == 0 and not _raw(out), out
    assert f"\t{SAFE}\tgreeting\t{SAFE}\t(0.400)" in out
    assert f"camera {SAFE} lost\\x0afake line" in out
    assert len(out.splitlines()) == 3  # two events and the summary: no injected line
    code, _, err = _run(capsys, "rename", HOSTILE, "Ben", "--db", url)
    assert code == 2 and not _raw(err) and "\\x1b" in err  # the refusal, escaped


def test_a_password_on_the_command_line_is_warned_about(caplog):
    url = "postgresql://greeter:s3cret%21@db.lan/greeter"
    with caplog.at_level(logging.WARNING, logger="greeter.library.url"):
        assert resolve_db_url(url, argv=["--db", url])[0] == url
        assert resolve_db_url(url, argv=[f"--db={url}"])[0] == url  # greeter's --db=URL form
        assert resolve_db_url(None, {"db": url}, argv=["--config", "x.json"])[0] == url
        assert resolve_db_url("postgresql://greeter@db.lan/g", argv=["--db", "..."])
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # the two on the command line; the config file's: none
    for text in warnings:
        assert "s3cret" not in text and "***" in text
        assert "$GREETER_DB" in text and "'db'" in text and "PGPASSFILE" in text
    assert not password_on_command_line("postgresql://u:x@h/d", ["--kiosk", "x"])  # a short
    assert not password_on_command_line("sqlite:///a.db", ["sqlite:///a.db"])  # no password


@pytest.mark.parametrize(
    "tool", [["-m", "greeter.library.cli", "list"], ["-m", "greeter.admin.cli"]]
)
def test_each_tool_warns_once_and_never_shows_the_password(tmp_path, tool):
    url = "postgresql://greeter:s3cret@127.0.0.1:9/greeter"  # nothing listens: it fails
    env = {**os.environ, "PYTHONPATH": str(REPO), "GREETER_CONFIG": "", "GREETER_DB": ""}
    done = subprocess.run(
        [sys.executable, *tool, "--db", url], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "s3cret" not in output, output
    assert output.count("on the command line") == 1, output
    assert "PGPASSFILE" in output and "$GREETER_DB" in output
    env["GREETER_DB"] = url  # the same URL from the environment: no warning
    done = subprocess.run(
        [sys.executable, *tool], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert "on the command line" not in done.stdout + done.stderr


@pytest.mark.slow
def test_the_password_can_come_from_a_pgpass_file(postgres_url, tmp_path, monkeypatch, capsys):
    from sqlalchemy.engine import make_url

    full = make_url(postgres_url)
    passfile = tmp_path / "pgpass"
    passfile.write_text(
        f"{full.host}:{full.port}:{full.database}:{full.username}:{full.password}\n"
    )
    passfile.chmod(0o600)  # libpq ignores a password file others can read
    bare = f"postgresql://{full.username}@{full.host}:{full.port}/{full.database}"
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    code, out, err = _run(capsys, "list", "--db", bare)
    assert code == 0 and "0 people" in out, err
    assert "command line" not in err


# ---- erasure, retention, purge, backup, an access request (no model: finished values)


def test_remove_says_which_folder_photos_the_sync_will_ignore(db_url, capsys):
    from tests.helpers.library import new_photo

    with Store(db_url) as store:
        store.add_photos([new_photo("Ana Lima", 1, source="folder:/srv/images/Ana_Lima.jpg"),
                          new_photo("Ana Lima", 2)])  # fmt: skip
        store.write_event("door", "greeting", names=["Ana Lima"])
    code, out, err = _run(capsys, "remove", "Ana  Lima", "--db", db_url)
    assert code == 0, err
    assert "removed Ana Lima (2 photo(s)); their name is now '(removed)' in old events" in out
    assert "the folder sync will ignore 1 photo(s) of Ana Lima from now on:" in out
    assert "  /srv/images/Ana_Lima.jpg\n" in out
    assert "to undo: delete these files" in out and "add Ana Lima again" in out
    assert ("greeter-library purge" in out) == db_url.startswith("postgresql")
    with Store(db_url) as store:
        assert [e.names for e in store.events()] == [["(removed)"]]


def test_retention_shows_and_sets_the_library_setting(tmp_path, capsys):
    db = ["--db", f"sqlite:///{tmp_path / 'library.db'}"]
    code, out, _ = _run(capsys, "retention", *db)
    assert code == 0 and out.splitlines() == [
        "events: 90 days",
        "strangers' faces: at most 30 days (only kiosks run with --keep-visitor-faces keep any)",
        "faces of known people's visits: at most 7 days",
    ]
    code, out, _ = _run(capsys, "retention", "--events", "forever", "--visitor-faces", "off",
                        "--recognitions", "2.5", *db)  # fmt: skip
    assert code == 0 and "events: kept forever" in out
    assert "strangers' faces: never kept" in out and "at most 2.5 days" in out
    assert "events: kept forever" in _run(capsys, "retention", *db)[1]  # stored in the library
    for bad in (["--events", "0"], ["--events", "soon"], ["--recognitions", "-1"]):
        code, _, err = _run(capsys, "retention", *bad, *db)
        assert code == 2 and err.startswith("greeter-library: error: --"), err


def test_purge_and_backup_commands(tmp_path, capsys):
    from tests.helpers.library import new_photo

    url = f"sqlite:///{tmp_path / 'library.db'}"
    with Store(url) as store:
        store.add_photos([new_photo("Ana", 1), new_photo("Ben", 2)])
    assert _run(capsys, "remove", "Ana", "--db", url)[0] == 0
    code, out, _ = _run(capsys, "purge", "--db", url)
    assert code == 0 and "done: rebuilt the database file (VACUUM)" in out
    assert "not reached: copies of the file (backups)" in out
    code, out, _ = _run(capsys, "backup", str(tmp_path / "copy.db"), "--db", url)
    assert code == 0 and "copy.db: a copy of sqlite:///" in out
    with Store(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        assert [p.name for p in copy.people()] == ["Ben"]


def test_export_one_person_for_an_access_request(db_url, tmp_path, capsys):
    from tests.helpers.library import crop_png, new_photo
    from tests.helpers.vectors import random_unit

    with Store(db_url) as store:
        store.add_photos([new_photo("Ana Lima", 1, original=b"\xff\xd8 a jpeg"),
                          new_photo("Ben", 2)])  # fmt: skip
        store.write_event("door", "greeting", names=["Ana Lima"], distances=[0.4])
        store.write_event("door", "greeting", names=["Ben"])
        store.write_event("door", "greeting", names=["Ana Lima Souza"])  # another person
        store.keep_visitor("door", crop_png(9), random_unit(9), "v", days=3, verdict="known",
                           name="Ana Lima", distance=0.4)  # fmt: skip
    code, out, err = _run(capsys, "export", "--person", "Ana Lima", str(tmp_path / "dsar"),
                          "--db", db_url)  # fmt: skip
    assert code == 0, err
    assert "1 photo(s) with crops and encodings, 1 event(s), 1 kept face(s) of Ana Lima" in out
    folder = tmp_path / "dsar" / "Ana Lima"
    summary = json.loads((folder / "person.json").read_text())
    assert summary["name"] == "Ana Lima" and summary["events naming them"] == 1
    (photo,) = summary["photos"]
    assert (folder / photo["file"]).read_bytes() == b"\xff\xd8 a jpeg"
    assert (folder / photo["crop"]).read_bytes().startswith(b"\x89PNG")
    assert len(photo["encodings"]["k"]) == 128
    (face,) = summary["kept faces of their visits"]
    assert face["verdict"] == "known" and (folder / face["crop"]).exists()
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert [e["names"] for e in events] == [["Ana Lima"]]
    assert summary["retention"]["event_days"] == 90
    code, _, err = _run(capsys, "export", "--person", "Nobody", str(tmp_path / "x"), "--db", db_url)
    assert code == 2 and "No person named 'Nobody'" in err
