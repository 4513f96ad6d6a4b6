"""Pretrained weights: find them, check them, and load them into the model.

Two on-disk forms hold the same tensors, named by the Keras-OpenFace CSV stems
(``conv1_w``, ``bn1_m``, ``dense_b``, ...), in Torch layout:

* a folder of 226 CSV files, one line of comma-separated numbers each
  (conv ``[out, in, kh, kw]``, ``dense_w`` ``[128, 736]``, batch norm
  ``_w, _b, _m, _v`` = gamma, beta, moving mean, moving variance);
* one HDF5 file with a dataset per stem (see :func:`convert_csv_to_hdf5`),
  which loads more than ten times faster.

Where the weights are looked up (:func:`resolve_weights`): the ``weights``
argument, else the ``FACENET_WEIGHTS`` environment variable, else ``./weights``.
Every tensor's presence and element count is checked before the model is
touched, and sha256 sums are verified where a ``MANIFEST.tsv`` lists them.
"""

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np

from fr_utils._files import sha256

ENV_VAR = "FACENET_WEIGHTS"
DEFAULT_LOCATION = Path("weights")
HDF5_NAME = "nn4.small2.v1.h5"
CSV_DIR_NAME = "nn4.small2.v1"
MANIFEST_NAME = "MANIFEST.tsv"
# Where resolve_weights looks when no weights argument is given, in order (for --help texts).
DEFAULT_SOURCES = (f"${ENV_VAR}", f"./{DEFAULT_LOCATION}")
# Two files of the public set that no layer uses; present, but never required.
EXTRANEOUS = ("inception_5a_3x3_conv2_m", "inception_5a_3x3_conv2_v")
HOW_TO_GET = (
    "Download the public OpenFace nn4.small2.v1 CSV files with "
    "`facenet-weights download --dest weights/` (see weights/README.md), or point "
    f"the {ENV_VAR} environment variable at a folder of the 226 CSV files or at an "
    "HDF5 file made by `facenet-weights convert`."
)


class WeightsError(ValueError):
    """The weights are missing, incomplete, misshaped or fail their hash check."""


def resolve_weights(weights: str | Path | None = None) -> Path:
    """Return the path of the weights to load, CSV folder or HDF5 file.

    Order: the ``weights`` argument, then ``$FACENET_WEIGHTS``, then
    ``./weights``. A folder that holds ``nn4.small2.v1.h5`` resolves to that
    file; a folder that holds no CSV but an ``nn4.small2.v1/`` folder resolves
    to that folder.
    """
    if weights is not None:
        path, origin = Path(weights), "the weights argument"
    elif os.environ.get(ENV_VAR):
        path, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        path, origin = DEFAULT_LOCATION, "the default location"
    path = path.expanduser()
    if path.is_dir():
        if (path / HDF5_NAME).is_file():
            return path / HDF5_NAME
        if not any(path.glob("*.csv")) and (path / CSV_DIR_NAME).is_dir():
            return path / CSV_DIR_NAME
        return path
    if path.is_file():
        return path
    raise WeightsError(f"No weights at {path} (from {origin}). {HOW_TO_GET}")


def tensor_shapes(model):
    """Map each weight stem the model needs to its Torch-layout shape."""
    shapes = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        kind = type(layer).__name__
        if kind == "Conv2D":
            kh, kw, cin, cout = layer.kernel.shape
            shapes[f"{layer.name}_w"] = (cout, cin, kh, kw)
            shapes[f"{layer.name}_b"] = (cout,)
        elif kind == "BatchNormalization":
            for suffix in "wbmv":
                shapes[f"{layer.name}_{suffix}"] = tuple(layer.gamma.shape)
        elif kind == "Dense":
            cin, cout = layer.kernel.shape
            shapes["dense_w"] = (cout, cin)
            shapes["dense_b"] = (cout,)
        else:
            raise TypeError(f"No weight mapping for layer {layer.name!r} of type {kind}")
    return shapes


def read_csv(path):
    """One weight CSV file as a flat float64 array (raises :class:`WeightsError` if not numbers)."""
    try:
        return np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=1).ravel()
    except ValueError as err:
        raise WeightsError(f"{path} is not a comma-separated list of numbers ({err}).") from None


def csv_files(folder):
    """``{stem: path}`` of the CSV files in ``folder``, sorted by name."""
    return {p.stem: p for p in sorted(Path(folder).glob("*.csv"))}


def find_manifest(folder):
    """The ``MANIFEST.tsv`` in ``folder`` or its parent, or ``None``."""
    for candidate in (folder / MANIFEST_NAME, folder.parent / MANIFEST_NAME):
        if candidate.is_file():
            return candidate
    return None


def read_manifest(path):
    """Read a ``MANIFEST.tsv``: ``file<TAB>sha256[<TAB>status]`` per line."""
    entries = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, digest, *rest = line.split("\t")
        entries[Path(name).stem] = (digest, rest[0] if rest else "")
    return entries


def _verify_manifest(files, manifest_path):
    bad = [
        f"{files[stem].name} (sha256 differs from {manifest_path})"
        for stem, (digest, _) in read_manifest(manifest_path).items()
        if stem in files and sha256(files[stem]) != digest
    ]
    if bad:
        raise WeightsError(
            "Weight files failed their hash check:\n  "
            + "\n  ".join(bad)
            + f"\nRe-download them. {HOW_TO_GET}"
        )


def _check(available, shapes, where):
    """Raise one WeightsError listing every missing or misshaped tensor."""
    problems = []
    for stem, shape in shapes.items():
        if stem not in available:
            problems.append(f"{stem}: missing")
        elif available[stem] != int(np.prod(shape)):
            problems.append(
                f"{stem}: {available[stem]} values, expected "
                f"{int(np.prod(shape))} for shape {shape}"
            )
    if problems:
        raise WeightsError(
            f"The weights at {where} are incomplete ({len(problems)} problem(s)):\n  "
            + "\n  ".join(problems)
            + f"\n{HOW_TO_GET}"
        )


