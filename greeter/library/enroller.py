"""Enrolment: photos in, finished library values out, stored in one transaction per batch.

The store (:mod:`greeter.library.store`) only stores; everything between a photo file and
the values it keeps happens here, once per photo:

    read the bytes once -> decode once -> detect -> 68 landmarks -> align -> encode
    (faces found by worker threads, encoded in batches) -> Store.add_photos

Every way a person is enrolled comes through here: the folder sync
(:mod:`greeter.library.sync`), ``greeter-library add`` and ``import``, the admin page
(from the uploaded bytes, no temporary files), a visitor face assigned to a person, and the
live library computing the encodings a new model needs (:func:`encode_missing`).

An :class:`Enroller` is the pipeline itself: a face detector, the 68-landmark aligner and
the face encoder, and the ``model_key`` its encodings are stored under
(:func:`fr_utils.encoding.encoding_key`: encoder + runtime + weights + detector + aligner),
so encodings made any other way are never mixed with these. :func:`make_enroller` builds
the one the greeter uses.

A photo must show exactly one face: no face (:class:`fr_utils.faces.NoFaceFound`), an
unreadable file (:class:`fr_utils.preprocess.ImageError`) and several faces
(:class:`SeveralFaces`) are refused, each a ``ValueError`` naming the photo; one refused
photo never stops the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from fr_utils.preprocess import ImageError
from greeter.library.store import NewPhoto, Store

log = logging.getLogger(__name__)
CHUNK = 256  # photos aligned, encoded and stored together (bounded memory for a big folder)


class SeveralFaces(ImageError):
    """A photo to enrol shows more than one face (which one is the person?)."""


class Enrolled(NamedTuple):
    """One photo's face: the aligned crop (BGR ``uint8 (96, 96, 3)``) and its encoding."""

    crop: np.ndarray
    encoding: np.ndarray  # float32 (128,)


def png_bytes(crop) -> bytes:
    """An aligned crop, BGR ``uint8 (S, S, 3)`` (96 px for FaceNet, 150 for dlib's chip),
    -> PNG bytes."""
    crop = np.asarray(crop)
    square = crop.ndim == 3 and crop.shape[0] == crop.shape[1] and crop.shape[2] == 3
    if not square or not 16 <= crop.shape[0] <= 512 or crop.dtype != np.uint8:
        raise ValueError(
            "A face crop must be a square uint8 (S, S, 3) BGR image, 16 <= S <= 512. "
            f"Received: shape={crop.shape}, dtype={crop.dtype}"
        )
    ok, data = cv2.imencode(".png", crop)
    if not ok:
        raise ValueError("Could not encode the face crop as PNG.")
    return data.tobytes()


def decode_crop(png: bytes) -> np.ndarray:
    """A stored aligned crop (PNG) -> BGR ``uint8 (S, S, 3)``."""
    crop = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if crop is None or crop.shape[0] != crop.shape[1]:
        raise ImageError("A stored face crop is not a square PNG image.")
    return crop


def _named(error: ValueError, label: str) -> ValueError:
    """``error`` with ``label`` (the photo's name) at the front of its message."""
    text = str(error).replace("<image bytes>: ", "")
    if label in text:
        return error
    return type(error)(f"{label}: {text}")


