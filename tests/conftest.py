"""Shared fixtures, and what each test needs, read from the fixtures it uses.

Data and weights come from settings, never from hard-coded paths:

* ``FACENET_SHARED``: the folder with ``weights-aligned/`` and ``data/`` (scripts/run_tests.sh sets
  it to ../shared when that exists);
* ``FACENET_WEIGHTS``: the weights to test with (default: the shared HDF5 file).

A test that needs them (or a database server, or a browser) skips when they are absent, except in
CI (``CI=true``), where it fails: CI must never pass by skipping (``tests.helpers.needs``).

Markers are added from the fixtures a test uses, directly or through other fixtures (``NEEDS``);
``pytest --fast`` (``scripts/run_tests.sh --fast``) runs only the tests with none of them, and
fails if one of those imports TensorFlow.
"""

import json
import os
import shutil
import sys

import pytest

from tests.helpers.needs import need

pytest_plugins = ["tests.helpers.postgres"]  # the postgres_server and postgres_url fixtures

# marker: the fixtures that give it, used directly or through other fixtures (the markers are
# described in pyproject.toml). A test that needs one otherwise is marked by hand.
NEEDS = {
    "shared": {"shared_dir"},
    "model": {"tf", "bare_model", "model", "enroller", "encoder"},
    "postgres": {"postgres_server"},
    "browser": {"browser"},
    "slow": {"exported"},
}
NOT_IN_THE_FAST_LANE = ("slow", "shared", "model", "postgres", "browser")


def pytest_addoption(parser):
    parser.addoption(
        "--fast",
        action="store_true",
        help="the fast lane: only the tests marked none of "
        f"{', '.join(NOT_IN_THE_FAST_LANE)} (no model, no shared data, no server, no browser)",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(item.fixturenames)
        for marker, fixtures in NEEDS.items():
            if used & fixtures:
                item.add_marker(marker)
    if not config.getoption("fast"):
        return
    if "tensorflow" in sys.modules:
        raise pytest.UsageError(
            "--fast: importing the test modules imported TensorFlow; import it inside the "
            "tests (or fixtures) that need it, and mark them `model`"
        )
    kept, left = [], []
    for item in items:
        heavy = any(item.get_closest_marker(name) for name in NOT_IN_THE_FAST_LANE)
        (left if heavy else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """In the fast lane, the test after which TensorFlow is loaded fails, named."""
    loaded = "tensorflow" in sys.modules
    result = yield
    if item.config.getoption("fast") and not loaded and "tensorflow" in sys.modules:
        raise AssertionError(
            f"{item.nodeid} imported TensorFlow in the fast lane: use the tf, bare_model or "
            "model fixture, or mark it `model`"
        )
    return result


@pytest.fixture(autouse=True)
def _no_user_library_or_kiosk_state(monkeypatch, tmp_path_factory):
    """No test reads or writes the user's default face library or kiosk state folder (the
    greeters a test starts inherit these too): each test gets its own, empty."""
    base = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(base / "state"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


@pytest.fixture(scope="session")
def shared_dir():
    return need(os.environ.get("FACENET_SHARED"), "shared data")


@pytest.fixture(scope="session")
def weights_path(shared_dir):
    """The weights under test: $FACENET_WEIGHTS, else the shared HDF5 file."""
    path = os.environ.get("FACENET_WEIGHTS") or shared_dir / "weights-aligned" / "nn4.small2.v1.h5"
    return need(path, "FaceNet weights")


@pytest.fixture(scope="session")
def csv_weights_dir(shared_dir):
    return need(shared_dir / "weights-aligned" / "nn4.small2.v1", "shared CSV weights")


@pytest.fixture(scope="session")
def course_dir(shared_dir):
    return need(shared_dir / "data" / "course", "the course's images")


@pytest.fixture(scope="session")
def lfw_dir(shared_dir):
    return need(shared_dir / "data" / "lfw", "LFW")


@pytest.fixture(scope="session")
def video_dir(shared_dir):
    return need(shared_dir / "data" / "video", "the test video")


@pytest.fixture(scope="session")
def shared_thresholds(shared_dir):
    """The measured thresholds for the shared weights (THRESHOLDS.json)."""
    path = need(shared_dir / "weights-aligned" / "THRESHOLDS.json", "THRESHOLDS.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, imported when a test asks for it (never while collecting: the fast lane
    must not import it)."""
    from fr_utils._tf import tf

    return tf


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
