"""The shared face library: people, their photos and encodings, events, kiosks, visitors.

One :class:`Store` per process talks to SQLite (a file, the default; WAL mode, busy
timeout) or PostgreSQL (``postgresql://…``, psycopg 3) through SQLAlchemy Core with
bound parameters only. Opening a store applies the schema migrations
(:mod:`greeter.library.schema`). Every change to people, photos or encodings bumps one
change counter in the same transaction (:meth:`Store.change_counter`), which kiosks poll
to pick up changes made anywhere; PostgreSQL also sends ``NOTIFY greeter_library``.

Times are timezone-aware UTC ``datetime``\\ s. Encodings are ``float32 (128,)``.
Database URLs are shown with the password masked, in every message and log line.
"""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import and_, create_engine, delete, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError

from fr_utils.preprocess import ImageError, load_image
from greeter.library import schema as s
from greeter.library.enroller import SeveralFaces
from greeter.library.url import mask_secrets, mask_url
from greeter.names import display_name

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "greeter_library"
FACE_SIZE = 96
_BUSY_TIMEOUT_S = 30


class LibraryError(ValueError):
    """A request the library refuses (unknown person, duplicate name, bad name...)."""


class StoreUnavailable(ConnectionError):
    """The database cannot be reached or failed (an OSError); never shows the password."""


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    created: datetime
    photos: int = 0


@dataclass(frozen=True)
class Photo:
    id: int
    person_id: int
    person: str
    sha256: str
    source: str
    created: datetime
    has_original: bool = True


