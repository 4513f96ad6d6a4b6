"""The greeter's live view of the store: the in-memory face database, kept current.

:class:`LiveLibrary` loads every encoding for the greeter's model key into a
:class:`fr_utils.database.FaceDatabase` at start (computing and storing only missing
ones), then a background thread

* polls the change counter every ``interval`` seconds and reloads on a change, so an
  ``add``/``remove`` made anywhere is seen within about ``interval`` + the reload time;
* writes queued events (``library.events.write(kind, **fields)``, like
  :class:`greeter.events.EventLog`) and kept visitor faces;
* heartbeats the kiosk row (frames/s measured from :meth:`LiveLibrary.poll` calls,
  threshold, weights, runtime) and purges expired visitor faces;
* optionally syncs an ``images/`` folder (:class:`greeter.library.sync.FolderWatcher`).

If the database goes away the greeter keeps greeting from memory: events wait in a
bounded queue (oldest dropped first, counted), the thread retries with backoff
(0.5 s doubling to 30 s), logs the loss once and the recovery once, then sends the queue.
Each event is inserted in a transaction with a unique id, so a kiosk killed mid-write
loses at most the events not yet committed and a re-sent batch is not duplicated.

The frame loop only calls :meth:`LiveLibrary.poll` (no I/O) and reads ``.database``.
"""

import logging
import socket
import threading
import time
from collections import deque

from greeter.library.enroller import encode_missing, png_bytes
from greeter.library.store import Store, StoreUnavailable, event_record, utcnow

log = logging.getLogger(__name__)
QUEUE_LIMIT = 10_000
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
_BATCH = 500
_PURGE_EVERY = 3600.0


def _face_database(names, vectors):
    from fr_utils.database import FaceDatabase  # imports TensorFlow: only when greeting

    return FaceDatabase(names, vectors)


def default_kiosk_name() -> str:
    """This machine's host name (the default ``--kiosk``)."""
    return socket.gethostname() or "kiosk"


class StoreEvents:
    """An events sink with ``.write(kind, **fields)`` that queues events for the store.

    Returns the record like :meth:`greeter.events.EventLog.write`; never blocks and never
    raises for a database problem (see :class:`LiveLibrary`).
    """

    def __init__(self, library: "LiveLibrary"):
        self._library = library

    def write(self, event: str, **fields) -> dict:
        return self._library._queue_event(event, fields)

    def close(self) -> None:
        """Nothing to do: the library's :meth:`LiveLibrary.close` flushes the queue."""


class EventTee:
    """Writes each event to several sinks (e.g. the JSON-lines log and the store)."""

    def __init__(self, *sinks):
        self.sinks = [s for s in sinks if s is not None]

    def write(self, event: str, **fields):
        result = None
        for sink in self.sinks:
            record = sink.write(event, **fields)
            result = record if result is None else result
        return result

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


