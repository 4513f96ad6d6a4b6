"""Frames from a webcam or a video file, surviving a camera that drops out.

:class:`FrameSource` yields frames until the video ends (or forever, for a
camera). A camera that stops delivering frames is released and reopened with
exponential backoff; the opener, the sleep and the clock are injectable.
"""

import logging
import time

import cv2

log = logging.getLogger(__name__)


class CameraError(ValueError):
    """The camera or video could not be opened at start."""


def open_capture(source):
    """``cv2.VideoCapture`` for a camera index (int) or a file/URL (str); ``None`` if it fails."""
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        return None
    return cap


class FrameSource:
    """Iterate over frames; ``release()`` (or a ``with`` block) frees the device.

    Args:
        source: camera index (int) or video file / URL (str).
        loop: for a video, start again at its end instead of stopping.
        opener: ``source -> capture or None``; a capture has ``read()`` and ``release()``.
        sleep: ``time.sleep``-like, used for the reconnect backoff.
        backoff: first wait in seconds after a camera failure; doubles up to ``max_backoff``.
        on_event: called with ``(kind, message)`` on a camera error or reconnect (for the log).
    """

    def __init__(self, source, loop=False, opener=open_capture, sleep=time.sleep,
                 backoff=0.5, max_backoff=30.0, on_event=None):
        self.source, self.loop = source, loop
        self.is_video = isinstance(source, str)
        self._opener, self._sleep = opener, sleep
        self._backoff, self._max_backoff = backoff, max_backoff
        self._on_event = on_event or (lambda kind, message: None)
        self._cap = opener(source)
        if self._cap is None:
            what = f"video {source!r}" if self.is_video else f"camera {source}"
            hint = ("check the path (any file or URL OpenCV can open)" if self.is_video else
                    "check it is plugged in, not used by another program, and that you may "
                    "access /dev/video*; try --camera 1, or --video FILE")
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

    def _reconnect(self):
        """Release the camera and reopen it, waiting longer after each failed try.

        Returns the first frame after reconnecting, or ``None`` once stopped."""
        wait = self._backoff
        message = f"camera {self.source} stopped delivering frames; reconnecting"
        log.warning(message)
        self._on_event("error", message)
        self._cap.release()
        while not self.stopped:
            self._sleep(wait)
            self._cap = self._opener(self.source)
            if self._cap is not None:
                ok, frame = self._cap.read()
                if ok and frame is not None:
                    log.warning("camera %s reconnected", self.source)
                    self._on_event("reconnected", f"camera {self.source} reconnected")
                    return frame
                self._cap.release()
            wait = min(wait * 2, self._max_backoff)
        self._cap = _Closed()
        return None

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
