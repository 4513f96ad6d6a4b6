"""The database plumbing under the store: one engine for SQLite or PostgreSQL, transactions,
"insert unless present", binary reads, UTC times, and failures turned into one error.

The store (:mod:`greeter.library.store`) says *what* is stored; this module is *how* each
engine is driven:

* SQLite (a file, the default): WAL mode (readers never block the writer), a 30 s busy
  timeout, foreign keys on, ``secure_delete`` on (deleted rows are overwritten with zeros,
  so an erased face does not linger in free pages), and ``BEGIN IMMEDIATE`` for writes so a
  read-then-write transaction waits instead of failing half-way with "database is locked".
* PostgreSQL (``postgresql://…``, psycopg 3): a small pool with pre-ping, a 5 s connect
  timeout, and ``bytea`` columns read through psycopg's binary protocol.

Every database failure inside :class:`Guard` becomes :class:`StoreUnavailable` (an
``OSError``) whose message never shows the password; a damaged SQLite file becomes its
subclass :class:`LibraryCorrupt`, which names the recovery steps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError

from greeter.library.url import mask_secrets, mask_url

BUSY_TIMEOUT_S = 30


class LibraryError(ValueError):
    """A request the library refuses (unknown person, duplicate name, bad URL...)."""


class StoreUnavailable(ConnectionError):
    """The database cannot be reached or failed (an OSError); never shows the password."""


class LibraryCorrupt(StoreUnavailable):
    """A SQLite library file that is damaged or not a database at all (``path``: the file).
    The message says how to recover; a kiosk moves the file aside and starts afresh
    (:func:`greeter.library.maintenance.move_aside`)."""

    path: str | None = None
    detail: str = ""  # what SQLite said


_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # sqlite3 result codes (primary)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (``None`` for another engine)."""
    try:
        parsed = make_url(str(url))
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database).expanduser()


def recovery_steps(path, damaged=None) -> str:
    """What to do with a damaged SQLite library file ``damaged`` (default: ``path``, the
    library's file), in words and commands."""
    damaged = damaged or path
    return (
        f"Stop every kiosk and admin page using {path}, then either put a backup in its place "
        f"(greeter-library backup FILE makes one), or recover what can be read: sqlite3 "
        f'{damaged} ".recover" | sqlite3 {path}.recovered && mv {path}.recovered {path} '
        "(then greeter-library list to check)."
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC; naive values (SQLite gives these back) are taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _sqlite_engine(url):
    path = url.database
    if not path or path == ":memory:":
        raise LibraryError(
            "An in-memory SQLite library cannot be shared; give a file: sqlite:///path/library.db"
        )
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        hide_parameters=True,
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we send BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across process kills
        cursor.execute("PRAGMA secure_delete=ON")  # erased photos are overwritten, not left
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE takes the write lock at BEGIN, so a read-then-write transaction
        # waits (busy timeout) instead of failing with "database is locked" half-way.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def create_library_engine(url: str):
    """A SQLAlchemy engine for ``sqlite:///file`` or ``postgresql://…`` (driven by psycopg 3)."""
    try:
        parsed = make_url(str(url))
    except (ArgumentError, ValueError):
        raise LibraryError(
            f"Database URL {mask_url(url)!r} is not a URL; use sqlite:///path/library.db "
            "or postgresql://user:password@host/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=3,
            max_overflow=5,
            connect_args={"connect_timeout": 5, "application_name": "greeter-library"},
        )
    raise LibraryError(
        f"Database URL {mask_url(url)!r}: unsupported engine {backend!r}; use "
        "sqlite:///path/library.db or postgresql://user:password@host/dbname"
    )


def insert_ignore(dialect: str, table, index_elements):
    """``INSERT ... ON CONFLICT (index_elements) DO NOTHING`` for ``dialect``."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return stmt.on_conflict_do_nothing(index_elements=index_elements)


def fetch_binary(conn, query) -> list:
    """All rows of a Core ``query``; on PostgreSQL through psycopg's binary protocol, which
    moves ``bytea`` columns without hex text (100,000 encodings: ~0.15 s instead of ~1 s)."""
    if conn.dialect.name != "postgresql":
        return conn.execute(query).all()
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    with conn.connection.driver_connection.cursor(binary=True) as cursor:
        cursor.execute(str(compiled), compiled.params)  # still bound parameters
        return cursor.fetchall()


class ReadTx:
    """A read-only transaction (SQLite: deferred BEGIN, so it never waits for writers)."""

    def __init__(self, engine):
        self._engine = engine

    def __enter__(self):
        self._conn = self._engine.connect().execution_options(sqlite_begin="DEFERRED")
        self._tx = self._conn.begin()
        return self._conn

    def __exit__(self, *exc):
        try:
            self._tx.rollback()
        finally:
            self._conn.close()


class Guard:
    """Turns database failures into :class:`StoreUnavailable`, naming what was being done,
    with the password of ``url`` masked (``shown``: the URL as it may be printed)."""

    def __init__(self, url: str, shown: str, doing: str):
        self._url, self._shown, self._doing = url, shown, doing

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError):
            return False
        detail = getattr(exc, "orig", None) or exc
        message = mask_secrets(f"{type(detail).__name__}: {detail}".strip(), self._url)
        code = getattr(detail, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            path = sqlite_path(self._url)
            error = LibraryCorrupt(
                f"The library file {path} is damaged ({message}, while {self._doing}). "
                + recovery_steps(path)
            )
            error.path = None if path is None else str(path)
            error.detail = message
            raise error from None
        raise StoreUnavailable(
            f"Library database {self._shown} failed while {self._doing}: {message}"
        ) from None
