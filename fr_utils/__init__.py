"""fr_utils: the course's Keras FaceNet, its weights, encodings and matching.

    model = faceRecoModel(input_shape=(3, 96, 96))
    load_weights_from_FaceNet(model)            # $FACENET_WEIGHTS or ./weights
    database = prepare_database("images", model)
    who_is_it("camera_0.jpg", database, model)  # -> (distance, identity)
"""

from fr_utils.database import FaceDatabase, prepare_database
from fr_utils.encoding import encode_batch, encode_faces, img_to_encoding
from fr_utils.faces import (DEFAULT_CROP, CropSpec, HaarDetector, NoFaceFound, crop_face,
                            face_from_photo)
from fr_utils.loss import triplet_loss
from fr_utils.matching import (GREETER_THRESHOLD, VERIFY_THRESHOLD, Verdict, face_distance,
                               verify, who_is_it)
from fr_utils.model import faceRecoModel
from fr_utils.preprocess import ImageError, load_image, preprocess_image
from fr_utils.weights import WeightsError, load_weights_from_FaceNet, resolve_weights

__all__ = [
    "CropSpec", "DEFAULT_CROP", "FaceDatabase", "GREETER_THRESHOLD", "HaarDetector",
    "ImageError", "NoFaceFound", "VERIFY_THRESHOLD", "Verdict", "WeightsError", "crop_face",
    "encode_batch", "encode_faces", "faceRecoModel", "face_distance", "face_from_photo",
    "img_to_encoding", "load_image", "load_weights_from_FaceNet", "preprocess_image",
    "prepare_database", "resolve_weights", "triplet_loss", "verify", "who_is_it",
]
