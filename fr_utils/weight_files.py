"""Weight files: download the public set, say where a set comes from, convert CSV to HDF5.

Download: the public OpenFace nn4.small2.v1 CSV weights (226 files) into a folder.

The files come from the Keras-OpenFace repository (the same CSVs the
deeplearning.ai course ships), :data:`DEFAULT_BASE_URL`. Each file is written
atomically and checked before it is kept:

* 221 files against the sha256 in ``fr_utils/data/official_sha256.tsv``;
* the other 5 (the largest conv kernels, whose public hashes this project
  does not know) by their element count only. :class:`DownloadResult` lists
  them, so nobody mistakes "the right size" for "the public values".

Files already present with the right hash (or count) are skipped, so an
interrupted download resumes. Only ``urllib`` is used.
"""

import hashlib
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from fr_utils._files import atomic_path, sha256
from fr_utils.weights import (
    WeightsError,
    csv_files,
    find_manifest,
    read_csv,
    read_manifest,
    read_weights,
    resolve_weights,
)

# The raw ``weights/`` folder of https://github.com/iwantooxxoox/Keras-OpenFace:
# one CSV per tensor, byte-identical to the deeplearning.ai course's copies.
DEFAULT_BASE_URL = "https://raw.githubusercontent.com/iwantooxxoox/Keras-OpenFace/master/weights/"
# Public files whose sha256 is not known here: checked by element count (Torch shape).
UNHASHED_SHAPES = {
    "inception_3c_3x3_conv2_w": (256, 128, 3, 3),
    "inception_4e_3x3_conv2_w": (256, 160, 3, 3),
    "inception_5a_1x1_conv_w": (256, 1024, 1, 1),
    "inception_5a_3x3_conv2_w": (384, 96, 3, 3),
    "inception_5b_3x3_conv2_w": (384, 96, 3, 3),
}
_BLOCK = 1 << 16


class DownloadError(WeightsError):
    """A weight file could not be fetched or failed its check."""


@dataclass
class DownloadResult:
    """What :func:`download` did: file stems fetched now or already present,
    and which of them could only be checked by element count."""

    dest: Path
    fetched: list = field(default_factory=list)
    present: list = field(default_factory=list)
    count_only: list = field(default_factory=list)

    def summary(self):
        total = len(self.fetched) + len(self.present)
        lines = [
            f"{total} weight files in {self.dest}: {len(self.fetched)} downloaded, "
            f"{len(self.present)} already present.",
            f"{total - len(self.count_only)} verified by sha256 against the public files.",
        ]
        if self.count_only:
            lines.append(
                f"{len(self.count_only)} could NOT be verified by hash (no known public "
                "sha256), only by element count: " + ", ".join(self.count_only)
            )
        return "\n".join(lines)


def public_files():
    """``{stem: known sha256 or None}`` for the 226 public CSV files."""
    files = dict(known_hashes())
    files.update(dict.fromkeys(UNHASHED_SHAPES))
    return dict(sorted(files.items()))


def _is_good(path, stem, digest):
    """Check a file on disk: its sha256 when known, else its element count."""
    if digest is not None:
        return sha256(path) == digest
    try:
        size = read_csv(path).size
    except WeightsError:
        return False
    return size == math.prod(UNHASHED_SHAPES[stem])


