"""The event log: one JSON object per line, flushed as it is written.

Safe to write from several threads (the speech worker reports its failures here).
"""

import json
import threading
import time
from pathlib import Path


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
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self._clock())),
            "event": event,
            **fields,
        }
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
