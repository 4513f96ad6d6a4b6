"""An on-disk cache of face encodings, keyed by each photo's content and the model.

One ``.npz`` file per model key (weights fingerprint + crop + detector), so
changing the weights or the crop never serves stale encodings. Files are
written atomically and read without pickle.
"""

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from fr_utils.weights import atomic_path

ENV_VAR = "FACENET_CACHE"


def default_cache_dir():
    """``$FACENET_CACHE``, else ``$XDG_CACHE_HOME/facenet``, else ``~/.cache/facenet``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facenet"


def file_digest(path):
    """sha256 of a file's bytes: the cache key of a photo."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class EncodingCache:
    """``{photo sha256: encoding (128,) or None (no face found)}`` for one model key.

    Call :meth:`save` after adding; entries are kept in memory until then.
    """

    def __init__(self, cache_dir, model_key):
        self.path = Path(cache_dir) / f"encodings-{model_key}.npz"
        self._entries = {}
        self._dirty = False
        if self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    for key, row, ok in zip(data["keys"], data["encodings"], data["found"]):
                        self._entries[str(key)] = row if ok else None
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                self._entries = {}  # a damaged cache is rebuilt, never trusted

    def __contains__(self, key):
        return key in self._entries

    def __len__(self):
        return len(self._entries)

    def get(self, key):
        return self._entries.get(key)

    def put(self, key, encoding):
        """Store an encoding, or ``None`` to remember that the photo has no face."""
        self._entries[key] = None if encoding is None else np.asarray(encoding, np.float32)
        self._dirty = True

    def save(self):
        if not self._dirty:
            return
        keys = list(self._entries)
        rows = np.zeros((len(keys), 128), np.float32)
        found = np.zeros(len(keys), bool)
        for i, key in enumerate(keys):
            if self._entries[key] is not None:
                rows[i], found[i] = self._entries[key], True
        with atomic_path(self.path) as tmp, open(tmp, "wb") as f:
            np.savez(f, keys=np.asarray(keys, dtype=str), encodings=rows, found=found)
        self._dirty = False
