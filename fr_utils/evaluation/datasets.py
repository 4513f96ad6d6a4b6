"""Datasets to measure on: a folder of your own photos, and LFW's pairs and people files.

A personal dataset holds ``<name>/*.jpg`` folders (or flat ``<name>_<n>.jpg``
files). Faces are found and aligned by :func:`fr_utils.photos.encode_photos`, the
greeter's own code, and cached, so a second run encodes nothing.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fr_utils.database import list_photos
from fr_utils.photos import PhotoEncodings, encode_photos

PAIRS_FILE = "pairs.txt"
_FLAT_NAME = re.compile(r"^(?P<name>.+?)_(?P<n>\d+)$")


@dataclass(frozen=True)
class Dataset:
    """Photos and who is in each: ``labels[i]`` is the person in ``paths[i]``."""

    folder: Path
    labels: list
    paths: list

    @property
    def people(self):
        return sorted(set(self.labels))


def load_dataset(folder):
    """List ``folder/<name>/*.jpg`` (and flat ``folder/<name>_<n>.jpg``) as a :class:`Dataset`.

    Raises:
        ValueError: ``folder`` is not a folder, or holds photos of fewer than
            two people (a threshold separates people; one person cannot show it).
    """
    folder = Path(folder)
    labels, paths = [], []
    for name, path in list_photos(folder):  # raises ValueError for a missing folder
        if path.parent == folder:  # flat file: <name>_<n>.jpg or <name>.jpg
            match = _FLAT_NAME.match(path.stem)
            name = match["name"] if match else path.stem
        labels.append(name)
        paths.append(path)
    people = sorted(set(labels))
    if len(people) < 2:
        raise ValueError(
            f"{folder}: found photos of {len(people)} person(s) "
            f"({', '.join(people) or 'none'}); a threshold needs at least two "
            "people. Use <name>/*.jpg folders or <name>_<n>.jpg files."
        )
    return Dataset(folder, labels, paths)


@dataclass(frozen=True)
class Encoded:
    """The photos in which a face was found, with their encodings."""

    embeddings: np.ndarray  # (N, 128)
    labels: list
    paths: list
    photos: PhotoEncodings  # skipped photos and why


def encode_dataset(dataset, encoder, detector=None, cache_dir=None, progress=True):
    """Encode a :class:`Dataset` through :func:`fr_utils.photos.encode_photos`.

    ``encoder``: a :class:`fr_utils.encoding.FaceEncoder` or a Keras model; ``detector``
    ``None``: dlib's (largest face). Photos without a face (or unreadable) are left out
    and listed in ``.photos.no_face`` / ``.photos.unreadable``.

    Raises:
        ValueError: fewer than two people still have a face after that.
    """
    photos = encode_photos(dataset.paths, encoder, detector, cache_dir=cache_dir, progress=progress)
    kept = [
        (label, path)
        for label, path in zip(dataset.labels, dataset.paths)
        if path in photos.encodings
    ]
    if len({label for label, _ in kept}) < 2:
        raise ValueError(
            f"{dataset.folder}: faces were found for fewer than two people "
            f"({len(photos.no_face)} photo(s) without a face, "
            f"{len(photos.unreadable)} unreadable). Add clear frontal photos."
        )
    embeddings = np.stack([photos.encodings[path] for _, path in kept])
    return Encoded(embeddings, [label for label, _ in kept], [path for _, path in kept], photos)


# ----------------------------------------------------------------------------- LFW files


@dataclass(frozen=True)
class LfwPairs:
    """pairs.txt as arrays: ``fold (P,)`` (0-based), ``same (P,)``, and each side's file."""

    fold: np.ndarray
    same: np.ndarray
    first: list  # relative paths "<Name>/<Name>_NNNN.jpg"
    second: list


def _photo(name, number):
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path):
    """Parse LFW's ``pairs.txt``: a ``<folds> <n>`` header, then per fold n matched
    (``name n1 n2``) and n mismatched (``name1 n1 name2 n2``) lines."""
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except OSError as err:
        raise ValueError(
            f"{path}: cannot read LFW pairs ({err.strerror}). Pass the LFW "
            "folder that holds pairs.txt and images/."
        ) from None
    try:
        n_folds, per_fold = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise ValueError(
            f"{path}: first line should be '<folds> <pairs per fold>', "
            f"got {' '.join(lines[0]) if lines else 'an empty file'}"
        ) from None
    if len(lines) - 1 != n_folds * 2 * per_fold:
        raise ValueError(
            f"{path}: expected {n_folds * 2 * per_fold} pair lines for "
            f"{n_folds} folds x {2 * per_fold}, found {len(lines) - 1}"
        )
    fold, same, first, second = [], [], [], []
    for i, fields in enumerate(lines[1:]):
        k, matched = i // (2 * per_fold), i % (2 * per_fold) < per_fold
        if matched and len(fields) == 3:
            a, b = _photo(fields[0], fields[1]), _photo(fields[0], fields[2])
        elif not matched and len(fields) == 4:
            a, b = _photo(fields[0], fields[1]), _photo(fields[2], fields[3])
        else:
            raise ValueError(
                f"{path}: line {i + 2} should have {3 if matched else 4} fields: {' '.join(fields)}"
            )
        fold.append(k), same.append(matched), first.append(a), second.append(b)
    return LfwPairs(np.array(fold), np.array(same), first, second)


def images_dir(lfw_dir):
    """``lfw_dir/images`` if it exists (the shared layout), else ``lfw_dir`` itself."""
    lfw_dir = Path(lfw_dir)
    return lfw_dir / "images" if (lfw_dir / "images").is_dir() else lfw_dir


def read_lfw_folds(people_txt):
    """Read LFW's ``people.txt`` (View 2) -> a list of 10 folds, each ``{name: n_photos}``.

    The folds are identity-disjoint, so people from different folds make a
    train/test split with nobody on both sides.
    """
    path = Path(people_txt)
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    try:
        n_folds, pos, folds = int(lines[0][0]), 1, []
        for _ in range(n_folds):
            size = int(lines[pos][0])
            folds.append({name: int(count) for name, count in lines[pos + 1 : pos + 1 + size]})
            pos += 1 + size
    except (IndexError, ValueError):
        raise ValueError(
            f"{path}: not an LFW people.txt (a fold count, then per fold a "
            "size and that many 'name count' lines)."
        ) from None
    return folds
