"""The greeter's live view of the store: the in-memory face database, kept current.

:class:`LiveLibrary` loads every encoding for the greeter's model key into a
:class:`fr_utils.database.FaceDatabase` at start (computing and storing only missing
ones), then a background thread

* polls the change counter every ``interval`` seconds and reloads on a change, so an
  ``add``/``remove`` made anywhere is seen within about ``interval`` + the reload time;
* writes queued events (``library.events.write(kind, **fields)``, like
  :class:`greeter.events.EventLog`) and kept visitor faces;
* heartbeats the kiosk row (frames/s measured from :meth:`LiveLibrary.poll` calls,
  threshold, weights, runtime, its instance id, interval and status line), and reports
  another kiosk heartbeating under the same name (a warning and an ``error`` event, once);
* enforces the library's retention hourly (:meth:`Store.enforce_retention`: old events and
  kept faces deleted; any running kiosk or admin page does it);
* optionally syncs an ``images/`` folder (:class:`greeter.library.sync.FolderWatcher`).

If the database goes away the greeter keeps greeting from memory: events wait in a
bounded queue (oldest dropped first, counted), the thread retries with backoff
(0.5 s doubling to 30 s), logs the loss once and the recovery once, then sends the queue.
Recovery means a write that succeeded (a full disk still answers reads: it is not "back").
With a spool (:class:`greeter.library.spool.EventSpool`) the queue is also on disk, so
events queued when the kiosk stops or is killed are sent at its next start. Each event is
inserted in a transaction with a unique id, so a kiosk killed mid-write loses nothing it
had spooled, and a re-sent event is not duplicated.

The frame loop only calls :meth:`LiveLibrary.poll` (no I/O) and reads ``.database``.
"""

import logging
import socket
import threading
import time
from collections import deque

from greeter.library.enroller import encode_missing, png_bytes
from greeter.library.store import Store, StoreUnavailable, event_record, utcnow
from greeter.names import kiosk_name, printable

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
        status: initial kiosk status: ``threshold``, ``weights``, ``runtime``, ``status``
            (a one-line text; default "ok", or "nobody enrolled").
        keep_visitor_days: keep strangers' faces this many days (``None``: never; at most
            the library's retention).
        keep_recognition_days: keep known (and near-miss) visits' faces this many days, for
            the admin page's recent recognitions (``None`` or 0: never).
        queue_limit: events (and visitor faces) kept while the database is unreachable.
        instance: this kiosk's persistent id (:func:`greeter.library.kiosk.instance_id`).
        spool: an :class:`~greeter.library.spool.EventSpool` mirroring the event queue on
            disk (``None``: memory only); closed by :meth:`close`.

    Raises:
        greeter.names.InvalidName: a kiosk name the library cannot hold.
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
        instance: str | None = None,
        spool=None,
    ):
        if images_dir is not None and enroller is None:
            raise ValueError("Syncing an images folder needs an enroller to encode its photos.")
        self.store, self.model_key, self.enroller = store, model_key, enroller
        self.kiosk = kiosk_name(kiosk or default_kiosk_name())
        self.instance, self._spool = instance, spool
        self.conflict = None  # another kiosk heartbeating under this name: the message
        self._beaten = False  # a heartbeat of ours is in the row (so another's is a conflict)
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

            self._watcher = FolderWatcher(store, images_dir, enroller, kiosk=self.kiosk)
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
        """Queue the events spooled by the last run, sync the folder (if any), compute
        missing encodings, load all into memory.

        Raises :class:`StoreUnavailable` if the database cannot be reached: at start there
        is nothing to greet from.
        """
        if self._spool is not None and self._counter is None:
            spooled = self._spool.load()
            if spooled:
                with self._lock:
                    self._queue.extendleft(reversed(spooled))
                log.info("%d event(s) spooled by the last run will be sent.", len(spooled))
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
            dropped = self.dropped
            while len(self._queue) > self._queue_limit:
                self._queue.popleft()
                self.dropped += 1
            if self._spool is not None:
                if self.dropped // 1000 != dropped // 1000:  # keep the file near the limit
                    self._spool.rewrite(self._queue)
                else:
                    self._spool.append(record)
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
                    self._probe(now)  # a write: raises while still down
                if now >= next_beat or self._status_changed.is_set():
                    self._status_changed.clear()  # before the queue: a restart's first beat
                    next_beat = now + self.heartbeat_interval  # comes before the last run's
                    self._heartbeat(now)  # spooled stop, so the row never reads "stopped"
                self._flush()
                if now >= next_poll:
                    next_poll = now + self.interval
                    if self._watcher is not None:
                        self._watcher.sync()
                    if self.store.change_counter() != self._counter:
                        if self.enroller is not None:
                            encode_missing(self.store, self.enroller)
                        self._reload()
                        self._status_changed.set()  # the next beat reports the people now
                if now >= next_purge:
                    next_purge = now + _PURGE_EVERY
                    events, faces = self.store.enforce_retention()
                    if events or faces:
                        log.info("Retention: %d old event(s), %d kept face(s) deleted.",
                                 events, faces)  # fmt: skip
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

    def _probe(self, now: float) -> None:
        """Whether the database is back, by a write (the queue, else a heartbeat): a full
        disk answers reads, so a read proves nothing."""
        if self._queue:
            self._flush()
        else:
            self._heartbeat(now)

    def _flush(self) -> None:
        while True:
            with self._lock:
                batch = [self._queue[i] for i in range(min(_BATCH, len(self._queue)))]
            if not batch:
                break
            self.store.write_events(batch)  # raises StoreUnavailable: the batch stays queued
            with self._lock:
                sent = {r["uid"] for r in batch}
                while self._queue and self._queue[0]["uid"] in sent:  # (the oldest may have
                    self._queue.popleft()  # been dropped meanwhile)
                if self._spool is not None:
                    self._spool.rewrite(self._queue)
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
        status = dict(self.status)
        if status.get("status") is None:
            status["status"] = "ok" if len(self.database) else "nobody enrolled"
        conflict = self.store.heartbeat(
            self.kiosk, started=self._started, fps=fps, people=len(self.database),
            instance=self.instance, heartbeat_s=self.heartbeat_interval,
            expect_own=self._beaten, **status,
        )  # fmt: skip
        self._frames, self._fps_since, self._beaten = 0, now, True
        if conflict and self.conflict is None:
            self.conflict = conflict
            log.warning("%s", printable(conflict))
            self._queue_event("error", {"message": conflict})

    def set_status(self, **status) -> None:
        """Update what the heartbeat reports (``threshold``, ``weights``, ``runtime``,
        ``status``: the kiosk's one-line status, e.g. ``greeter doctor``'s summary); the
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
            where = (
                f"; kept in {self._spool.path}, sent at the next start"
                if self._spool is not None
                else ""
            )
            log.warning("%d event(s) not written to the library database%s.",
                        len(self._queue), where)  # fmt: skip
        if self._spool is not None:
            self._spool.close()
        if self.enroller is not None and hasattr(self.enroller, "close"):
            self.enroller.close()  # its detection threads

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
