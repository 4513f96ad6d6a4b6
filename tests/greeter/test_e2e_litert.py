"""The greeter on LiteRT: no TensorFlow in the process, and a model from other weights refused.

Runs the real command in a subprocess, with the session's int8 export (``exported`` in
tests/conftest.py), on the real Hamilton clip.
"""

import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO
from tests.helpers.processes import greeter_env

pytestmark = pytest.mark.slow


def _greeter(tmp_path, weights, litert, video, images, *extra, importtime=False):
    log = tmp_path / "events.jsonl"
    config = tmp_path / "greeter.json"
    config.write_text("{}")
    python = [sys.executable, "-X", "importtime"] if importtime else [sys.executable]
    command = [*python, "-m", "greeter", "--headless", "--no-speech", "--config", str(config),
               "--weights", str(weights), "--encoder", "facenet", "--runtime", "litert",
               "--litert", str(litert),
               "--images", str(images), "--video", str(video), "--log", str(log),
               "--cache", str(tmp_path / "cache"), *extra]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600,
                          env=greeter_env())  # fmt: skip
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, events


def test_litert_greeter_greets_without_importing_tensorflow(
    tmp_path, exported, weights_path, video_dir, shared_thresholds
):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(video_dir / "lin-manuel-miranda.png", images / "Lin-Manuel_Miranda.png")
    folder, _ = exported
    done, events = _greeter(
        tmp_path, weights_path, folder, video_dir / "short_hamilton_clip.mp4", images,
        "--threshold", str(shared_thresholds["recommended_greeter"]), importtime=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    imported = [line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]  # fmt: skip
    assert "ai_edge_litert" in {name.split(".")[0] for name in imported}
    heavy = [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]
    assert heavy == [], heavy[:5]
    greetings = [e for e in events if e["event"] == "greeting"]
    assert [g["names"] for g in greetings] == [["Lin-Manuel Miranda"]]
    assert 82 <= greetings[0]["frame"] <= 211
    assert "encoder: facenet (litert-int8, flip-average)" in done.stderr
    assert "XNNPACK" not in done.stderr  # LiteRT's native start-up line is silenced too


def test_export_from_other_weights_is_refused(tmp_path, exported, weights_path, video_dir):
    import h5py

    other = tmp_path / "other.h5"
    shutil.copy(weights_path, other)
    with h5py.File(other, "r+") as f:
        f["dense_b"][0] += 0.01  # other values: another fingerprint
    folder, _ = exported
    done, _ = _greeter(tmp_path, other, folder, video_dir / "short_hamilton_clip.mp4",
                       tmp_path / "none")  # fmt: skip
    assert done.returncode == 1
    assert "exported from other weights" in done.stderr
    assert "Traceback" not in done.stderr
