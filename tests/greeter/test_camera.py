"""Streams never end: a local MJPEG server on 127.0.0.1 that stops and restarts on the same
port; the FrameSource (and the whole greeter) reconnects, reports it and keeps going."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest

from greeter.camera import CameraError, FrameSource, is_live

REPO = Path(__file__).resolve().parents[1]


class MjpegServer:
    """Serves one BGR ``frame`` as ``/stream.mjpg`` (multipart/x-mixed-replace JPEG) at ``fps``.
    ``stop()`` ends every open stream and closes the port; ``start()`` serves on it again."""

    def __init__(self, frame, fps=15.0):
        self.jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
        self.port, self.fps = 0, fps
        self._server, self._live = None, threading.Event()

    def start(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                part = (
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(outer.jpeg)).encode()
                    + b"\r\n\r\n"
                    + outer.jpeg
                    + b"\r\n"
                )
                try:
                    while outer._live.is_set():
                        self.wfile.write(part)
                        time.sleep(1 / outer.fps)
                except OSError:
                    pass  # the client went away

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]  # the same port after a restart
        self._live.set()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def stop(self):
        self._live.clear()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def face_frame(video_dir):
    frame = cv2.imread(str(video_dir / "lin-manuel-miranda.png"))
    assert frame is not None
    return frame


def test_live_sources_and_files():
    assert is_live(0) and is_live("rtsp://10.0.0.5/1") and is_live("http://cam/stream.mjpg")
    assert is_live("/dev/video0") and not is_live("clip.mp4")


@pytest.mark.shared
def test_stream_that_stops_and_restarts_is_reconnected(face_frame):
    server = MjpegServer(face_frame).start()
    events = []
    source = FrameSource(server.url, loop=False, on_event=lambda kind, msg: events.append(kind))
    assert not source.is_video
    restart = None
    got = 0
    try:
        for frame in source:
            assert frame.shape == face_frame.shape
            got += 1
            if got == 5:
                server.stop()  # the camera goes away mid-stream ...
                restart = threading.Timer(1.5, server.start)  # ... and comes back, same port
                restart.start()
            if got == 25:
                break
    finally:
        source.release()
        if restart is not None:
            restart.join()
        server.stop()
    assert events == ["error", "reconnected"]
    assert source.reconnects == 1


def test_stream_that_cannot_be_opened_at_start_is_a_clear_error():
    with pytest.raises(CameraError, match=r"Could not open stream 'http://127.0.0.1:9/x.mjpg'"):
        FrameSource("http://127.0.0.1:9/x.mjpg")


@pytest.mark.shared
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
    env = {**os.environ, "PYTHONPATH": str(REPO), "GREETER_CONFIG": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [
        sys.executable,
        "-m",
        "greeter",
        "--video",
        server.url,
        "--headless",
        "--no-speech",
        "--log",
        str(log),
        "--images",
        str(images),
        "--weights",
        str(weights_path),
        "--cache",
        str(tmp_path / "cache"),
        "--threshold",
        "1.2",
        "--cooldown",
        "2",
        "--confirm-frames",
        "1",
        "--detector",
        "haar",
    ]
    out, err_file = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err_file.open("w") as stderr:
        greeter = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)

    def events(kind):
        if not log.exists():
            return []
        return [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == kind]

    def wait_for(condition, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and greeter.poll() is None:
            if condition():
                return True
            time.sleep(0.2)
        return condition()

    try:
        assert wait_for(lambda: events("greeting"), 120), "no greeting before the restart"
        server.stop()
        assert wait_for(lambda: events("error"), 30), "the drop was not logged"
        time.sleep(1.0)
        server.start()
        assert wait_for(lambda: events("reconnected"), 60), "no reconnect"
        before = len(events("greeting"))
        assert wait_for(lambda: len(events("greeting")) > before, 30), "no greeting after it"
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
    assert "Lin Manuel Miranda" in events("greeting")[-1]["names"]
    assert events("stop")
