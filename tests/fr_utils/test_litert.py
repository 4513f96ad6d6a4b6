"""fr_utils.litert: find the LiteRT export made for the configured weights, refuse one made from
other weights or changed, encode (agreeing with Keras, thread-safe, without TensorFlow).

The export (one per session, ~64 aligned LFW faces: ``exported`` in tests/conftest.py) takes
30-70 s on two cores: the tests that need it are marked ``slow``.
"""

import os
import shutil
import textwrap
import threading

import h5py
import numpy as np
import pytest

from fr_utils.litert import (
    MANIFEST_NAME,
    MODEL_FILES,
    LiteRTEncoder,
    LiteRTError,
    LiteRTMismatch,
    LiteRTNotExported,
    default_litert_dir,
    find_litert,
)
from fr_utils.preprocess import preprocess_image
from fr_utils.weights import weights_fingerprint
from tests.helpers.processes import run_python


@pytest.fixture(scope="session")
def course_faces(course_dir):
    """The course's 96x96 face crops, preprocessed: faces the calibration never saw."""
    return np.stack([preprocess_image(p) for p in sorted(course_dir.glob("*.jpg"))])


@pytest.fixture(scope="session")
def other_weights(weights_path, tmp_path_factory):
    """The weights with one tensor perturbed: another fingerprint."""
    path = tmp_path_factory.mktemp("other_weights") / "nn4.small2.v1.h5"
    shutil.copy(weights_path, path)
    with h5py.File(path, "r+") as f:
        f["dense_b"][0] += 0.01
    return path


def _keras(model, faces):
    from fr_utils.encoding import encode_batch

    return encode_batch(faces, model)


@pytest.mark.slow
def test_encodings_agree_with_keras_on_unseen_faces(exported, model, lfw_faces, course_faces):
    folder, _ = exported
    float32 = LiteRTEncoder(folder, "float32")
    int8 = LiteRTEncoder(folder, "int8")
    unseen = lfw_faces.faces[64:]  # aligned like the calibration faces, other photos
    assert len(unseen) >= 40
    reference = _keras(model, unseen)
    got32, got8 = float32.encode_batch(unseen), int8.encode_batch(unseen)
    assert got32.shape == got8.shape == (len(unseen), 128)
    assert got32.dtype == got8.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got8, axis=1), 1, atol=1e-5)
    assert np.linalg.norm(got32 - reference, axis=1).max() < 1e-3
    # int8 moves each embedding a little (mean 0.047 on 500 unseen LFW faces, 0.039-0.051
    # across calibration sets) but the distances between faces, which decide a match, far less
    # (mean change 0.007 over 124,750 pairs): bench/bench_runtimes.py measures both.
    assert np.linalg.norm(got8 - reference, axis=1).mean() < 0.07
    pairs = np.triu_indices(len(unseen), 1)

    def distances(e):
        return np.linalg.norm(e[pairs[0]] - e[pairs[1]], axis=1)

    assert np.abs(distances(got8) - distances(reference)).mean() < 0.02
    # The course's crops are framed differently from the aligned calibration faces:
    # int8 moves them more (measured mean 0.069), float32 not at all.
    reference = _keras(model, course_faces)
    assert np.linalg.norm(float32.encode_batch(course_faces) - reference, axis=1).max() < 1e-3
    assert np.linalg.norm(int8.encode_batch(course_faces) - reference, axis=1).mean() < 0.1


@pytest.mark.slow
def test_encode_faces_and_chunks_give_the_same_encodings(exported, course_dir, course_faces):
    encoder = LiteRTEncoder(exported[0], "float32")
    whole = encoder.encode_batch(course_faces)
    np.testing.assert_allclose(encoder.encode_batch(course_faces, batch_size=5), whole, atol=1e-6)
    photos = sorted(course_dir.glob("*.jpg"))
    np.testing.assert_allclose(encoder.encode_faces(photos), whole, atol=1e-6)
    assert encoder.encode_faces([]).shape == (0, 128)


@pytest.mark.slow
def test_encoder_is_thread_safe(exported, course_faces):
    encoder = LiteRTEncoder(exported[0], "int8", num_threads=1)
    expected = [encoder.encode_batch(course_faces[i : i + 1 + i % 3]) for i in range(8)]
    results = [None] * 8

    def work(i):
        for _ in range(5):
            results[i] = encoder.encode_batch(course_faces[i : i + 1 + i % 3])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_cache_key_names_quantisation_and_weights(exported, weights_path):
    folder, _ = exported
    keys = {LiteRTEncoder(folder, q).cache_key() for q in MODEL_FILES}
    assert len(keys) == 2
    encoder = LiteRTEncoder.from_weights(weights_path, "int8", litert_dir=folder)
    assert encoder.weights_fingerprint == weights_fingerprint(weights_path)
    assert encoder.cache_key() in keys


