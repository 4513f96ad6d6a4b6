"""A kiosk's event spool: the events not yet in the library, on disk, so a restart keeps them.

One JSON-lines file per kiosk in its state folder (``<state>/spool/<kiosk>.jsonl``), the
mirror of :class:`greeter.library.live.LiveLibrary`'s queue: each event is appended (and
flushed to the operating system) before ``events.write`` returns, and once a batch is
committed the file is rewritten with what is still queued (emptied when nothing is). A kiosk
stopped or killed while the database is away finds its events here at the next start and
sends them; each event carries a unique id the library ignores when it has it already, so
an event committed just before a crash is not stored twice.

A line cut short by a crash is skipped when the file is read. A write that fails (a full
disk) is logged once; the events stay in memory and go to the library as before. The file
is locked (``flock``) while a kiosk uses it: a second greeter with the same kiosk name and
state folder is refused instead of sending the first one's events.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
from datetime import datetime
from hashlib import sha256
from pathlib import Path

log = logging.getLogger(__name__)


class SpoolBusy(OSError):
    """Another running greeter holds this kiosk's spool (same kiosk name, same state folder)."""


def spool_path(state_dir: str | os.PathLike, kiosk: str) -> Path:
    """``<state>/spool/<kiosk>.jsonl``; a kiosk name that is not a plain file name (spaces,
    ``/``, other scripts) becomes ``kiosk-<hash>.jsonl``."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", kiosk):
        name = kiosk
    else:
        name = f"kiosk-{sha256(kiosk.encode()).hexdigest()[:16]}"
    return Path(state_dir) / "spool" / f"{name}.jsonl"


def _encode(record: dict) -> bytes:
    return (json.dumps({**record, "time": record["time"].isoformat()}) + "\n").encode()


def _decode(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
        record["time"] = datetime.fromisoformat(record["time"])
        if not isinstance(record.get("uid"), str):
            return None
        return record
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _write_all(f, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[f.write(view) :]


class EventSpool:
    """The spool file of one kiosk (see the module docstring).

    Args:
        path: the file (:func:`spool_path`); its folder is created (mode 0700).
        limit: events kept at most (the queue's limit): older ones are left out when the
            file is read and when it is rewritten.
    """

    def __init__(self, path: str | os.PathLike, limit: int = 10_000):
        self.path = Path(path)
        self.limit = int(limit)
        self._lock = threading.Lock()
        self._failed = False  # a write failed: said once
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # unbuffered, appending: each write reaches the operating system at once
        self._file = open(self.path, "a+b", buffering=0)  # noqa: SIM115 - close()
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise SpoolBusy(
                f"Another greeter is running with the same kiosk name and state folder "
                f"({self.path} is in use); give this one its own --kiosk NAME."
            ) from None

    def load(self) -> list[dict]:
        """The events in the file (the newest :attr:`limit`), oldest first."""
        with self._lock:
            self._file.seek(0)
            data = self._file.read()
        records = [r for r in map(_decode, data.splitlines()) if r is not None]
        if len(records) > self.limit:
            log.warning(
                "%s: %d events spooled; the oldest %d are dropped (the queue keeps %d).",
                self.path, len(records), len(records) - self.limit, self.limit,
            )  # fmt: skip
        return records[-self.limit :]

    def append(self, record: dict) -> bool:
        """Add one event (flushed before returning); ``False`` if it could not be written.
        After a failed write the line starts with a newline: a line the failure cut short
        stays a line of its own (skipped when read), never spoils this one."""
        with self._lock:
            line = (b"\n" if self._failed else b"") + _encode(record)
            return self._write(lambda f: _write_all(f, line))

    def rewrite(self, records) -> bool:
        """Make the file hold exactly ``records`` (emptied when there are none)."""
        records = list(records)[-self.limit :]

        def write(f):
            f.truncate(0)  # appends go to the end: now the start
            _write_all(f, b"".join(_encode(r) for r in records))

        with self._lock:
            return self._write(write)

    def _write(self, action) -> bool:
        try:
            action(self._file)
        except (OSError, ValueError) as err:
            if not self._failed:
                log.warning(
                    "Event spool %s cannot be written (%s): events are kept in memory only "
                    "until it can; a restart meanwhile loses those not yet in the library.",
                    self.path, err,
                )  # fmt: skip
            self._failed = True
            return False
        if self._failed:
            log.info("Event spool %s is written again.", self.path)
            self._failed = False
        return True

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()  # releases the lock
