"""greeter's command line (``python -m greeter`` / the ``greeter`` console script): the config
file and flags reach the settings, bad ones stop it with a message, a missing display or video
is refused; and the real command on real videos: a start that prints only our log lines, and a
SIGTERM at any moment of the start-up that exits cleanly."""

import json
import logging
import os
import re
import signal
import subprocess
import time

import cv2
import numpy as np
import pytest

from greeter import __main__ as cli
from tests.helpers.fakes import UnusedBackend, forbid
from tests.helpers.kiosk import working_kiosk
from tests.helpers.processes import greeter_command, greeter_env

# What TensorFlow, absl, XLA and CUDA print: "I0000 00:00:...", "W tensorflow/...", names.
OURS = re.compile(r"\d\d:\d\d:\d\d [A-Z]+ [\w.]+: ")  # the greeter's one logging format
NOISE = re.compile(
    r"^[IWEF]\d{4} |tensorflow|absl|cuda|cudnn|cublas|onednn|xla|"
    r"cpu_feature_guard|rebuild TensorFlow",
    re.IGNORECASE,
)


def test_cli_reads_the_tuned_threshold_and_flags_win(tmp_path, monkeypatch):
    path = tmp_path / "greeter.json"
    (tmp_path / "a.mp4").write_bytes(b"")  # a video must exist to be accepted
    path.write_text(json.dumps({"threshold": 0.8, "video": str(tmp_path / "a.mp4"), "tuning": {}}))
    monkeypatch.setenv("GREETER_CONFIG", str(path))
    settings, sources, used = cli.settings_from_args([])
    assert (settings.threshold, sources["threshold"], used) == (0.8, str(path), path)
    settings, _, _ = cli.settings_from_args(
        ["--threshold", "0.6", "--camera", "1", "--confirm-frames", "5", "--no-speech"]
    )
    assert (settings.threshold, settings.camera, settings.video) == (0.6, 1, None)
    assert (settings.confirm_frames, settings.no_speech) == (5, True)


def test_cli_unknown_config_key_exits_with_message(tmp_path, monkeypatch, capsys):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps({"colour": "red"}))
    assert cli.main(["--config", str(path), "--headless"]) == 2
    err = capsys.readouterr().err
    assert "colour" in err and str(path) in err


def test_no_display_refuses_a_window_instead_of_crashing(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    forbid(monkeypatch, cv2, ("imshow", "namedWindow", "waitKey"), "highgui called")
    forbid(monkeypatch, cli, ("_make_encoder",), "highgui called")
    (tmp_path / "x.mp4").write_bytes(b"")
    assert cli.main(["--video", "x.mp4"]) == 2
    assert "--headless" in capsys.readouterr().err


def test_cli_video_that_cannot_be_opened_exits_non_zero(
    tmp_path, monkeypatch, capsys, weights_path
):
    monkeypatch.setenv("FACENET_WEIGHTS", str(weights_path))  # its THRESHOLDS.json is read
    from fr_utils.encoding import FaceEncoder

    monkeypatch.setattr(cli, "_make_encoder", lambda settings, cache: FaceEncoder(UnusedBackend()))
    (tmp_path / "images").mkdir()
    log, config = tmp_path / "events.jsonl", tmp_path / "greeter.json"
    config.write_text("{}")
    args = [
        "--images",
        str(tmp_path / "images"),
        "--headless",
        "--no-speech",
        "--log",
        str(log),
        "--config",
        str(config),
    ]
    assert cli.main([*args, "--video", str(tmp_path / "no.mp4")]) == 2  # missing: a bad setting
    assert "no.mp4" in capsys.readouterr().err and not log.exists()
    (tmp_path / "notes.mp4").write_text("not a video")
    code = cli.main([*args, "--video", str(tmp_path / "notes.mp4")])
    assert code == 1
    assert "Could not open video" in capsys.readouterr().err
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["error", "stop"]


# ---- the real command on real videos (each start loads TensorFlow)


def _one_frame_video(path):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 240))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    return path


