"""The FaceNet model to LiteRT: export it once with TensorFlow, calibrated on aligned faces.

:func:`export_litert` turns the Keras model (with loaded weights) into two LiteRT
flatbuffers beside a manifest, in the folder :func:`fr_utils.litert.find_litert` looks in:

* ``facenet_float32.tflite``: the same arithmetic as Keras (embeddings agree to ~1e-5);
* ``facenet_int8.tflite``: full-integer quantisation (int8 weights *and* activations),
  calibrated on aligned faces the caller supplies; input and output stay float32, so the
  one preprocessing (:func:`fr_utils.preprocess.preprocess_image`) feeds both (an int8
  input tensor, quantised by the caller, measured no faster: ``bench/bench_runtimes.py``);
* ``litert_manifest.json``: the weights fingerprint, the aligner, the input layout, the
  quantisation, the TensorFlow version, each file's sha256 and the agreement with Keras
  measured on the calibration faces.

:func:`calibration_faces` crops those faces from a folder of photos with the greeter's own
pipeline (:func:`face_pipeline`). ``facenet-weights export-litert`` (:mod:`fr_utils.cli.weights`)
does both. Exporting needs TensorFlow, imported inside :func:`export_litert`; running the
result does not (:mod:`fr_utils.litert`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fr_utils._files import atomic_path
from fr_utils.align import DlibDetector, FaceAligner, face_crop_from_photo
from fr_utils.database import list_photos
from fr_utils.encoding import encode_batch
from fr_utils.litert import (
    EMBEDDING_SIZE,
    INPUT_SHAPE,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MODEL_FILES,
    QUANTIZATIONS,
    TensorFlowMissing,
    check_batch,
    encode_with_flatbuffer,
)
from fr_utils.preprocess import ImageError, preprocess_image

log = logging.getLogger(__name__)

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
_QUANTIZATION_TEXT = {
    "float32": "none: float32 weights and activations",
    "int8": "full-integer int8 weights and activations (per-channel weights), "
    "float32 input and output tensors",
}


# --------------------------------------------------------------------------- exporting


def import_tensorflow():
    """TensorFlow, or :class:`fr_utils.litert.TensorFlowMissing` saying how to export on
    another machine (``facenet-weights export-litert`` asks before it crops any photo)."""
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
            :func:`fr_utils.litert.default_litert_dir` for ``weights_fingerprint``.
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
    manifest's sha256 is refused by :class:`fr_utils.litert.LiteRTEncoder`).

    Raises:
        fr_utils.litert.TensorFlowMissing: TensorFlow cannot be imported.
        ValueError: bad calibration faces or arguments.
    """
    quantizations = tuple(quantizations)
    unknown = [q for q in quantizations if q not in MODEL_FILES]
    if unknown or not quantizations:
        raise ValueError(
            f"quantizations must be taken from {QUANTIZATIONS}. Received: {quantizations}"
        )
    faces = check_batch(calibration_faces)
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
    tf = import_tensorflow()
    import keras

    out_dir = Path(out_dir).expanduser()
    reference = encode_batch(faces, model)  # what the TensorFlow runtime encodes
    blobs, entries = {}, {}
    with tempfile.TemporaryDirectory(prefix="facenet-litert-") as tmp:
        saved_model = Path(tmp) / "saved_model"
        model.export(str(saved_model), format="tf_saved_model", verbose=False)
        for quantization in quantizations:
            blob = _convert(tf, saved_model, faces if quantization == "int8" else None)
            blobs[quantization] = blob
            entries[quantization] = {
                "file": MODEL_FILES[quantization],
                "sha256": hashlib.sha256(blob).hexdigest(),
                "bytes": len(blob),
                "quantization": _QUANTIZATION_TEXT[quantization],
                "agreement_with_keras": _agreement(
                    reference, encode_with_flatbuffer(blob, faces, num_threads)
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


def face_pipeline():
    """The crop every calibration face goes through: ``(photo -> (BGR crop, n_faces), key)``.

    The greeter's own enrollment pipeline (:func:`fr_utils.align.face_crop_from_photo`:
    dlib's HOG detector, 68 landmarks, alignment); ``key`` goes into the manifest.
    """
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

    A folder's photos (at any depth, :func:`fr_utils.database.list_photos`) are taken in a
    shuffled order (fixed by ``seed``) so that a folder sorted by person (LFW) gives many
    people. Photos without a face, or unreadable, are skipped and listed; one bad photo
    never stops the others.
    """
    if not (isinstance(limit, int) and limit >= 1):
        raise ValueError(f"limit must be an integer >= 1. Received: limit={limit!r}")
    if isinstance(photos, (str, os.PathLike)):
        folder = Path(photos).expanduser()
        if not folder.is_dir():
            raise ValueError(
                f"{folder}: not a folder. Give a folder of face photos to calibrate on."
            )
        paths = [path for _, path in list_photos(folder, recursive=True)]
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
