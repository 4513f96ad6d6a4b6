"""greeter.camera: a camera that cannot open is a clear error; a stream that drops is reopened
with backoff (a local MJPEG server on 127.0.0.1 that stops and restarts on the same port) and
reported; a video ends cleanly or loops."""

import threading

import pytest

from greeter import camera
from greeter.camera import CameraError, FrameSource, is_live, open_problem
from tests.helpers.fakes import FakeCapture
from tests.helpers.servers import MjpegServer


def test_live_sources_and_files():
    assert is_live(0) and is_live("rtsp://10.0.0.5/1") and is_live("http://cam/stream.mjpg")
    assert is_live("/dev/video0") and not is_live("clip.mp4")


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


def test_camera_that_cannot_open_is_a_clear_error():
    with pytest.raises(CameraError, match="Could not open camera 3"):
        FrameSource(3, opener=lambda source: None)


def test_what_to_check_when_a_source_does_not_open(monkeypatch):
    assert open_problem("door.mp4") == (
        "video 'door.mp4'",
        "check the file is a video OpenCV can read",
    )
    assert open_problem("rtsp://cam/1")[0] == "stream 'rtsp://cam/1'"
    monkeypatch.setattr(camera.glob, "glob", lambda pattern: [])  # no camera at all
    what, hint = open_problem(0)
    assert what == "camera 0" and hint.startswith("no camera is connected (this machine has no")
    monkeypatch.setattr(camera.glob, "glob", lambda pattern: ["/dev/video0"])
    what, hint = open_problem(1)
    assert "a running greeter holds its camera: sudo systemctl stop greeter" in hint
    assert "--camera 1, or --video FILE" in hint


def test_camera_reconnects_with_backoff_and_never_crash_loops():
    first = FakeCapture(["a", "b"])  # delivers two frames, then fails
    later = FakeCapture(["c", "d"])
    opens = iter([first, None, None, FakeCapture([]), later])  # 3 failed retries, then recovers
    waits, events = [], []
    source = FrameSource(
        0,
        opener=lambda s: next(opens),
        sleep=waits.append,
        backoff=0.5,
        max_backoff=1.5,
        on_event=lambda k, m: events.append(k),
    )
    got = []
    for frame in source:
        got.append(frame)
        if frame == "d":
            source.stop()
    assert got == ["a", "b", "c", "d"]
    assert waits == [0.5, 1.0, 1.5, 1.5]  # doubling, capped
    assert first.released
    assert events == ["error", "reconnected"]
    source.release()
    assert later.released


def test_video_ends_cleanly_or_loops():
    assert list(FrameSource("clip.mp4", opener=lambda s: FakeCapture([1, 2]))) == [1, 2]
    looped = FrameSource("clip.mp4", loop=True, opener=lambda s: FakeCapture([1, 2]))
    got = []
    for frame in looped:
        got.append(frame)
        if len(got) == 5:
            looped.stop()
    assert got == [1, 2, 1, 2, 1]
