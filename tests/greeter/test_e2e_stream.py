"""A stream never ends: the whole greeter, on a local MJPEG server that stops and restarts on the
same port, reconnects, reports it, keeps greeting, and exits 0 on SIGTERM."""

import json
import signal
import subprocess
import time

import cv2
import pytest

from tests.helpers.processes import greeter_command, greeter_env
from tests.helpers.servers import MjpegServer
from tests.helpers.waiting import wait_for


@pytest.mark.slow
def test_greeter_keeps_greeting_across_a_stream_restart_and_exits_0_on_sigterm(
    face_frame, video_dir, weights_path, tmp_path
):
    images = tmp_path / "images"
    images.mkdir()
    (images / "Lin-Manuel_Miranda.png").write_bytes(
        (video_dir / "lin-manuel-miranda.png").read_bytes()
    )
    server = MjpegServer(face_frame, fps=8).start()
    log = tmp_path / "events.jsonl"
    env = greeter_env()
    cmd = greeter_command(
        "--video", server.url, "--log", str(log), "--images", str(images),
        "--weights", str(weights_path), "--cache", str(tmp_path / "cache"), "--encoder", "facenet",
        "--threshold", "1.2",
        "--cooldown", "2", "--confirm-frames", "1", "--detector", "haar",
    )  # fmt: skip
    out, err_file = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err_file.open("w") as stderr:
        greeter = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)

    def events(kind):
        if not log.exists():
            return []
        return [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == kind]

    def running():
        return greeter.poll() is None

    try:
        assert wait_for(lambda: events("greeting"), 120, every=0.2, alive=running), (
            "no greeting before the restart"
        )
        server.stop()
        assert wait_for(lambda: events("error"), 30, every=0.2, alive=running), (
            "the drop was not logged"
        )
        time.sleep(2.5)  # past the 2-s cooldown: the visit after the reconnect is greeted
        before = len(events("greeting"))  # counted before the stream is back: the first frame
        server.start()  # after the reconnect may be greeted before the test reads the log again
        assert wait_for(lambda: events("reconnected"), 60, every=0.2, alive=running), "no reconnect"
        assert wait_for(lambda: len(events("greeting")) > before, 30, every=0.2, alive=running), (
            "no greeting after it"
        )
        assert greeter.poll() is None  # a stream never "ends"
        greeter.send_signal(signal.SIGTERM)
        greeter.wait(timeout=60)
    finally:
        if greeter.poll() is None:
            greeter.kill()
        server.stop()
    err = err_file.read_text()
    assert greeter.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    assert "Lin-Manuel Miranda" in events("greeting")[-1]["names"]
    assert events("stop")


@pytest.fixture
def face_frame(video_dir):
    frame = cv2.imread(str(video_dir / "lin-manuel-miranda.png"))
    assert frame is not None
    return frame
