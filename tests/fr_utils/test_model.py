"""faceRecoModel: size, names, batch-norm epsilons, oneDNN on/off, .keras round trip."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fr_utils.weights import EXTRANEOUS, tensor_shapes
from tests.helpers import REPO

pytestmark = pytest.mark.model  # TensorFlow, imported in the tests: never while collecting


def _faces(n=3, seed=0):
    return np.random.default_rng(seed).random((n, 3, 96, 96), dtype=np.float32)


def test_parameter_count(bare_model):
    assert bare_model.count_params() == 3_743_280


def test_layer_names_are_the_weight_file_names(bare_model, csv_weights_dir):
    """Every weight the model needs is named as in the public CSV set, and nothing is left over
    (but the two files no layer uses): a renamed layer would fail to load."""
    weighted = [layer.name for layer in bare_model.layers if layer.weights]
    assert len(weighted) == len(set(weighted)) == 75  # the course's count
    in_files = {path.stem for path in csv_weights_dir.glob("*.csv")}
    assert set(tensor_shapes(bare_model)) == in_files - set(EXTRANEOUS)


def test_batch_norm_epsilons(bare_model):
    from fr_utils._tf import keras

    bns = [
        layer for layer in bare_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(bns) == 37
    for layer in bns:
        assert layer.epsilon == pytest.approx(1e-3 if layer.name == "bn1" else 1e-5), layer.name


def test_output_is_128d_unit_norm(bare_model):
    out = np.asarray(bare_model(_faces(), training=False))
    assert out.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("shape", [(96, 96, 3), (3, 64, 64), (3, 96), (1, 96, 96)])
def test_bad_input_shape(shape):
    from fr_utils.model import faceRecoModel

    with pytest.raises(ValueError, match=r"input_shape"):
        faceRecoModel(input_shape=shape)


def test_keras_file_round_trip(bare_model, tmp_path):
    from fr_utils._tf import keras

    assert not any(isinstance(layer, keras.layers.Lambda) for layer in bare_model.layers)
    path = tmp_path / "facenet.keras"
    bare_model.save(path)
    loaded = keras.models.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in bare_model.layers]
    faces = _faces()
    np.testing.assert_allclose(
        np.asarray(loaded(faces, training=False)),
        np.asarray(bare_model(faces, training=False)),
        atol=1e-6,
    )


_INFER = """
import json, sys, numpy as np, keras
keras.utils.set_random_seed(7)
from fr_utils.model import faceRecoModel
model = faceRecoModel()
faces = np.random.default_rng(0).random((4, 3, 96, 96), dtype=np.float32)
out = np.asarray(model(faces, training=False))
json.dump({"shape": out.shape, "out": out.tolist()}, sys.stdout)
"""


@pytest.mark.slow
def test_inference_with_onednn_off_and_on():
    """The model runs on CPU whether oneDNN is off or on, and gives the same embeddings.

    A subprocess each: TF reads TF_ENABLE_ONEDNN_OPTS once, at import.
    """
    runs = {}
    for flag in ("0", "1"):
        env = dict(
            os.environ,
            TF_ENABLE_ONEDNN_OPTS=flag,
            TF_CPP_MIN_LOG_LEVEL="3",
            CUDA_VISIBLE_DEVICES="-1",
        )
        runs[flag] = subprocess.Popen(
            [sys.executable, "-c", _INFER],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    outputs = {}
    for flag, proc in runs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"TF_ENABLE_ONEDNN_OPTS={flag} failed:\n{stderr[-3000:]}"
        result = json.loads(stdout)
        assert result["shape"] == [4, 128]
        outputs[flag] = np.asarray(result["out"])
        np.testing.assert_allclose(np.linalg.norm(outputs[flag], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(outputs["0"], outputs["1"], atol=1e-4)
