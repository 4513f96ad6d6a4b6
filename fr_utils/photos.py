"""Encode many photos, each once: faces found and aligned by the one pipeline, cached on disk.

The tuning tool, the LFW benchmark and the greeter's folder sync (through
:func:`align_photos`) come through here, so a threshold tuned on a folder holds for the
greeter that uses the same pipeline and encoder.

The cache is one ``.npz`` file per encoding key (encoder: runtime, weights, flip; detector
settings; aligner: :func:`fr_utils.encoding.encoding_key`), ``{photo sha256: encoding}``, so
changing any of them never serves stale encodings. Files are written atomically and read
without pickle.
"""

import contextlib
import hashlib
import logging
import os
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from fr_utils._files import atomic_path, sha256
from fr_utils.align import DlibDetector, FaceAligner, face_crop_from_photo
from fr_utils.encoding import as_encoder, encoding_key
from fr_utils.faces import FaceDetector, NoFaceFound
from fr_utils.preprocess import ImageError

log = logging.getLogger(__name__)
_CHUNK = 256  # faces encoded (and cached) per step, so an interrupted run keeps its work
_MAX_WORKERS = 4  # detection threads; Haar on one photo takes 15-25 ms, encoding ~8 ms


class EncodingCache:
    """``{photo sha256: encoding (128,) or None (no face found)}`` for one encoding key
    (:func:`fr_utils.encoding.encoding_key`), in ``encodings-<hash of the key>.npz``.

    Call :meth:`save` after adding; entries are kept in memory until then. What is read is
    checked (shapes, keys, finite unit-norm rows): a damaged file is rebuilt, with one
    warning naming it. :meth:`save` merges with what other processes wrote meanwhile,
    under a lock on the folder, so concurrent writers lose nothing. A cache that cannot
    be written is given up with one warning: encoding goes on without it.
    """

    def __init__(self, cache_dir, key):
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.path = Path(cache_dir) / f"encodings-{digest}.npz"
        self._dirty = False
        self.disabled = False  # set once the cache could not be written
        self._entries = self._read(warn=True)

    def _read(self, warn=False):
        """The valid entries of the file on disk (``{}`` when there is none or it is bad)."""
        try:
            if not self.path.is_file():
                return {}
            with np.load(self.path, allow_pickle=False) as data:
                keys, rows, found = data["keys"], data["encodings"], data["found"]
            problem, entries = _check_cache(keys, rows, found)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            problem, entries = f"unreadable: {type(err).__name__}: {err}", {}
        if problem:
            self._dirty = True  # rewritten at the next save
            if warn:
                log.warning("%s: damaged encoding cache (%s); rebuilding it.", self.path, problem)
        return entries

    def __contains__(self, key):
        return key in self._entries

    def __len__(self):
        return len(self._entries)

    def get(self, key):
        return self._entries.get(key)

    def put(self, key, encoding):
        """Store an encoding, or ``None`` to remember that the photo has no face."""
        self._entries[key] = None if encoding is None else np.asarray(encoding, np.float32)
        self._dirty = True

    def save(self):
        """Write the entries (merged with any written by others since); never raises."""
        if not self._dirty or self.disabled:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path.parent):
                merged = {**self._read(), **self._entries}
                keys = list(merged)
                rows = np.zeros((len(keys), 128), np.float32)
                found = np.zeros(len(keys), bool)
                for i, key in enumerate(keys):
                    if merged[key] is not None:
                        rows[i], found[i] = merged[key], True
                with atomic_path(self.path) as tmp, open(tmp, "wb") as f:
                    np.savez(f, keys=np.asarray(keys, dtype=str), encodings=rows, found=found)
        except OSError as err:
            self.disabled = True
            log.warning(
                "Encoding cache %s cannot be written (%s); going on without a cache "
                "(photos are encoded again at each start). Fix the folder's "
                "permissions or choose another with --cache / $FACENET_CACHE.",
                self.path.parent,
                err.strerror or err,
            )
            return
        self._entries, self._dirty = merged, False