def read_weights(path, shapes):
    """Read and check every tensor in ``shapes`` from a CSV folder or HDF5 file.

    Returns ``{stem: float32 array in Torch layout}``. Raises
    :class:`WeightsError` naming every missing or misshaped tensor before
    anything is returned.
    """
    path = Path(path)
    if path.is_dir():
        files = csv_files(path)
        if not files:
            raise _holds_no_weights(path)
        manifest = find_manifest(path)
        if manifest is not None:
            _verify_manifest(files, manifest)
        flat = {stem: read_csv(files[stem]) for stem in shapes if stem in files}
        _check({stem: a.size for stem, a in flat.items()}, shapes, path)
        return {stem: flat[stem].reshape(shapes[stem]).astype(np.float32) for stem in shapes}
    flat = _read_hdf5_file(path)
    _check({stem: a.size for stem, a in flat.items()}, shapes, path)
    return {
        stem: flat[stem].astype(np.float32, copy=False).reshape(shapes[stem]) for stem in shapes
    }


def _holds_no_weights(folder) -> WeightsError:
    return WeightsError(
        f"{folder} holds no weights (no CSV files and no {HDF5_NAME}). {HOW_TO_GET}"
    )


def _read_hdf5_file(path):
    """Every tensor of the HDF5 file at ``path``; :class:`WeightsError` if it cannot be read."""
    try:
        with h5py.File(path, "r") as f:
            return _read_hdf5(f)
    except OSError as err:
        raise WeightsError(
            f"{path} is neither a folder of CSV files nor a readable HDF5 file ({err}). "
            f"{HOW_TO_GET}"
        ) from None


def _read_hdf5(f):
    """Every top-level dataset of an open HDF5 file, read in one pass.

    h5py's per-dataset cost (lookup, selection), not the 15 MB of data,
    dominates: opening each dataset once by name and reading it whole with the
    low-level API is 2-3x faster than ``f[name][()]``.
    """
    flat = {}
    for name in f:
        try:
            dataset = h5py.h5d.open(f.id, name.encode())
        except KeyError:  # a group, not a dataset: not ours
            continue
        array = np.empty(dataset.shape, dataset.dtype)
        dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, array)
        flat[name] = array
    return flat


def load_weights_from_FaceNet(model, weights: str | Path | None = None) -> Path:
    """Load the pretrained FaceNet weights into ``model`` (from ``faceRecoModel``).

    Args:
        model: the model to fill; its layer names select the tensors.
        weights: a folder of CSV files or an HDF5 file. ``None`` means
            ``$FACENET_WEIGHTS``, then ``./weights`` (see :func:`resolve_weights`).

    Returns:
        The path the weights were read from.

    Raises:
        WeightsError: listing every missing or misshaped tensor; the model is
            left untouched.
    """
    path = resolve_weights(weights)
    shapes = tensor_shapes(model)
    tensors = read_weights(path, shapes)
    for layer in model.layers:
        if not layer.weights:
            continue
        kind = type(layer).__name__
        if kind == "Conv2D":
            values = [tensors[f"{layer.name}_w"].transpose(2, 3, 1, 0), tensors[f"{layer.name}_b"]]
        elif kind == "BatchNormalization":
            values = [tensors[f"{layer.name}_{s}"] for s in "wbmv"]
        else:  # Dense
            values = [tensors["dense_w"].T, tensors["dense_b"]]
        for variable, value in zip(layer.weights, values, strict=True):
            _assign(variable, value)
    return path


def _assign(variable, value):
    """Assign through the backend variable (TensorFlow's checks the shape too): about half
    of ``layer.set_weights``'s cost, which dominates loading an HDF5 file."""
    backend_variable = variable.value
    if hasattr(backend_variable, "assign"):
        backend_variable.assign(value)
    else:  # e.g. inside an autocast scope, where .value is a cast copy
        variable.assign(value)


def _file_states(path: Path) -> tuple:
    """What a fingerprint of ``path`` depends on: each file's (name, size, mtime)."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    states = []
    for file in files:
        stat = file.stat()
        states.append((file.name, stat.st_size, stat.st_mtime_ns))
    return tuple(states)


_FINGERPRINTS: dict = {}  # (resolved path, file states) -> fingerprint, for this process


def weights_fingerprint(weights: str | Path | None = None) -> str:
    """A short hash of the tensor values in a weights file or folder (no TensorFlow needed).

    Keys everything derived from the weights (encoding caches, exported LiteRT
    models): sha256 over every tensor, by stem in sorted order, as float32 bytes.
    The same values give the same fingerprint whether they come as CSV or HDF5.
    Computed once per process (~0.2 s for the HDF5 file); the file's size and
    modification time are checked at each call, so a replaced file is hashed again.
    """
    path = resolve_weights(weights).resolve()
    key = (str(path), _file_states(path))
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = _fingerprint(path)
    return _FINGERPRINTS[key]


def _fingerprint(path: Path) -> str:
    if path.is_dir():
        if not csv_files(path):  # nothing to hash: say so, not the hash of nothing
            raise _holds_no_weights(path)
        tensors = {stem: read_csv(p).astype(np.float32) for stem, p in csv_files(path).items()}
    else:
        tensors = _read_hdf5_file(path)
    digest = hashlib.sha256()
    for stem in sorted(tensors):
        if stem in EXTRANEOUS:
            continue
        digest.update(stem.encode() + b"\0")
        digest.update(np.ascontiguousarray(tensors[stem], dtype="<f4").ravel().tobytes())
    return digest.hexdigest()[:16]
