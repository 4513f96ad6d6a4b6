"""fr_utils: the course's Keras FaceNet, its weights, encodings and matching.

    model = faceRecoModel(input_shape=(3, 96, 96))
    load_weights_from_FaceNet(model)            # $FACENET_WEIGHTS or ./weights
    database = prepare_database("images", model)
    who_is_it("camera_0.jpg", database, model)  # -> (distance, identity)

The names below load on first use (PEP 562): ``import fr_utils`` and the
TensorFlow-free modules (``fr_utils.evaluation.metrics``, ``fr_utils.weights``,
``fr_utils.preprocess``, ``fr_utils.faces``) do not import TensorFlow.
"""

import importlib

_EXPORTS = {
    "fr_utils.database": ["FaceDatabase", "list_photos", "prepare_database"],
    "fr_utils.align": ["DlibDetector", "FaceAligner", "face_crop_from_photo"],
    "fr_utils.encoding": [
        "FaceEncoder",
        "encode_batch",
        "encode_faces",
        "img_to_encoding",
        "make_encoder",
    ],
    "fr_utils.faces": ["FaceDetector", "HaarDetector", "NoFaceFound"],
    "fr_utils.photos": ["encode_photos"],
    "fr_utils.loss": ["triplet_loss"],
    "fr_utils.matching": ["VERIFY_THRESHOLD", "Verdict", "face_distance", "verify", "who_is_it"],
    "fr_utils.model": ["faceRecoModel", "load_model"],
    "fr_utils.preprocess": ["ImageError", "load_image", "preprocess_image"],
    "fr_utils.weights": [
        "WeightsError",
        "load_weights_from_FaceNet",
        "resolve_weights",
        "weights_fingerprint",
    ],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'fr_utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
