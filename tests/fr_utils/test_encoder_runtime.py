"""A lean install (``.[kiosk]``: no TensorFlow) with no LiteRT model exported cannot encode:
make_encoder says so in one sentence with the exact export command, instead of falling back
to TensorFlow and dying on ``import keras``. The real thing, in a fresh venv, is in
tests/test_kiosk_install.py."""

import re

import pytest

from fr_utils import encoding
from fr_utils.encoding import NoRuntime, make_encoder

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