class LiveLibrary:
    """The store's encodings for one model key, in memory and kept current.

    What the frame loop (:func:`greeter.app.run`) uses: ``.database`` (a
    :class:`FaceDatabase`), ``.poll()`` and ``.keep_face()``.

    Args:
        store: an open :class:`Store`.
        model_key: which encodings to load (the enroller's ``model_key``).
        kiosk: this greeter's name (default: the host name), written with everything.
        enroller: computes encodings missing for ``model_key`` (``None``: photos without
            one are left out) and encodes folder photos.
        images_dir: an ``images/`` folder to keep synced into the store (needs ``enroller``).
        interval: seconds between change-counter polls (and folder checks).
        heartbeat: seconds between kiosk heartbeats.
        status: initial kiosk status: ``threshold``, ``weights``, ``runtime``.
        keep_visitor_days: keep strangers' faces this many days (``None``: never).
        keep_recognition_days: keep known (and near-miss) visits' faces this many days, for
            the admin page's recent recognitions (``None`` or 0: never).
        queue_limit: events (and visitor faces) kept while the database is unreachable.
    """

    def __init__(
        self,
        store: Store,
        model_key: str,
        kiosk: str | None = None,
        enroller=None,
        images_dir=None,
        interval: float = 1.0,
        heartbeat: float = 10.0,
        status: dict | None = None,
        keep_visitor_days: float | None = None,
        keep_recognition_days: float | None = None,
        queue_limit: int = QUEUE_LIMIT,
        clock=time.monotonic,
    ):
        if images_dir is not None and enroller is None:
            raise ValueError("Syncing an images folder needs an enroller to encode its photos.")
        self.store, self.model_key, self.enroller = store, model_key, enroller
        self.kiosk = kiosk or default_kiosk_name()
        self.interval, self.heartbeat_interval, self._clock = interval, heartbeat, clock
        self.keep_visitor_days = keep_visitor_days
        self.keep_recognition_days = keep_recognition_days
        self.status = {"runtime": None, "threshold": None, "weights": None, **(status or {})}
        self.status["model_key"] = model_key
        self.database = _face_database([], None)
        self.photo_ids: list = []
        self.events = StoreEvents(self)
        self.online = True
        self.dropped = 0  # events dropped because the queue was full
        self._watcher = None
        if images_dir is not None:
            from greeter.library.sync import FolderWatcher

            self._watcher = FolderWatcher(store, images_dir, enroller)
        self._queue = deque()
        self._visitors = deque()
        self._queue_limit = int(queue_limit)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._status_changed = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._counter = None
        self._changes = ([], [])  # photo ids added / removed since the last poll()
        self._frames, self._fps_since = 0, clock()
        self._started = utcnow()

    # -- start-up -----------------------------------------------------------------------
    def load(self) -> "LiveLibrary":
        """Sync the folder (if any), compute missing encodings, load all into memory.

        Raises :class:`StoreUnavailable` if the database cannot be reached: at start there
        is nothing to greet from.
        """
        if self._watcher is not None:
            self._watcher.sync()
        if self.enroller is not None:
            computed, _ = encode_missing(self.store, self.enroller)
            if computed:
                log.info("Encoded %d photo(s) for model %s.", computed, self.model_key)
        self._reload()
        return self

    def start(self) -> "LiveLibrary":
        """:meth:`load` (if not done) and start the background thread."""
        if self._counter is None:
            self.load()
        self._thread = threading.Thread(target=self._run, name="library", daemon=True)
        self._thread.start()
        return self

    def _reload(self) -> None:
        counter = self.store.change_counter()  # read first: a change during the load is seen next
        names, vectors, ids = self.store.load_encodings(self.model_key)
        old = set(self.photo_ids)
        new = set(ids)
        self.database = _face_database(names, vectors if len(names) else None)
        self.photo_ids = ids
        with self._lock:
            added, removed = self._changes
            self._changes = (added + sorted(new - old), removed + sorted(old - new))
        self._counter = counter

    # -- the frame loop's side ------------------------------------------------------------
    def poll(self) -> tuple[list, list]:
        """Photo ids added and removed since the last call (no I/O; call once per frame)."""
        self._frames += 1
        with self._lock:
            changes, self._changes = self._changes, ([], [])
        return changes

    def _queue_event(self, kind: str, fields: dict) -> dict:
        record = event_record(self.kiosk, kind, utcnow(), fields)
        with self._lock:
            self._queue.append(record)
            while len(self._queue) > self._queue_limit:
                self._queue.popleft()
                self.dropped += 1
        self._wake.set()
        return record

    def keep_visitor(self, crop, encoding, visit_id) -> bool:
        """:meth:`keep_face` for a stranger (kept only with ``keep_visitor_days``)."""
        return self.keep_face(crop, encoding, visit_id)

    def keep_face(self, crop, encoding, visit_id, *, verdict="stranger", **details) -> bool:
        """Queue the face of one visit: its aligned crop (BGR uint8), encoding and
        ``details`` (``image`` JPEG bytes, ``name``, ``distance``, ``runner_up``,
        ``runner_up_distance``, ``threshold``: see :meth:`Store.keep_visitor`). At most one
        per ``visit_id`` is stored. ``False`` (nothing kept) when faces of this kind are not
        kept (strangers: ``keep_visitor_days``; known and unsure: ``keep_recognition_days``)."""
        days = self.keep_visitor_days if verdict == "stranger" else self.keep_recognition_days
        if not days:
            return False
        record = dict(details, verdict=verdict, days=days, time=utcnow())
        with self._lock:
            self._visitors.append((crop, encoding, str(visit_id), record))
            while len(self._visitors) > self._queue_limit:
                self._visitors.popleft()
        self._wake.set()
        return True

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- the background thread -----------------------------------------------------------
    def _run(self) -> None:
        backoff = BACKOFF_MIN
        next_poll = next_beat = next_purge = 0.0
        while not self._stop.is_set():
            try:
                now = self._clock()
                if not self.online:
                    self.store.change_counter()  # raises while still down
                self._flush()
                if now >= next_poll:
                    next_poll = now + self.interval
                    if self._watcher is not None:
                        self._watcher.sync()
                    if self.store.change_counter() != self._counter:
                        if self.enroller is not None:
                            encode_missing(self.store, self.enroller)
                        self._reload()
                if now >= next_beat or self._status_changed.is_set():
                    self._status_changed.clear()
                    next_beat = now + self.heartbeat_interval
                    self._heartbeat(now)
                kept = self.keep_visitor_days or self.keep_recognition_days
                if kept and now >= next_purge:
                    next_purge = now + _PURGE_EVERY
                    self.store.purge_expired()
                if not self.online:
                    self.online = True
                    log.warning(
                        "Library database %s is back; %d queued event(s) sent%s.",
                        self.store.url, self._sent_since_down,
                        f", {self.dropped} dropped (queue full)" if self.dropped else "",
                    )  # fmt: skip
                backoff = BACKOFF_MIN
                wait = max(0.0, min(next_poll, next_beat) - self._clock())
                self._wake.wait(min(wait, 0.25))
                self._wake.clear()
            except StoreUnavailable as err:
                if self.online:
                    self.online = False
                    self._sent_since_down = 0
                    log.warning(  # one line: the driver's message may span several
                        "%s. Greeting from memory (%d people); events are queued (up to %d) "
                        "and sent when it returns; retrying every %.1f-%.0f s.",
                        " ".join(str(err).split()).rstrip("."), len(self.database),
                        self._queue_limit, BACKOFF_MIN, BACKOFF_MAX,
                    )  # fmt: skip
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception:  # a bug must not silently stop the library thread
                log.exception("Library thread error; retrying in %.1f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    _sent_since_down = 0

    def _flush(self) -> None:
        while True:
            with self._lock:
                batch = [self._queue[i] for i in range(min(_BATCH, len(self._queue)))]
            if not batch:
                break
            self.store.write_events(batch)  # raises StoreUnavailable: the batch stays queued
            with self._lock:
                for _ in batch:
                    self._queue.popleft()
            self._sent_since_down += len(batch)
        while self._visitors:
            crop, encoding, visit_id, record = self._visitors[0]
            record = dict(record)
            days = record.pop("days")
            try:
                self.store.keep_visitor(
                    self.kiosk, png_bytes(crop), encoding, visit_id, days,
                    model_key=self.model_key, **record,
                )  # fmt: skip
            except StoreUnavailable:
                raise
            except ValueError as err:
                log.warning("Visitor face not kept: %s", err)
            with self._lock:
                self._visitors.popleft()

    def _heartbeat(self, now: float) -> None:
        elapsed = now - self._fps_since
        fps = self._frames / elapsed if elapsed > 0 and self._frames else None
        self._frames, self._fps_since = 0, now
        self.store.heartbeat(
            self.kiosk, started=self._started, fps=fps, people=len(self.database), **self.status
        )

    def set_status(self, **status) -> None:
        """Update what the heartbeat reports (``threshold``, ``weights``, ``runtime``); the
        change is sent at once, not at the next beat."""
        self.status.update(status)
        self._status_changed.set()
        self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread after trying (up to ``timeout`` s) to send the queued events."""
        deadline = self._clock() + timeout
        while self._thread is not None and self._queue and self.online:
            if self._clock() > deadline:
                break
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._queue:
            log.warning("%d event(s) not written to the library database.", len(self._queue))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
