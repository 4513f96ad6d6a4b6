"""A database of known faces: names and their encodings, matched in one matrix op."""

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fr_utils.encoding import encode_batch
from fr_utils.preprocess import FACE_SIZE, ImageError, is_photo_file, preprocess_image

log = logging.getLogger(__name__)


class FaceDatabase(Mapping):
    """Encodings of known people; one or more rows (photos) per name.

    Behaves like the course's ``dict`` (``database["younes"]`` is a ``(k, 128)``
    array, ``k`` photos) and matches a query against every row at once.
    """

    def __init__(self, names=(), encodings=None):
        self.names = list(names)
        encodings = np.zeros((0, 128), np.float32) if encodings is None else encodings
        self.encodings = np.asarray(encodings, dtype=np.float32).reshape(len(self.names), 128)
        self._labels = np.asarray(self.names, dtype=object)
        self._sq_norms = np.einsum("ij,ij->i", self.encodings, self.encodings)
        self._people = list(dict.fromkeys(self.names))
        index = {name: i for i, name in enumerate(self._people)}
        self._owner = np.array([index[n] for n in self.names], dtype=np.intp)  # row -> person

    @classmethod
    def from_dict(cls, database):
        """Build from the course's ``{name: (1, 128) encoding}`` (or ``(k, 128)``)."""
        if isinstance(database, cls):
            return database
        names, rows = [], []
        for name, encoding in database.items():
            encoding = np.asarray(encoding, np.float32).reshape(-1, 128)
            names += [name] * len(encoding)
            rows.append(encoding)
        return cls(names, np.concatenate(rows) if rows else None)

    def __getitem__(self, name):
        rows = self._labels == name
        if not rows.any():
            raise KeyError(name)
        return self.encodings[rows]

    def __iter__(self):
        return iter(dict.fromkeys(self.names))

    def __len__(self):
        return len(set(self.names))

    def __repr__(self):
        return f"FaceDatabase({len(self)} people, {len(self.names)} encodings)"

    def distances(self, queries):
        """Plain L2 from each query ``(M, 128)`` to each row -> ``(M, N)``."""
        queries = np.asarray(queries, np.float32).reshape(-1, 128)
        sq = (
            np.einsum("ij,ij->i", queries, queries)[:, None]
            + self._sq_norms[None, :]
            - 2.0 * queries @ self.encodings.T
        )
        return np.sqrt(np.maximum(sq, 0.0))

    def nearest_many(self, queries):
        """Nearest name and plain L2 distance for each query ``(M, 128)``.

        Returns ``(names, distances)``: a list of names and a float array; an
        empty database gives ``None`` and ``inf`` for every query.
        """
        queries = np.asarray(queries, np.float32).reshape(-1, 128)
        if not self.names:
            return [None] * len(queries), np.full(len(queries), np.inf)
        # ||q - k||^2 = |q|^2 + |k|^2 - 2 q.k : one matrix product for all rows.
        scores = self._sq_norms[None, :] - 2.0 * queries @ self.encodings.T
        best = np.argmin(scores, axis=1)
        exact = np.linalg.norm(self.encodings[best] - queries, axis=1)  # no cancellation
        return [self.names[i] for i in best], exact.astype(np.float64)

    def nearest(self, query):
        """Nearest name and distance for one query -> ``(name, distance)``."""
        names, dists = self.nearest_many(query)
        return names[0], float(dists[0])

    @property
    def people(self) -> list:
        """The distinct names, in order of first appearance."""
        return list(self._people)

    @functools.cached_property
    def person_means(self) -> np.ndarray:
        """Each person's mean encoding ``(people, 128)``, in :attr:`people` order: their
        photos' encodings averaged and re-normalised to unit length (computed once)."""
        sums = np.zeros((len(self._people), 128), np.float64)
        np.add.at(sums, self._owner, self.encodings)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def person_distances(self, query, rule: str = "nearest") -> tuple[list, np.ndarray]:
        """Plain L2 from one query ``(128,)`` to each *person* -> ``(names, distances)``,
        nearest person first.

        ``rule="nearest"``: the distance to the person's nearest photo; ``"mean"``: to the
        mean of their photos' unit encodings (re-normalised), which averages out one odd
        photo. An empty database gives ``([], empty)``.
        """
        if rule not in ("nearest", "mean"):
            raise ValueError(f"rule must be 'nearest' or 'mean'. Received: rule={rule!r}")
        people, owner = self._people, self._owner
        if not people:
            return [], np.zeros(0)
        query = np.asarray(query, np.float32).reshape(128)
        if rule == "mean":
            distances = np.linalg.norm(self.person_means - query, axis=1)
        else:
            rows = np.linalg.norm(self.encodings - query, axis=1)
            distances = np.full(len(people), np.inf)
            np.minimum.at(distances, owner, rows)
        order = np.argsort(distances, kind="stable")
        return [people[i] for i in order], distances[order]


def list_photos(images_dir, recursive: bool = False) -> list[tuple[str, Path]]:
    """``(name, path)`` for ``images_dir/<name>.<ext>`` and ``images_dir/<name>/*.<ext>``.

    The one photo lister: the greeter's folder sync, ``prepare_database``, LiteRT
    calibration and ``facenet-align`` all use it. Photos are the files
    :func:`fr_utils.preprocess.is_photo_file` accepts (:data:`~fr_utils.preprocess.PHOTO_SUFFIXES`,
    hidden files left out). The name is the file's stem, or the folder's name verbatim for
    photos in a folder. ``recursive``: photos at any depth below a person's folder too (it
    still names them). Sorted by path.
    """
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise ValueError(
            f"{images_dir}: not a folder of photos. Create it and add "
            "one photo per person named <name>.jpg."
        )
    photos = []
    for entry in sorted(images_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found = entry.rglob("*") if recursive else entry.iterdir()
            photos += [
                (entry.name, p)
                for p in sorted(found)
                if is_photo_file(p)
                and not any(part.startswith(".") for part in p.relative_to(entry).parts)
            ]
        elif is_photo_file(entry):
            photos.append((entry.stem, entry))
    return photos


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def prepare_database(images_dir, model) -> FaceDatabase:
    """The course's database: ``images_dir/<name>.jpg`` (and ``<name>/*.jpg``; any suffix in
    :data:`fr_utils.preprocess.PHOTO_SUFFIXES`),
    each photo fed whole to the model, as the course does with its 96x96 face crops.

    For ordinary photos (a face somewhere in a larger picture) use
    :func:`fr_utils.photos.encode_photos`, which finds and aligns the face, as the greeter
    does. A photo that cannot be read is logged and skipped; the rest load.
    """
    names, faces = [], []
    for name, path in list_photos(images_dir):
        try:
            faces.append(preprocess_image(path))
        except ImageError as err:
            log.warning("Skipped %s", err)
            continue
        names.append(name)
    batch = np.stack(faces) if faces else np.zeros((0, 3, FACE_SIZE, FACE_SIZE), np.float32)
    return FaceDatabase(names, encode_batch(batch, model))
