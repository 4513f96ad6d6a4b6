"""The face library's tables and their versioned migrations.

Migrations are a small versioned-migration table rather than Alembic: the schema is
owned by this one package, every migration is a Python function listed in
:data:`MIGRATIONS`, and :func:`migrate` applies the missing ones in ONE transaction
(DDL is transactional on both SQLite and PostgreSQL, so a crash half-way leaves the
old version) under a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), so two kiosks starting at once migrate once. Alembic's extras
(autogenerate, branches, downgrades, an ``alembic.ini`` and script folder to ship)
are not needed for a linear history applied automatically at start-up.

To change the schema: write ``_vN(conn)`` with the tables it adds in a frozen
``_define_vN(metadata)`` (or plain ``ALTER TABLE``), append it to :data:`MIGRATIONS`,
and add the new tables to the module-level names below, which always describe the
LATEST version. A migration only ever creates what it defined itself, so an old
database replays exactly the history a new one had.

Times are UTC. Encodings are 128 little-endian float32 (512 bytes).
"""

import json
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    text,
)

NAME_LENGTH = 200
_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid
_LOCK_KEY = 0x6772656574  # PostgreSQL advisory lock id for migrations ("greet")


def _define_v1(metadata: MetaData) -> dict:
    """The version-1 tables, defined on ``metadata`` (frozen: never edit)."""
    t = {}
    t["schema"] = Table(
        "library_schema", metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("applied", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    t["changes"] = Table(
        "library_changes", metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
        Column("counter", BigInteger, nullable=False),
        Column("updated", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    t["people"] = Table(
        "people", metadata,
        Column("id", _ID, primary_key=True),
        Column("name", String(NAME_LENGTH), nullable=False, unique=True),
        Column("created", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    t["photos"] = Table(
        "photos", metadata,
        Column("id", _ID, primary_key=True),
        Column("person_id", _ID, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("original", LargeBinary, nullable=True),  # the file's bytes as given
        Column("crop_png", LargeBinary, nullable=False),  # aligned 96x96 BGR face, PNG
        Column("source", String(1000), nullable=False),  # upload | folder:<path> | visitor
        Column("created", DateTime(timezone=True), nullable=False),
        Index("ix_photos_person", "person_id"),
        Index("ix_photos_source", "source"),
    )  # fmt: skip
    t["encodings"] = Table(
        "encodings", metadata,
        # (model_key, photo_id) first: a kiosk's start-up reads one key's rows in one range
        # scan; on SQLite WITHOUT ROWID stores them in that order (100,000 rows in ~0.5 s).
        Column("model_key", String(200), primary_key=True),
        Column("photo_id", _ID, ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
        Column("vector", LargeBinary, nullable=False),  # 128 x float32 little-endian
        Index("ix_encodings_photo", "photo_id"),
        sqlite_with_rowid=False,
    )  # fmt: skip
    t["events"] = Table(
        "events", metadata,
        Column("id", _ID, primary_key=True),
        Column("uid", String(32), nullable=False, unique=True),  # makes a re-sent batch harmless
        Column("kiosk", String(NAME_LENGTH), nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        Column("kind", String(50), nullable=False),
        Column("names", Text, nullable=False),  # JSON list of names
        Column("distances", Text, nullable=False),  # JSON list of plain-L2 distances (or null)
        Column("frame", BigInteger, nullable=True),
        Column("message", Text, nullable=True),
        Column("extra", Text, nullable=False),  # JSON object: any other fields
        Index("ix_events_time", "time"),
        Index("ix_events_kiosk_time", "kiosk", "time"),
    )  # fmt: skip
    t["kiosks"] = Table(
        "kiosks", metadata,
        Column("name", String(NAME_LENGTH), primary_key=True),
        Column("last_seen", DateTime(timezone=True), nullable=False),
        Column("started", DateTime(timezone=True), nullable=True),
        Column("fps", Float, nullable=True),
        Column("threshold", Float, nullable=True),
        Column("weights", String(1000), nullable=True),
        Column("runtime", String(200), nullable=True),
        Column("model_key", String(200), nullable=True),
        Column("people", Integer, nullable=True),
    )  # fmt: skip
    t["visitors"] = Table(
        "visitors", metadata,
        Column("id", _ID, primary_key=True),
        Column("kiosk", String(NAME_LENGTH), nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        Column("visit_id", String(100), nullable=False),
        Column("crop_png", LargeBinary, nullable=False),
        Column("vector", LargeBinary, nullable=True),
        Column("model_key", String(200), nullable=True),
        Column("expires", DateTime(timezone=True), nullable=False),
        UniqueConstraint("kiosk", "visit_id", name="uq_visitors_visit"),
        Index("ix_visitors_expires", "expires"),
    )  # fmt: skip
    return t


def _define_v2(metadata: MetaData) -> dict:
    """Version 2 adds ``greeted``: one row per person per greeting event, so "when was each
    person last greeted" is one grouped query over an index instead of a read of every
    event. Deleting a person or an event deletes its rows (frozen: never edit)."""
    greeted = Table(
        "greeted", metadata,
        Column("event_id", _ID, ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
        Column("person_id", _ID, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
        Column("time", DateTime(timezone=True), nullable=False),
        Index("ix_greeted_person_time", "person_id", "time"),
    )  # fmt: skip
    return {"greeted": greeted}


# Version 3: a kept face may be a known person's visit too (the admin page's recent
# recognitions), with the verdict, the nearest and the runner-up, and a loose image of the
# face that any encoder can enrol from (the aligned crop is one encoder's).
def _v3_visitor_columns() -> tuple:
    """The columns version 3 adds to ``visitors`` (frozen: never edit)."""
    return (
        Column("verdict", String(20), nullable=True),  # known | unsure | stranger (NULL: stranger)
        Column("name", String(NAME_LENGTH), nullable=True),  # the nearest enrolled person
        Column("distance", Float, nullable=True),
        Column("runner_up", String(NAME_LENGTH), nullable=True),
        Column("runner_up_distance", Float, nullable=True),
        Column("threshold", Float, nullable=True),
        Column("image", LargeBinary, nullable=True),  # the face with a margin, JPEG
    )


def _define_v4(metadata: MetaData) -> dict:
    """Version 4 adds the library's own settings (retention: how long events and kept faces
    stay), erasure tombstones (folder photos of people removed, which the folder sync must
    not bring back), and the folders the library syncs, each with the kiosk that syncs it
    (frozen: never edit)."""
    t = {}
    t["settings"] = Table(
        "library_settings", metadata,
        Column("key", String(100), primary_key=True),
        Column("value", Text, nullable=False),  # JSON
        Column("updated", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    t["erased"] = Table(
        "erased", metadata,
        Column("id", _ID, primary_key=True),
        Column("source", String(1000), nullable=False),  # folder:<absolute path of the file>
        Column("sha256", String(64), nullable=False),  # of the file's bytes when removed
        Column("name", String(NAME_LENGTH), nullable=True),  # the person removed (NULL: a photo)
        Column("created", DateTime(timezone=True), nullable=False),
        Index("ix_erased_source", "source"),
        Index("ix_erased_name", "name"),
    )  # fmt: skip
    t["folders"] = Table(
        "folders", metadata,
        Column("path", String(1000), primary_key=True),  # absolute, resolved
        Column("kiosk", String(NAME_LENGTH), nullable=True),  # NULL: greeter-library import
        Column("synced", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    return t


# Version 4 also tells kiosks apart and says how each is doing: the persistent instance id of
# the kiosk that last heartbeat under a name, its heartbeat interval (down after ~3 missed
# beats), when it stopped (from its stop event), its own one-line status, and two kiosks
# found heartbeating under one name.
def _v4_kiosk_columns() -> tuple:
    """The columns version 4 adds to ``kiosks`` (frozen: never edit)."""
    return (
        Column("instance", String(64), nullable=True),
        Column("heartbeat_s", Float, nullable=True),
        Column("stopped", DateTime(timezone=True), nullable=True),
        Column("status", String(NAME_LENGTH), nullable=True),
        Column("conflict", Text, nullable=True),
        Column("conflict_at", DateTime(timezone=True), nullable=True),
    )


def _latest(metadata: MetaData) -> dict:
    tables = {**_define_v1(metadata), **_define_v2(metadata), **_define_v4(metadata)}
    for column in _v3_visitor_columns():
        tables["visitors"].append_column(column)
    for column in _v4_kiosk_columns():
        tables["kiosks"].append_column(column)
    return tables


metadata = MetaData()
_tables = _latest(metadata)
schema_versions = _tables["schema"]
changes = _tables["changes"]
people = _tables["people"]
photos = _tables["photos"]
encodings = _tables["encodings"]
events = _tables["events"]
kiosks = _tables["kiosks"]
visitors = _tables["visitors"]
greeted = _tables["greeted"]
settings = _tables["settings"]
erased = _tables["erased"]
folders = _tables["folders"]


def _v1(conn) -> None:
    frozen = MetaData()
    tables = _define_v1(frozen)
    frozen.create_all(conn, tables=[t for k, t in tables.items() if k != "schema"])
    conn.execute(insert(changes).values(id=1, counter=0, updated=datetime.now(UTC)))


def _v2(conn) -> None:
    frozen = MetaData()
    v1 = _define_v1(frozen)  # the tables version 2 refers to (not created again)
    table = _define_v2(frozen)["greeted"]
    table.create(conn)
    people_ids = dict(conn.execute(select(v1["people"].c.name, v1["people"].c.id)).all())
    events_table = v1["events"]
    rows = conn.execute(
        select(events_table.c.id, events_table.c.names, events_table.c.time).where(
            events_table.c.kind == "greeting"
        )
    )
    values = [
        {"event_id": event_id, "person_id": people_ids[name], "time": time}
        for event_id, names, time in rows
        for name in dict.fromkeys(json.loads(names))
        if name in people_ids
    ]
    for start in range(0, len(values), 5000):
        conn.execute(insert(table), values[start : start + 5000])


def _v3(conn) -> None:
    for column in _v3_visitor_columns():
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE visitors ADD COLUMN {column.name} {kind}"))


def _v4(conn) -> None:
    frozen = MetaData()
    frozen.create_all(conn, tables=list(_define_v4(frozen).values()))
    for column in _v4_kiosk_columns():
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE kiosks ADD COLUMN {column.name} {kind}"))


MIGRATIONS = [_v1, _v2, _v3, _v4]  # MIGRATIONS[i] brings the schema from version i to i + 1
LATEST = len(MIGRATIONS)


class SchemaTooNew(ValueError):
    """The database was migrated by a newer version of this program."""


def migrate(engine) -> tuple[int, int]:
    """Bring the database to :data:`LATEST`; safe to run again and from several kiosks at once.

    Returns ``(version before, version after)``. Raises :class:`SchemaTooNew` when the
    database is newer than this code.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
        schema_versions.create(conn, checkfirst=True)
        before = conn.execute(select(func.max(schema_versions.c.version))).scalar() or 0
        if before > LATEST:
            raise SchemaTooNew(
                f"The library database has schema version {before}; this program knows "
                f"up to {LATEST}. Upgrade the greeter on this machine."
            )
        for version in range(before, LATEST):
            MIGRATIONS[version](conn)
            conn.execute(
                insert(schema_versions).values(version=version + 1, applied=datetime.now(UTC))
            )
    return before, LATEST


def schema_version(conn) -> int:
    """The version recorded in ``conn``'s database (0: not a library yet)."""
    if not conn.dialect.has_table(conn, "library_schema"):
        return 0
    return conn.execute(text("SELECT max(version) FROM library_schema")).scalar() or 0