class Enroller:
    """Detector + 68-landmark aligner + face encoder, and the key of the encodings it makes.

    Args:
        encoder: a :class:`fr_utils.encoding.FaceEncoder` (``crops -> float32 (N, 128)``).
        detector: ``image -> (K, 4)`` boxes (e.g. :class:`fr_utils.align.DlibDetector`).
        aligner: a :class:`fr_utils.align.FaceAligner`.
        model_key: the key its encodings are stored under (default:
            :func:`fr_utils.encoding.encoding_key` of the three).
        workers: detection threads for :meth:`enroll_many` (``None``:
            :func:`fr_utils.photos.default_workers`; 1: no threads). They are started at the
            first batch and kept for the next ones (:meth:`close` stops them).
    """

    def __init__(self, encoder, detector, aligner, model_key: str | None = None, workers=None):
        from fr_utils.encoding import encoding_key

        self.encoder, self.detector, self.aligner = encoder, detector, aligner
        self.model_key = model_key or encoding_key(encoder, detector, aligner)
        self.workers = workers
        self._pool, self._pool_size = None, 0
        self._pool_lock = threading.Lock()

    def _detect_pool(self, workers: int):
        """The detection threads, kept between batches: each builds its dlib detector once
        (a new pool per batch rebuilt them every 256 photos: 1.36x ``encode_photos`` for a
        1,000-photo folder on FaceNet, bench/bench_greeter.py)."""
        with self._pool_lock:
            if self._pool is None or self._pool_size != workers:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="enrol-detect")
                self._pool_size = workers
            return self._pool

    def close(self) -> None:
        """Stop the detection threads (started again by the next batch)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self):
        return f"Enroller(model_key={self.model_key!r})"

    def enroll(self, image, label: str = "photo") -> Enrolled:
        """One photo (a path, its bytes, or a BGR array) -> :class:`Enrolled`.

        Raises NoFaceFound, ImageError or :class:`SeveralFaces`, naming ``label``."""
        result = self.enroll_many([image], [label], workers=1)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def enroll_many(self, images: Sequence, labels: Sequence[str] | None = None, workers=None):
        """:meth:`enroll` for many photos -> for each, in order, an :class:`Enrolled` or the
        ``ValueError`` refusing it (never raised). Each image is decoded once, in a worker
        thread that also finds and aligns its face; the faces are encoded in one batch."""
        from fr_utils.photos import align_photos, default_workers

        workers = self.workers if workers is None else workers
        workers = default_workers(self.detector) if workers is None else int(workers)
        pool = self._detect_pool(workers) if workers > 1 and len(images) > 1 else None
        labels = [str(p) for p in images] if labels is None else list(labels)
        results: list = []
        crops, where = [], []
        found = align_photos(images, self.detector, self.aligner, workers, pool=pool)
        with closing(found):
            faces = list(found)
        for label, (crop, n_faces, error) in zip(labels, faces):
            if error is None and n_faces > 1:
                error = SeveralFaces(
                    f"{label}: {n_faces} faces found; use a photo that shows only this person."
                )
            if error is not None:
                results.append(_named(error, label))
                continue
            where.append(len(results))
            results.append(None)
            crops.append(crop)
        for index, crop, encoding in zip(where, crops, self.encode_crops(crops)):
            results[index] = Enrolled(crop, encoding)
        return results

    def encode_crops(self, crops) -> np.ndarray:
        """Aligned crops as this enroller's aligner makes them (e.g. a kiosk's kept face)
        -> ``float32 (N, 128)``, in one batch; no detection. A crop of another size (made
        for another encoder) is refused with :class:`fr_utils.preprocess.ImageError`."""
        if len(crops) == 0:
            return np.zeros((0, 128), np.float32)
        size = self.aligner.size
        for crop in crops:
            if np.asarray(crop).shape[:2] != (size, size):
                raise ImageError(
                    f"A {np.asarray(crop).shape[0]}-px face crop cannot be encoded by an "
                    f"encoder that takes {size}-px crops; enrol the person from a photo."
                )
        return np.asarray(self.encoder(list(crops)), np.float32)


def make_enroller(weights=None, encoder=None, detector=None, aligner=None) -> Enroller:
    """THE enrolment pipeline (swap it here): dlib detector, 68-landmark alignment, encoder.

    Args:
        weights: weights file or folder (``None``: ``$FACENET_WEIGHTS``, then ``./weights``);
            used when no ``encoder`` is given.
        encoder: the greeter's encoder (any of :func:`fr_utils.encoding.make_encoder`'s,
            or a Keras model, wrapped by :func:`fr_utils.encoding.as_encoder`); ``None``:
            FaceNet on ``weights`` (``make_encoder(weights)``: LiteRT if exported, else
            TensorFlow; flip-averaged). For what a kiosk's settings use, see
            :func:`enroller_for`.
        detector: ``None``: :class:`fr_utils.align.DlibDetector` (what the weights were
            trained with).
        aligner: ``None``: the encoder's own (``encoder.make_aligner()``).
    """
    from fr_utils.align import DlibDetector
    from fr_utils.encoding import as_encoder, make_encoder

    if encoder is None:
        encoder = make_encoder(weights)
    else:
        encoder = as_encoder(encoder, weights=weights)
    detector = DlibDetector() if detector is None else detector
    aligner = encoder.make_aligner() if aligner is None else aligner
    return Enroller(encoder, detector, aligner)


def enroller_for(settings: dict) -> Enroller:
    """The enroller a kiosk with these greeter ``settings`` uses, so what it stores is what
    the kiosk loads (the same model key): ``settings`` maps setting names (the config file's
    keys: ``encoder``, ``weights``, ``runtime``, ``litert``, ``flip``, ``cache``) to values;
    a missing or ``None`` one takes the greeter's default. For ``greeter-library`` and
    ``greeter-admin``, which read the same config file as the kiosk."""
    from fr_utils.encoding import make_encoder
    from greeter.config import SETTINGS, encoder_settings

    kind = settings.get("encoder") or SETTINGS["encoder"].default
    weights = settings.get("weights") if kind == "facenet" else None
    encoder = make_encoder(weights, kind=kind, **encoder_settings(settings))
    return make_enroller(weights, encoder=encoder)


# ----------------------------------------------------------------------------- enrolling


@dataclass(frozen=True)
class PhotoIn:
    """A photo to enrol: whose it is, its bytes (or a BGR array), where it came from.

    ``label`` names it in messages (a file name); ``replaces``: a stored photo it replaces
    (a folder file that changed), deleted when this one is stored.
    """

    name: str
    data: bytes | np.ndarray
    label: str
    source: str = "upload"
    replaces: int | None = None


@dataclass
class EnrolResult:
    """``added``: ``(label, photo id)`` in order; ``refused``: ``{label: reason}``."""

    added: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)


def read_photo(path: str | Path, label: str | None = None) -> bytes:
    """A photo file's bytes (read once; they are stored as the original and decoded from
    memory). ImageError naming the file when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ImageError(
            f"{label or path}: cannot be read ({err.strerror or err}). Check the path."
        ) from None