@pytest.mark.slow
def test_find_litert_order_explicit_env_default(exported, weights_path, tmp_path, monkeypatch):
    folder, _ = exported
    monkeypatch.delenv("FACENET_LITERT", raising=False)
    cache = tmp_path / "cache"
    default = default_litert_dir(weights_fingerprint(weights_path), cache)
    shutil.copytree(folder, default)
    assert find_litert(weights_path, cache_dir=cache) == default
    monkeypatch.setenv("FACENET_LITERT", str(folder))
    assert find_litert(weights_path, cache_dir=cache) == folder
    assert find_litert(weights_path, litert_dir=default, cache_dir=cache) == default
    monkeypatch.setenv("FACENET_CACHE", str(cache))
    monkeypatch.delenv("FACENET_LITERT")
    assert find_litert(weights_path) == default


@pytest.mark.slow
def test_model_from_other_weights_is_refused(exported, other_weights, weights_path, tmp_path):
    folder, _ = exported
    other = weights_fingerprint(other_weights)
    assert other != weights_fingerprint(weights_path)
    with pytest.raises(LiteRTMismatch, match="other weights"):
        find_litert(other_weights, litert_dir=folder)
    with pytest.raises(LiteRTMismatch, match=other):
        LiteRTEncoder(folder, "int8", weights_fingerprint=other)
    with pytest.raises(LiteRTMismatch):
        LiteRTEncoder.from_weights(other_weights, litert_dir=folder)
    # Copied (by hand) into the other weights' default folder: still refused.
    shutil.copytree(folder, default_litert_dir(other, tmp_path))
    with pytest.raises(LiteRTMismatch):
        find_litert(other_weights, cache_dir=tmp_path)


@pytest.mark.slow
def test_a_changed_model_file_is_refused(exported, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(exported[0], copy)
    path = copy / MODEL_FILES["int8"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(LiteRTError, match="sha256"):
        LiteRTEncoder(copy, "int8")
    LiteRTEncoder(copy, "float32")  # the untouched one still loads


@pytest.mark.slow
def test_encoder_path_imports_no_tensorflow(exported, course_dir):
    """A kiosk on LiteRT never imports TensorFlow, Keras, dlib or argparse."""
    photos = [str(p) for p in sorted(course_dir.glob("*.jpg"))[:3]]
    code = textwrap.dedent(
        f"""
        import sys
        import fr_utils.litert as lt
        encoder = lt.LiteRTEncoder({str(exported[0])!r}, "int8")
        assert encoder.encode_faces({photos!r}).shape == (3, 128)
        heavy = ("tensorflow", "keras", "tf_keras", "dlib", "argparse")
        loaded = sorted(m for m in heavy if m in sys.modules)
        print(",".join(loaded) or "none")
        """
    )
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "none"


def test_missing_export_says_how_to_export(weights_path, tmp_path, monkeypatch):
    monkeypatch.delenv("FACENET_LITERT", raising=False)
    with pytest.raises(LiteRTNotExported, match="facenet-weights export-litert"):
        find_litert(weights_path, cache_dir=tmp_path)
    with pytest.raises(LiteRTNotExported, match="facenet-weights export-litert"):
        find_litert(weights_path, litert_dir=tmp_path / "nothing")
    monkeypatch.setenv("FACENET_LITERT", str(tmp_path / "also-nothing"))
    with pytest.raises(LiteRTNotExported, match=r"\$FACENET_LITERT"):
        find_litert(weights_path)
    with pytest.raises(LiteRTNotExported):
        LiteRTEncoder(tmp_path)


def test_damaged_manifest_is_refused(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(LiteRTError, match="JSON"):
        LiteRTEncoder(tmp_path)


def test_bad_quantization_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="quantization"):
        LiteRTEncoder(tmp_path, quantization="int4")
    assert not list(tmp_path.iterdir())


def test_env_names_are_documented():
    import fr_utils.litert as lt

    assert lt.ENV_VAR == "FACENET_LITERT" and "FACENET_LITERT" in (lt.__doc__ or "")
    assert os.fspath(lt.default_litert_dir("x", "/c")) == "/c/litert/x"