@dataclass(frozen=True)
class Event:
    id: int
    kiosk: str
    time: datetime
    kind: str
    names: list
    distances: list
    frame: int | None
    message: str | None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready: ``time`` as ISO 8601 UTC."""
        return {
            "id": self.id,
            "kind": self.kind,
            "kiosk": self.kiosk,
            "time": self.time.isoformat(),
            "names": self.names,
            "distances": self.distances,
            "frame": self.frame,
            "message": self.message,
            **self.extra,
        }


@dataclass(frozen=True)
class Kiosk:
    name: str
    last_seen: datetime
    started: datetime | None
    fps: float | None
    threshold: float | None
    weights: str | None
    runtime: str | None
    model_key: str | None
    people: int | None


@dataclass(frozen=True)
class Visitor:
    id: int
    kiosk: str
    time: datetime
    visit_id: str
    expires: datetime
    model_key: str | None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC; naive values (SQLite gives these back) are taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def vector_bytes(encoding) -> bytes:
    """``(128,)`` floats -> 512 bytes (little-endian float32); refuses NaN/inf and bad shapes."""
    vector = np.asarray(encoding, dtype="<f4").reshape(-1)
    if vector.shape != (128,) or not np.all(np.isfinite(vector)):
        raise ValueError(f"An encoding must be 128 finite floats. Received: shape={vector.shape}")
    return vector.tobytes()


def png_bytes(crop) -> bytes:
    """An aligned crop BGR ``uint8 (96, 96, 3)`` -> PNG bytes."""
    crop = np.asarray(crop)
    if crop.shape != (FACE_SIZE, FACE_SIZE, 3) or crop.dtype != np.uint8:
        raise ValueError(
            f"A face crop must be uint8 ({FACE_SIZE}, {FACE_SIZE}, 3) BGR. "
            f"Received: shape={crop.shape}, dtype={crop.dtype}"
        )
    ok, data = cv2.imencode(".png", crop)
    if not ok:
        raise ValueError("Could not encode the face crop as PNG.")
    return data.tobytes()


def decode_image(data: bytes) -> np.ndarray:
    """Stored image bytes (PNG crop or original JPEG/PNG) -> BGR ``uint8 (H, W, 3)``, through
    :func:`fr_utils.preprocess.load_image` (EXIF orientation applied, as when it was added)."""
    return load_image(bytes(data))


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
        connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we send BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across process kills
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


class Store:
    """The face library in one database (see the module docstring).

    Args:
        url: ``sqlite:///path/library.db`` or ``postgresql://user:password@host/dbname``
            (see :func:`greeter.library.url.resolve_db_url`).
        migrate: apply schema migrations on open (idempotent).
    """

    def __init__(self, url: str, migrate: bool = True):
        self._url = str(url)
        self.url = mask_url(url)  # safe to print
        self.engine = create_library_engine(url)
        self.dialect = self.engine.dialect.name
        if migrate:
            with self._guard("migrating the schema"):
                s.migrate(self.engine)

    def __repr__(self):
        return f"Store({self.url!r})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- plumbing ---------------------------------------------------------------------
    def _guard(self, doing: str):
        return _Guard(self, doing)

    def _read(self):
        """A read-only transaction (SQLite: deferred BEGIN, so it never waits for writers)."""
        return _ReadTx(self.engine)

    def _write(self):
        return self.engine.begin()

    def _insert_ignore(self, table, index_elements):
        stmt = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table)
        return stmt.on_conflict_do_nothing(index_elements=index_elements)

    def _bump(self, conn) -> None:
        conn.execute(
            update(s.changes)
            .where(s.changes.c.id == 1)
            .values(counter=s.changes.c.counter + 1, updated=utcnow())
        )
        if self.dialect == "postgresql":
            conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, "changed")))

    def _person_id(self, conn, name: str, create: bool = False) -> int | None:
        pid = conn.execute(select(s.people.c.id).where(s.people.c.name == name)).scalar()
        if pid is None and create:
            conn.execute(
                self._insert_ignore(s.people, ["name"]).values(name=name, created=utcnow())
            )
            pid = conn.execute(select(s.people.c.id).where(s.people.c.name == name)).scalar()
        return pid

    # -- change counter ---------------------------------------------------------------
    def change_counter(self) -> int:
        """The number of changes ever made to people/photos/encodings (cheap: one row)."""
        with self._guard("reading the change counter"), self._read() as conn:
            return int(conn.execute(select(s.changes.c.counter)).scalar() or 0)

    # -- people -----------------------------------------------------------------------
    def people(self) -> list[Person]:
        """Everyone, by name, with their number of photos."""
        count = func.count(s.photos.c.id)
        query = (
            select(s.people.c.id, s.people.c.name, s.people.c.created, count)
            .select_from(s.people.outerjoin(s.photos))
            .group_by(s.people.c.id, s.people.c.name, s.people.c.created)
            .order_by(s.people.c.name)
        )
        with self._guard("listing people"), self._read() as conn:
            return [Person(r[0], r[1], _utc(r[2]), int(r[3])) for r in conn.execute(query)]

    def person(self, name: str) -> Person:
        """One person by display name; :class:`LibraryError` if unknown."""
        for person in self.people_named([name]):
            return person
        raise LibraryError(f"No person named {display_name(name)!r} in the library.")

    def people_named(self, names) -> list[Person]:
        wanted = [display_name(n) for n in names]
        return [p for p in self.people() if p.name in wanted]

    def add_person(self, name: str) -> int:
        """Create a person (no photos yet); returns the id. Existing name: :class:`LibraryError`."""
        name = display_name(name)
        with self._guard("adding a person"), self._write() as conn:
            if self._person_id(conn, name) is not None:
                raise LibraryError(f"{name!r} is already in the library.")
            pid = self._person_id(conn, name, create=True)
            self._bump(conn)
        return int(pid)

    def rename_person(self, old: str, new: str) -> None:
        """Rename; refuses an unknown ``old`` or a ``new`` that is taken."""
        old, new = display_name(old), display_name(new)
        with self._guard("renaming a person"), self._write() as conn:
            pid = self._person_id(conn, old)
            if pid is None:
                raise LibraryError(f"No person named {old!r} in the library.")
            if old == new:
                return
            if self._person_id(conn, new) is not None:
                raise LibraryError(f"Cannot rename {old!r} to {new!r}: {new!r} already exists.")
            conn.execute(update(s.people).where(s.people.c.id == pid).values(name=new))
            self._bump(conn)

    def remove_person(self, name: str) -> int:
        """Delete a person with all their photos and encodings; returns photos removed."""
        name = display_name(name)
        with self._guard("removing a person"), self._write() as conn:
            pid = self._person_id(conn, name)
            if pid is None:
                raise LibraryError(f"No person named {name!r} in the library.")
            n = conn.execute(select(func.count()).where(s.photos.c.person_id == pid)).scalar()
            ids = select(s.photos.c.id).where(s.photos.c.person_id == pid)
            conn.execute(delete(s.encodings).where(s.encodings.c.photo_id.in_(ids)))
            conn.execute(delete(s.photos).where(s.photos.c.person_id == pid))
            conn.execute(delete(s.people).where(s.people.c.id == pid))
            self._bump(conn)
        return int(n)

    # -- photos -----------------------------------------------------------------------
    def add_photo(self, name: str, photo, enroller, label: str | None = None, source="upload"):
        """Align and encode ``photo`` once, then store it for ``name`` in ONE transaction.

        Args:
            name: the person's display name (created if new, in the same transaction).
            photo: a file path, the file's bytes, or a BGR ``uint8`` array.
            enroller: see :mod:`greeter.library.enroller`.
            label: how the photo is named in messages (default: the path).
            source: ``"upload"``, ``"folder:<path>"`` or ``"visitor"``.

        Returns:
            The photo id (the existing one when this person already has this exact
            photo from the same source).

        Raises:
            fr_utils.faces.NoFaceFound, fr_utils.preprocess.ImageError, SeveralFaces:
                all ``ValueError``, naming the photo; nothing is stored.
        """
        name = display_name(name)
        label = str(
            label if label is not None else photo if isinstance(photo, (str, Path)) else "photo"
        )
        image, original = _photo_input(photo, label)
        digest = hashlib.sha256(original).hexdigest() if original is not None else None
        enrolled = _enroll(enroller, image, label)
        crop_png = png_bytes(enrolled.crop)
        if digest is None:
            digest = hashlib.sha256(crop_png).hexdigest()
        vector = vector_bytes(enrolled.encoding)
        with self._guard(f"storing {label}"), self._write() as conn:
            pid = self._person_id(conn, name, create=True)
            existing = conn.execute(
                select(s.photos.c.id).where(
                    s.photos.c.person_id == pid,
                    s.photos.c.sha256 == digest,
                    s.photos.c.source == source,
                )
            ).scalar()
            if existing is not None:
                return int(existing)
            photo_id = conn.execute(
                insert(s.photos).values(
                    person_id=pid,
                    sha256=digest,
                    original=original,
                    crop_png=crop_png,
                    source=source,
                    created=utcnow(),
                )
            ).inserted_primary_key[0]
            conn.execute(
                insert(s.encodings).values(
                    photo_id=photo_id, model_key=enroller.model_key, vector=vector
                )
            )
            self._bump(conn)
        return int(photo_id)

    def add_photos(self, name: str, photos, enroller, source="upload") -> tuple[list, dict]:
        """:meth:`add_photo` for each; one bad photo never stops the others.

        Returns ``(photo ids added, {label: reason} refused)``; refusals are logged.
        """
        added, refused = [], {}
        for photo in photos:
            label = str(photo) if isinstance(photo, (str, Path)) else f"photo {len(added) + 1}"
            try:
                added.append(self.add_photo(name, photo, enroller, label=label, source=source))
            except (ImageError, ValueError) as err:
                if isinstance(err, LibraryError):
                    raise
                refused[label] = str(err)
                log.warning("Refused %s", err)
        return added, refused

    def photos(self, name: str | None = None, source_prefix: str | None = None) -> list[Photo]:
        """Photos (all, or one person's, or those whose source starts with a prefix)."""
        query = (
            select(
                s.photos.c.id,
                s.photos.c.person_id,
                s.people.c.name,
                s.photos.c.sha256,
                s.photos.c.source,
                s.photos.c.created,
                s.photos.c.original.is_not(None),
            )
            .select_from(s.photos.join(s.people))
            .order_by(s.people.c.name, s.photos.c.id)
        )
        if name is not None:
            query = query.where(s.people.c.name == display_name(name))
        if source_prefix is not None:
            query = query.where(s.photos.c.source.startswith(source_prefix, autoescape=True))
        with self._guard("listing photos"), self._read() as conn:
            return [
                Photo(r[0], r[1], r[2], r[3], r[4], _utc(r[5]), bool(r[6]))
                for r in conn.execute(query)
            ]

    def photo_crop(self, photo_id: int) -> bytes:
        """The aligned 96x96 crop of a photo, as PNG bytes."""
        return self._photo_column(photo_id, s.photos.c.crop_png)

    def photo_original(self, photo_id: int) -> bytes | None:
        """The photo file's bytes as added (``None`` for a visitor crop)."""
        return self._photo_column(photo_id, s.photos.c.original)

    def _photo_column(self, photo_id, column):
        with self._guard("reading a photo"), self._read() as conn:
            row = conn.execute(select(column).where(s.photos.c.id == int(photo_id))).first()
        if row is None:
            raise LibraryError(f"No photo with id {photo_id} in the library.")
        return row[0]

    def remove_photo(self, photo_id: int, drop_empty_person: bool = False) -> None:
        """Delete one photo (and its encodings); optionally the person if none are left."""
        with self._guard("removing a photo"), self._write() as conn:
            pid = conn.execute(
                select(s.photos.c.person_id).where(s.photos.c.id == int(photo_id))
            ).scalar()
            if pid is None:
                raise LibraryError(f"No photo with id {photo_id} in the library.")
            conn.execute(delete(s.encodings).where(s.encodings.c.photo_id == int(photo_id)))
            conn.execute(delete(s.photos).where(s.photos.c.id == int(photo_id)))
            if drop_empty_person:
                left = conn.execute(select(func.count()).where(s.photos.c.person_id == pid))
                if not left.scalar():
                    conn.execute(delete(s.people).where(s.people.c.id == pid))
            self._bump(conn)

    # -- encodings ----------------------------------------------------------------------
    def load_encodings(self, model_key: str) -> tuple[list, np.ndarray, list]:
        """Every stored encoding for ``model_key`` -> ``(names, float32 (N, 128), photo ids)``.

        Photos without an encoding for this key are left out (see :meth:`ensure_encodings`).
        """
        owners = select(s.photos.c.id, s.people.c.name).select_from(s.photos.join(s.people))
        vectors = select(s.encodings.c.photo_id, s.encodings.c.vector).where(
            s.encodings.c.model_key == model_key
        )
        with self._guard("loading encodings"), self._read() as conn:
            name_of = dict(conn.execute(owners).all())
            rows = _fetch_binary(conn, vectors)
        rows = [r for r in rows if r[0] in name_of]  # photos removed between the two reads
        names = [name_of[r[0]] for r in rows]
        ids = [int(r[0]) for r in rows]
        data = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype="<f4")
        return names, data.reshape(len(rows), 128).astype(np.float32), ids

    def missing_encodings(self, model_key: str) -> list[int]:
        """Ids of photos that have no encoding for ``model_key``."""
        have = select(s.encodings.c.photo_id).where(
            and_(
                s.encodings.c.photo_id == s.photos.c.id,
                s.encodings.c.model_key == model_key,
            )
        )
        query = select(s.photos.c.id).where(~have.exists()).order_by(s.photos.c.id)
        with self._guard("finding photos to encode"), self._read() as conn:
            return [int(r[0]) for r in conn.execute(query)]

    def ensure_encodings(self, enroller, batch: int = 64) -> tuple[int, dict]:
        """Compute and store the encodings missing for ``enroller.model_key`` (only those).

        Each photo is re-aligned from its original (or its stored crop when there is
        none). Returns ``(computed, {photo id: reason} for photos that failed)``.
        """
        todo = self.missing_encodings(enroller.model_key)
        computed, failed = 0, {}
        for start in range(0, len(todo), batch):
            ids = todo[start : start + batch]
            with self._guard("reading photos to encode"), self._read() as conn:
                rows = conn.execute(
                    select(s.photos.c.id, s.photos.c.original, s.photos.c.crop_png).where(
                        s.photos.c.id.in_(ids)
                    )
                ).all()
            values = []
            for photo_id, original, crop_png in rows:
                label = f"photo {photo_id}"
                try:
                    image = decode_image(original if original is not None else crop_png)
                    enrolled = _enroll(enroller, image, label)
                    values.append(
                        {
                            "photo_id": photo_id,
                            "model_key": enroller.model_key,
                            "vector": vector_bytes(enrolled.encoding),
                        }
                    )
                except ValueError as err:
                    failed[photo_id] = str(err)
                    log.warning("Could not encode %s", err)
            if not values:
                continue
            with self._guard("storing encodings"), self._write() as conn:
                alive = set(
                    conn.execute(
                        select(s.photos.c.id).where(
                            s.photos.c.id.in_([v["photo_id"] for v in values])
                        )
                    ).scalars()
                )  # photos removed meanwhile are skipped
                values = [v for v in values if v["photo_id"] in alive]
                if values:
                    conn.execute(
                        self._insert_ignore(s.encodings, ["photo_id", "model_key"]),
                        values,
                    )
                    self._bump(conn)
                computed += len(values)
        return computed, failed

    def store_encodings(self, model_key: str, photo_ids, vectors) -> None:
        """Store precomputed encodings (e.g. benchmarks, imports); bumps the counter once."""
        values = [
            {"photo_id": int(i), "model_key": model_key, "vector": vector_bytes(v)}
            for i, v in zip(photo_ids, vectors)
        ]
        with self._guard("storing encodings"), self._write() as conn:
            if values:
                conn.execute(self._insert_ignore(s.encodings, ["photo_id", "model_key"]), values)
            self._bump(conn)

    # -- events -------------------------------------------------------------------------
    def write_events(self, records) -> int:
        """Insert event records (see :func:`event_record`) in one transaction; re-sent ones
        (same ``uid``) are ignored. Returns how many were given."""
        records = list(records)
        if records:
            with self._guard("writing events"), self._write() as conn:
                conn.execute(self._insert_ignore(s.events, ["uid"]), records)
        return len(records)

    def write_event(self, kiosk: str, kind: str, **fields) -> None:
        """One event now (``names``, ``distances``, ``frame``, ``message``; others -> extra)."""
        self.write_events([event_record(kiosk, kind, utcnow(), fields)])

    def events(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        kiosk: str | None = None,
        kinds=None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """Events in ``[since, until)``, oldest first (or newest first), optionally filtered."""
        query = select(s.events)
        if since is not None:
            query = query.where(s.events.c.time >= _utc(since))
        if until is not None:
            query = query.where(s.events.c.time < _utc(until))
        if kiosk is not None:
            query = query.where(s.events.c.kiosk == kiosk)
        if kinds is not None:
            query = query.where(s.events.c.kind.in_(list(kinds)))
        order = (
            (s.events.c.time.desc(), s.events.c.id.desc())
            if newest_first
            else (s.events.c.time, s.events.c.id)
        )
        query = query.order_by(*order)
        if limit is not None:
            query = query.limit(int(limit))
        with self._guard("reading events"), self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Event(
                r["id"],
                r["kiosk"],
                _utc(r["time"]),
                r["kind"],
                json.loads(r["names"]),
                json.loads(r["distances"]),
                r["frame"],
                r["message"],
                json.loads(r["extra"]),
            )
            for r in rows
        ]

    def last_greeted(self, since: datetime | None = None) -> dict:
        """``{name: time of the last greeting}`` (from ``greeting`` events since ``since``)."""
        last = {}
        for ev in self.events(since=since, kinds=["greeting"]):
            for name in ev.names:
                last[name] = ev.time
        return last

    # -- kiosks -------------------------------------------------------------------------
    def heartbeat(self, kiosk: str, **status) -> None:
        """Record that ``kiosk`` is alive now, with any of: started, fps, threshold, weights,
        runtime, model_key, people."""
        allowed = {
            "started",
            "fps",
            "threshold",
            "weights",
            "runtime",
            "model_key",
            "people",
        }
        unknown = set(status) - allowed
        if unknown:
            raise ValueError(f"Unknown kiosk status fields: {sorted(unknown)}")
        values = {k: v for k, v in status.items() if v is not None}
        values["last_seen"] = utcnow()
        with self._guard("recording the kiosk heartbeat"), self._write() as conn:
            done = conn.execute(update(s.kiosks).where(s.kiosks.c.name == kiosk).values(**values))
            if not done.rowcount:
                conn.execute(self._insert_ignore(s.kiosks, ["name"]).values(name=kiosk, **values))
                conn.execute(update(s.kiosks).where(s.kiosks.c.name == kiosk).values(**values))

    def kiosks(self) -> list[Kiosk]:
        with self._guard("listing kiosks"), self._read() as conn:
            rows = conn.execute(select(s.kiosks).order_by(s.kiosks.c.name)).mappings().all()
        return [
            Kiosk(
                r["name"],
                _utc(r["last_seen"]),
                _utc(r["started"]),
                r["fps"],
                r["threshold"],
                r["weights"],
                r["runtime"],
                r["model_key"],
                r["people"],
            )
            for r in rows
        ]

    # -- visitors -----------------------------------------------------------------------
    def keep_visitor(
        self, kiosk, crop, encoding, visit_id, days: float, model_key=None, time=None
    ) -> int | None:
        """Keep an unknown visitor's aligned crop (and encoding) for ``days`` days.

        At most one per ``(kiosk, visit_id)``: returns the new id, or ``None`` when this
        visit already has one. Stored: the 96x96 crop as PNG, its 128-float encoding, the
        kiosk, the time and the expiry; :meth:`purge_expired` deletes them after ``days``.
        """
        if not days > 0:
            raise ValueError(f"Visitor faces are kept for days > 0. Received: days={days}")
        when = _utc(time) or utcnow()
        values = {
            "kiosk": kiosk,
            "time": when,
            "visit_id": str(visit_id),
            "crop_png": png_bytes(crop),
            "vector": None if encoding is None else vector_bytes(encoding),
            "model_key": model_key,
            "expires": when + timedelta(days=days),
        }
        stmt = self._insert_ignore(s.visitors, ["kiosk", "visit_id"]).returning(s.visitors.c.id)
        with self._guard("keeping a visitor face"), self._write() as conn:
            new_id = conn.execute(stmt, values).scalar()  # None: this visit has one already
        return None if new_id is None else int(new_id)

    def visitors(self, kiosk: str | None = None) -> list[Visitor]:
        """Kept visitor faces, newest first."""
        cols = [
            s.visitors.c[n] for n in ("id", "kiosk", "time", "visit_id", "expires", "model_key")
        ]
        query = select(*cols).order_by(s.visitors.c.time.desc(), s.visitors.c.id.desc())
        if kiosk is not None:
            query = query.where(s.visitors.c.kiosk == kiosk)
        with self._guard("listing visitors"), self._read() as conn:
            return [
                Visitor(r[0], r[1], _utc(r[2]), r[3], _utc(r[4]), r[5]) for r in conn.execute(query)
            ]

    def visitor_crop(self, visitor_id: int) -> bytes:
        """A kept visitor's aligned crop, PNG bytes."""
        with self._guard("reading a visitor face"), self._read() as conn:
            crop = conn.execute(
                select(s.visitors.c.crop_png).where(s.visitors.c.id == int(visitor_id))
            ).scalar()
        if crop is None:
            raise LibraryError(f"No visitor face with id {visitor_id} (dismissed or expired).")
        return crop

    def assign_visitor(self, visitor_id: int, name: str, enroller=None) -> int:
        """Enroll a kept visitor face as a photo of ``name`` (created if new); returns the
        photo id. Its stored encoding is reused; with an ``enroller`` of another model key,
        the crop is encoded by it. The visitor row is deleted in the same transaction."""
        name = display_name(name)
        with self._guard("reading a visitor face"), self._read() as conn:
            row = (
                conn.execute(select(s.visitors).where(s.visitors.c.id == int(visitor_id)))
                .mappings()
                .first()
            )
        if row is None:
            raise LibraryError(f"No visitor face with id {visitor_id} (dismissed or expired).")
        vectors = {}
        if row["vector"] is not None and row["model_key"]:
            vectors[row["model_key"]] = row["vector"]
        if enroller is not None and enroller.model_key not in vectors:
            enrolled = _enroll(enroller, decode_image(row["crop_png"]), f"visitor {visitor_id}")
            vectors[enroller.model_key] = vector_bytes(enrolled.encoding)
        with self._guard("enrolling a visitor face"), self._write() as conn:
            pid = self._person_id(conn, name, create=True)
            photo_id = conn.execute(
                insert(s.photos).values(
                    person_id=pid,
                    sha256=hashlib.sha256(row["crop_png"]).hexdigest(),
                    original=None,
                    crop_png=row["crop_png"],
                    source="visitor",
                    created=utcnow(),
                )
            ).inserted_primary_key[0]
            for key, vector in vectors.items():
                conn.execute(
                    insert(s.encodings).values(photo_id=photo_id, model_key=key, vector=vector)
                )
            gone = conn.execute(delete(s.visitors).where(s.visitors.c.id == int(visitor_id)))
            if not gone.rowcount:
                raise LibraryError(f"Visitor face {visitor_id} was dismissed meanwhile.")
            self._bump(conn)
        return int(photo_id)

    def dismiss_visitor(self, visitor_id: int) -> bool:
        """Delete a kept visitor face; ``False`` if it was already gone."""
        with self._guard("dismissing a visitor face"), self._write() as conn:
            gone = conn.execute(delete(s.visitors).where(s.visitors.c.id == int(visitor_id)))
        return bool(gone.rowcount)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete visitor faces past their expiry; returns how many."""
        with self._guard("deleting expired visitor faces"), self._write() as conn:
            gone = conn.execute(
                delete(s.visitors).where(s.visitors.c.expires <= (_utc(now) or utcnow()))
            )
        return int(gone.rowcount or 0)


def event_record(kiosk: str, kind: str, time: datetime, fields: dict) -> dict:
    """A row for the ``events`` table from ``EventLog.write``-style fields.

    ``names``, ``distances``, ``frame`` and ``message`` get their own columns; the rest
    (e.g. ``text``, ``faces``, ``threshold``) goes to the JSON ``extra`` column.
    """
    fields = dict(fields)
    names = [str(n) for n in fields.pop("names", None) or []]
    distances = list(fields.pop("distances", None) or [])
    frame = fields.pop("frame", None)
    message = fields.pop("message", None)
    return {
        "uid": uuid.uuid4().hex,
        "kiosk": str(kiosk),
        "time": _utc(time),
        "kind": str(kind),
        "names": json.dumps(names),
        "distances": json.dumps(distances, default=_json_default),
        "frame": None if frame is None else int(frame),
        "message": None if message is None else str(message),
        "extra": json.dumps(fields, default=_json_default),
    }


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime, Path)):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _photo_input(photo, label):
    """``(image for the enroller, original bytes or None)``; unreadable -> ImageError naming it."""
    if isinstance(photo, (str, Path)):
        path = Path(photo)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ImageError(f"{label}: cannot be read ({err.strerror}). Check the path.") from None
        return path, data
    if isinstance(photo, (bytes, bytearray, memoryview)):
        data = bytes(photo)
        try:
            image = load_image(data)  # the one safe loader: size limits, EXIF orientation
        except ImageError as err:
            raise ImageError(f"{label}: {err}".replace("<image bytes>: ", "")) from None
        return image, data
    return np.asarray(photo), None


def _enroll(enroller, image, label):
    """Run the enroller; its errors name ``label``; several faces -> :class:`SeveralFaces`."""
    try:
        crop, encoding, n_faces = enroller.enroll(image, label)
    except ValueError as err:
        if label in str(err):
            raise
        raise type(err)(f"{label}: {err}") from None
    if n_faces > 1:
        raise SeveralFaces(
            f"{label}: {n_faces} faces found; use a photo that shows only this person."
        )
    return _Checked(np.asarray(crop), np.asarray(encoding, np.float32).reshape(-1))


class _Checked:
    __slots__ = ("crop", "encoding")

    def __init__(self, crop, encoding):
        self.crop, self.encoding = crop, encoding


def _fetch_binary(conn, query) -> list:
    """All rows of a Core ``query``; on PostgreSQL through psycopg's binary protocol, which
    moves ``bytea`` columns without hex text (100,000 encodings: ~0.15 s instead of ~1 s)."""
    if conn.dialect.name != "postgresql":
        return conn.execute(query).all()
    compiled = query.compile(dialect=conn.dialect)
    with conn.connection.driver_connection.cursor(binary=True) as cursor:
        cursor.execute(str(compiled), compiled.params)  # still bound parameters
        return cursor.fetchall()


class _ReadTx:
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


class _Guard:
    """Turns database failures into :class:`StoreUnavailable` with the password masked."""

    def __init__(self, store, doing):
        self._store, self._doing = store, doing

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError):
            return False
        detail = getattr(exc, "orig", None) or exc
        message = mask_secrets(f"{type(detail).__name__}: {detail}".strip(), self._store._url)
        raise StoreUnavailable(
            f"Library database {self._store.url} failed while {self._doing}: {message}"
        ) from None
