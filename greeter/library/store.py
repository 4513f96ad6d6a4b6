"""The shared face library: people, their photos and encodings, events, kiosks, visitors.

The store only stores: it takes finished values (a photo's original bytes, its aligned crop
as PNG, its encodings by model key; the dataclasses of :mod:`greeter.library.records`) and
never decodes an image or runs a model. Turning a
photo into those values is enrolment (:mod:`greeter.library.enroller`), one layer up.

One :class:`Store` per process talks to SQLite (a file, the default) or PostgreSQL
(``postgresql://…``) through SQLAlchemy Core with bound parameters only (the engines are
driven by :mod:`greeter.library.dialect`). Opening a store applies the schema migrations
(:mod:`greeter.library.schema`). Every change to people, photos or encodings bumps one
change counter in the same transaction (:meth:`Store.change_counter`), which kiosks poll
to pick up changes made anywhere; PostgreSQL also sends ``NOTIFY greeter_library``.

The library's lifecycle is here too: how long events and kept faces stay (the library's
:class:`Retention`, enforced by :meth:`Store.enforce_retention` and by every read, which
leaves out what has expired), and erasure that lasts (:meth:`Store.remove_person` records a
tombstone for each folder photo so the folder sync does not enrol them again, and redacts
the person's name from old events).

Times are timezone-aware UTC ``datetime``\\ s. Encodings are ``float32 (128,)``.
Database URLs are shown with the password masked, in every message and log line.
"""

import json
import logging
import re
import sqlite3
import threading
import time as _time
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import and_, delete, func, insert, or_, select, update

from greeter.library import schema as s
from greeter.library.dialect import (
    Guard,
    LibraryError,
    ReadTx,
    StoreUnavailable,
    create_library_engine,
    fetch_binary,
    insert_ignore,
    sqlite_path,
    utcnow,
)
from greeter.library.dialect import as_utc as _utc
from greeter.library.records import (
    CONFLICT_SHOWN,
    DEFAULT_HEARTBEAT_S,
    DEFAULT_RETENTION,
    FOLDER_PREFIX,
    MISSED_BEATS,
    Event,
    Kiosk,
    NewPhoto,
    Person,
    Photo,
    Retention,
    Tombstone,
    Visitor,
    VisitorFace,
    event_record,
    vector_bytes,
)
from greeter.library.url import mask_url
from greeter.names import REMOVED_NAME, clean_name, display_name

__all__ = [
    "CONFLICT_SHOWN",
    "DEFAULT_HEARTBEAT_S",
    "DEFAULT_RETENTION",
    "FOLDER_PREFIX",
    "MISSED_BEATS",
    "Event",
    "Kiosk",
    "LibraryError",
    "NewPhoto",
    "Person",
    "Photo",
    "Retention",
    "Store",
    "StoreUnavailable",
    "Tombstone",
    "Visitor",
    "VisitorFace",
    "event_record",
    "utcnow",
    "vector_bytes",
]

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "greeter_library"
_RETENTION_KEY = "retention"
_SETTINGS_TTL = 5.0  # seconds a process trusts the settings it read (another's change: seen then)
DELETE_BATCH = 5000  # expired events deleted per transaction


