"""Shared fixtures. Data and weights come from settings, never from hard-coded paths:

* ``FACENET_SHARED``: the folder with ``weights-aligned/`` and ``data/`` (scripts/run_tests.sh sets
  it to ../shared when that exists);
* ``FACENET_WEIGHTS``: the weights to test with (default: the shared HDF5 file).

A test that needs them skips when they are absent, except in CI (``CI=true``),
where it fails: CI must never pass by skipping.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _need(path, what):
    if path is not None and Path(path).exists():
        return Path(path)
    message = (
        f"{what} not found ({path or 'setting unset'}); set FACENET_SHARED to the "
        "folder holding weights-aligned/ and data/ (CI uses ../shared)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir():
    return _need(os.environ.get("FACENET_SHARED"), "shared data")


@pytest.fixture(scope="session")
def weights_path(shared_dir):
    """The weights under test: $FACENET_WEIGHTS, else the shared HDF5 file."""
    path = os.environ.get("FACENET_WEIGHTS") or shared_dir / "weights-aligned" / "nn4.small2.v1.h5"
    return _need(path, "FaceNet weights")


@pytest.fixture(scope="session")
def csv_weights_dir(shared_dir):
    return _need(shared_dir / "weights-aligned" / "nn4.small2.v1", "shared CSV weights")


@pytest.fixture(scope="session")
def course_dir(shared_dir):
    return _need(shared_dir / "data" / "course", "the course's images")


@pytest.fixture(scope="session")
def lfw_dir(shared_dir):
    return _need(shared_dir / "data" / "lfw", "LFW")


@pytest.fixture(scope="session")
def video_dir(shared_dir):
    return _need(shared_dir / "data" / "video", "the test video")


@pytest.fixture(scope="session")
def shared_thresholds(shared_dir):
    """The measured thresholds for the shared weights (THRESHOLDS.json)."""
    path = _need(shared_dir / "weights-aligned" / "THRESHOLDS.json", "THRESHOLDS.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def bare_model():
    """The model with random weights (for shapes, names, save/load)."""
    from fr_utils.model import faceRecoModel  # here, not at the top: only these load TensorFlow

    return faceRecoModel()


@pytest.fixture(scope="session")
def model(weights_path):
    """The model with the weights under test loaded. Shared: do not modify it."""
    from fr_utils.model import load_model

    return load_model(weights_path)[0]


@pytest.fixture(scope="session")
def course_database_dir(course_dir, tmp_path_factory):
    """The course's 12 database photos only (camera_* left out), as images/<name>.jpg."""
    folder = tmp_path_factory.mktemp("course_images")
    for photo in course_dir.iterdir():
        if not photo.name.startswith("camera_"):
            shutil.copy(photo, folder / photo.name)
    return folder


@pytest.fixture(autouse=True)
def own_face_library(monkeypatch, tmp_path_factory):
    """Each test's greeter runs get a face library of their own ($GREETER_DB), never the
    user's default one: a person enrolled by one test must not be greeted in another."""
    folder = tmp_path_factory.mktemp("library")
    monkeypatch.setenv("GREETER_DB", f"sqlite:///{folder}/library.db")


# ----------------------------------------------------------------------------- LiteRT


@pytest.fixture(scope="session")
def lfw_faces(lfw_dir):
    """112 aligned LFW faces: the first 64 calibrate, the other 48 are never seen by it."""
    from fr_utils.litert_export import calibration_faces

    return calibration_faces(lfw_dir / "images", limit=112)


@pytest.fixture(scope="session")
def calibration(lfw_faces):
    import dataclasses

    return dataclasses.replace(lfw_faces, faces=lfw_faces.faces[:64], paths=lfw_faces.paths[:64])


@pytest.fixture(scope="session")
def exported(model, weights_path, calibration, tmp_path_factory):
    """``(folder, manifest)`` of the model exported to LiteRT once for this session (~1 min)."""
    from fr_utils.litert_export import export_litert
    from fr_utils.weights import weights_fingerprint

    folder = tmp_path_factory.mktemp("litert")
    manifest = export_litert(
        model, folder, calibration.faces, weights_fingerprint(weights_path), calibration.aligner
    )
    return folder, manifest
