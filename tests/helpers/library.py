"""Finished values for the face library's store, as enrolment makes them: synthetic crops and
encodings, no model."""

from pathlib import Path

import numpy as np

from greeter.library.enroller import Enroller
from tests.helpers.vectors import random_unit


def crop_png(value: int = 128) -> bytes:
    """A 96x96 PNG crop of one grey ``value``."""
    from greeter.library.enroller import png_bytes

    return png_bytes(np.full((96, 96, 3), value, np.uint8))


def new_photo(name: str, seed: int, key: str = "k", **kwargs):
    """A finished photo (``NewPhoto``) for ``name``: a crop and an encoding under ``key`` drawn
    from ``seed``; the original bytes are ``photo <seed>`` unless given."""
    from greeter.library.store import NewPhoto

    original = kwargs.pop("original", f"photo {seed}".encode())
    return NewPhoto(name, crop_png(seed % 256), {key: random_unit(seed)}, original=original,
                    **kwargs)  # fmt: skip


def people_names(store) -> list[str]:
    """The names of everyone in ``store``'s library, sorted."""
    return sorted(p.name for p in store.people())


class CountingEnroller(Enroller):
    """The real enrollment pipeline of ``enroller`` (under another ``model_key`` if given, as
    after a weights or aligner change), recording the file name of each photo it is asked to
    align and encode in :attr:`labels` (``None`` for a photo without a label)."""

    def __init__(self, enroller, model_key=None):
        super().__init__(enroller.encoder, enroller.detector, enroller.aligner,
                         model_key or enroller.model_key)  # fmt: skip
        self.labels = []

    @property
    def calls(self) -> int:
        return len(self.labels)

    def enroll_many(self, images, labels=None, workers=None):
        names = [None] * len(images) if labels is None else [Path(str(x)).name for x in labels]
        self.labels += names
        return super().enroll_many(images, labels, workers)


class BytesEnroller:
    """An enroller with no model: a photo's "face" is its bytes. The encoding is a unit vector
    drawn from the bytes' sha256 (the same file -> the same encoding, as for a real model),
    the crop a grey square; a file whose bytes start with ``noface`` is refused as a photo
    without a face. For folder-sync and store tests that need no real face."""

    model_key = "k"

    def enroll_many(self, images, labels=None, workers=None):
        import hashlib

        from fr_utils.faces import NoFaceFound
        from greeter.library.enroller import Enrolled

        labels = [str(x) for x in images] if labels is None else list(labels)
        results = []
        for data, label in zip(images, labels):
            data = bytes(data)
            if data.startswith(b"noface"):
                results.append(NoFaceFound(f"{label}: no face found"))
                continue
            seed = int.from_bytes(hashlib.sha256(data).digest()[:4], "big")
            results.append(Enrolled(np.full((96, 96, 3), 128, np.uint8), random_unit(seed)))
        return results
