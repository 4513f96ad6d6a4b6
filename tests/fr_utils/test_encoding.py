"""Encoders: shapes, unit norm, batched == one by one, no model.predict on hot paths."""

import numpy as np
import pytest

from fr_utils.encoding import encode_batch, encode_faces, img_to_encoding, model_fingerprint
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
