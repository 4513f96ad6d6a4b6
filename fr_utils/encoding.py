"""Images -> 128-d encodings: the course's functions and the encoder every tool uses.

The course's API (:func:`img_to_encoding`, :func:`encode_faces`, :func:`encode_batch`)
takes a Keras model. ``model.predict`` costs 50-250 ms per call even for one face, so
they all go through one cached ``tf.function`` per model (about 8 ms a face); tracing it
costs about a second, once per model (:func:`warm_up` does it up front).

:class:`FaceEncoder` is what enrollment, the greeter, the tuning tool and the LFW
benchmark encode with: aligned crops in, unit embeddings out, on TensorFlow
(:class:`KerasEncoder`) or LiteRT (:class:`fr_utils.litert.LiteRTEncoder`), with
flip-averaging on by default. :func:`make_encoder` picks the runtime. TensorFlow is
imported only when a Keras encoder is used, so a LiteRT kiosk never loads it.
"""

import hashlib
import importlib.util
import logging
import sys
import threading
import weakref

import numpy as np

from fr_utils.preprocess import FACE_SIZE, preprocess_image

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
_FORWARD = weakref.WeakKeyDictionary()  # model -> its compiled forward pass
_FORWARD_LOCK = threading.Lock()  # one tf.function per model, even with several threads


def _forward(model):
    from fr_utils._tf import tf  # here, not at the top: the LiteRT path must not load TensorFlow

    with _FORWARD_LOCK:
        forward = _FORWARD.get(model)
        if forward is None:
            spec = tf.TensorSpec((None, 3, FACE_SIZE, FACE_SIZE), tf.float32)
            forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
            _FORWARD[model] = forward
    return forward


def warm_up(model) -> None:
    """Trace ``model``'s forward pass now (one dummy face) rather than at the first real batch.

    Thread-safe: a batch encoded while this runs in another thread waits for the
    trace instead of tracing a second time.
    """
    encode_batch(np.zeros((1, 3, FACE_SIZE, FACE_SIZE), np.float32), model)


