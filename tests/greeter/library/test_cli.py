"""``greeter-library`` end to end with real photos and the real model."""

import json
import shutil
from datetime import UTC

from greeter.library.cli import main, parse_since
from greeter.library.store import Store


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
    assert "Abdullah Gul\t2 photo(s)" in out and "Alex Lacamoire\t1 photo(s)" in out

    out_dir = tmp_path / "export"
    assert _run(capsys, "export", str(out_dir), "--db", db_url)[0] == 0
    exported = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.*"))
    assert exported == [
        "Aaron P/1.jpg",
        "Aaron P/2.jpg",
        "Abdullah Gul/1.jpg",
        "Abdullah Gul/2.jpg",
        "Alex Lacamoire/1.png",
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
