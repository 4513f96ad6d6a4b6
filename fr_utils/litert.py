"""The FaceNet model on LiteRT: export it once with TensorFlow, encode faces without it.

A door kiosk needs to encode faces, not to train. :func:`export_litert` turns the Keras
model (with loaded weights) into two LiteRT flatbuffers beside a manifest:

* ``facenet_float32.tflite``: the same arithmetic as Keras (embeddings agree to ~1e-5);
* ``facenet_int8.tflite``: full-integer quantisation (int8 weights *and* activations),
  calibrated on aligned faces the caller supplies; input and output stay float32, so the
  one preprocessing (:func:`fr_utils.preprocess.preprocess_image`) feeds both (an int8
  input tensor, quantised by the caller, measured no faster: ``bench/bench_runtimes.py``);
* ``litert_manifest.json``: the weights fingerprint, the aligner, the input layout, the
  quantisation, the TensorFlow version, each file's sha256 and the agreement with Keras
  measured on the calibration faces.

:class:`LiteRTEncoder` runs either file with the ``ai-edge-litert`` runtime (XNNPACK)
and has the TensorFlow encoder's interface (``encode_batch``, ``encode_faces``,
``cache_key``). Importing this module and encoding with it never imports TensorFlow or
Keras: only :func:`export_litert` does, inside the call.

Where exported models are found (:func:`find_litert`): ``--litert DIR``, then
``$FACENET_LITERT``, then ``<encoding cache>/litert/<weights fingerprint>/`` (where
``facenet-weights export-litert`` writes when given no ``--out``). A model exported
from other weights is refused, never used silently.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fr_utils._files import atomic_path, default_cache_dir, sha256
from fr_utils._quiet import native_stderr_silenced, wanted
from fr_utils.preprocess import FACE_SIZE, ImageError, preprocess_image

log = logging.getLogger(__name__)

ENV_VAR = "FACENET_LITERT"
MANIFEST_NAME = "litert_manifest.json"
MANIFEST_FORMAT = "facenet-litert/1"
MODEL_FILES = {"float32": "facenet_float32.tflite", "int8": "facenet_int8.tflite"}
QUANTIZATIONS = tuple(MODEL_FILES)
DEFAULT_QUANTIZATION = "int8"
DEFAULT_BATCH_SIZE = 64
EMBEDDING_SIZE = 128
INPUT_SHAPE = (3, FACE_SIZE, FACE_SIZE)
INPUT_LAYOUT = {
    "shape": [-1, *INPUT_SHAPE],
    "layout": "NCHW (channels-first)",
    "dtype": "float32",
    "colour": "RGB",
    "range": [0.0, 1.0],
    "preprocessing": "fr_utils.preprocess.preprocess_image",
}
MIN_CALIBRATION_FACES = 16  # a floor against an accidental handful; ranges need many faces
RECOMMENDED_CALIBRATION_FACES = 300  # "a few hundred": below this a warning is logged
HOW_TO_EXPORT = (
    "Run `facenet-weights export-litert --calibrate FOLDER_OF_FACE_PHOTOS` (it needs "
    "TensorFlow) with the same weights, or point --litert / $FACENET_LITERT at a folder "
    "it wrote."
)
_QUANTIZATION_TEXT = {
    "float32": "none: float32 weights and activations",
    "int8": "full-integer int8 weights and activations (per-channel weights), "
    "float32 input and output tensors",
}


class LiteRTError(ValueError):
    """An exported LiteRT model is missing, damaged, or cannot be made or run here."""


class TensorFlowMissing(LiteRTError):
    """Exporting needs TensorFlow, which is not installed (encoding does not need it)."""


class LiteRTNotExported(LiteRTError):
    """No exported LiteRT model where one was looked for."""


class LiteRTMismatch(LiteRTError):
    """An exported LiteRT model comes from other weights than the ones configured."""


# --------------------------------------------------------------------------- finding


def default_litert_dir(
    weights_fingerprint: str, cache_dir: str | os.PathLike | None = None
) -> Path:
    """``<cache_dir>/litert/<weights_fingerprint>/``: where an export goes by default.

    ``cache_dir`` ``None`` means :func:`fr_utils._files.default_cache_dir`. Beside the encoding
    cache rather than the weights, because the weights folder may be read-only.
    """
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return base / "litert" / weights_fingerprint


def read_manifest(model_dir: str | os.PathLike) -> dict:
    """The manifest of an exported model folder, as a dict.

    Raises:
        LiteRTNotExported: the folder or its ``litert_manifest.json`` does not exist.
        LiteRTError: the manifest is not valid JSON of the expected format.
    """
    path = Path(model_dir).expanduser() / MANIFEST_NAME
    if not path.is_file():
        raise LiteRTNotExported(f"No exported LiteRT model in {path.parent} (no {MANIFEST_NAME}).")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LiteRTError(f"{path} cannot be read as JSON ({err}). Export again.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise LiteRTError(
            f"{path} is not a {MANIFEST_FORMAT} manifest. Export again. {HOW_TO_EXPORT}"
        )
    return manifest


def check_manifest(manifest: dict, weights_fingerprint: str, where: str | os.PathLike) -> None:
    """Raise :class:`LiteRTMismatch` unless ``manifest`` was exported from these weights."""
    exported = manifest.get("weights_fingerprint")
    if exported != weights_fingerprint:
        raise LiteRTMismatch(
            f"The LiteRT model in {where} was exported from other weights (fingerprint "
            f"{exported}) than the configured ones ({weights_fingerprint}); it is not used. "
            f"Export it again for these weights, or configure the weights it was made from. "
            f"{HOW_TO_EXPORT}"
        )


def find_litert(
    weights_path: str | os.PathLike | None = None,
    litert_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """The folder of the LiteRT model exported from ``weights_path``.

    Looks in ``litert_dir`` (``--litert DIR``), else ``$FACENET_LITERT``, else
    :func:`default_litert_dir` for the weights' fingerprint. The first of these that is
    set is the only place looked at: a wrong ``--litert`` is an error, not a fall-through.

    Args:
        weights_path: the configured weights (``None``: ``$FACENET_WEIGHTS``, then
            ``./weights``, see :func:`fr_utils.weights.resolve_weights`).
        litert_dir: an explicit folder, e.g. from ``--litert``.
        cache_dir: the encoding cache folder (``None``: :func:`fr_utils._files.default_cache_dir`).

    Raises:
        LiteRTNotExported: nothing exported there; the message says how to export.
        LiteRTMismatch: the model there comes from other weights.
    """
    from fr_utils.weights import weights_fingerprint

    fingerprint = weights_fingerprint(weights_path)
    if litert_dir is not None:
        folder, origin = Path(litert_dir).expanduser(), "--litert"
    elif os.environ.get(ENV_VAR):
        folder, origin = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        folder, origin = (
            default_litert_dir(fingerprint, cache_dir),
            "the default folder",
        )
    try:
        manifest = read_manifest(folder)
    except LiteRTNotExported:
        raise LiteRTNotExported(
            f"LiteRT model not exported yet: nothing in {folder} (from {origin}) for the "
            f"weights with fingerprint {fingerprint}. {HOW_TO_EXPORT}"
        ) from None
    check_manifest(manifest, fingerprint, folder)
    return folder


# --------------------------------------------------------------------------- running


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise LiteRTError(
            "The LiteRT runtime is not installed: `pip install ai-edge-litert` (or the "
            "project's `kiosk` extra)."
        ) from None
    return Interpreter


def _check_batch(batch) -> np.ndarray:
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim != 4 or batch.shape[1:] != INPUT_SHAPE:
        raise ValueError(
            f"Expected preprocessed faces of shape (N, {', '.join(map(str, INPUT_SHAPE))}). "
            f"Received: shape={batch.shape}"
        )
    if not np.all(np.isfinite(batch)):
        raise ValueError("Preprocessed faces contain NaN or infinite values.")
    return np.ascontiguousarray(batch)


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


class _Runner:
    """One interpreter; :meth:`run` is serialised by a lock (an interpreter is not
    re-entrant: resizing, setting, invoking and reading must not interleave)."""

    def __init__(self, num_threads: int, model_path=None, model_content=None):
        interpreter_class = _interpreter_class()
        try:
            self._interpreter = interpreter_class(
                model_path=None if model_path is None else str(model_path),
                model_content=model_content,
                num_threads=num_threads,
            )
        except (ValueError, RuntimeError) as err:
            where = model_path or "the exported model"
            raise LiteRTError(
                f"{where} cannot be loaded by LiteRT ({err}). Export again."
            ) from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or list(inputs[0]["shape_signature"][1:]) != list(INPUT_SHAPE):
            raise LiteRTError(
                f"{model_path or 'the model'} does not take (N, 3, 96, 96) faces. Export again."
            )
        self._input = inputs[0]["index"]
        self._output = outputs[0]["index"]
        with native_stderr_silenced(wanted()):  # "Created TensorFlow Lite XNNPACK delegate"
            self._interpreter.allocate_tensors()  # (the delegate is made once, here)
        self._batch = None
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw outputs ``float32 (N, 128)`` for a checked batch ``(N, 3, 96, 96)``, N >= 1."""
        with self._lock:
            if self._batch != len(batch):
                self._interpreter.resize_tensor_input(self._input, batch.shape, strict=False)
                self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).astype(np.float32, copy=True)

    def encode(self, batch: np.ndarray, batch_size: int) -> np.ndarray:
        chunks = [self.run(batch[i : i + batch_size]) for i in range(0, len(batch), batch_size)]
        if not chunks:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        return _unit(np.concatenate(chunks))


