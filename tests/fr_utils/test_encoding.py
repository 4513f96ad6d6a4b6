"""Encoders: shapes, unit norm, batched == one by one, no model.predict on hot paths."""

import re

import numpy as np
import pytest

from fr_utils import encoding
from fr_utils.encoding import (
    NoRuntime,
    encode_batch,
    encode_faces,
    img_to_encoding,
    make_encoder,
    model_fingerprint,
)
from fr_utils.preprocess import preprocess_image


@pytest.fixture
def no_predict(model, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("model.predict was called on a hot path")

    monkeypatch.setattr(model, "predict", refuse)
    return model


@pytest.fixture(scope="module")
def photos(course_dir):
    return sorted(course_dir.glob("*.jpg"))[:8]


def test_img_to_encoding(no_predict, photos):
    encoding = img_to_encoding(photos[0], no_predict)
    assert encoding.shape == (1, 128) and encoding.dtype == np.float32
    assert np.linalg.norm(encoding) == pytest.approx(1.0, abs=1e-5)


def test_batched_equals_one_by_one(no_predict, photos):
    batched = encode_faces(photos, no_predict, batch_size=3)  # uneven chunks too
    assert batched.shape == (len(photos), 128)
    single = np.concatenate([img_to_encoding(p, no_predict) for p in photos])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    preprocessed = np.stack([preprocess_image(p) for p in photos])
    np.testing.assert_allclose(encode_batch(preprocessed, no_predict), single, atol=1e-5)


def test_empty_and_bad_batches(no_predict):
    assert encode_faces([], no_predict).shape == (0, 128)
    assert encode_batch(np.zeros((0, 3, 96, 96)), no_predict).shape == (0, 128)
    with pytest.raises(ValueError, match=r"shape=\(2, 96, 96, 3\)"):
        encode_batch(np.zeros((2, 96, 96, 3)), no_predict)
    with pytest.raises(ValueError, match="NaN"):
        encode_batch(np.full((1, 3, 96, 96), np.nan), no_predict)


def test_fingerprint_follows_the_weights_not_the_object(model, weights_path):
    from fr_utils.model import load_model

    fresh, _ = load_model(weights_path)  # another model object, the same weights
    assert model_fingerprint(fresh) == model_fingerprint(model)
    bias = fresh.get_layer("dense_layer").bias
    bias.assign(bias + 1e-4)  # one tensor nudged
    assert model_fingerprint(fresh) != model_fingerprint(model)


# ---- a lean install (no TensorFlow) with no LiteRT model: one sentence, not a traceback

pytestmark = pytest.mark.shared


@pytest.fixture
def no_tensorflow(monkeypatch):
    monkeypatch.setattr(encoding, "tensorflow_installed", lambda: False)


def test_no_model_and_no_tensorflow_is_one_sentence_with_the_command(
    tmp_path, weights_path, no_tensorflow
):
    litert = tmp_path / "litert"
    litert.mkdir()
    with pytest.raises(NoRuntime) as err:
        make_encoder(weights_path, litert=litert)
    message = str(err.value)
    assert (
        f"`facenet-weights export-litert --weights {weights_path} --calibrate "
        f"FOLDER_OF_FACE_PHOTOS --out {litert}`" in message
    )
    assert "TensorFlow is not installed" in message and "[keras]" in message
    assert message.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", message)


def test_the_default_folder_is_named_when_no_litert_folder_is_set(
    tmp_path, weights_path, no_tensorflow, monkeypatch
):
    from fr_utils.weights import weights_fingerprint

    monkeypatch.delenv("FACENET_LITERT", raising=False)
    folder = tmp_path / "litert" / weights_fingerprint(weights_path)
    with pytest.raises(NoRuntime) as err:
        make_encoder(weights_path, cache_dir=tmp_path)
    assert f"--out {folder}`" in str(err.value)


def test_runtime_tensorflow_without_tensorflow_says_so(weights_path, no_tensorflow):
    with pytest.raises(NoRuntime, match="runtime 'tensorflow' needs TensorFlow"):
        make_encoder(weights_path, runtime="tensorflow")


def test_tensorflow_is_found_where_it_is_installed():
    assert isinstance(encoding.tensorflow_installed(), bool)