def encode_batch(batch, model, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Encode preprocessed faces ``(N, 3, 96, 96)`` -> ``float32 (N, 128)``, in chunks."""
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim != 4 or batch.shape[1:] != (3, FACE_SIZE, FACE_SIZE):
        raise ValueError(
            f"Expected preprocessed faces of shape (N, 3, {FACE_SIZE}, "
            f"{FACE_SIZE}). Received: shape={batch.shape}"
        )
    if not np.all(np.isfinite(batch)):
        raise ValueError("Preprocessed faces contain NaN or infinite values.")
    forward = _forward(model)
    chunks = [forward(batch[i : i + batch_size]).numpy() for i in range(0, len(batch), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 128), np.float32)


def encode_faces(faces, model, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Encode many face images (paths or BGR arrays) -> ``float32 (N, 128)``."""
    batch = (
        np.stack([preprocess_image(face) for face in faces])
        if len(faces)
        else np.zeros((0, 3, FACE_SIZE, FACE_SIZE), np.float32)
    )
    return encode_batch(batch, model, batch_size)


def img_to_encoding(image, model) -> np.ndarray:
    """Encode one face image (path or BGR array, see ``preprocess_image``) -> ``(1, 128)``."""
    return encode_batch(preprocess_image(image)[None], model)


def model_fingerprint(model) -> str:
    """A short hash of the model's variables, to key caches of its encodings.

    Prefer :func:`fr_utils.weights.weights_fingerprint` where the weights file is known
    (it needs no model); this one also covers a model changed since it was loaded.
    """
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


RUNTIMES = ("auto", "litert", "tensorflow")
ENCODERS = ("facenet", "dlib-resnet")  # the course's FaceNet; dlib's ResNet (fr_utils.dlib_resnet)
# The kiosk's encoder (greeter and facenet-tune): dlib's ResNet, chosen by measurement (issue 17,
# bench/bench_open_set.py: with 200 people enrolled and 1 % of strangers' visits greeted, it
# misses 13 % of enrolled visitors, FaceNet 82 %). The course path (notebooks, load_model,
# make_encoder's own default) stays on FaceNet.
DEFAULT_ENCODER = "dlib-resnet"


class KerasEncoder:
    """The Keras model as an encoder backend: ``encode_batch(preprocessed) -> (N, 128)``.

    Args:
        model: a loaded :func:`fr_utils.model.faceRecoModel`.
        weights: the file or folder it was loaded from (unchanged since), to key caches
            by :func:`fr_utils.weights.weights_fingerprint`; ``None`` hashes the variables.
    """

    runtime = "tensorflow"

    def __init__(self, model, weights=None):
        from fr_utils.weights import weights_fingerprint

        self.model = model
        self.weights_fingerprint = (
            model_fingerprint(model) if weights is None else weights_fingerprint(weights)
        )

    def encode_batch(self, batch, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        return encode_batch(batch, self.model, batch_size)

    def warm_up(self) -> None:
        warm_up(self.model)

    def cache_key(self) -> str:
        return f"tensorflow-{self.weights_fingerprint}"


def facenet_model_id(weights_fingerprint: str, flip: bool = True) -> str:
    """:attr:`FaceEncoder.model_id` for weights with this fingerprint, without loading them
    on a runtime (``greeter doctor`` looks up the impostor curve with it)."""
    return f"facenet-{weights_fingerprint}-{'flip' if flip else 'single'}"


class FaceEncoder:
    """Aligned face crops -> unit-length embeddings, on any runtime: ``encoder(crops) -> (N, 128)``.

    Args:
        backend: :class:`KerasEncoder` or :class:`fr_utils.litert.LiteRTEncoder` (anything
            with ``encode_batch``, ``warm_up``, ``cache_key`` and ``runtime``).
        flip: flip-average: encode each crop and its mirror image in one batch, average the
            two embeddings and renormalise. On LFW it lifts accuracy from 0.922 to 0.931
            (``../shared/weights-aligned/README.md``) for twice the encoding work; its
            thresholds differ a little (see ``THRESHOLDS.json``).

    Crops are ``uint8 (96, 96, 3)`` BGR, as :class:`fr_utils.align.FaceAligner` makes them.
    """

    name = "facenet"

    def __init__(self, backend, flip: bool = True):
        self.backend, self.flip = backend, bool(flip)

    def __repr__(self) -> str:
        return f"FaceEncoder({self.backend!r}, flip={self.flip})"

    @property
    def model_id(self) -> str:
        """The model its encodings come from, whatever the runtime: the weights' fingerprint
        and the flip setting (LiteRT int8 and TensorFlow agree within 0.01 in distance).
        Keys what is measured about the model, e.g. its impostor curve
        (:mod:`fr_utils.open_set`)."""
        return facenet_model_id(self.backend.weights_fingerprint, self.flip)

    def make_aligner(self):
        """The aligner whose crops this encoder takes (OpenFace's 96 px template)."""
        from fr_utils.align import FaceAligner

        return FaceAligner()

    @property
    def runtime(self) -> str:
        """``"tensorflow"`` or ``"litert"``, with the quantisation for LiteRT."""
        quantization = getattr(self.backend, "quantization", None)
        return f"{self.backend.runtime}-{quantization}" if quantization else self.backend.runtime

    def encode_batch(self, batch) -> np.ndarray:
        """Preprocessed faces ``float32 (N, 3, 96, 96)`` -> ``float32 (N, 128)``."""
        batch = np.asarray(batch, dtype=np.float32)
        if not self.flip:
            return self.backend.encode_batch(batch)
        both = self.backend.encode_batch(np.concatenate([batch, batch[..., ::-1]]))
        mean = both[: len(batch)] + both[len(batch) :]
        return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)

    def __call__(self, faces) -> np.ndarray:
        """Face crops (BGR arrays or paths) -> ``float32 (N, 128)``; no faces give ``(0, 128)``."""
        if len(faces) == 0:
            return np.zeros((0, 128), np.float32)
        return self.encode_batch(np.stack([preprocess_image(face) for face in faces]))

    def warm_up(self) -> None:
        """Pay the runtime's set-up (TensorFlow's trace, XNNPACK's) now, not on the first face."""
        self.backend.warm_up()

    def cache_key(self) -> str:
        """What the encodings depend on: runtime, weights and the flip setting."""
        return f"{self.backend.cache_key()}-{'flip' if self.flip else 'single'}"


def encoding_key(encoder, detector, aligner) -> str:
    """What a stored or cached encoding depends on, as text:
    ``<encoder: runtime, weights, flip>/<detector settings>+<aligner settings>``.

    The one formula for the face library's ``model_key`` and the encoding cache's file name:
    encodings made any other way are never mixed with these. ``detector`` and ``aligner``
    need a ``cache_key()`` (see :class:`fr_utils.faces.FaceDetector`).
    """
    key = getattr(detector, "cache_key", None)
    if not callable(key):
        raise TypeError(
            f"{type(detector).__name__} has no cache_key(): a detector that keys encodings "
            "must follow fr_utils.faces.FaceDetector."
        )
    return f"{encoder.cache_key()}/{key()}+{aligner.cache_key()}"


def as_encoder(model_or_encoder, flip: bool = True, weights=None):
    """An encoder as it is (anything with ``cache_key`` and ``make_aligner``), or a Keras
    model wrapped in a :class:`FaceEncoder`."""
    if hasattr(model_or_encoder, "make_aligner"):
        return model_or_encoder
    return FaceEncoder(KerasEncoder(model_or_encoder, weights), flip=flip)


class NoRuntime(ValueError):
    """Faces cannot be encoded here: no LiteRT model exported for the weights, and no
    TensorFlow to fall back on (a lean ``.[kiosk]`` install). The message is one sentence
    saying what to do."""


def tensorflow_installed() -> bool:
    """Whether TensorFlow and Keras can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "keras"))


def no_runtime(weights, folder) -> NoRuntime:
    """The :class:`NoRuntime` error for ``weights`` whose LiteRT model is not in ``folder``,
    on a machine without TensorFlow: one sentence with the export command."""
    from fr_utils.litert import export_command
    from fr_utils.weights import resolve_weights

    weights = resolve_weights(weights)
    return NoRuntime(
        f"No way to encode faces: no LiteRT model is exported for the weights {weights} in "
        f"{folder} and TensorFlow is not installed here; export one with "
        f"`{export_command(weights, folder)}` where TensorFlow is installed (the repository's "
        ".venv; as root for a system folder), "
        f"or install TensorFlow here with `{sys.executable} -m pip install "
        "'PROJECT_FOLDER[keras]'`."
    )


def make_encoder(
    weights=None,
    runtime: str = "auto",
    litert=None,
    flip: bool = True,
    cache_dir=None,
    kind: str = "facenet",
):
    """The encoder for the configured weights, on the runtime asked for.

    ``kind="dlib-resnet"`` returns :class:`fr_utils.dlib_resnet.DlibResNetEncoder` instead
    (dlib's ResNet: its own model file, no weights, runtime or flip settings). Every encoder
    has ``name``, ``runtime``, ``flip``, ``cache_key()``, ``warm_up()``, ``make_aligner()``
    (the crops it takes) and ``encoder(crops) -> float32 (N, 128)`` unit vectors.

    Args:
        weights: CSV folder or HDF5 file (``None``: ``$FACENET_WEIGHTS``, then ``./weights``).
        runtime: ``"litert"`` (an exported int8 model, see ``facenet-weights export-litert``;
            no TensorFlow is imported), ``"tensorflow"`` (the Keras model), or ``"auto"``:
            LiteRT when a model exported from these weights is found, else TensorFlow with
            one log line saying how to export.
        litert: the folder of exported models (``None``: ``$FACENET_LITERT``, then the
            default folder under the encoding cache).
        flip: flip-average (see :class:`FaceEncoder`).
        cache_dir: the encoding cache folder, where exports go by default.

    Raises:
        ValueError: an unknown runtime; for ``"litert"``, no export or one made from other
            weights (:class:`fr_utils.litert.LiteRTError`). A mismatched export is refused
            under ``"auto"`` too, never used silently. :class:`NoRuntime` when TensorFlow
            is needed (``"tensorflow"``, or ``"auto"`` with nothing exported) and not
            installed: one sentence with the export command.
    """
    if kind not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}. Received: encoder={kind!r}")
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}. Received: runtime={runtime!r}")
    if kind == "dlib-resnet":
        from fr_utils.dlib_resnet import DlibResNetEncoder

        return DlibResNetEncoder()
    if runtime != "tensorflow":
        from fr_utils.litert import LiteRTEncoder, LiteRTNotExported

        try:
            return FaceEncoder(
                LiteRTEncoder.from_weights(weights, litert_dir=litert, cache_dir=cache_dir), flip
            )
        except LiteRTNotExported as err:
            if runtime == "litert":
                raise
            if not tensorflow_installed():
                raise no_runtime(weights, err.folder) from None
            log.info("Encoding with TensorFlow: %s", err)
    elif not tensorflow_installed():
        raise NoRuntime(
            "runtime 'tensorflow' needs TensorFlow, which is not installed here: install the "
            "keras extra (`pip install 'PROJECT_FOLDER[keras]'`) or use the runtime 'auto' "
            "with a LiteRT model exported by `facenet-weights export-litert`."
        )
    from fr_utils.model import load_model

    model, path = load_model(weights)
    return FaceEncoder(KerasEncoder(model, path), flip)