def _check_cache(keys, rows, found):
    """``(problem or None, valid entries)`` of a cache file's arrays."""
    if keys.ndim != 1 or keys.dtype.kind != "U" or found.shape != keys.shape:
        return f"keys {keys.shape} {keys.dtype} / found {found.shape} do not match", {}
    if found.dtype != bool or rows.dtype.kind != "f" or rows.shape != (len(keys), 128):
        return f"encodings have shape {rows.shape}, expected ({len(keys)}, 128)", {}
    if len(set(keys.tolist())) != len(keys) or not all(keys):
        return "empty or repeated keys", {}
    norms = np.linalg.norm(rows, axis=1)  # encodings are unit vectors (NaN or zero: never)
    bad = found & ~(np.isfinite(norms) & (np.abs(norms - 1) < 1e-2))
    entries = {str(k): (r if ok else None) for k, r, ok, b in zip(keys, rows, found, bad) if not b}
    problem = f"{int(bad.sum())} encodings not finite unit vectors, dropped" if bad.any() else None
    return problem, entries


@contextlib.contextmanager
def _locked(folder):
    """An exclusive lock on ``folder`` (``flock``; between processes and threads alike)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (last writer wins)
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass
class PhotoEncodings:
    """``encodings``: path -> (128,) array; ``no_face`` and ``unreadable``: path -> reason;
    ``several_faces``: paths with several faces, where the detector's first was used."""

    encodings: dict = field(default_factory=dict)
    no_face: dict = field(default_factory=dict)
    unreadable: dict = field(default_factory=dict)
    several_faces: list = field(default_factory=list)
    encoded: int = 0  # how many were computed now rather than read from the cache


def default_workers(detector: FaceDetector) -> int:
    """Detection threads for ``detector``: one per CPU (at most 4) when its
    ``thread_safe`` is true; 1 (no threads) otherwise."""
    if getattr(detector, "thread_safe", False):
        return min(os.cpu_count() or 1, _MAX_WORKERS)
    return 1