def enrol_photos(store: Store, enroller: Enroller, photos: Iterable[PhotoIn]) -> EnrolResult:
    """Enrol photos, :data:`CHUNK` at a time: faces found by worker threads, encoded in a
    batch, and each chunk stored in ONE transaction (:meth:`Store.add_photos`).

    Refusals (no face, several faces, unreadable) are reported in the result and logged;
    they never stop the others. A name the library refuses (:class:`greeter.names.InvalidName`)
    refuses that photo too. Database failures raise (:class:`StoreUnavailable`).
    """
    from greeter.names import InvalidName, display_name

    result = EnrolResult()
    photos = list(photos)
    for start in range(0, len(photos), CHUNK):
        chunk = photos[start : start + CHUNK]
        enrolled = enroller.enroll_many([p.data for p in chunk], [p.label for p in chunk])
        ready, labels = [], []
        for photo, outcome in zip(chunk, enrolled):
            try:
                display_name(photo.name)
            except InvalidName as err:
                outcome = err
            if isinstance(outcome, Exception):
                result.refused[photo.label] = str(outcome)
                log.warning("Refused %s", outcome)
                continue
            ready.append(_new_photo(photo, outcome, enroller.model_key))
            labels.append(photo.label)
        if ready:
            result.added += list(zip(labels, store.add_photos(ready)))
    return result