def _finite(value) -> float | None:
    """A float for a Float column; ``None`` for None, inf or NaN (no runner-up)."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _vector(data) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<f4").astype(np.float32)


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
        self.file = sqlite_path(url)  # the SQLite file (None: PostgreSQL)
        self.engine = create_library_engine(url)
        self.dialect = self.engine.dialect.name
        self._settings = None  # (monotonic time read, Retention)
        self._settings_lock = threading.Lock()
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
    def _guard(self, doing: str) -> Guard:
        return Guard(self._url, self.url, doing)

    def _read(self) -> ReadTx:
        """A read-only transaction (SQLite: deferred BEGIN, so it never waits for writers)."""
        return ReadTx(self.engine)

    def _write(self):
        return self.engine.begin()

    def _insert_ignore(self, table, index_elements):
        return insert_ignore(self.dialect, table, index_elements)

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
    def people(self, ids=None) -> list[Person]:
        """Everyone (or the people with these ``ids``), by name, with their number of photos
        and their first photo's id: one grouped query."""
        query = (
            select(
                s.people.c.id,
                s.people.c.name,
                s.people.c.created,
                func.count(s.photos.c.id),
                func.min(s.photos.c.id),
            )
            .select_from(s.people.outerjoin(s.photos))
            .group_by(s.people.c.id, s.people.c.name, s.people.c.created)
            .order_by(s.people.c.name)
        )
        if ids is not None:
            query = query.where(s.people.c.id.in_([int(i) for i in ids]))
        with self._guard("listing people"), self._read() as conn:
            return [
                Person(r[0], r[1], _utc(r[2]), int(r[3]), None if r[4] is None else int(r[4]))
                for r in conn.execute(query)
            ]

    def person(self, name: str) -> Person:
        """One person by display name; :class:`LibraryError` if unknown."""
        for person in self.people_named([name]):
            return person
        raise LibraryError(f"No person named {display_name(name)!r} in the library.")

    def person_by_id(self, person_id: int) -> Person | None:
        """One person by id, or ``None``."""
        found = self.people(ids=[person_id])
        return found[0] if found else None

    def people_named(self, names) -> list[Person]:
        wanted = [display_name(n) for n in names]
        with self._guard("finding people"), self._read() as conn:
            ids = conn.execute(select(s.people.c.id).where(s.people.c.name.in_(wanted))).scalars()
            ids = list(ids)
        return self.people(ids=ids) if ids else []

    def add_person(self, name: str) -> int:
        """Create a person (no photos yet); returns the id. Existing name: :class:`LibraryError`."""
        name = display_name(name)
        with self._guard("adding a person"), self._write() as conn:
            if self._person_id(conn, name) is not None:
                raise LibraryError(f"{name!r} is already in the library.")
            pid = self._person_id(conn, name, create=True)
            self._lift_tombstones(conn, [name])
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
        """Erase a person: their photos, encodings and kept faces deleted, their name replaced
        by ``"(removed)"`` in old events, and a tombstone for each photo that came from a
        folder (:meth:`tombstones`), so the folder sync does not enrol them again until they
        are added again explicitly. One transaction; returns the photos removed.

        On SQLite the deleted bytes are overwritten (``secure_delete``) and the write-ahead
        log is emptied after the commit, so they are gone from the files; on PostgreSQL they
        stay in the table files until ``greeter-library purge``
        (:func:`greeter.library.maintenance.purge`)."""
        name = display_name(name)
        with self._guard("removing a person"), self._write() as conn:
            pid = self._person_id(conn, name)
            if pid is None:
                raise LibraryError(f"No person named {name!r} in the library.")
            photos = conn.execute(
                select(s.photos.c.source, s.photos.c.sha256).where(s.photos.c.person_id == pid)
            ).all()
            folder = [(src, digest) for src, digest in photos if src.startswith(FOLDER_PREFIX)]
            if folder:
                now = utcnow()
                conn.execute(insert(s.erased), [
                    {"source": src, "sha256": digest, "name": name, "created": now}
                    for src, digest in folder
                ])  # fmt: skip
            ids = select(s.photos.c.id).where(s.photos.c.person_id == pid)
            conn.execute(delete(s.encodings).where(s.encodings.c.photo_id.in_(ids)))
            conn.execute(delete(s.photos).where(s.photos.c.person_id == pid))
            conn.execute(delete(s.greeted).where(s.greeted.c.person_id == pid))
            conn.execute(delete(s.people).where(s.people.c.id == pid))
            self._redact(conn, name)
            self._bump(conn)
        self.truncate_wal()
        return len(photos)

    def _redact(self, conn, name: str) -> None:
        """Replace ``name`` by :data:`~greeter.names.REMOVED_NAME` in old events (their names,
        the greeting's text, the message: as a whole word, in the forms it is written and
        spoken) and kept faces; delete the faces kept of their visits (known or near misses
        named after them)."""
        forms = sorted({name, clean_name(name)} - {""}, key=len, reverse=True)
        pattern = re.compile("|".join(rf"(?<!\w){re.escape(f)}(?!\w)" for f in forms))

        def scrub(text):
            return pattern.sub(REMOVED_NAME, text) if isinstance(text, str) else text

        e = s.events.c
        mentions = [e.names.contains(json.dumps(name), autoescape=True)]
        for form in forms:  # the JSON columns hold non-ASCII text escaped, as json.dumps does
            mentions += [e.message.contains(form, autoescape=True),
                         e.extra.contains(json.dumps(form)[1:-1], autoescape=True)]  # fmt: skip
        query = select(e.id, e.names, e.message, e.extra).where(or_(*mentions))
        for event_id, names, message, extra in conn.execute(query).all():
            names = [REMOVED_NAME if n == name else n for n in json.loads(names)]
            extra = {k: scrub(v) for k, v in json.loads(extra).items()}
            conn.execute(
                update(s.events)
                .where(e.id == event_id)
                .values(names=json.dumps(names), message=scrub(message), extra=json.dumps(extra))
            )
        conn.execute(
            delete(s.visitors).where(
                s.visitors.c.name == name, s.visitors.c.verdict.in_(["known", "unsure"])
            )
        )
        for column in ("name", "runner_up"):
            conn.execute(
                update(s.visitors)
                .where(s.visitors.c[column] == name)
                .values({column: REMOVED_NAME})
            )

    def truncate_wal(self) -> bool:
        """SQLite: copy the write-ahead log into the database file and empty it, so deleted
        bytes (overwritten there by ``secure_delete``) do not linger in the ``-wal`` file.
        ``False`` when a reader kept it from finishing (it is done at a later removal or by
        ``greeter-library purge``); PostgreSQL: nothing to do here (``True``)."""
        if self.dialect != "sqlite":
            return True
        raw = self.engine.raw_connection()  # no BEGIN: a checkpoint runs outside one
        try:
            busy = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as err:
            log.warning("Could not empty the write-ahead log of %s: %s", self.url, err)
            return False
        finally:
            raw.close()
        return not (busy and busy[0])

    # -- tombstones ---------------------------------------------------------------------
    def tombstones(self, source_prefix: str | None = None, name: str | None = None) -> list:
        """The folder photos the folder sync ignores (:class:`Tombstone`), oldest first: all,
        those under a folder (``source_prefix``, e.g. ``folder:/srv/images/``), or those
        recorded when ``name`` was removed."""
        query = select(s.erased.c.source, s.erased.c.sha256, s.erased.c.name, s.erased.c.created)
        if source_prefix is not None:
            query = query.where(s.erased.c.source.startswith(source_prefix, autoescape=True))
        if name is not None:
            query = query.where(s.erased.c.name == display_name(name))
        with self._guard("reading tombstones"), self._read() as conn:
            rows = conn.execute(query.order_by(s.erased.c.id)).all()
        return [Tombstone(r[0], r[1], r[2], _utc(r[3])) for r in rows]

    @staticmethod
    def _lift_tombstones(conn, names) -> None:
        """A person added again explicitly (not by a folder): their folder photos are no
        longer ignored."""
        conn.execute(delete(s.erased).where(s.erased.c.name.in_(list(names))))

    # -- photos -----------------------------------------------------------------------
    def add_photo(
        self,
        name: str,
        *,
        crop_png: bytes,
        encoding,
        model_key: str,
        original: bytes | None = None,
        source: str = "upload",
        sha256: str | None = None,
    ) -> int:
        """Store one enrolled photo of ``name`` (created if new) with its encoding for
        ``model_key``, in one transaction; returns the photo id (the existing one when this
        person already has this exact photo from the same source). See :meth:`add_photos`."""
        photo = NewPhoto(
            name, crop_png, {model_key: encoding}, original=original, sha256=sha256, source=source
        )
        return self.add_photos([photo])[0]

    def add_photos(self, photos: Sequence[NewPhoto]) -> list[int]:
        """Store enrolled photos (each person created if new) in ONE transaction; returns
        their ids in order. A photo a person already has (same sha256, same source) is not
        stored twice: its existing id is returned. A photo with ``replaces`` deletes that
        photo (and its person, once they have no photo left) in the same transaction.

        Raises:
            greeter.names.InvalidName: a name that cannot be used; nothing is stored.
        """
        rows = [(display_name(p.name), p, p.digest(), self._vectors(p)) for p in photos]
        explicit = {name for name, p, _, _ in rows if not p.source.startswith(FOLDER_PREFIX)}
        ids = []
        with self._guard("storing photos"), self._write() as conn:
            if explicit:
                self._lift_tombstones(conn, explicit)
            for name, photo, digest, vectors in rows:
                pid = self._person_id(conn, name, create=True)
                existing = conn.execute(
                    select(s.photos.c.id).where(
                        s.photos.c.person_id == pid,
                        s.photos.c.sha256 == digest,
                        s.photos.c.source == photo.source,
                    )
                ).scalar()
                if existing is None:
                    existing = self._insert_photo(conn, pid, photo, digest, vectors)
                ids.append(int(existing))
                if photo.replaces is not None and photo.replaces != existing:
                    self._delete_photos(conn, [photo.replaces], drop_empty_person=True)
            if rows:
                self._bump(conn)
        return ids

    @staticmethod
    def _vectors(photo: NewPhoto) -> dict:
        return {key: vector_bytes(vector) for key, vector in photo.encodings.items()}

    @staticmethod
    def _insert_photo(conn, person_id, photo: NewPhoto, digest: str, vectors: dict) -> int:
        photo_id = conn.execute(
            insert(s.photos).values(
                person_id=person_id,
                sha256=digest,
                original=photo.original,
                crop_png=photo.crop_png,
                source=photo.source,
                created=utcnow(),
            )
        ).inserted_primary_key[0]
        if vectors:
            conn.execute(
                insert(s.encodings),
                [{"photo_id": photo_id, "model_key": k, "vector": v} for k, v in vectors.items()],
            )
        return int(photo_id)

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

    def photo_images(self, photo_ids) -> list[tuple[int, bytes | None, bytes]]:
        """``(photo id, original bytes or None, aligned crop PNG)`` for each existing photo
        (removed ones are left out), in id order: what enrolment re-encodes from."""
        query = select(s.photos.c.id, s.photos.c.original, s.photos.c.crop_png).where(
            s.photos.c.id.in_([int(i) for i in photo_ids])
        )
        with self._guard("reading photos to encode"), self._read() as conn:
            rows = fetch_binary(conn, query.order_by(s.photos.c.id))
        return [(int(i), None if o is None else bytes(o), bytes(c)) for i, o, c in rows]

    def remove_photo(self, photo_id: int, drop_empty_person: bool = False) -> None:
        """Delete one photo (and its encodings); optionally the person if none are left. A
        photo from a folder gets a tombstone: the folder sync does not add that file again
        (until it changes)."""
        with self._guard("removing a photo"), self._write() as conn:
            found = conn.execute(
                select(s.photos.c.source, s.photos.c.sha256).where(s.photos.c.id == int(photo_id))
            ).first()
            if not self._delete_photos(conn, [photo_id], drop_empty_person):
                raise LibraryError(f"No photo with id {photo_id} in the library.")
            if found and found[0].startswith(FOLDER_PREFIX):
                conn.execute(insert(s.erased).values(
                    source=found[0], sha256=found[1], name=None, created=utcnow()
                ))  # fmt: skip
            self._bump(conn)
        self.truncate_wal()

    def remove_photos(self, photo_ids, drop_empty_person: bool = True) -> int:
        """Delete photos (missing ones are skipped) in one transaction; returns how many."""
        photo_ids = [int(i) for i in photo_ids]
        if not photo_ids:
            return 0
        with self._guard("removing photos"), self._write() as conn:
            gone = self._delete_photos(conn, photo_ids, drop_empty_person)
            if gone:
                self._bump(conn)
        return gone

    @staticmethod
    def _delete_photos(conn, photo_ids, drop_empty_person: bool) -> int:
        """Delete ``photo_ids`` (and people left without a photo, if asked) -> how many."""
        owners = set(
            conn.execute(select(s.photos.c.person_id).where(s.photos.c.id.in_(photo_ids))).scalars()
        )
        if not owners:
            return 0
        conn.execute(delete(s.encodings).where(s.encodings.c.photo_id.in_(photo_ids)))
        gone = conn.execute(delete(s.photos).where(s.photos.c.id.in_(photo_ids))).rowcount
        if drop_empty_person:
            with_photos = select(s.photos.c.person_id).where(s.photos.c.person_id.in_(owners))
            empty = owners - set(conn.execute(with_photos).scalars())
            if empty:
                conn.execute(delete(s.greeted).where(s.greeted.c.person_id.in_(empty)))
                conn.execute(delete(s.people).where(s.people.c.id.in_(empty)))
        return int(gone)

    # -- encodings ----------------------------------------------------------------------
    def load_encodings(self, model_key: str) -> tuple[list, np.ndarray, list]:
        """Every stored encoding for ``model_key`` -> ``(names, float32 (N, 128), photo ids)``.

        Photos without an encoding for this key are left out (see :meth:`missing_encodings`).
        """
        owners = select(s.photos.c.id, s.people.c.name).select_from(s.photos.join(s.people))
        vectors = select(s.encodings.c.photo_id, s.encodings.c.vector).where(
            s.encodings.c.model_key == model_key
        )
        with self._guard("loading encodings"), self._read() as conn:
            name_of = dict(conn.execute(owners).all())
            rows = fetch_binary(conn, vectors)
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

    def store_encodings(self, model_key: str, photo_ids, vectors) -> int:
        """Store encodings for ``model_key`` in one transaction; photos removed meanwhile
        are skipped, existing encodings kept. Bumps the change counter once; returns how
        many photos now have one it stored."""
        values = {int(i): vector_bytes(v) for i, v in zip(photo_ids, vectors)}
        with self._guard("storing encodings"), self._write() as conn:
            alive = set(
                conn.execute(select(s.photos.c.id).where(s.photos.c.id.in_(list(values)))).scalars()
            )
            rows = [
                {"photo_id": i, "model_key": model_key, "vector": v}
                for i, v in values.items()
                if i in alive
            ]
            if rows:
                conn.execute(self._insert_ignore(s.encodings, ["photo_id", "model_key"]), rows)
            self._bump(conn)
        return len(rows)

    # -- events -------------------------------------------------------------------------
    def write_events(self, records) -> int:
        """Insert event records (see :func:`event_record`) in one transaction; re-sent ones
        (same ``uid``) are ignored. A greeting also records, for each enrolled person it
        names, when they were greeted (:meth:`last_greeted`); a ``stop`` sets its kiosk's
        ``stopped`` time (:meth:`kiosks`). Returns how many were given."""
        records = list(records)
        if not records:
            return 0
        greetings = {r["uid"]: r for r in records if r["kind"] == "greeting"}
        stops = {}
        for r in records:
            if r["kind"] == "stop":
                stops[r["kiosk"]] = max(r["time"], stops.get(r["kiosk"], r["time"]))
        with self._guard("writing events"), self._write() as conn:
            conn.execute(self._insert_ignore(s.events, ["uid"]), records)
            if greetings:
                self._record_greeted(conn, greetings)
            for kiosk, when in stops.items():
                k = s.kiosks.c
                conn.execute(
                    update(s.kiosks)
                    .where(k.name == kiosk, or_(k.stopped.is_(None), k.stopped < when))
                    .values(stopped=when)
                )
        return len(records)

    def _record_greeted(self, conn, greetings: dict) -> None:
        names = {n for r in greetings.values() for n in json.loads(r["names"])}
        person_of = dict(
            conn.execute(
                select(s.people.c.name, s.people.c.id).where(s.people.c.name.in_(names))
            ).all()
        )
        event_of = dict(
            conn.execute(
                select(s.events.c.uid, s.events.c.id).where(s.events.c.uid.in_(list(greetings)))
            ).all()
        )
        rows = {
            (event_of[uid], person_of[name]): record["time"]
            for uid, record in greetings.items()
            for name in json.loads(record["names"])
            if name in person_of and uid in event_of
        }
        if rows:
            conn.execute(
                self._insert_ignore(s.greeted, ["event_id", "person_id"]),
                [{"event_id": e, "person_id": p, "time": t} for (e, p), t in rows.items()],
            )

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
        name: str | None = None,
    ) -> list[Event]:
        """Events in ``[since, until)``, oldest first (or newest first), optionally filtered
        (``name``: the events that name this person). Events older than the library's
        retention are left out, deleted or not yet."""
        query = select(s.events)
        kept = self.retention().events_since(utcnow())
        since = _utc(since)
        if kept is not None:
            since = kept if since is None else max(since, kept)
        if since is not None:
            query = query.where(s.events.c.time >= since)
        if until is not None:
            query = query.where(s.events.c.time < _utc(until))
        if kiosk is not None:
            query = query.where(s.events.c.kiosk == kiosk)
        if kinds is not None:
            query = query.where(s.events.c.kind.in_(list(kinds)))
        if name is not None:
            query = query.where(s.events.c.names.contains(json.dumps(name), autoescape=True))
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
        events = [
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
        return events if name is None else [e for e in events if name in e.names]

    def last_greeted(self, person_ids=None) -> dict:
        """``{person id: time of their last greeting}`` for everyone greeted within the event
        retention (or for the people with these ``person_ids``): one index lookup per person
        (``greeted`` by person and time), however many greetings there are."""
        g = s.greeted.c
        latest = select(func.max(g.time)).where(g.person_id == s.people.c.id)
        kept = self.retention().events_since(utcnow())
        if kept is not None:
            latest = latest.where(g.time >= kept)
        query = select(s.people.c.id, latest.scalar_subquery())
        if person_ids is not None:
            query = query.where(s.people.c.id.in_([int(i) for i in person_ids]))
        with self._guard("reading the last greetings"), self._read() as conn:
            return {int(pid): _utc(when) for pid, when in conn.execute(query) if when is not None}

    # -- settings and retention ---------------------------------------------------------
    def retention(self, fresh: bool = False) -> Retention:
        """The library's :class:`Retention` (its defaults until set). Read at most every
        5 s by one process (``fresh``: now): a change made elsewhere is seen within that."""
        with self._settings_lock:
            cached = self._settings
            if cached is not None and not fresh and _time.monotonic() - cached[0] < _SETTINGS_TTL:
                return cached[1]
        query = select(s.settings.c.value).where(s.settings.c.key == _RETENTION_KEY)
        with self._guard("reading the library settings"), self._read() as conn:
            raw = conn.execute(query).scalar()
        retention = _retention_from(raw)
        with self._settings_lock:
            self._settings = (_time.monotonic(), retention)
        return retention

    def set_retention(self, **changes) -> Retention:
        """Change some of the retention periods (``event_days``, ``visitor_face_days``,
        ``recognition_days``: see :class:`Retention`); returns the new setting. Enforced by
        the next :meth:`enforce_retention`, and by every read at once."""
        unknown = set(changes) - set(DEFAULT_RETENTION.as_dict())
        if unknown:
            raise ValueError(f"Unknown retention settings: {sorted(unknown)}")
        with self._guard("changing the library settings"), self._write() as conn:
            raw = conn.execute(
                select(s.settings.c.value).where(s.settings.c.key == _RETENTION_KEY)
            ).scalar()
            new = Retention(**{**_retention_from(raw).as_dict(), **changes})
            values = {"value": json.dumps(new.as_dict()), "updated": utcnow()}
            conn.execute(
                self._insert_ignore(s.settings, ["key"]).values(key=_RETENTION_KEY, **values)
            )
            conn.execute(
                update(s.settings).where(s.settings.c.key == _RETENTION_KEY).values(**values)
            )
        with self._settings_lock:
            self._settings = (_time.monotonic(), new)
        return new

    def enforce_retention(self, now: datetime | None = None) -> tuple[int, int]:
        """Delete the events and kept faces older than the library's :class:`Retention`
        (and faces past the expiry their kiosk gave them); returns ``(events, faces)``
        deleted. Any running kiosk does this hourly, and so does the admin page. Events go
        in transactions of :data:`DELETE_BATCH`, so the first run on a year of events does not
        hold kiosks' writes for long."""
        now = _utc(now) or utcnow()
        since = self.retention(fresh=True).events_since(now)
        events_gone = 0
        while since is not None:
            old = select(s.events.c.id).where(s.events.c.time < since).limit(DELETE_BATCH)
            with self._guard("deleting expired events"), self._write() as conn:
                ids = list(conn.execute(old).scalars())
                if ids:
                    conn.execute(delete(s.greeted).where(s.greeted.c.event_id.in_(ids)))
                    conn.execute(delete(s.events).where(s.events.c.id.in_(ids)))
            events_gone += len(ids)
            if len(ids) < DELETE_BATCH:
                break
        return events_gone, self.purge_expired(now)

    # -- kiosks -------------------------------------------------------------------------
    _KIOSK_STATUS = ("started", "fps", "threshold", "weights", "runtime", "model_key", "people",
                     "instance", "heartbeat_s", "status")  # fmt: skip

    def heartbeat(self, kiosk: str, *, expect_own: bool = False, **status) -> str | None:
        """Record that ``kiosk`` is alive now, with any of: started, fps, threshold, weights,
        runtime, model_key, people, instance (its persistent id), heartbeat_s (seconds between
        beats), status (a one-line text).

        Two kiosks heartbeating under one name are not merged silently. ``expect_own``: the
        row should still hold this kiosk's previous beat (same ``instance`` and ``started``);
        when another kiosk has written it since, both are running: the row records the
        conflict (:attr:`Kiosk.conflict`, :attr:`Kiosk.conflict_at`) and the message is
        returned (``None``: no conflict). No clocks are compared: kiosks' clocks may differ.
        """
        unknown = set(status) - set(self._KIOSK_STATUS)
        if unknown:
            raise ValueError(f"Unknown kiosk status fields: {sorted(unknown)}")
        if status.get("status") is not None:
            status["status"] = " ".join(str(status["status"]).split())[: s.NAME_LENGTH]
        values = {k: v for k, v in status.items() if v is not None}
        now = values["last_seen"] = utcnow()
        k = s.kiosks.c
        with self._guard("recording the kiosk heartbeat"), self._write() as conn:
            conflict = None
            if expect_own:
                row = conn.execute(select(k.instance, k.started).where(k.name == kiosk)).first()
                if row is not None:
                    conflict = _conflict(kiosk, row, values)
                if conflict:
                    values.update(conflict=conflict, conflict_at=now)
            done = conn.execute(update(s.kiosks).where(k.name == kiosk).values(**values))
            if not done.rowcount:
                conn.execute(self._insert_ignore(s.kiosks, ["name"]).values(name=kiosk, **values))
                conn.execute(update(s.kiosks).where(k.name == kiosk).values(**values))
        return conflict

    def kiosks(self) -> list[Kiosk]:
        with self._guard("listing kiosks"), self._read() as conn:
            rows = conn.execute(select(s.kiosks).order_by(s.kiosks.c.name)).mappings().all()
        times = ("last_seen", "started", "stopped", "conflict_at")
        return [Kiosk(**{**r, **{t: _utc(r[t]) for t in times}}) for r in rows]

    # -- folders ------------------------------------------------------------------------
    def claim_folder(self, path: str, kiosk: str | None) -> list[str]:
        """Record that ``kiosk`` (``None``: ``greeter-library import``) syncs the folder
        ``path`` (absolute); returns the other folders this kiosk synced before, which it
        syncs no more (see :meth:`release_folder`)."""
        f = s.folders.c
        values = {"kiosk": kiosk, "synced": utcnow()}
        with self._guard("recording a synced folder"), self._write() as conn:
            conn.execute(self._insert_ignore(s.folders, ["path"]).values(path=path, **values))
            conn.execute(update(s.folders).where(f.path == path).values(**values))
            if kiosk is None:
                return []
            query = select(f.path).where(f.kiosk == kiosk, f.path != path).order_by(f.path)
            return list(conn.execute(query).scalars())

    def folders(self) -> dict:
        """``{folder path: kiosk that syncs it (None: greeter-library import)}``."""
        with self._guard("listing synced folders"), self._read() as conn:
            return dict(conn.execute(select(s.folders.c.path, s.folders.c.kiosk)).all())

    def release_folder(self, path: str) -> tuple[int, list[str]]:
        """Forget the folder ``path``: delete the photos that came from it, and the people
        left with no photo; returns ``(photos removed, names of the people removed)``."""
        prefix = f"{FOLDER_PREFIX}{path.rstrip('/')}/"
        p = s.photos.c
        with self._guard("releasing a synced folder"), self._write() as conn:
            rows = conn.execute(
                select(p.id, s.people.c.name)
                .select_from(s.photos.join(s.people))
                .where(p.source.startswith(prefix, autoescape=True))
            ).all()
            ids, names = [r[0] for r in rows], {r[1] for r in rows}
            gone = self._delete_photos(conn, ids, drop_empty_person=True) if ids else 0
            kept = select(s.people.c.name).where(s.people.c.name.in_(names))
            left = set(conn.execute(kept).scalars()) if names else set()
            conn.execute(delete(s.folders).where(s.folders.c.path == path))
            if gone:
                self._bump(conn)
        return gone, sorted(names - left)

    # -- visitors -----------------------------------------------------------------------
    def keep_visitor(
        self,
        kiosk,
        crop_png: bytes,
        encoding,
        visit_id,
        days: float,
        model_key=None,
        time=None,
        *,
        image: bytes | None = None,
        verdict: str = "stranger",
        name: str | None = None,
        distance: float | None = None,
        runner_up: str | None = None,
        runner_up_distance: float | None = None,
        threshold: float | None = None,
    ) -> int | None:
        """Keep the face of one visit for ``days`` days, at most the library's retention
        for its kind (:meth:`Retention.face_days`): its aligned crop (PNG), encoding, loose
        ``image`` (JPEG) and what the kiosk decided (``verdict``, the nearest person ``name``
        at ``distance``, the ``runner_up``, the ``threshold``).

        At most one per ``(kiosk, visit_id)``: returns the new id, or ``None`` when this
        visit already has one or the library keeps no faces of this kind.
        :meth:`purge_expired` deletes them when they expire.
        """
        if not days > 0:
            raise ValueError(f"Visitor faces are kept for days > 0. Received: days={days}")
        if verdict not in ("known", "unsure", "stranger"):
            raise ValueError(f"verdict must be known, unsure or stranger. Received: {verdict!r}")
        days = min(days, self.retention().face_days(verdict))
        if not days > 0:
            return None
        when = _utc(time) or utcnow()
        values = {
            "kiosk": kiosk,
            "time": when,
            "visit_id": str(visit_id),
            "crop_png": bytes(crop_png),
            "vector": None if encoding is None else vector_bytes(encoding),
            "model_key": model_key,
            "expires": when + timedelta(days=days),
            "image": None if image is None else bytes(image),
            "verdict": verdict,
            "name": name,
            "distance": _finite(distance),
            "runner_up": runner_up,
            "runner_up_distance": _finite(runner_up_distance),
            "threshold": _finite(threshold),
        }
        stmt = self._insert_ignore(s.visitors, ["kiosk", "visit_id"]).returning(s.visitors.c.id)
        with self._guard("keeping a visitor face"), self._write() as conn:
            new_id = conn.execute(stmt, values).scalar()  # None: this visit has one already
        return None if new_id is None else int(new_id)

    def _face_kept(self, now: datetime | None = None):
        """SQL: a kept face not yet expired (its own expiry, and the library's retention for
        its kind, checked on every read: an expired face is never served, deleted or not)."""
        now = _utc(now) or utcnow()
        retention, v = self.retention(), s.visitors.c
        stranger = func.coalesce(v.verdict, "stranger") == "stranger"

        def newer(days):
            return v.time > now - timedelta(days=days) if days > 0 else v.id.is_(None)

        return and_(
            v.expires > now,
            or_(
                and_(stranger, newer(retention.visitor_face_days)),
                and_(~stranger, newer(retention.recognition_days)),
            ),
        )

    def visitors(
        self, kiosk: str | None = None, verdicts=None, name: str | None = None
    ) -> list[Visitor]:
        """Kept faces not expired, newest first; ``verdicts``: only these (e.g.
        ``["stranger"]``; faces kept before verdicts were recorded count as strangers);
        ``name``: only the visits whose nearest person was ``name``."""
        names = ("id", "kiosk", "time", "visit_id", "expires", "model_key", "verdict", "name",
                 "distance", "runner_up", "runner_up_distance", "threshold")  # fmt: skip
        query = (
            select(*(s.visitors.c[n] for n in names))
            .where(self._face_kept())
            .order_by(s.visitors.c.time.desc(), s.visitors.c.id.desc())
        )
        if kiosk is not None:
            query = query.where(s.visitors.c.kiosk == kiosk)
        if name is not None:
            query = query.where(s.visitors.c.name == name)
        if verdicts is not None:
            verdict = func.coalesce(s.visitors.c.verdict, "stranger")
            query = query.where(verdict.in_(list(verdicts)))
        with self._guard("listing visitors"), self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Visitor(**{**r, "time": _utc(r["time"]), "expires": _utc(r["expires"]),
                       "verdict": r["verdict"] or "stranger"})
            for r in rows
        ]  # fmt: skip

    def visitor_crop(self, visitor_id: int) -> bytes:
        """A kept visitor's aligned crop, PNG bytes."""
        return self.visitor(visitor_id).crop_png

    def visitor(self, visitor_id: int) -> VisitorFace:
        """A kept visitor face: crop and stored encoding; :class:`LibraryError` if gone."""
        cols = (s.visitors.c.crop_png, s.visitors.c.vector, s.visitors.c.model_key,
                s.visitors.c.image)  # fmt: skip
        query = select(*cols).where(s.visitors.c.id == int(visitor_id), self._face_kept())
        with self._guard("reading a visitor face"), self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise LibraryError(f"No visitor face with id {visitor_id} (dismissed or expired).")
        crop, vector, key, image = row
        return VisitorFace(
            int(visitor_id),
            bytes(crop),
            None if vector is None else _vector(vector),
            key,
            None if image is None else bytes(image),
        )

    def assign_visitor(self, visitor_id: int, name: str, encodings: dict) -> int:
        """Store kept visitor face ``visitor_id`` as a photo of ``name`` (created if new),
        with ``encodings`` (``{model_key: (128,)}``: its stored one and any computed for
        other keys), and delete the visitor row, in one transaction; returns the photo id.
        :class:`LibraryError` when it was dismissed or expired meanwhile."""
        name = display_name(name)
        face = self.visitor(visitor_id)
        photo = NewPhoto(name, face.crop_png, encodings, original=face.image, source="visitor")
        vectors = self._vectors(photo)
        with self._guard("enrolling a visitor face"), self._write() as conn:
            gone = conn.execute(delete(s.visitors).where(s.visitors.c.id == int(visitor_id)))
            if not gone.rowcount:
                raise LibraryError(f"Visitor face {visitor_id} was dismissed meanwhile.")
            pid = self._person_id(conn, name, create=True)
            photo_id = self._insert_photo(conn, pid, photo, photo.digest(), vectors)
            self._lift_tombstones(conn, [name])
            self._bump(conn)
        return photo_id

    def dismiss_visitor(self, visitor_id: int) -> bool:
        """Delete a kept visitor face; ``False`` if it was already gone."""
        with self._guard("dismissing a visitor face"), self._write() as conn:
            gone = conn.execute(delete(s.visitors).where(s.visitors.c.id == int(visitor_id)))
        return bool(gone.rowcount)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete kept faces past their expiry or the library's retention; returns how many
        (:meth:`enforce_retention` deletes expired events too)."""
        with self._guard("deleting expired visitor faces"), self._write() as conn:
            gone = conn.execute(delete(s.visitors).where(~self._face_kept(now)))
        return int(gone.rowcount or 0)

    # -- one person's data, for an access request ----------------------------------------
    def photo_encodings(self, photo_id: int) -> dict:
        """``{model_key: (128,) float32}``: every encoding stored for one photo."""
        query = select(s.encodings.c.model_key, s.encodings.c.vector).where(
            s.encodings.c.photo_id == int(photo_id)
        )
        with self._guard("reading encodings"), self._read() as conn:
            return {key: _vector(vector) for key, vector in fetch_binary(conn, query)}

    def model_keys(self) -> dict:
        """``{model_key: number of photos encoded for it}``."""
        query = select(s.encodings.c.model_key, func.count()).group_by(s.encodings.c.model_key)
        with self._guard("counting encodings"), self._read() as conn:
            return {key: int(n) for key, n in conn.execute(query)}


def _retention_from(raw: str | None) -> Retention:
    """The stored retention setting (JSON), on top of the defaults; a damaged value is
    logged and the defaults used."""
    if raw is None:
        return DEFAULT_RETENTION
    try:
        stored = json.loads(raw)
        known = {k: v for k, v in stored.items() if k in DEFAULT_RETENTION.as_dict()}
        return Retention(**{**DEFAULT_RETENTION.as_dict(), **known})
    except (ValueError, TypeError, AttributeError) as err:
        log.warning("The library's retention setting %r is damaged (%s); using the defaults.",
                    raw, err)  # fmt: skip
        return DEFAULT_RETENTION


def _conflict(kiosk: str, row, values: dict) -> str | None:
    """The row of ``kiosk`` was last written by another kiosk than ``values`` describes (its
    instance id and start time): the message, else ``None``."""
    instance, started = row[0], _utc(row[1])
    mine = (values.get("instance"), _utc(values.get("started")))
    if (instance, started) == mine:
        return None
    same = instance is not None and instance == mine[0]
    why = (
        f"both with instance id {instance}: a copied state folder or SD card; delete "
        "instance-id in the state folder of one of them"
        if same
        else f"instance ids {instance or '?'} and {mine[0] or '?'}"
    )
    return (
        f"Two kiosks are running under the name {kiosk!r} ({why}); their events and status "
        "would be mixed up. Give each its own name (--kiosk NAME or 'kiosk' in its config)."
    )
