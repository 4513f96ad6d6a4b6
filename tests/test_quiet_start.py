"""The greeter's start on a real one-frame video: no TensorFlow/absl/CUDA lines, only ours."""

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# What TensorFlow, absl, XLA and CUDA print: "I0000 00:00:...", "W tensorflow/...", names.
OURS = re.compile(r"\d\d:\d\d:\d\d [A-Z]+ [\w.]+: ")  # the greeter's one logging format
NOISE = re.compile(
    r"^[IWEF]\d{4} |tensorflow|absl|cuda|cudnn|cublas|onednn|xla|"
    r"cpu_feature_guard|rebuild TensorFlow",
    re.IGNORECASE,
)


def _one_frame_video(path):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 240))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    return path


@pytest.mark.shared
def test_greeter_start_prints_no_tensorflow_noise(tmp_path, weights_path):
    video = _one_frame_video(tmp_path / "one.mp4")
    images = tmp_path / "images"
    images.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}  # nothing preset
    env["FACENET_WEIGHTS"] = str(weights_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "greeter",
            "--headless",
            "--no-speech",
            "--video",
            str(video),
            "--images",
            str(images),
            "--cache",
            str(tmp_path / "cache"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    noise = [line for line in lines if NOISE.search(line) and not OURS.match(line)]
    assert not noise, "TensorFlow/absl/CUDA lines on stderr:\n" + "\n".join(noise)
    assert any("1 frames processed" in line for line in lines), result.stderr
    # every status line has the one logging format: "HH:MM:SS LEVEL name: message"
    status = [line for line in lines if line.strip() and "encoding photos" not in line]
    assert status and all(OURS.match(line) for line in status), status
