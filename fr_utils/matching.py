"""Match encodings by plain (not squared) Euclidean distance. Lower is stricter.

Encodings have unit length, so distances run from 0 (identical) to 2
(opposite). A threshold belongs to one set of weights and one face crop:
measure it on your own photos with ``facenet-tune``.
"""

import numpy as np

from fr_utils.database import FaceDatabase
from fr_utils.encoding import img_to_encoding

VERIFY_THRESHOLD = 0.7  # the course's notebook value (plain L2)


def face_distance(known, query) -> np.ndarray:
    """Plain L2 distance from ``query (128,)`` to each row of ``known (N, 128)`` -> ``(N,)``.

    An empty ``known`` gives an empty result.
    """
    known = np.asarray(known, dtype=np.float32).reshape(-1, np.asarray(query).size)
    return np.linalg.norm(known - np.asarray(query, np.float32).ravel(), axis=1)


class Verdict(tuple):
    """The course's 2-tuple ``(distance, outcome)``, plus the threshold used.

    ``outcome`` is ``door_open`` (bool) for :func:`verify` and the nearest
    identity for :func:`who_is_it`; ``accepted`` says whether the distance was
    under the threshold.
    """

    def __new__(cls, distance, outcome, threshold, accepted):
        self = super().__new__(cls, (distance, outcome))
        self.threshold, self.accepted = threshold, accepted
        return self

    @property
    def distance(self):
        return self[0]


def _check_threshold(threshold):
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(
            f"threshold must be a positive plain-L2 distance. Received: threshold={threshold}"
        )


def verify(image, identity, database, model, threshold: float = VERIFY_THRESHOLD) -> Verdict:
    """Is the person in ``image`` the claimed ``identity``? Prints and returns the course's verdict.

    Returns:
        ``(distance, door_open)`` as a :class:`Verdict` (``.threshold`` too);
        ``distance`` is to the identity's nearest photo.
    """
    _check_threshold(threshold)
    if identity not in database:
        raise KeyError(f"{identity!r} is not in the database; known: {sorted(database)}")
    encoding = img_to_encoding(image, model)
    dist = float(face_distance(database[identity], encoding).min())
    door_open = dist < threshold
    print(
        f"It's {identity}, welcome home!" if door_open else f"It's not {identity}, please go away"
    )
    return Verdict(dist, door_open, threshold, door_open)


def who_is_it(image, database, model, threshold: float = VERIFY_THRESHOLD) -> Verdict:
    """Who in ``database`` is the person in ``image``? Prints and returns the course's verdict.

    Returns:
        ``(min_dist, identity)`` as a :class:`Verdict`. As in the course,
        ``identity`` is the nearest person even when ``min_dist`` is above the
        threshold; check ``.accepted``. An empty database gives ``(inf, None)``.
    """
    _check_threshold(threshold)
    encoding = img_to_encoding(image, model)
    identity, min_dist = FaceDatabase.from_dict(database).nearest(encoding)
    if identity is None:
        print("The database is empty.")
    elif min_dist > threshold:
        print("Not in the database.")
    else:
        print(f"it's {identity}, the distance is {min_dist:.6f}")
    return Verdict(min_dist, identity, threshold, identity is not None and min_dist <= threshold)
