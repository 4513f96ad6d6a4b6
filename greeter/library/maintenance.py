"""The library's files rather than its rows: erase deleted bytes for good, back up, move a
damaged SQLite file aside.

* :func:`purge` (``greeter-library purge``): a deleted row's bytes can outlive the delete in
  the database's files. SQLite overwrites them at once (``secure_delete``) and the store
  empties the write-ahead log after each removal; purge also rebuilds the file (``VACUUM``)
  and empties the log again. PostgreSQL keeps deleted rows in its table files until they are
  rewritten and in its write-ahead log (WAL) until a checkpoint lets the segment go: purge
  rewrites every library table (``VACUUM (FULL, ANALYZE)``), the planner statistics that may
  quote old values, switches to a new WAL segment and checkpoints. The last steps need a
  superuser (or the ``pg_checkpoint`` role and ``EXECUTE`` on ``pg_switch_wal``); without
  them purge says what is left and who can finish it. Copies outside the data directory
  (backups, WAL archives, replicas) are not reached: the report names them.
* :func:`backup`: a consistent copy of a SQLite library while kiosks use it (SQLite's
  online backup API); for PostgreSQL, ``pg_dump``.
* :func:`move_aside`: a damaged SQLite file renamed ``library.db.corrupt-<time>`` (with its
  ``-wal`` and ``-shm``), so a kiosk can start on a fresh library and the damaged one is
  kept for recovery (:func:`greeter.library.dialect.recovery_steps`).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from greeter.library.dialect import LibraryError

# Every table that holds a person's data or a name (the schema's, latest version).
LIBRARY_TABLES = ("photos", "encodings", "visitors", "events", "greeted", "people", "erased",
                  "kiosks", "folders", "library_settings")  # fmt: skip


@dataclass
class PurgeReport:
    """What :func:`purge` did (``done``), could not do and why (``left``), and the copies it
    cannot reach (``elsewhere``)."""

    done: list = field(default_factory=list)
    left: list = field(default_factory=list)
    elsewhere: list = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.left


def purge(store) -> PurgeReport:
    """Rewrite the library's files so deleted photos, faces and names are gone from them
    (see the module docstring). Takes locks that make kiosks wait (PostgreSQL: an exclusive
    lock per table while it is rewritten, seconds for a large library); run it after
    removing people, at a quiet time."""
    if store.dialect == "sqlite":
        return _purge_sqlite(store)
    return _purge_postgres(store)


def _purge_sqlite(store) -> PurgeReport:
    report = PurgeReport()
    raw = store.engine.raw_connection()  # no BEGIN: VACUUM runs outside a transaction
    try:
        cursor = raw.cursor()
        cursor.execute("VACUUM")
        report.done.append("rebuilt the database file (VACUUM)")
        busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy and busy[0]:
            report.left.append(
                "the write-ahead log could not be emptied (a kiosk was reading): run "
                "greeter-library purge again"
            )
        else:
            report.done.append("emptied the write-ahead log (checkpoint, truncated)")
    finally:
        raw.close()
    report.elsewhere.append("copies of the file (backups) keep what they held")
    return report


def _purge_postgres(store) -> PurgeReport:
    report = PurgeReport()
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:

        def run(sql: str, what: str, needs: str) -> bool:
            try:
                conn.exec_driver_sql(sql)
            except DBAPIError as err:
                first = str(err.orig).strip().splitlines()[0]
                report.left.append(f"{what}: {first} ({needs})")
                return False
            report.done.append(what)
            return True

        tables = ", ".join(LIBRARY_TABLES)
        run(f"VACUUM (FULL, ANALYZE) {tables}", f"rewrote the tables ({tables})", "the owner")
        run(
            "VACUUM FULL pg_catalog.pg_statistic",
            "rewrote the planner statistics (pg_statistic)",
            "a superuser",
        )
        run("SELECT pg_switch_wal()", "switched to a new WAL segment", "a superuser, or "
            "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO the library's user")  # fmt: skip
        run("CHECKPOINT", "checkpoint (old WAL segments removed)", "a superuser or pg_checkpoint")

        def setting(name: str) -> str:
            return str(conn.exec_driver_sql(f"SHOW {name}").scalar())

        if setting("wal_recycle") == "on":
            report.left.append(
                "wal_recycle is on: old WAL segments are renamed for reuse, not deleted, and "
                "keep their bytes until overwritten; set wal_recycle = off on this server "
                "(postgresql.conf, or ALTER SYSTEM SET wal_recycle = off; SELECT "
                "pg_reload_conf();) and purge again"
            )
        if setting("archive_mode") != "off":
            report.elsewhere.append("archived WAL files (archive_mode is on) until they expire")
        replicas = conn.exec_driver_sql("SELECT count(*) FROM pg_stat_replication").scalar()
        if replicas:
            report.elsewhere.append(f"{replicas} replica(s): purge runs there when it replays")
    report.elsewhere.append("backups (pg_dump files) keep what they held until they expire")
    return report


def backup(store, target) -> Path:
    """A consistent copy of a SQLite library in ``target`` (written to a temporary file and
    renamed: never half a file), taken while kiosks use it. PostgreSQL:
    :class:`LibraryError` with the ``pg_dump`` command to use instead."""
    target = Path(target)
    source = store.file
    if source is None:
        raise LibraryError(
            f"{store.url} is a PostgreSQL library: back it up with the server's tool, "
            f"pg_dump -Fc -d 'URL' -f {target} (restore with pg_restore), from a machine "
            "that may read it."
        )
    if target.exists() and target.is_dir():
        target = target / f"library-{datetime.now():%Y%m%d-%H%M%S}.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(str(source))
    try:
        dst = sqlite3.connect(str(partial))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)
    return target


def move_aside(path, now: datetime | None = None) -> Path:
    """Rename a damaged SQLite file ``library.db`` to ``library.db.corrupt-<YYYYmmdd-HHMMSS>``
    (its ``-wal`` and ``-shm`` files too, with the same new name before their suffix, so
    ``sqlite3`` opens the three together); returns the new path. Nothing is deleted."""
    path = Path(path)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    moved = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while moved.exists():
        n += 1
        moved = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            os.replace(extra, moved.with_name(moved.name + suffix))
    os.replace(path, moved)
    return moved