def _default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


class LiteRTEncoder:
    """Encode faces with an exported LiteRT model: the TensorFlow encoder's interface.

    Args:
        model_dir: a folder written by :func:`export_litert` (see :func:`find_litert`).
        quantization: ``"int8"`` (the fast one) or ``"float32"`` (Keras's arithmetic).
        num_threads: CPU threads for the runtime; ``None``: the CPU count, at most 4.
        weights_fingerprint: when given, the model must have been exported from weights
            with this fingerprint (else :class:`LiteRTMismatch`). :meth:`from_weights`
            passes it for you.

    The model file's sha256 is checked against the manifest when it is loaded (~10 ms),
    so a half-replaced or edited export is refused. Thread-safe: one interpreter behind
    a lock, so concurrent calls run one after another (each uses ``num_threads``).

    Raises:
        LiteRTNotExported, LiteRTMismatch, LiteRTError: see their docs; all are ValueError.
    """

    runtime = "litert"

    def __init__(
        self,
        model_dir: str | os.PathLike,
        quantization: str = DEFAULT_QUANTIZATION,
        num_threads: int | None = None,
        weights_fingerprint: str | None = None,
    ):
        if quantization not in MODEL_FILES:
            raise ValueError(
                f"quantization must be one of {QUANTIZATIONS}. "
                f"Received: quantization={quantization!r}"
            )
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(
                f"num_threads must be an integer >= 1. Received: num_threads={num_threads!r}"
            )
        self.model_dir = Path(model_dir).expanduser()
        self.manifest = read_manifest(self.model_dir)
        if weights_fingerprint is not None:
            check_manifest(self.manifest, weights_fingerprint, self.model_dir)
        entry = self.manifest.get("models", {}).get(quantization)
        if not entry:
            raise LiteRTError(
                f"The export in {self.model_dir} has no {quantization} model. Export again."
            )
        self.quantization = quantization
        self.weights_fingerprint: str = self.manifest["weights_fingerprint"]
        self.aligner: str = self.manifest.get("aligner", "")
        self.model_path = self.model_dir / entry["file"]
        if not self.model_path.is_file():
            raise LiteRTError(f"{self.model_path} is missing; export again. {HOW_TO_EXPORT}")
        self.model_sha256 = sha256(self.model_path)
        if self.model_sha256 != entry.get("sha256"):
            raise LiteRTError(
                f"{self.model_path} differs from the file its manifest describes (sha256). "
                f"Export again. {HOW_TO_EXPORT}"
            )
        self.num_threads = _default_threads() if num_threads is None else num_threads
        self._runner = _Runner(self.num_threads, model_path=self.model_path)

    @classmethod
    def from_weights(
        cls,
        weights_path: str | os.PathLike | None = None,
        quantization: str = DEFAULT_QUANTIZATION,
        litert_dir: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        num_threads: int | None = None,
    ) -> LiteRTEncoder:
        """The encoder for the configured weights, found by :func:`find_litert`."""
        from fr_utils.weights import weights_fingerprint

        folder = find_litert(weights_path, litert_dir, cache_dir)
        return cls(folder, quantization, num_threads, weights_fingerprint(weights_path))

    def __repr__(self) -> str:
        return (
            f"LiteRTEncoder({str(self.model_dir)!r}, quantization={self.quantization!r}, "
            f"num_threads={self.num_threads})"
        )

    def encode_batch(self, batch, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Encode preprocessed faces ``float32 (N, 3, 96, 96)`` (RGB, [0, 1], channels-first,
        from :func:`fr_utils.preprocess.preprocess_image`) -> unit-length ``float32 (N, 128)``.

        Runs in chunks of ``batch_size`` faces; ``N = 0`` gives ``(0, 128)``.
        """
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(
                f"batch_size must be an integer >= 1. Received: batch_size={batch_size!r}"
            )
        return self._runner.encode(_check_batch(batch), batch_size)

    def encode_faces(self, faces: Sequence, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Encode face crops (paths or BGR ``uint8`` arrays) -> ``float32 (N, 128)``."""
        if len(faces) == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        return self.encode_batch(np.stack([preprocess_image(face) for face in faces]), batch_size)

    def warm_up(self) -> None:
        """Run one dummy face now, so the first real one does not pay XNNPACK's set-up."""
        self.encode_batch(np.zeros((1, *INPUT_SHAPE), np.float32))

    def cache_key(self) -> str:
        """16 hex digits naming what the encodings depend on: runtime, quantisation,
        weights fingerprint and the exact model file (a re-calibrated int8 model differs)."""
        text = json.dumps(
            ["litert", self.quantization, self.weights_fingerprint, self.model_sha256]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- exporting


def _tensorflow():
    try:
        from fr_utils._tf import tf
    except ImportError as err:
        raise TensorFlowMissing(
            f"Exporting a LiteRT model needs TensorFlow, which cannot be imported here ({err}). "
            "Install it (`pip install tensorflow`, or the project's `keras` extra) on any "
            "machine, export there, and copy the folder to the kiosk; encoding needs only "
            "ai-edge-litert."
        ) from None
    return tf


def _agreement(reference: np.ndarray, other: np.ndarray) -> dict:
    """Per-face plain-L2 distance between two embeddings of the same faces."""
    shift = np.linalg.norm(reference - other, axis=1)
    return {
        "faces": len(shift),
        "mean": float(shift.mean()),
        "p99": float(np.percentile(shift, 99)),
        "max": float(shift.max()),
    }


def _keras_embeddings(model, faces: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    chunks = [
        np.asarray(model(faces[i : i + batch_size], training=False))
        for i in range(0, len(faces), batch_size)
    ]
    return _unit(np.concatenate(chunks))


def _convert(tf, saved_model: Path, faces: np.ndarray | None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if faces is not None:  # full-integer: every op int8, float32 in and out
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: ([face[None]] for face in faces)
    return converter.convert()


def export_litert(
    model,
    out_dir: str | os.PathLike,
    calibration_faces,
    weights_fingerprint: str,
    aligner_key: str,
    quantizations: Iterable[str] = QUANTIZATIONS,
    num_threads: int | None = None,
) -> dict:
    """Export ``model`` to LiteRT float32 and int8 models plus a manifest in ``out_dir``.

    Needs TensorFlow (the LiteRT converter) and ai-edge-litert (to measure agreement).
    Takes a minute or so on two cores.

    Args:
        model: :func:`fr_utils.model.faceRecoModel` with the weights loaded.
        out_dir: the folder to write (created); usually
            ``default_litert_dir(weights_fingerprint)``.
        calibration_faces: preprocessed *aligned* faces ``float32 (N, 3, 96, 96)`` (RGB,
            [0, 1], channels-first), N >= 16, a few hundred recommended: they set the
            int8 value ranges and the agreement in the manifest is measured on them.
        weights_fingerprint: :func:`fr_utils.weights.weights_fingerprint` of the weights
            loaded in ``model``; models are refused for any other weights.
        aligner_key: the crop the faces come from, e.g. ``FaceAligner().cache_key()``.
        quantizations: which of ``"float32"``, ``"int8"`` to write.
        num_threads: threads used to measure the agreement.

    Returns:
        The manifest written to ``out_dir/litert_manifest.json``.

    Each file is written to a temporary name and moved into place; the manifest last,
    so readers see the old export or the new one (a model that does not match its
    manifest's sha256 is refused by :class:`LiteRTEncoder`).

    Raises:
        TensorFlowMissing: TensorFlow cannot be imported.
        ValueError: bad calibration faces or arguments.
    """
    quantizations = tuple(quantizations)
    unknown = [q for q in quantizations if q not in MODEL_FILES]
    if unknown or not quantizations:
        raise ValueError(
            f"quantizations must be taken from {QUANTIZATIONS}. Received: {quantizations}"
        )
    faces = _check_batch(calibration_faces)
    if len(faces) < MIN_CALIBRATION_FACES:
        raise ValueError(
            f"At least {MIN_CALIBRATION_FACES} calibration faces are needed "
            f"({RECOMMENDED_CALIBRATION_FACES} recommended). Received: {len(faces)} faces"
        )
    if len(faces) < RECOMMENDED_CALIBRATION_FACES:
        log.warning(
            "Calibrating int8 on %d faces; %d or more give steadier ranges.",
            len(faces),
            RECOMMENDED_CALIBRATION_FACES,
        )
    if not (isinstance(weights_fingerprint, str) and weights_fingerprint):
        raise ValueError(
            f"weights_fingerprint must be a non-empty string. Received: {weights_fingerprint!r}"
        )
    tf = _tensorflow()
    import keras

    out_dir = Path(out_dir).expanduser()
    threads = _default_threads() if num_threads is None else num_threads
    reference = _keras_embeddings(model, faces)
    blobs, entries = {}, {}
    with tempfile.TemporaryDirectory(prefix="facenet-litert-") as tmp:
        saved_model = Path(tmp) / "saved_model"
        model.export(str(saved_model), format="tf_saved_model", verbose=False)
        for quantization in quantizations:
            blob = _convert(tf, saved_model, faces if quantization == "int8" else None)
            runner = _Runner(threads, model_content=blob)
            blobs[quantization] = blob
            entries[quantization] = {
                "file": MODEL_FILES[quantization],
                "sha256": hashlib.sha256(blob).hexdigest(),
                "bytes": len(blob),
                "quantization": _QUANTIZATION_TEXT[quantization],
                "agreement_with_keras": _agreement(
                    reference, runner.encode(faces, DEFAULT_BATCH_SIZE)
                ),
            }
    manifest = {
        "format": MANIFEST_FORMAT,
        "weights_fingerprint": weights_fingerprint,
        "aligner": aligner_key,
        "input": INPUT_LAYOUT,
        "output": {
            "shape": [-1, EMBEDDING_SIZE],
            "dtype": "float32",
            "note": "renormalised to unit length by LiteRTEncoder",
        },
        "models": entries,
        "calibration": {
            "faces": len(faces),
            "sha256": hashlib.sha256(faces.tobytes()).hexdigest(),
        },
        "agreement_measure": "per face: plain L2 distance between its Keras and LiteRT "
        "embeddings, over the calibration faces (mean, 99th percentile, max)",
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "converter": "keras Model.export(format='tf_saved_model') -> "
        "tf.lite.TFLiteConverter.from_saved_model",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for quantization, blob in blobs.items():
        with atomic_path(out_dir / MODEL_FILES[quantization]) as tmp_file:
            tmp_file.write_bytes(blob)
    with atomic_path(out_dir / MANIFEST_NAME) as tmp_file:
        tmp_file.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# --------------------------------------------------------------------------- calibration


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Photo files under ``folder`` (recursively), sorted by path
    (:func:`fr_utils.database.list_photos`)."""
    from fr_utils.database import list_photos

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder. Give a folder of face photos to calibrate on.")
    return [path for _, path in list_photos(folder, recursive=True)]


def face_pipeline():
    """The crop every calibration face goes through: ``(photo -> (BGR crop, n_faces), key)``.

    The greeter's own enrollment pipeline (:func:`fr_utils.align.face_crop_from_photo`:
    dlib's HOG detector, 68 landmarks, alignment); ``key`` goes into the manifest.
    """
    from fr_utils.align import DlibDetector, FaceAligner, face_crop_from_photo

    detector, aligner = DlibDetector(), FaceAligner()

    def crop(photo):
        return face_crop_from_photo(photo, detector, aligner)

    return crop, aligner.cache_key()


@dataclass
class CalibrationSet:
    """``faces``: ``float32 (N, 3, 96, 96)`` preprocessed crops; ``paths``: their photos;
    ``aligner``: the crop's key; ``skipped``: photo -> why it gave no face."""

    faces: np.ndarray
    paths: list[Path]
    aligner: str
    skipped: dict = field(default_factory=dict)


def calibration_faces(
    photos: str | os.PathLike | Sequence[str | os.PathLike],
    limit: int = RECOMMENDED_CALIBRATION_FACES,
    seed: int = 0,
) -> CalibrationSet:
    """Crop and preprocess up to ``limit`` faces from a folder (or list) of photos.

    A folder's photos are taken in a shuffled order (fixed by ``seed``) so that a folder
    sorted by person (LFW) gives many people. Photos without a face, or unreadable, are
    skipped and listed; one bad photo never stops the others.
    """
    if not (isinstance(limit, int) and limit >= 1):
        raise ValueError(f"limit must be an integer >= 1. Received: limit={limit!r}")
    if isinstance(photos, (str, os.PathLike)):
        paths = list_images(photos)
        paths = [paths[i] for i in np.random.default_rng(seed).permutation(len(paths))]
    else:
        paths = [Path(p) for p in photos]
    crop, key = face_pipeline()
    faces, used, skipped = [], [], {}
    for path in paths:
        if len(faces) >= limit:
            break
        try:
            face, _ = crop(path)
            faces.append(preprocess_image(face))
        except ImageError as err:  # NoFaceFound and FaceTooSmall are ImageErrors too
            skipped[path] = str(err)
            continue
        used.append(path)
    stacked = np.stack(faces) if faces else np.zeros((0, *INPUT_SHAPE), np.float32)
    return CalibrationSet(stacked, used, key, skipped)


# --------------------------------------------------------------------------- CLI glue


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``facenet-weights export-litert`` (sets ``run`` to :func:`export_command`)."""
    parser.add_argument(
        "--weights",
        default=None,
        help="CSV folder or HDF5 file (default: $FACENET_WEIGHTS, then ./weights)",
    )
    parser.add_argument(
        "--calibrate",
        required=True,
        metavar="FOLDER",
        help="folder of face photos (searched recursively) for int8 calibration, e.g. your "
        "images/ or LFW; faces are aligned as the greeter aligns them",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=RECOMMENDED_CALIBRATION_FACES,
        help=f"calibration faces to use (default: {RECOMMENDED_CALIBRATION_FACES})",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder to write (default: <encoding cache>/litert/<weights fingerprint>/, "
        f"where the greeter looks; $FACENET_CACHE moves it). Point --litert or ${ENV_VAR} "
        "at any other folder",
    )
    parser.set_defaults(run=export_command)


def export_command(args: argparse.Namespace) -> dict:
    """``facenet-weights export-litert``: load the model, crop calibration faces, export.

    Prints what it wrote and the measured agreement; returns the manifest.
    """
    _tensorflow()  # fail before cropping hundreds of photos
    from fr_utils.model import load_model
    from fr_utils.weights import resolve_weights, weights_fingerprint

    fingerprint = weights_fingerprint(resolve_weights(args.weights))  # checks they exist
    calibration = calibration_faces(args.calibrate, limit=args.limit)
    if len(calibration.faces) < MIN_CALIBRATION_FACES:
        raise ValueError(
            f"{args.calibrate}: faces found in {len(calibration.faces)} photos "
            f"({len(calibration.skipped)} skipped); calibration needs at least "
            f"{MIN_CALIBRATION_FACES}, {RECOMMENDED_CALIBRATION_FACES} recommended. "
            "Give a folder with more face photos."
        )
    model, weights = load_model(args.weights)
    out = Path(args.out) if args.out else default_litert_dir(fingerprint)
    manifest = export_litert(model, out, calibration.faces, fingerprint, calibration.aligner)
    print(f"weights: {weights} (fingerprint {fingerprint})")
    print(
        f"calibration: {len(calibration.faces)} faces from {args.calibrate} "
        f"({len(calibration.skipped)} photos skipped), crop {calibration.aligner}"
    )
    for quantization, entry in manifest["models"].items():
        agreement = entry["agreement_with_keras"]
        print(
            f"wrote {quantization} {out / entry['file']} ({entry['bytes'] / 1e6:.1f} MB): "
            f"embedding shift vs Keras mean {agreement['mean']:.4f}, p99 {agreement['p99']:.4f}, "
            f"max {agreement['max']:.4f} (plain L2)"
        )
    print(f"wrote {out / MANIFEST_NAME}")
    if args.out:
        print(f"use it with --litert {out} or {ENV_VAR}={out}")
    return manifest
