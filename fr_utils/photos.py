"""Encode many photos, each once: faces found and cropped by the shared code, cached on disk.

The greeter's enrollment and the tuning tool both come through here, so a
threshold tuned on a folder holds for the greeter that uses the same crop.
"""

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field

from tqdm.auto import tqdm

from fr_utils.cache import EncodingCache, file_digest
from fr_utils.encoding import encode_faces, model_fingerprint
from fr_utils.faces import DEFAULT_CROP, NoFaceFound, face_from_photo
from fr_utils.preprocess import ImageError

log = logging.getLogger(__name__)
_CHUNK = 256  # faces encoded (and cached) per step, so an interrupted run keeps its work


def model_key(model, detector, crop=DEFAULT_CROP):
    """Cache key for encodings: the weights, the detector settings and the crop."""
    settings = json.dumps([model_fingerprint(model), asdict(detector), asdict(crop)])
    return hashlib.sha256(settings.encode()).hexdigest()[:16]


@dataclass
class PhotoEncodings:
    """``encodings``: path -> (128,) array; ``no_face`` and ``unreadable``: path -> reason;
    ``several_faces``: paths where the largest of several faces was used."""

    encodings: dict = field(default_factory=dict)
    no_face: dict = field(default_factory=dict)
    unreadable: dict = field(default_factory=dict)
    several_faces: list = field(default_factory=list)
    encoded: int = 0  # how many were computed now rather than read from the cache


def encode_photos(paths, model, detector, crop=DEFAULT_CROP, cache_dir=None, progress=True):
    """Encode each photo's largest face; unchanged photos come from the cache.

    Args:
        paths: photo files.
        model: the loaded FaceNet model.
        detector: a face detector such as :class:`fr_utils.faces.HaarDetector`.
        crop: the face crop (:class:`fr_utils.faces.CropSpec`).
        cache_dir: folder for the encoding cache; ``None`` disables caching.
        progress: show a progress bar while encoding.

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
    bar = tqdm(total=len(todo), desc="encoding photos", unit="photo",
               disable=not progress or not todo)
    try:
        for start in range(0, len(todo), _CHUNK):
            faces, done = [], []
            for path, digest in todo[start:start + _CHUNK]:
                try:
                    face, n_faces = face_from_photo(path, detector, crop)
                except NoFaceFound as err:
                    result.no_face[path] = str(err)
                    if cache is not None:
                        cache.put(digest, None)
                    continue
                except ImageError as err:
                    result.unreadable[path] = str(err)
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
            bar.update(min(_CHUNK, len(todo) - start))
            if cache is not None:
                cache.save()
    finally:
        bar.close()
    for reason in [*result.unreadable.values(), *result.no_face.values()]:
        log.warning("Skipped %s", reason)
    for path in result.several_faces:
        log.warning("%s: several faces found; using the largest.", path)
    return result
