"""The event log: one JSON object per line, flushed as it is written.

One event format, here and in ``greeter-library events --json``
(:meth:`greeter.library.store.Event.as_dict` builds it with :func:`event_json`)::

    {"time": "2026-05-09T14:03:07+02:00", "event": "greeting", "names": [...], ...}

``time`` is ISO 8601 local time with its UTC offset, to the second (:func:`event_time`);
``event`` says what happened (``start``, ``greeting``, ``unknown``, ``error``,
``reconnect``, ``stop``, ...); the other keys depend on it. Lines written before this
format (offset ``+0200``) read the same with :func:`parse_event_time`.

Safe to write from several threads (the speech worker reports its failures here).
"""

import json
import threading
import time
from datetime import datetime
from pathlib import Path

EVENT_KEY = "event"


def event_time(when: float | datetime) -> str:
    """ISO 8601 local time with its UTC offset, to the second: ``2026-05-09T14:03:07+02:00``.

    ``when``: seconds since the epoch, or a datetime (naive ones are taken as local time).
    """
    if not isinstance(when, datetime):
        when = datetime.fromtimestamp(when)
    return when.astimezone().isoformat(timespec="seconds")


def parse_event_time(text: str) -> datetime:
    """The aware datetime of an event's ``time`` (this format, or the older ``+0200`` one)."""
    return datetime.fromisoformat(text)


def event_json(kind: str, when: float | datetime, fields: dict) -> dict:
    """An event as JSON-ready dict: ``time``, ``event``, then ``fields`` in their order."""
    return {"time": event_time(when), EVENT_KEY: kind, **fields}


class EventLog:
    """Appends ``{"time": ..., "event": kind, ...}`` lines to ``path`` (``None``: nowhere)."""

    def __init__(self, path=None, clock=time.time):
        self._clock = clock
        self._file = None
        self._lock = threading.Lock()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, event, **fields):
        record = event_json(event, self._clock(), fields)
        line = json.dumps(record) + "\n"  # ASCII: safe for any file name
        with self._lock:
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
        return record

    def close(self):
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
