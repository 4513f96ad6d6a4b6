"""Frames from a webcam, a video file or a network stream, surviving a camera that drops out.

:class:`FrameSource` yields frames until a video *file* ends (``loop`` starts it
again). A live source -- a camera index, a device such as ``/dev/video0`` or a stream
URL (``rtsp://``, ``http://``, ...) -- never ends: when it stops delivering frames it
is released and reopened with exponential backoff (0.5 s doubling up to 30 s), an
``error`` event is reported when it drops and a ``reconnected`` event when it is back;
only :meth:`FrameSource.stop` (or a signal) ends it. Opening fails at start with a
:class:`CameraError` (a typo should not wait forever; systemd restarts the greeter).
The opener, the sleep and the clock are injectable.
"""

import contextlib
import glob
import logging
import os
import time

import cv2

log = logging.getLogger(__name__)
STREAM_TIMEOUT_MS = 5000  # a stream that stalls this long counts as dropped


class CameraError(ValueError):
    """The camera or video could not be opened at start."""


def is_stream(source) -> bool:
    """True for a URL such as ``rtsp://cam/1`` or ``http://host/stream.mjpg``."""
    return isinstance(source, str) and "://" in source


def is_live(source) -> bool:
    """True for a source that never ends: a camera index, a ``/dev/`` device or a stream URL."""
    return not isinstance(source, str) or is_stream(source) or source.startswith("/dev/")


@contextlib.contextmanager
def _opencv_quiet():
    """OpenCV's own log off for the block: a camera index that does not exist makes it print
    about a dozen lines (V4L2, FFmpeg, obsensor) before our one-line explanation. Kept when
    ``$OPENCV_LOG_LEVEL`` is set (someone is debugging)."""
    if os.environ.get("OPENCV_LOG_LEVEL"):
        yield
        return
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


def open_capture(source):
    """``cv2.VideoCapture`` for a camera index (int) or a file/URL (str); ``None`` if it fails
    (what to check: :func:`open_problem`).

    Streams get open and read timeouts (:data:`STREAM_TIMEOUT_MS`), so a camera that
    hangs is noticed instead of blocking the loop."""
    with _opencv_quiet():
        if is_stream(source):
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                STREAM_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                STREAM_TIMEOUT_MS,
            ]
            cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
        else:
            cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        return None
    return cap


def open_problem(source) -> tuple[str, str]:
    """``(what, what to check)`` for a source that does not open, e.g. ``("camera 0", "no
    camera is connected ...")``: the words of :class:`CameraError` and ``greeter doctor``."""
    if not is_live(source):
        return f"video {source!r}", "check the file is a video OpenCV can read"
    if is_stream(source):
        return f"stream {source!r}", "check the URL and that the camera is on"
    if not isinstance(source, str) and not glob.glob("/dev/video*"):
        return f"camera {source}", (
            "no camera is connected (this machine has no /dev/video* device): plug one in, "
            "or use --video FILE"
        )
    return f"camera {source}", (
        "check it is plugged in, not used by another program (a running greeter holds its "
        "camera: sudo systemctl stop greeter), and that you may access /dev/video*; try "
        "--camera 1, or --video FILE"
    )


class FrameSource:
    """Iterate over BGR frames; ``release()`` (or a ``with`` block) frees the device.

    Args:
        source: camera index (int), or video file, ``/dev/`` device or stream URL (str).
        loop: for a video file, start again at its end instead of stopping (live
            sources never end anyway).
        opener: ``source -> capture or None``; a capture has ``read()`` and ``release()``.
        sleep: ``time.sleep``-like, used for the reconnect backoff.
        backoff: first wait in seconds after a live source fails; doubles up to ``max_backoff``.
        on_event: called with ``(kind, message)``, kind ``"error"`` when a live source
            drops and ``"reconnected"`` when it is back (for the event log).
        clock: ``time.monotonic``-like, to report how long a source was down.
    """

    def __init__(
        self,
        source,
        loop=False,
        opener=open_capture,
        sleep=time.sleep,
        backoff=0.5,
        max_backoff=30.0,
        on_event=None,
        clock=time.monotonic,
    ):
        self.source, self.loop = source, loop
        self.is_video = not is_live(source)  # a file: it ends
        self._opener, self._sleep, self._clock = opener, sleep, clock
        self._backoff, self._max_backoff = backoff, max_backoff
        self._on_event = on_event or (lambda kind, message: None)
        self.reconnects = 0
        self.restarts = 0  # breaks in the picture: reconnects, and a looped video starting again
        self._cap = opener(source)
        if self._cap is None:
            what, hint = open_problem(source)
            raise CameraError(f"Could not open {what}: {hint}.")
        self.stopped = False

    def __iter__(self):
        while not self.stopped:
            ok, frame = self._cap.read()
            if ok and frame is not None:
                yield frame
            elif self.is_video and not self.loop:
                return
            elif self.is_video:
                self._reopen_video()
            else:
                frame = self._reconnect()
                if frame is not None:
                    yield frame

    def _reopen_video(self):
        self._cap.release()
        self._cap = self._opener(self.source)
        if self._cap is None:
            raise CameraError(f"Could not reopen video {self.source!r} to loop it.")
        self.restarts += 1

    def _reconnect(self):
        """Release the camera and reopen it, waiting longer after each failed try.

        Returns the first frame after reconnecting, or ``None`` once stopped."""
        wait, down_since = self._backoff, self._clock()
        message = f"{self._name} stopped delivering frames; reconnecting"
        log.warning(message)
        self._on_event("error", message)
        self._cap.release()
        while not self.stopped:
            self._sleep(wait)
            self._cap = self._opener(self.source)
            if self._cap is not None:
                ok, frame = self._cap.read()
                if ok and frame is not None:
                    self.reconnects += 1
                    self.restarts += 1
                    message = f"{self._name} reconnected after {self._clock() - down_since:.1f} s"
                    log.warning(message)
                    self._on_event("reconnected", message)
                    return frame
                self._cap.release()
            log.info(
                "%s still unavailable; next try in %.1f s",
                self._name,
                min(wait * 2, self._max_backoff),
            )
            wait = min(wait * 2, self._max_backoff)
        self._cap = _Closed()
        return None

    @property
    def _name(self):
        return f"stream {self.source}" if is_stream(self.source) else f"camera {self.source}"

    def stop(self):
        """Make the iteration end after the current frame (e.g. from a signal handler)."""
        self.stopped = True

    def release(self):
        self.stopped = True
        if self._cap is not None:
            self._cap.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class _Closed:
    def read(self):
        return False, None

    def release(self):
        pass
