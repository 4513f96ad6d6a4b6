"""Fixtures for the fr_utils tests: a local server for weight files, a small LFW data set and
one facenet-tune run on it."""

import json

import cv2
import numpy as np
import pytest

from tests.helpers.servers import FileServer


@pytest.fixture
def serve(monkeypatch):
    """serve(folder) -> the base URL of ``folder/weights/`` on a local server on 127.0.0.1
    (stopped after the test): the download tests never contact the internet."""
    for var in ("no_proxy", "NO_PROXY"):  # never route 127.0.0.1 through a configured proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    servers = []

    def start(folder):
        servers.append(FileServer(folder))
        return servers[-1].url + "weights/"

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def lfw_subset(lfw_dir, tmp_path_factory):
    """10 people x 10 LFW photos, one person with one photo, and one photo with no face."""
    images = lfw_dir / "images"
    folder = tmp_path_factory.mktemp("dataset")
    people = [p for p in sorted(images.iterdir()) if len(list(p.iterdir())) >= 10][:10]
    for person in people:
        (folder / person.name).mkdir()
        for photo in sorted(person.iterdir())[:10]:
            (folder / person.name / photo.name).symlink_to(photo)
    solo = next(p for p in sorted(images.iterdir()) if len(list(p.iterdir())) == 1)
    (folder / solo.name).mkdir()
    (folder / solo.name / "only.jpg").symlink_to(next(solo.iterdir()))
    blank = folder / people[0].name / "blank_wall.jpg"
    cv2.imwrite(str(blank), np.full((250, 250, 3), 200, np.uint8))
    return {"folder": folder, "solo": solo.name, "blank": blank}


@pytest.fixture(scope="session")
def first_run(lfw_subset, weights_path, tmp_path_factory):
    """``facenet-tune`` run once on :func:`lfw_subset`, writing a greeter config: its exit
    code, work folder, config and arguments (tests/fr_utils/cli/test_tune.py checks the run,
    tests/fr_utils/evaluation/test_report.py runs it again)."""
    from fr_utils.cli import tune as cli_tune

    work = tmp_path_factory.mktemp("run")
    config = work / "greeter.json"
    config.write_text(json.dumps({"camera": 1, "cooldown": 60}))  # the greeter's own settings
    argv = [
        str(lfw_subset["folder"]),
        "--encoder",
        "facenet",
        "--weights",
        str(weights_path),
        "--cache",
        str(work / "cache"),
        "--out",
        str(work / "out"),
        "--write-config",
        str(config),
        "--max-pairs",
        "2000",
        "--seed",
        "3",
        "--quiet",
    ]
    code = cli_tune.main(argv)
    return {"code": code, "work": work, "config": config, "argv": argv}
