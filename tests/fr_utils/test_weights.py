"""fr_utils.weights: where the weights are looked up, CSV vs HDF5, every problem named (missing,
misshaped, tampered files), the model left untouched by a failed load."""

import shutil

import numpy as np
import pytest

from fr_utils.weights import (
    HDF5_NAME,
    WeightsError,
    load_weights_from_FaceNet,
    read_weights,
    resolve_weights,
)
from tests.helpers.weights import link_csv_folder


@pytest.fixture(scope="module")
def own_model(tf):
    """A model this module may load weights into (the session ``model`` must stay as it is)."""
    from fr_utils.model import faceRecoModel

    return faceRecoModel()


@pytest.fixture(scope="module")
def shared_h5(shared_dir):
    path = shared_dir / "weights-aligned" / HDF5_NAME
    if not path.is_file():
        pytest.fail(f"{path} missing")
    return path


@pytest.fixture(scope="module")
def faces():
    return np.random.default_rng(1).random((4, 3, 96, 96), dtype=np.float32)


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


# --- where the weights are looked up -------------------------------------------------------


def test_resolve_argument_then_env_then_default(tmp_path, monkeypatch):
    arg, env, default = (tmp_path / n for n in ("arg.h5", "env.h5", "cwd"))
    arg.write_bytes(b"x")
    env.write_bytes(b"x")
    (default / "weights").mkdir(parents=True)
    (default / "weights" / "conv1_w.csv").write_text("1")
    monkeypatch.setenv("FACENET_WEIGHTS", str(env))
    monkeypatch.chdir(default)
    assert resolve_weights(arg) == arg
    assert resolve_weights() == env
    monkeypatch.delenv("FACENET_WEIGHTS")
    assert resolve_weights().resolve() == (default / "weights").resolve()
    shutil.rmtree(default / "weights")
    with pytest.raises(WeightsError, match=r"(?s)No weights at weights.*facenet-weights download"):
        resolve_weights()


def test_resolve_folder_forms(tmp_path):
    (tmp_path / "a" / "nn4.small2.v1").mkdir(parents=True)
    assert resolve_weights(tmp_path / "a") == tmp_path / "a" / "nn4.small2.v1"
    (tmp_path / "a" / HDF5_NAME).write_bytes(b"x")
    assert resolve_weights(tmp_path / "a") == tmp_path / "a" / HDF5_NAME


def test_load_through_each_route(own_model, shared_h5, faces, tmp_path, monkeypatch):
    """Argument, $FACENET_WEIGHTS and ./weights all load the same tensors."""
    assert load_weights_from_FaceNet(own_model, shared_h5) == shared_h5
    expected = np.asarray(own_model(faces))
    for route in ("env", "default"):
        own_model.set_weights([np.zeros_like(w) for w in _weights(own_model)])
        if route == "env":
            monkeypatch.setenv("FACENET_WEIGHTS", str(shared_h5))
        else:
            monkeypatch.delenv("FACENET_WEIGHTS", raising=False)
            (tmp_path / "weights").mkdir()
            (tmp_path / "weights" / HDF5_NAME).symlink_to(shared_h5)
            monkeypatch.chdir(tmp_path)
        load_weights_from_FaceNet(own_model)
        np.testing.assert_array_equal(np.asarray(own_model(faces)), expected)


def test_csv_and_hdf5_give_identical_embeddings(own_model, shared_h5, csv_weights_dir, faces):
    load_weights_from_FaceNet(own_model, csv_weights_dir)
    from_csv = np.asarray(own_model(faces))
    load_weights_from_FaceNet(own_model, shared_h5)
    np.testing.assert_array_equal(np.asarray(own_model(faces)), from_csv)
    np.testing.assert_allclose(np.linalg.norm(from_csv, axis=1), 1.0, atol=1e-5)


# --- every problem named, model untouched --------------------------------------------------


def test_error_lists_every_missing_and_misshaped_file(bare_model, csv_weights_dir, tmp_path):
    missing = ["conv1_w", "bn3_v", "inception_4a_pool_bn_m", "dense_b"]
    folder = link_csv_folder(csv_weights_dir, tmp_path / "csv", leave_out=[*missing, "bn2_w"])
    (folder / "bn2_w.csv").write_text("0.5,0.25,1.0\n")  # 3 values instead of 64
    before = _weights(bare_model)
    with pytest.raises(WeightsError) as err:
        load_weights_from_FaceNet(bare_model, folder)
    message = str(err.value)
    assert "5 problem(s)" in message
    for stem in missing:
        assert f"{stem}: missing" in message
    assert "bn2_w: 3 values, expected 64" in message
    assert str(folder) in message and "facenet-weights download" in message
    for old, new in zip(before, _weights(bare_model)):
        np.testing.assert_array_equal(old, new)


def test_unreadable_weights(bare_model, tmp_path):
    bad = tmp_path / "weights.h5"
    bad.write_text("not hdf5")
    with pytest.raises(WeightsError, match="neither a folder of CSV files nor a readable HDF5"):
        load_weights_from_FaceNet(bare_model, bad)
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "conv1_w.csv").write_text("1,2,oops")
    with pytest.raises(WeightsError, match="conv1_w.csv is not a comma-separated list"):
        read_weights(folder, {"conv1_w": (3,)})


def test_tampered_file_fails_manifest_check(bare_model, csv_weights_dir, tmp_path):
    root = tmp_path / "weights"
    root.mkdir()
    shutil.copy(csv_weights_dir.parent / "MANIFEST.tsv", root / "MANIFEST.tsv")
    folder = link_csv_folder(csv_weights_dir, root / "nn4.small2.v1", leave_out=["bn1_b"])
    text = (csv_weights_dir / "bn1_b.csv").read_text()
    (folder / "bn1_b.csv").write_text(text.replace("1", "2", 1))
    before = _weights(bare_model)
    with pytest.raises(WeightsError, match=r"bn1_b\.csv \(sha256 differs"):
        load_weights_from_FaceNet(bare_model, root)
    for old, new in zip(before, _weights(bare_model)):
        np.testing.assert_array_equal(old, new)


# convert_csv_to_hdf5 is tested through its CLI:
# tests/fr_utils/cli/test_weights.py::test_convert_and_check


def test_an_empty_weights_folder_has_no_fingerprint(tmp_path):
    """Not the hash of nothing: the LiteRT lookup keyed by it would advise exporting a model
    for weights that do not exist (the repository's weights/ before a download)."""
    from fr_utils.weights import weights_fingerprint

    (tmp_path / "README.md").write_text("put the weights here")
    with pytest.raises(WeightsError, match="holds no weights") as caught:
        weights_fingerprint(tmp_path)
    assert "facenet-weights download" in str(caught.value)


def test_empty_weights_folder_says_so_in_one_line(tmp_path, bare_model):
    (tmp_path / "README.md").write_text("put the weights here")
    with pytest.raises(WeightsError, match="holds no weights") as caught:
        load_weights_from_FaceNet(bare_model, tmp_path)
    assert "missing" not in str(caught.value) and "facenet-weights download" in str(caught.value)
