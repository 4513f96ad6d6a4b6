"""Encode many photos, each once: faces found and cropped by the shared code, cached on disk.

The greeter's enrollment and the tuning tool both come through here, so a
threshold tuned on a folder holds for the greeter that uses the same crop.
"""

import contextlib
import hashlib
import json
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import cv2
from tqdm.auto import tqdm

from fr_utils.cache import EncodingCache, file_digest
from fr_utils.encoding import encode_faces, model_fingerprint
from fr_utils.faces import DEFAULT_CROP, HaarDetector, NoFaceFound, face_from_photo
from fr_utils.preprocess import ImageError

log = logging.getLogger(__name__)
_CHUNK = 256  # faces encoded (and cached) per step, so an interrupted run keeps its work
_MAX_WORKERS = 4  # detection threads; Haar on one photo takes 15-25 ms, encoding ~8 ms


def model_key(model, detector, crop=DEFAULT_CROP):
    """Cache key for encodings: the weights, the detector settings and the crop."""
    settings = json.dumps([model_fingerprint(model), asdict(detector), asdict(crop)])
    return hashlib.sha256(settings.encode()).hexdigest()[:16]


@dataclass
class PhotoEncodings:
    """``encodings``: path -> (128,) array; ``no_face`` and ``unreadable``: path -> reason;
    ``several_faces``: paths with several faces, where the detector's first was used."""

    encodings: dict = field(default_factory=dict)
    no_face: dict = field(default_factory=dict)
    unreadable: dict = field(default_factory=dict)
    several_faces: list = field(default_factory=list)
    encoded: int = 0  # how many were computed now rather than read from the cache


def default_workers(detector):
    """Detection threads for ``detector``: one per CPU (at most 4) for a
    :class:`HaarDetector`, which is thread-safe; 1 (no threads) for any other."""
    return min(os.cpu_count() or 1, _MAX_WORKERS) if isinstance(detector, HaarDetector) else 1


def encode_photos(paths, model, detector, crop=DEFAULT_CROP, cache_dir=None, progress=True,
                  workers=None):
    """Encode each photo's face (the detector's first: largest by default); unchanged photos come from the cache.

    Faces are found by ``workers`` threads while TensorFlow encodes the faces found
    so far (OpenCV and TensorFlow both run outside Python's lock); the results are
    the same as with one thread.

    Args:
        paths: photo files.
        model: the loaded FaceNet model.
        detector: a face detector such as :class:`fr_utils.faces.HaarDetector`.
        crop: the face crop (:class:`fr_utils.faces.CropSpec`).
        cache_dir: folder for the encoding cache; ``None`` disables caching.
        progress: show a progress bar while encoding.
        workers: detection threads; ``None``: :func:`default_workers` (1 for a
            detector not known to be thread-safe).

    Returns:
        A :class:`PhotoEncodings`. Bad photos are reported in it (and logged),
        never raised: one bad photo does not stop the others.
    """
    result = PhotoEncodings()
    cache = EncodingCache(cache_dir, model_key(model, detector, crop)) if cache_dir else None
    todo = []
    for path in paths:
        try:
            digest = file_digest(path)
        except OSError as err:
            result.unreadable[path] = f"{path}: cannot be read ({err.strerror})"
            continue
        if cache is not None and digest in cache:
            encoding = cache.get(digest)
            if encoding is None:
                result.no_face[path] = f"{path}: no face found (cached result)"
            else:
                result.encodings[path] = encoding
        else:
            todo.append((path, digest))
    workers = default_workers(detector) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1. Received: workers={workers}")
    with contextlib.ExitStack() as stack:  # closed in reverse: pool, OpenCV threads, bar
        bar = tqdm(total=len(todo), desc="encoding photos", unit="photo",
                   disable=not progress or not todo)
        stack.callback(bar.close)
        pool = None
        if workers > 1 and todo:  # one OpenCV thread per detection call: the pool fills the CPUs
            stack.enter_context(_opencv_threads(1))
            pool = ThreadPoolExecutor(workers, thread_name_prefix="detect")
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        found = _found_faces(todo, detector, crop, pool)
        for start in range(0, len(todo), _CHUNK):
            faces, done = [], []
            for (path, digest), (face, n_faces, error) in zip(todo[start:start + _CHUNK], found):
                bar.update(1)
                if isinstance(error, NoFaceFound):
                    result.no_face[path] = str(error)
                    if cache is not None:
                        cache.put(digest, None)
                    continue
                if error is not None:
                    result.unreadable[path] = str(error)
                    continue
                if n_faces > 1:
                    result.several_faces.append(path)
                faces.append(face)
                done.append((path, digest))
            for (path, digest), encoding in zip(done, encode_faces(faces, model)):
                result.encodings[path] = encoding
                if cache is not None:
                    cache.put(digest, encoding)
            result.encoded += len(done)
            if cache is not None:
                cache.save()
    for reason in [*result.unreadable.values(), *result.no_face.values()]:
        log.warning("Skipped %s", reason)
    for path in result.several_faces:
        log.warning("%s: several faces found; using the %s one.", path,
                    getattr(detector, "order", "first"))
    return result


@contextlib.contextmanager
def _opencv_threads(count):
    """OpenCV's own thread count (process-wide) set to ``count`` for the block, then restored.

    With several detection threads, OpenCV's internal threads only add contention (about
    8 % slower on 2 cores); the boxes are the same either way."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _find_face(path, detector, crop):
    """``(face crop, n_faces, None)``, or ``(None, 0, error)`` for a photo without a usable face."""
    try:
        face, n_faces = face_from_photo(path, detector, crop)
    except ImageError as err:  # NoFaceFound included
        return None, 0, err
    return face, n_faces, None


def _found_faces(todo, detector, crop, pool):
    """``_find_face`` for each photo of ``todo``, in order. With a thread ``pool``, up to
    two chunks of photos are searched ahead of the one being consumed (bounded memory)."""
    if pool is None:
        for path, _ in todo:
            yield _find_face(path, detector, crop)
        return
    pending, items = deque(), iter(todo)
    for path, _ in items:
        pending.append(pool.submit(_find_face, path, detector, crop))
        if len(pending) >= 2 * _CHUNK:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
