"""The FaceNet model on LiteRT, the running side: find an exported model, encode faces with it.

A door kiosk needs to encode faces, not to train. :func:`fr_utils.litert_export.export_litert`
(``facenet-weights export-litert``, with TensorFlow) writes two LiteRT flatbuffers beside a
manifest; this module finds and runs them:

* ``facenet_float32.tflite``: the same arithmetic as Keras (embeddings agree to ~1e-5);
* ``facenet_int8.tflite``: full-integer quantisation (int8 weights *and* activations),
  float32 input and output, so the one preprocessing
  (:func:`fr_utils.preprocess.preprocess_image`) feeds both;
* ``litert_manifest.json``: the weights fingerprint, the aligner, each file's sha256 and
  more (:func:`read_manifest`).

:class:`LiteRTEncoder` runs either file with the ``ai-edge-litert`` runtime (XNNPACK)
and has the TensorFlow encoder's interface (``encode_batch``, ``encode_faces``,
``cache_key``). Importing this module and encoding with it never imports TensorFlow,
Keras, dlib or argparse (``tests/test_imports.py`` checks every import in it, function-local
ones included): exporting and calibrating live in :mod:`fr_utils.litert_export`.

Where exported models are found (:func:`find_litert`): ``--litert DIR``, then
``$FACENET_LITERT``, then ``<encoding cache>/litert/<weights fingerprint>/`` (where
``facenet-weights export-litert`` writes when given no ``--out``). A model exported
from other weights is refused, never used silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fr_utils._files import default_cache_dir, sha256
from fr_utils._quiet import native_stderr_silenced, wanted
from fr_utils.preprocess import FACE_SIZE, preprocess_image

ENV_VAR = "FACENET_LITERT"
MANIFEST_NAME = "litert_manifest.json"
MANIFEST_FORMAT = "facenet-litert/1"
MODEL_FILES = {"float32": "facenet_float32.tflite", "int8": "facenet_int8.tflite"}
QUANTIZATIONS = tuple(MODEL_FILES)
DEFAULT_QUANTIZATION = "int8"
DEFAULT_BATCH_SIZE = 64
EMBEDDING_SIZE = 128
INPUT_SHAPE = (3, FACE_SIZE, FACE_SIZE)
HOW_TO_EXPORT = (
    "Run `facenet-weights export-litert --calibrate FOLDER_OF_FACE_PHOTOS` (it needs "
    "TensorFlow) with the same weights, or point --litert / $FACENET_LITERT at a folder "
    "it wrote."
)


class LiteRTError(ValueError):
    """An exported LiteRT model is missing, damaged, or cannot be made or run here."""


class TensorFlowMissing(LiteRTError):
    """Exporting needs TensorFlow, which is not installed (encoding does not need it)."""


class LiteRTNotExported(LiteRTError):
    """No exported LiteRT model where one was looked for (``folder``, when known)."""

    def __init__(self, message: str, folder: Path | None = None):
        super().__init__(message)
        self.folder = folder


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


def litert_folder(
    weights_fingerprint: str,
    litert_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[Path, str]:
    """Where the LiteRT model for the weights with ``weights_fingerprint`` is looked for, and
    why there: ``(folder, origin)``. ``litert_dir`` (``--litert DIR``), else
    ``$FACENET_LITERT``, else :func:`default_litert_dir`; the first that is set is the only
    place looked at (:func:`find_litert`)."""
    if litert_dir is not None:
        return Path(litert_dir).expanduser(), "--litert"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    return default_litert_dir(weights_fingerprint, cache_dir), "the default folder"


def export_command(weights_path: str | os.PathLike, folder: str | os.PathLike) -> str:
    """The exact command that exports the LiteRT model for ``weights_path`` into ``folder``
    (run where TensorFlow is installed; as root for a system folder)."""
    return (
        f"facenet-weights export-litert --weights {weights_path} "
        f"--calibrate FOLDER_OF_FACE_PHOTOS --out {folder}"
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
    folder, origin = litert_folder(fingerprint, litert_dir, cache_dir)
    try:
        manifest = read_manifest(folder)
    except LiteRTNotExported:
        raise LiteRTNotExported(
            f"LiteRT model not exported yet: nothing in {folder} (from {origin}) for the "
            f"weights with fingerprint {fingerprint}. {HOW_TO_EXPORT}",
            folder,
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


def check_batch(batch) -> np.ndarray:
    """Preprocessed faces as the model takes them: contiguous ``float32 (N, 3, 96, 96)``,
    finite (from :func:`fr_utils.preprocess.preprocess_image`); else ``ValueError``."""
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
        model_dir: a folder written by :func:`fr_utils.litert_export.export_litert` (see
            :func:`find_litert`).
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
        return self._runner.encode(check_batch(batch), batch_size)

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


def encode_with_flatbuffer(
    model_content: bytes, batch, num_threads: int | None = None
) -> np.ndarray:
    """Encode preprocessed faces with a LiteRT model held in memory (not yet a file):
    ``float32 (N, 3, 96, 96)`` -> unit-length ``float32 (N, 128)``.

    :func:`fr_utils.litert_export.export_litert` measures each model's agreement with Keras
    this way before it writes the file. ``num_threads`` ``None``: the CPU count, at most 4.
    """
    threads = _default_threads() if num_threads is None else num_threads
    return _Runner(threads, model_content=model_content).encode(
        check_batch(batch), DEFAULT_BATCH_SIZE
    )