def encode_photos(
    paths,
    encoder,
    detector: FaceDetector | None = None,
    aligner: FaceAligner | None = None,
    cache_dir=None,
    progress=True,
    workers=None,
) -> "PhotoEncodings":
    """Encode each photo's face (the detector's first); unchanged photos come from the cache.

    Every photo goes through the one face pipeline: detect, 68 landmarks, align
    (:func:`fr_utils.align.face_crop_from_photo`), encode. Faces are found by ``workers``
    threads while the encoder works on the faces found so far (dlib, OpenCV and the
    runtimes all run outside Python's lock); the results are the same as with one thread.

    Args:
        paths: photo files.
        encoder: a :class:`fr_utils.encoding.FaceEncoder` (see ``make_encoder``), or a
            loaded Keras model, which is wrapped in one (flip-averaged).
        detector: a :class:`fr_utils.faces.FaceDetector`; ``None``: a
            :class:`fr_utils.align.DlibDetector` (largest face first).
        aligner: ``None``: a 96-pixel :class:`fr_utils.align.FaceAligner`.
        cache_dir: folder for the encoding cache; ``None`` disables caching.
        progress: show a progress bar while encoding.
        workers: detection threads; ``None``: :func:`default_workers` (1 for a
            detector that is not ``thread_safe``).

    Returns:
        A :class:`PhotoEncodings`. Bad photos are reported in it (and logged),
        never raised: one bad photo does not stop the others.
    """
    detector = DlibDetector() if detector is None else detector
    workers = default_workers(detector) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1. Received: workers={workers}")
    encoder = as_encoder(encoder)
    aligner = encoder.make_aligner() if aligner is None else aligner
    paths = list(paths)
    result = PhotoEncodings()
    cache = None
    if cache_dir:
        cache = EncodingCache(cache_dir, encoding_key(encoder, detector, aligner))
    todo = []
    for path in paths:
        try:
            digest = sha256(path)
        except OSError as err:
            result.unreadable[path] = f"{path}: cannot be read ({err.strerror})"
            log.warning("Skipped %s", result.unreadable[path])
            continue
        if cache is not None and digest in cache:
            encoding = cache.get(digest)
            if encoding is None:
                result.no_face[path] = f"{path}: no face found (cached result)"
                log.warning("Skipped %s", result.no_face[path])
            else:
                result.encodings[path] = encoding
        else:
            todo.append((path, digest))
    with contextlib.ExitStack() as stack:  # closed in reverse: pool, OpenCV threads, bar
        bar = tqdm(
            total=len(todo), desc="encoding photos", unit="photo", disable=not progress or not todo
        )
        stack.callback(bar.close)
        found = align_photos([path for path, _ in todo], detector, aligner, workers)
        stack.callback(found.close)
        for start in range(0, len(todo), _CHUNK):
            faces, done = [], []
            for (path, digest), (face, n_faces, error) in zip(todo[start : start + _CHUNK], found):
                bar.update(1)
                if error is not None:  # said as it happens; counted once more at the end
                    log.warning("Skipped %s", error)
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
            for (path, digest), encoding in zip(done, encoder(faces)):
                result.encodings[path] = encoding
                if cache is not None:
                    cache.put(digest, encoding)
            result.encoded += len(done)
            if cache is not None:
                cache.save()
    skipped = len(result.unreadable) + len(result.no_face)
    if skipped:
        log.warning(
            "%d of %d photos skipped (%d unreadable or refused, %d without a face); "
            "see the messages above.",
            skipped,
            len(paths),
            len(result.unreadable),
            len(result.no_face),
        )
    for path in result.several_faces:
        log.warning(
            "%s: several faces found; using the %s one.", path, getattr(detector, "order", "first")
        )
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


def align_photos(paths, detector=None, aligner=None, workers=None, pool=None):
    """Yield ``(crop, n_faces, None)`` or ``(None, 0, error)`` for each photo, in order.

    The enrollment pipeline (:func:`fr_utils.align.face_crop_from_photo`) run by ``workers``
    detection threads (``None``: :func:`default_workers`), up to two chunks of photos ahead
    of the consumer (bounded memory). ``error`` is the :class:`fr_utils.preprocess.ImageError`
    (``NoFaceFound`` included) that names the photo. Close the generator (or exhaust it) to
    stop the threads. ``pool``: a thread pool to run on instead, left open for the next
    call (its threads keep the dlib detectors they built: ~0.3 s each to build).
    """
    detector = DlibDetector() if detector is None else detector
    aligner = FaceAligner() if aligner is None else aligner
    workers = default_workers(detector) if workers is None else int(workers)
    paths = list(paths)
    with contextlib.ExitStack() as stack:
        if workers <= 1 or not paths:
            pool = None
        elif pool is None:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="detect")
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        if pool is not None:  # one OpenCV thread per detection call: the pool fills the CPUs
            stack.enter_context(_opencv_threads(1))
        yield from _found_faces(paths, detector, aligner, pool)


def _find_face(path, detector, aligner):
    """``(face crop, n_faces, None)``, or ``(None, 0, error)`` for a photo without a usable face."""
    try:
        face, n_faces = face_crop_from_photo(path, detector, aligner)
    except ImageError as err:  # NoFaceFound included
        return None, 0, err
    return face, n_faces, None


def _found_faces(paths, detector, aligner, pool):
    """``_find_face`` for each photo, in order. With a thread ``pool``, up to two chunks of
    photos are searched ahead of the one being consumed (bounded memory)."""
    if pool is None:
        for path in paths:
            yield _find_face(path, detector, aligner)
        return
    pending = deque()
    for path in paths:
        pending.append(pool.submit(_find_face, path, detector, aligner))
        if len(pending) >= 2 * _CHUNK:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