@pytest.mark.slow
def test_greeter_start_prints_no_tensorflow_noise(tmp_path, weights_path):
    video = _one_frame_video(tmp_path / "one.mp4")
    images = tmp_path / "images"
    images.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}  # nothing preset
    env["FACENET_WEIGHTS"] = str(weights_path)
    result = subprocess.run(
        greeter_command(
            "--video", str(video), "--images", str(images), "--cache", str(tmp_path / "cache")
        ),
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


@pytest.mark.slow
@pytest.mark.parametrize("after", ["first line", 1.5, 4.0])
def test_sigterm_during_start_up_exits_cleanly(tmp_path, video_dir, weights_path, after):
    """From main()'s first line on (the interpreter's own ~0.1 s start is out of reach)."""
    (tmp_path / "images").mkdir()
    log = tmp_path / "events.jsonl"
    env = greeter_env()
    cmd = greeter_command(
        "--video", str(video_dir / "short_hamilton_clip.mp4"), "--loop",
        "--images", str(tmp_path / "images"), "--weights", str(weights_path), "--log", str(log),
        "--detector", "haar",
    )  # fmt: skip
    greeter = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if after == "first line":  # as soon as main() runs, before TensorFlow is imported
        assert greeter.stderr.readline()
    else:
        time.sleep(after)
    greeter.send_signal(signal.SIGTERM)
    _, err = greeter.communicate(timeout=60)
    assert greeter.returncode == 0, err[-3000:]  # not 143 (killed) nor 130
    assert "Traceback" not in err
    if log.exists():  # started far enough to open the log: it is closed properly
        assert json.loads(log.read_text().splitlines()[-1])["event"] == "stop"


# ---- start-up refusals and warnings, shared with greeter doctor (greeter.doctor)


@pytest.fixture
def kiosk_here(tmp_path, monkeypatch):
    """A working kiosk's flags (tests.helpers.kiosk), nobody enrolled, run in an empty folder."""
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    args = working_kiosk(tmp_path / "kiosk", names=())
    return [*args, "--headless", "--no-speech"], here


def _our_lines(err):
    """stderr without the greeter's own log lines: what else was printed."""
    return [line for line in err.splitlines() if line.strip() and not OURS.match(line)]


def test_nobody_enrolled_is_a_warning_naming_the_working_directory(kiosk_here, caplog):
    args, here = kiosk_here
    with caplog.at_level(logging.INFO, logger="greeter"):
        assert cli.main(args) == 0  # it runs (the video ends): a warning, not a refusal
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"0 people enrolled and no images/ folder in {here}: nobody will be greeted. To fix: "
        "add people with `greeter-library add NAME PHOTO...` (or the admin page), or start "
        "the greeter in the folder that holds images/ (or give --images DIR)."
    ]
    status = [r.getMessage() for r in caplog.records if r.getMessage().startswith("status: ")]
    assert status == ["status: warning: 0 people enrolled; video, dlib-resnet (dlib)"]


def test_nobody_enrolled_next_to_an_empty_images_folder(kiosk_here, caplog):
    args, here = kiosk_here
    (here / "images").mkdir()
    with caplog.at_level(logging.WARNING, logger="greeter"):
        assert cli.main(args) == 0
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "0 people enrolled: nobody will be greeted. To fix: add photos to images/ (NAME.jpg or "
        "NAME/*.jpg) or `greeter-library add NAME PHOTO...`."
    ]


def test_a_full_disk_refuses_to_start_in_one_sentence(kiosk_here, monkeypatch, capsys):
    from greeter import doctor

    args, _ = kiosk_here
    monkeypatch.setattr(doctor, "DISK_FAIL_BYTES", 2**62)  # every disk is "full"
    monkeypatch.setattr(doctor, "DISK_WARN_BYTES", 2**63)
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    (refusal,) = _our_lines(err)
    assert re.fullmatch(r"greeter: [\d.]+ [GMK]B free on .+ for the library, cache\. To fix: "
                        r"free some space .+\.", refusal), refusal  # fmt: skip
    assert "encoder:" not in err  # refused before anything loaded


def test_a_camera_that_does_not_open_is_explained_first_without_opencv_noise(kiosk_here, capfd):
    args, _ = kiosk_here
    video = args.index("--video")
    args = [*args[:video], *args[video + 2 :], "--camera", "97"]
    assert cli.main(args) == 1
    err = capfd.readouterr().err
    assert _our_lines(err) == ["greeter: Could not open camera 97: " + _camera_hint(97) + "."], (
        err
    )  # OpenCV's own lines ([ WARN...], [ERROR...]) are silenced


def _camera_hint(index):
    from greeter.camera import open_problem

    return open_problem(index)[1]


def test_missing_weights_are_said_first_with_no_litert_advice(
    kiosk_here, monkeypatch, capsys, caplog
):
    """The repository's weights/ before a download (a folder, no CSV files): the weights are
    the problem, not a LiteRT model for the fingerprint of nothing."""
    args, here = kiosk_here
    (here / "weights").mkdir()
    monkeypatch.delenv("FACENET_WEIGHTS", raising=False)
    open_set = args.index("--open-set")
    args = [*args[:open_set], *args[open_set + 2 :], "--encoder", "facenet"]
    with caplog.at_level(logging.INFO):
        assert cli.main(args) == 1
    (refusal,) = _our_lines(capsys.readouterr().err)
    assert refusal.startswith(f"greeter: {here / 'weights'} holds no weights")
    assert "facenet-weights download" in refusal
    assert not [r for r in caplog.records if "LiteRT" in r.getMessage()]


def test_facenet_without_tensorflow_or_a_litert_model_exits_with_one_sentence(
    kiosk_here, monkeypatch, capsys, weights_path, tmp_path
):
    from fr_utils import encoding

    monkeypatch.setattr(encoding, "tensorflow_installed", lambda: False)  # a lean .[kiosk]
    args, _ = kiosk_here
    litert = tmp_path / "litert"
    litert.mkdir()
    open_set = args.index("--open-set")
    args = [*args[:open_set], *args[open_set + 2 :], "--encoder", "facenet",
            "--weights", str(weights_path), "--litert", str(litert)]  # fmt: skip
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    (refusal,) = _our_lines(err)
    assert refusal.startswith("greeter: No way to encode faces: no LiteRT model is exported")
    assert f"--out {litert}` where TensorFlow is installed" in refusal
    assert refusal.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", refusal)  # one sentence
    assert "Traceback" not in err
