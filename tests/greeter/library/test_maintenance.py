"""The library's files: a removed person's bytes gone from a real PostgreSQL server's data
directory after ``purge`` (and from a SQLite file), a consistent backup of a running SQLite
library, and a damaged SQLite file moved aside whole."""

import sqlite3

import numpy as np
import pytest

from greeter.library.maintenance import backup, move_aside, purge
from greeter.library.store import LibraryError, Store
from tests.helpers.library import new_photo, people_names
from tests.helpers.vectors import random_unit


def _secret(seed: int, size: int = 20_000) -> bytes:
    """Random bytes: incompressible, as a JPEG is (PostgreSQL stores them as they are)."""
    return bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8))


def _files_holding(folder, needle: bytes) -> list[str]:
    """Every file under ``folder`` whose bytes hold ``needle`` (what `grep -rlaF` finds)."""
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*")
                  if f.is_file() and needle in f.read_bytes())  # fmt: skip


def test_purge_erases_a_removed_person_from_the_postgres_data_directory(
    postgres_server, postgres_url
):
    """Issue 19: after `remove` and `purge`, the photo's bytes, its encoding and the person's
    photo marks are found nowhere in the server's data directory (table files and WAL)."""
    secret = _secret(19)
    marks = [secret[i : i + 48] for i in (100, 9_000, 19_000)]  # one per TOAST chunk or so
    vector = random_unit(1919).astype("<f4").tobytes()
    data = postgres_server.data
    with Store(postgres_url) as store:
        store.add_photos([new_photo("Ana Lima", 1, original=secret)])
        store.add_photo("Ana Lima", crop_png=_secret(20, 3000), encoding=random_unit(1919),
                        model_key="k", original=b"x", source="upload")  # fmt: skip
        store.add_photos([new_photo("Ben", 2)])
        postgres_server.psql("CHECKPOINT")
        assert all(_files_holding(data, m) for m in marks)  # the test does see them
        assert _files_holding(data, vector)

        store.remove_person("Ana Lima")
        postgres_server.psql("CHECKPOINT")
        assert any(_files_holding(data, m) for m in marks)  # a delete alone leaves them

        report = purge(store)
        assert report.complete, report.left
        assert any("rewrote the tables" in step for step in report.done)
        assert [_files_holding(data, m) for m in marks] == [[], [], []]
        assert _files_holding(data, vector) == []
        assert _files_holding(data, _secret(20, 3000)[:64]) == []
        assert people_names(store) == ["Ben"]  # the rest is intact
        assert store.photo_original(store.photos("Ben")[0].id) == b"photo 2"


def test_purge_without_the_rights_says_what_is_left(postgres_server, postgres_url):
    """A library user that owns its tables but is no superuser: the tables are rewritten, the
    WAL steps are named with who can do them."""
    name = postgres_url.rsplit("/", 1)[1]
    role = f"u_{name}"
    postgres_server.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    postgres_server.psql(f'ALTER DATABASE "{name}" OWNER TO {role}')
    url = postgres_url.replace(f"postgres:{postgres_server.password}@", f"{role}:pw@")
    try:
        with Store(url) as store:
            store.add_photos([new_photo("Ana", 1)])
            store.remove_person("Ana")
            report = purge(store)
        assert not report.complete and any("rewrote the tables" in s for s in report.done)
        assert any("pg_switch_wal" in s and "superuser" in s for s in report.left), report.left
        assert any("CHECKPOINT" in s or "checkpoint" in s for s in report.left), report.left
    finally:
        postgres_server.drop_database(name)
        postgres_server.psql(f"DROP ROLE IF EXISTS {role}")


def test_purge_rebuilds_a_sqlite_library(tmp_path):
    path = tmp_path / "library.db"
    secret = _secret(3)
    with Store(f"sqlite:///{path}") as store:
        store.add_photos([new_photo("Ana", 1, original=secret), new_photo("Ben", 2)])
        store.remove_person("Ana")
        report = purge(store)
        assert report.complete and "VACUUM" in report.done[0]
        assert people_names(store) == ["Ben"]
    assert _files_holding(tmp_path, secret[5000:5048]) == []


def test_backup_of_a_running_sqlite_library(tmp_path):
    url = f"sqlite:///{tmp_path / 'library.db'}"
    with Store(url) as store, Store(url) as kiosk:
        store.add_photos([new_photo("Ana", 1)])
        kiosk.write_event("door", "greeting", names=["Ana"])  # in the -wal file, not the .db
        copy = backup(store, tmp_path / "copies" / "monday.db")
        dated = backup(store, tmp_path / "copies")
    assert dated.parent == tmp_path / "copies" and dated.name.startswith("library-")
    for made in (copy, dated):
        with Store(f"sqlite:///{made}") as restored:
            assert people_names(restored) == ["Ana"] and len(restored.events()) == 1
    assert not list((tmp_path / "copies").glob(".*"))  # no partial file left


def test_backup_of_postgres_says_pg_dump(postgres_url, postgres_server, tmp_path):
    with Store(postgres_url) as store, pytest.raises(LibraryError, match="pg_dump -Fc") as info:
        backup(store, tmp_path / "x.dump")
    assert postgres_server.password not in str(info.value)


def test_a_damaged_file_is_moved_aside_whole(tmp_path):
    from datetime import datetime

    path = tmp_path / "library.db"
    with Store(f"sqlite:///{path}") as store:
        store.add_photos([new_photo("Ana", 1)])
    (tmp_path / "library.db-wal").write_bytes(b"wal")
    when = datetime(2026, 5, 9, 14, 3, 7)
    moved = move_aside(path, now=when)
    assert moved.name == "library.db.corrupt-20260509-140307" and not path.exists()
    assert (tmp_path / f"{moved.name}-wal").read_bytes() == b"wal"
    path.write_bytes(b"not a database")
    assert move_aside(path, now=when).name == "library.db.corrupt-20260509-140307-2"
    with sqlite3.connect(moved) as conn:  # the file itself, unchanged: sqlite3 opens it
        assert conn.execute("SELECT name FROM people").fetchall() == [("Ana",)]
