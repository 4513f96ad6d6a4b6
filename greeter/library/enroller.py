"""Enrollers: turn a photo into the aligned face crop and its encoding, for the store.

The store never loads a model itself; it is handed an *enroller*, any object with

* ``model_key: str`` — what the encodings depend on: weights fingerprint + aligner +
  runtime. Encodings are stored and loaded per model key, so changing any of the three
  makes the greeter compute (once) and store encodings for the new key.
* ``enroll(image, label) -> Enrolled(crop, encoding, n_faces)`` — ``image`` is a path or a
  BGR ``uint8 (H, W, 3)`` array; ``crop`` is the aligned face, BGR ``uint8 (96, 96, 3)``;
  ``encoding`` is ``float32 (128,)`` (unit length); ``n_faces`` is how many faces were
  found (the crop is of the first one). Raises :class:`fr_utils.faces.NoFaceFound` (no
  face) or :class:`fr_utils.preprocess.ImageError` (unreadable), both ``ValueError``,
  with ``label`` (the file name) in the message. The STORE refuses ``n_faces > 1``
  (:class:`SeveralFaces`), so the enroller only reports the count.

:func:`make_enroller` builds the landmark-aligned pipeline; it is the one place to swap in another
(e.g. a LiteRT runtime).
"""

from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from fr_utils.preprocess import ImageError

RUNTIME = "keras"


class Enrolled(NamedTuple):
    crop: np.ndarray  # uint8 (96, 96, 3), BGR
    encoding: np.ndarray  # float32 (128,)
    n_faces: int


class Enroller(Protocol):
    model_key: str

    def enroll(self, image, label: str) -> Enrolled: ...


class SeveralFaces(ImageError):
    """A photo to enroll shows more than one face (which one is the person?)."""


class PipelineEnroller:
    """Detector + 68-landmark aligner + FaceNet model, as an enroller (see the module docstring).

    Args:
        model: the loaded FaceNet model.
        detector: a face detector (``image -> (K, 4)`` boxes, e.g.
            :class:`fr_utils.align.DlibDetector`).
        aligner: a :class:`fr_utils.align.FaceAligner`.
        model_key: the key stored with its encodings.
    """

    def __init__(self, model, detector, aligner, model_key: str):
        self.model, self.detector, self.aligner, self.model_key = (
            model,
            detector,
            aligner,
            model_key,
        )

    def enroll(self, image, label: str) -> Enrolled:
        from fr_utils.align import face_crop_from_photo
        from fr_utils.encoding import encode_faces

        face, n_faces = face_crop_from_photo(image, self.detector, self.aligner)
        encoding = encode_faces([face], self.model)[0]
        return Enrolled(face, np.asarray(encoding, np.float32), int(n_faces))

    def __repr__(self):
        return f"PipelineEnroller(model_key={self.model_key!r})"


def make_enroller(weights=None, model=None, detector=None, aligner=None) -> PipelineEnroller:
    """THE enrollment pipeline (swap it here): dlib detector, 68-landmark alignment, Keras model.

    Args:
        weights: weights file or folder (``None``: ``$FACENET_WEIGHTS``, then ``./weights``).
        model: an already loaded model for those weights (``None``: load it here).
        detector: ``None``: :class:`fr_utils.align.DlibDetector` (what the weights were
            trained with).
        aligner: ``None``: :class:`fr_utils.align.FaceAligner` (96 px).

    The model key is ``<weights fingerprint>/<detector key>+<aligner key>/<runtime>``.
    """
    from fr_utils.align import DlibDetector, FaceAligner
    from fr_utils.weights import resolve_weights, weights_fingerprint

    if model is None:
        from fr_utils.model import load_model

        model, path = load_model(weights)
    else:
        path = resolve_weights(weights)
    detector = DlibDetector() if detector is None else detector
    aligner = FaceAligner() if aligner is None else aligner
    aligned = f"{detector.cache_key()}+{aligner.cache_key()}"
    key = f"{weights_fingerprint(Path(path))}/{aligned}/{RUNTIME}"
    return PipelineEnroller(model, detector, aligner, key)
