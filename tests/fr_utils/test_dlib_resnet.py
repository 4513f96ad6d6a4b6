"""dlib's ResNet encoder behind the encoder interface: dlib's own face chip, unit-length
descriptors, a model key of its own, refusals of the wrong input, and on real photos the same
person nearer than another (the model ships in face-recognition-models: no shared data needed
for the model, LFW photos for the faces)."""

import numpy as np
import pytest

from fr_utils.align import ChipAligner, DlibDetector
from fr_utils.dlib_resnet import DlibResNetEncoder, model_path
from fr_utils.encoding import encoding_key, make_encoder


@pytest.fixture(scope="module")
def encoder():
    return DlibResNetEncoder()


def test_interface(encoder):
    assert model_path().is_file() and model_path().stat().st_size > 20e6
    assert make_encoder(kind="dlib-resnet").model_id == encoder.model_id == "dlib-resnet-v1-unit"
    assert encoder.name == "dlib-resnet" and encoder.flip is False
    aligner = encoder.make_aligner()
    assert isinstance(aligner, ChipAligner) and aligner.size == 150
    key = encoding_key(encoder, DlibDetector(), aligner)
    assert key.startswith("dlib-resnet-v1-unit/") and "chip-150" in key
    assert encoder([]).shape == (0, 128)
    with pytest.raises(ValueError, match="150, 150, 3"):
        encoder([np.zeros((96, 96, 3), np.uint8)])
    with pytest.raises(ValueError, match="kind|encoder must be"):
        make_encoder(kind="arcface")


def test_same_person_nearer_than_another(encoder, lfw_dir):
    detector, aligner = DlibDetector(order="centre"), encoder.make_aligner()
    chips = []
    for name, number in (("Colin_Powell", 1), ("Colin_Powell", 6), ("Hugo_Chavez", 7)):
        import cv2

        image = cv2.imread(str(lfw_dir / "images" / name / f"{name}_{number:04d}.jpg"))
        chips.append(aligner.align(image, detector(image)[0]))
    vectors = encoder(chips)
    assert vectors.shape == (3, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    same = np.linalg.norm(vectors[0] - vectors[1])
    other = np.linalg.norm(vectors[0] - vectors[2])
    assert same < 0.35 < other, (same, other)  # unit scale: its curve's thresholds ~0.3
    np.testing.assert_allclose(encoder(chips[:1])[0], vectors[0], atol=1e-6)  # batch = single