def _fetch(url, stem, digest, target, timeout):
    """Download ``url`` into ``target`` atomically; raise DownloadError if it fails its check."""
    name = target.name
    with atomic_path(target) as tmp:  # the temp file is deleted if anything below raises
        hasher = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                while block := response.read(_BLOCK):
                    hasher.update(block)
                    out.write(block)
        except urllib.error.HTTPError as err:
            raise DownloadError(f"{name}: HTTP {err.code} {err.reason} from {url}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise DownloadError(f"{name}: could not fetch {url} ({reason})") from None
        if digest is not None and hasher.hexdigest() != digest:
            raise DownloadError(
                f"{name}: sha256 {hasher.hexdigest()} differs from the public "
                f"file's {digest} (from {url}); the file was not kept"
            )
        if digest is None and not _is_good(tmp, stem, None):
            raise DownloadError(
                f"{name}: not {UNHASHED_SHAPES[stem]} comma-separated numbers "
                f"(from {url}); the file was not kept"
            )


def download(
    dest: str | Path, base_url: str = DEFAULT_BASE_URL, progress: bool = True, timeout: float = 60
) -> DownloadResult:
    """Fetch the 226 public CSV files into ``dest``; skip those already there and good.

    Args:
        dest: the folder to fill (created if needed), e.g. ``weights/``.
        base_url: where the CSV files are, ``<base_url><stem>.csv``.
        progress: show a progress bar.
        timeout: seconds to wait for each server response.

    Returns:
        A :class:`DownloadResult`; print its ``summary()``.

    Raises:
        DownloadError: after trying every file, listing each file that could not
            be fetched or failed its check (nothing bad is left in ``dest``;
            run again to resume).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    base_url = base_url.rstrip("/") + "/"
    result, failures = DownloadResult(dest), []
    files = public_files()
    for stem, digest in tqdm(files.items(), desc="weights", unit="file", disable=not progress):
        target = dest / f"{stem}.csv"
        if target.is_file() and _is_good(target, stem, digest):
            result.present.append(stem)
        else:
            try:
                _fetch(base_url + urllib.parse.quote(target.name), stem, digest, target, timeout)
            except DownloadError as err:
                failures.append(str(err))
                continue
            result.fetched.append(stem)
        if digest is None:
            result.count_only.append(stem)
    if failures:
        raise DownloadError(
            f"{len(failures)} of {len(files)} weight files failed:\n  "
            + "\n  ".join(failures)
            + f"\nThe others are in {dest}; run again to resume."
        )
    return result


# ----------------------------------------------------------------------------- provenance


@dataclass
class Provenance:
    """Which tensors of a weights file are the public ones, by sha256.

    ``official``: the sha256 matches the public file's; ``relearned``: marked so (a
    ``MANIFEST.tsv`` or the HDF5 file's ``learned_tensors``); ``unverified``: no known public
    sha256 (the five largest kernels, :data:`UNHASHED_SHAPES`) or a different one.
    """

    official: list = field(default_factory=list)
    relearned: list = field(default_factory=list)
    unverified: list = field(default_factory=list)

    @property
    def not_verified(self) -> list:
        """Every tensor that could not be verified as public: re-learned or unverified."""
        return sorted(self.relearned + self.unverified)

    @property
    def is_complete_official(self) -> bool:
        """True only when every tensor's sha256 is a known public one. With the public hashes
        known here (221 of 226) no real set qualifies: say so rather than guess."""
        return len(self.official) == len(known_hashes()) and not self.not_verified

    @property
    def public_where_known(self) -> bool:
        """Every known public hash matches, nothing is re-learned, and the only unverified
        tensors are those whose public hash is unknown: what the public download gives. Only
        its behaviour (the course's distances, tests/test_course.py) can tell the rest."""
        return (
            len(self.official) == len(known_hashes())
            and not self.relearned
            and all(stem in UNHASHED_SHAPES for stem in self.unverified)
        )

    def label(self) -> str:
        """A short name for tables: what these weights are, by their hashes."""
        if self.is_complete_official:
            return "nn4.small2.v1 (public weights)"
        if self.relearned:
            return f"nn4.small2.v1 + {len(self.relearned)} re-learned tensors"
        return (
            f"nn4.small2.v1, {len(self.official)} tensors public, {len(self.unverified)} unverified"
        )


def _public_table() -> list[list[str]]:
    """The rows of ``fr_utils/data/official_sha256.tsv``: file, CSV sha256, float32 sha256."""
    text = resources.files("fr_utils").joinpath("data/official_sha256.tsv").read_text()
    return [
        [column.strip() for column in line.split("\t")]
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def known_hashes() -> dict[str, str]:
    """sha256 of the public CSV files, where known: ``{stem: hexdigest}``."""
    return {Path(row[0]).stem: row[1] for row in _public_table()}


def known_tensor_hashes() -> dict[str, str]:
    """:func:`tensor_sha256` of the public tensors, where known: ``{stem: hexdigest}``."""
    return {Path(row[0]).stem: row[2] for row in _public_table()}


def tensor_sha256(values) -> str:
    """sha256 of a tensor's values as little-endian float32 in C order (Torch layout).

    An HDF5 file holds values, not the CSV text, so its tensors are checked this way: it
    needs no hash recorded at conversion, and it is exactly what the model loads (float32).
    """
    array = np.ascontiguousarray(np.asarray(values, dtype="<f4"))
    return hashlib.sha256(array.tobytes()).hexdigest()


def provenance(weights: str | Path | None = None) -> Provenance:
    """Classify each tensor as official (hash matches), re-learned (marked so) or unverified.

    A CSV folder is checked by each file's sha256, an HDF5 file by each tensor's values
    (:func:`tensor_sha256`).
    """
    path = resolve_weights(weights)
    result = Provenance()
    if path.is_dir():
        manifest = find_manifest(path)
        marks = read_manifest(manifest) if manifest else {}
        digests = {stem: sha256(p) for stem, p in csv_files(path).items()}
        relearned = {stem for stem, (_, status) in marks.items() if status == "relearned"}
        known = known_hashes()
    else:
        with h5py.File(path, "r") as f:
            digests = {
                stem: tensor_sha256(item[()])
                for stem, item in f.items()
                if isinstance(item, h5py.Dataset)
            }
            relearned = set(json.loads(f.attrs.get("learned_tensors", "[]")))
        known = known_tensor_hashes()
    for stem in sorted(digests):
        if stem in relearned:
            result.relearned.append(stem)
        elif known.get(stem) is not None and known[stem] == digests[stem]:
            result.official.append(stem)
        else:
            result.unverified.append(stem)
    return result


def convert_csv_to_hdf5(csv_dir: str | Path, out_path: str | Path, shapes: dict) -> Path:
    """Write every CSV in ``csv_dir`` to one HDF5 file (float32, Torch layout).

    Each dataset keeps its source file's sha256 as an attribute, and tensors a
    manifest marks ``relearned`` are listed in the ``learned_tensors`` file
    attribute, so :func:`provenance` knows them in the HDF5 file too. The file is
    written atomically: an existing ``out_path`` is replaced only on success.
    """
    csv_dir = Path(csv_dir)
    tensors = read_weights(csv_dir, shapes)  # checks completeness and hashes
    files = csv_files(csv_dir)
    manifest = find_manifest(csv_dir)
    marks = read_manifest(manifest) if manifest else {}
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        for stem, path in files.items():
            data = tensors[stem] if stem in tensors else read_csv(path).astype(np.float32)
            f.create_dataset(stem, data=data).attrs["sha256"] = sha256(path)
        f.attrs["learned_tensors"] = json.dumps(
            sorted(s for s, (_, status) in marks.items() if status == "relearned")
        )
        f.attrs["description"] = (
            "FaceNet nn4.small2 weights, one float32 dataset per Keras-OpenFace CSV "
            f"stem, Torch layout; converted from {csv_dir.name}"
        )
    return Path(out_path)


THRESHOLDS_NAME = "THRESHOLDS.json"


def measured_threshold(weights: str | Path | None = None, flip: bool = True):
    """The greeter threshold measured for these weights, if their folder says: ``(value, file)``.

    Reads ``THRESHOLDS.json`` beside the HDF5 file or the CSV folder (as
    ``../shared/weights-aligned`` ships it): ``recommended_greeter`` for flip-averaged
    encodings, ``single_crop.recommended_greeter`` otherwise (plain L2, lower is stricter).
    Returns ``None`` when there is no such file or it lacks the value; a file that is not
    valid JSON raises :class:`WeightsError` naming it.
    """
    path = resolve_weights(weights)
    candidates = [path.parent / THRESHOLDS_NAME]
    if path.is_dir():
        candidates.insert(0, path / THRESHOLDS_NAME)
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            table = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise WeightsError(f"{candidate}: not a readable thresholds file ({err}).") from None
        entry = table if flip else table.get("single_crop", {})
        value = entry.get("recommended_greeter") if isinstance(entry, dict) else None
        if isinstance(value, (int, float)) and 0 < value <= 2:
            return float(value), candidate
    return None
