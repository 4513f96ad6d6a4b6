"""Probable duplicates: one face enrolled under two names.

A photo added twice with two spellings ("Lin-Manuel Miranda" from the admin page, "Lin
Manuel Miranda" from a folder) makes a kiosk greet the person under either name. Two
*different* people's photos are almost never as close as :data:`DUPLICATE_DISTANCE`; two
photos of one person often are, and the same photo twice always is (distance ~0). So a
pair of people whose closest photos are within it is flagged on the admin page's People
page, for a human to look at: it may be twins, or one person under two names.

Pure numpy over the stored encodings of one model key (:func:`find_duplicates`);
:func:`library_duplicates` reads them from the store.
"""

from __future__ import annotations

import numpy as np

# Plain L2 between unit encodings; lower is stricter. Well under the greeters' thresholds
# (FaceNet 0.81 at 1 % false accepts, dlib-resnet 0.6): different people come this close
# about never, the same photo twice is at ~0.
DUPLICATE_DISTANCE = 0.35
MAX_PHOTOS = 20_000  # beyond this many encodings the check is skipped (seconds of work)
_CHUNK = 2048


def find_duplicates(names, vectors, max_distance: float = DUPLICATE_DISTANCE) -> dict:
    """``{name: {other name: distance}}`` for every two people with photos within
    ``max_distance`` of each other (symmetric; the closest pair of their photos).

    Args:
        names: the person of each row of ``vectors``.
        vectors: ``(N, 128)`` unit encodings.
        max_distance: plain L2; lower is stricter.
    """
    names = list(names)
    if len(names) < 2:
        return {}
    vectors = np.asarray(vectors, np.float32)
    people, owner = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    squared = np.sum(vectors**2, axis=1)
    found: dict = {}
    for start in range(0, len(names), _CHUNK):
        block = vectors[start : start + _CHUNK]
        d2 = squared[start : start + _CHUNK, None] + squared[None, :] - 2 * block @ vectors.T
        close = np.argwhere(d2 <= max_distance**2)
        for i, j in close:
            a, b = owner[start + i], owner[j]
            if a == b:
                continue
            distance = float(np.sqrt(max(d2[i, j], 0.0)))
            for one, other in ((people[a], people[b]), (people[b], people[a])):
                pairs = found.setdefault(one, {})
                pairs[other] = min(distance, pairs.get(other, distance))
    return found


def library_duplicates(store, max_distance: float = DUPLICATE_DISTANCE) -> dict | None:
    """:func:`find_duplicates` over the store's encodings of its most used model key;
    ``None`` when there are more than :data:`MAX_PHOTOS` of them (not checked)."""
    keys = store.model_keys()
    if not keys:
        return {}
    key = max(keys, key=lambda k: (keys[k], k))
    if keys[key] > MAX_PHOTOS:
        return None
    names, vectors, _ = store.load_encodings(key)
    return find_duplicates(names, vectors, max_distance)
