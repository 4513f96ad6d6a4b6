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

:func:`make_enroller` builds the landmark-aligned pipeline on the greeter's encoder; it is the
one place to change how photos are enrolled.
"""

from typing import NamedTuple, Protocol

import numpy as np

from fr_utils.preprocess import ImageError


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
    """Detector + 68-landmark aligner + face encoder, as an enroller (see the module docstring).

    Args:
        encoder: a :class:`fr_utils.encoding.FaceEncoder` (``crops -> float32 (N, 128)``).
        detector: a face detector (``image -> (K, 4)`` boxes, e.g.
            :class:`fr_utils.align.DlibDetector`).
        aligner: a :class:`fr_utils.align.FaceAligner`.
        model_key: the key stored with its encodings.
    """

    def __init__(self, encoder, detector, aligner, model_key: str):
        self.encoder, self.detector, self.aligner = encoder, detector, aligner
        self.model_key = model_key

    def enroll(self, image, label: str) -> Enrolled:
        from fr_utils.align import face_crop_from_photo

        face, n_faces = face_crop_from_photo(image, self.detector, self.aligner)
        encoding = np.asarray(self.encoder([face]), np.float32)[0]
        return Enrolled(face, encoding, int(n_faces))

    def enroll_many(self, paths) -> list:
        """:meth:`enroll` for many photo files at once: an :class:`Enrolled` or the
        ``ValueError`` refusing it, for each, in order. Faces are found by worker threads
        (:func:`fr_utils.photos.align_photos`) and encoded in batches, which makes a large
        folder several times faster to enroll than one photo at a time."""
        from fr_utils.photos import align_photos

        results, faces, where = [], [], []
        for crop, n_faces, error in align_photos(paths, self.detector, self.aligner):
            if error is not None:
                results.append(error)
                continue
            where.append(len(results))
            results.append((crop, n_faces))
            faces.append(crop)
        for index, encoding in zip(where, np.asarray(self.encoder(faces), np.float32)):
            crop, n_faces = results[index]
            results[index] = Enrolled(crop, encoding, int(n_faces))
        return results

    def __repr__(self):
        return f"PipelineEnroller(model_key={self.model_key!r})"


def make_enroller(weights=None, encoder=None, detector=None, aligner=None) -> PipelineEnroller:
    """THE enrollment pipeline (swap it here): dlib detector, 68-landmark alignment, encoder.

    Args:
        weights: weights file or folder (``None``: ``$FACENET_WEIGHTS``, then ``./weights``);
            used when no ``encoder`` is given.
        encoder: the greeter's :class:`fr_utils.encoding.FaceEncoder` (or a Keras model,
            wrapped by :func:`fr_utils.encoding.as_encoder`); ``None``:
            ``fr_utils.encoding.make_encoder(weights)`` (LiteRT if exported, else TensorFlow;
            flip-averaged), as the greeter's defaults.
        detector: ``None``: :class:`fr_utils.align.DlibDetector` (what the weights were
            trained with).
        aligner: ``None``: :class:`fr_utils.align.FaceAligner` (96 px).

    The model key is ``<encoder key: runtime + weights fingerprint + flip>/<detector key>+
    <aligner key>``: encodings made any other way are never mixed with these.
    """
    from fr_utils.align import DlibDetector, FaceAligner
    from fr_utils.encoding import as_encoder, make_encoder

    if encoder is None:
        encoder = make_encoder(weights)
    else:
        encoder = as_encoder(encoder, weights=weights)
    detector = DlibDetector() if detector is None else detector
    aligner = FaceAligner() if aligner is None else aligner
    key = f"{encoder.cache_key()}/{detector.cache_key()}+{aligner.cache_key()}"
    return PipelineEnroller(encoder, detector, aligner, key)
