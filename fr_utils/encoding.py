"""Images -> 128-d encodings, one at a time (the course's API) or in batches.

``model.predict`` costs 50-250 ms per call even for one face; every encoder
here goes through one cached ``tf.function`` per model (about 8 ms a face).
Tracing it costs about a second, once per model: :func:`warm_up` does it up front
(e.g. in a thread while the gallery loads and the camera opens).
"""

import hashlib
import threading
import weakref

import numpy as np
import tensorflow as tf

from fr_utils.preprocess import FACE_SIZE, preprocess_image

DEFAULT_BATCH_SIZE = 64
_INPUT_SPEC = tf.TensorSpec((None, 3, FACE_SIZE, FACE_SIZE), tf.float32)
_FORWARD = weakref.WeakKeyDictionary()  # model -> its compiled forward pass
_FORWARD_LOCK = threading.Lock()  # one tf.function per model, even with several threads


def _forward(model):
    with _FORWARD_LOCK:
        forward = _FORWARD.get(model)
        if forward is None:
            forward = tf.function(lambda x: model(x, training=False),
                                  input_signature=[_INPUT_SPEC])
            _FORWARD[model] = forward
    return forward


def warm_up(model):
    """Trace ``model``'s forward pass now (one dummy face) rather than at the first real batch.

    Thread-safe: a batch encoded while this runs in another thread waits for the
    trace instead of tracing a second time.
    """
    encode_batch(np.zeros((1, 3, FACE_SIZE, FACE_SIZE), np.float32), model)


def encode_batch(batch, model, batch_size=DEFAULT_BATCH_SIZE):
    """Encode preprocessed faces ``(N, 3, 96, 96)`` -> ``float32 (N, 128)``, in chunks."""
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim != 4 or batch.shape[1:] != (3, FACE_SIZE, FACE_SIZE):
        raise ValueError(f"Expected preprocessed faces of shape (N, 3, {FACE_SIZE}, "
                         f"{FACE_SIZE}). Received: shape={batch.shape}")
    if not np.all(np.isfinite(batch)):
        raise ValueError("Preprocessed faces contain NaN or infinite values.")
    forward = _forward(model)
    chunks = [forward(tf.constant(batch[i:i + batch_size])).numpy()
              for i in range(0, len(batch), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 128), np.float32)


def encode_faces(faces, model, batch_size=DEFAULT_BATCH_SIZE):
    """Encode many face images (paths or BGR arrays) -> ``float32 (N, 128)``."""
    batch = np.stack([preprocess_image(face) for face in faces]) if len(faces) else \
        np.zeros((0, 3, FACE_SIZE, FACE_SIZE), np.float32)
    return encode_batch(batch, model, batch_size)


def img_to_encoding(image, model):
    """Encode one face image (path or BGR array, see ``preprocess_image``) -> ``(1, 128)``."""
    return encode_batch(preprocess_image(image)[None], model)


def model_fingerprint(model):
    """A short hash of the model's weights, to key caches of its encodings."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]
