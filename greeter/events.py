"""The event log: one JSON object per line, flushed as it is written."""

import json
import time
from pathlib import Path


class EventLog:
    """Appends ``{"time": ..., "event": kind, ...}`` lines to ``path`` (``None``: nowhere)."""

    def __init__(self, path=None, clock=time.time):
        self._clock = clock
        self._file = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")

    def write(self, event, **fields):
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self._clock())),
                  "event": event, **fields}
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        return record

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