def _new_photo(photo: PhotoIn, face: Enrolled, model_key: str) -> NewPhoto:
    """What the store keeps of an enrolled photo: the original bytes (none for an array),
    the aligned crop as PNG and the encoding under ``model_key``."""
    original = bytes(photo.data) if isinstance(photo.data, (bytes, bytearray)) else None
    return NewPhoto(
        photo.name,
        png_bytes(face.crop),
        {model_key: face.encoding},
        original=original,
        source=photo.source,
        replaces=photo.replaces,
    )


def enrol_photo(
    store: Store, enroller: Enroller, name: str, photo, *, source="upload", label=None
) -> int:
    """Enrol one photo of ``name`` (a path, its bytes or a BGR array); returns the photo id.

    Raises the refusal (NoFaceFound, ImageError, :class:`SeveralFaces`, InvalidName: all
    ``ValueError``, naming the photo); nothing is stored then."""
    from greeter.names import display_name

    if isinstance(photo, (str, Path)):
        label = label or str(photo)
        photo = read_photo(photo, label)
    photo = PhotoIn(display_name(name), photo, label or "photo", source)
    face = enroller.enroll(photo.data, photo.label)
    return store.add_photos([_new_photo(photo, face, enroller.model_key)])[0]


def encode_missing(store: Store, enroller: Enroller, batch: int = 64) -> tuple[int, dict]:
    """Compute and store the encodings missing for ``enroller.model_key`` (only those), e.g.
    after the weights, the runtime or the detector changed. Each photo is decoded once and
    re-aligned from its original; a face a kiosk kept (no original) is encoded from its
    aligned crop. Returns ``(computed, {photo id: reason} for photos that failed)``."""
    todo = store.missing_encodings(enroller.model_key)
    computed, failed = 0, {}
    for start in range(0, len(todo), batch):
        images = store.photo_images(todo[start : start + batch])
        originals = [(i, data) for i, data, _ in images if data is not None]
        crops = [(i, crop) for i, data, crop in images if data is None]
        outcomes = enroller.enroll_many(
            [data for _, data in originals], [f"photo {i}" for i, _ in originals]
        )
        ids, vectors = [], []
        for (photo_id, _), outcome in zip(originals, outcomes):
            if isinstance(outcome, Exception):
                failed[photo_id] = str(outcome)
                log.warning("Could not encode %s", outcome)
            else:
                ids.append(photo_id)
                vectors.append(outcome.encoding)
        for photo_id, png in crops:
            try:
                vectors += list(enroller.encode_crops([decode_crop(png)]))
            except ImageError as err:
                failed[photo_id] = f"photo {photo_id}: {err}"
                log.warning("Could not encode %s", failed[photo_id])
            else:
                ids.append(photo_id)
        if ids:
            computed += store.store_encodings(enroller.model_key, ids, vectors)
    return computed, failed


def assign_visitor(store: Store, enroller: Enroller | None, visitor_id: int, name: str) -> int:
    """Enrol kept face ``visitor_id`` as a photo of ``name``; returns the photo id.

    Its stored encoding is reused; with an ``enroller`` of another model key, the face is
    encoded by it too (from its loose image when the kiosk kept one, else from its aligned
    crop), so the greeter using that key knows the face at once. The loose image becomes the
    photo's original, so any other encoder can enrol it later."""
    face = store.visitor(visitor_id)
    encodings = {}
    if face.vector is not None and face.model_key:
        encodings[face.model_key] = face.vector
    if enroller is not None and enroller.model_key not in encodings:
        if face.image is not None:
            vector = enroller.enroll(face.image, f"visitor {visitor_id}").encoding
        else:
            vector = enroller.encode_crops([decode_crop(face.crop_png)])[0]
        encodings[enroller.model_key] = vector
    return store.assign_visitor(visitor_id, name, encodings)
