"""Draw boxes and names on frames, show them in a window, record them to a video.

Only :class:`Window` touches OpenCV's highgui (``namedWindow``/``imshow``/
``waitKey``). The plain opencv-python wheel aborts the whole process when it
has no display, so ``--headless`` never creates a Window, and
:func:`display_available` lets the caller refuse with a clear message instead.
"""

import os
import sys
from pathlib import Path

import cv2

from greeter.names import clean_name

KNOWN_COLOUR, UNKNOWN_COLOUR = (0, 200, 0), (0, 0, 230)  # BGR
QUIT_KEYS = (27, ord("q"))  # ESC, q


def display_available():
    """False on Linux without ``$DISPLAY``/``$WAYLAND_DISPLAY`` (where imshow would abort)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def annotate(frame, faces):
    """A copy of ``frame`` with each face's box, name (or "unknown", or "..." while its
    visit is being judged) and distance."""
    out = frame.copy()
    for face in faces:
        x, y, w, h = (int(v) for v in face.box)
        colour = KNOWN_COLOUR if face.known else UNKNOWN_COLOUR
        if face.distance is None:
            label = "..."
        else:
            label = f"{clean_name(face.name) if face.known else 'unknown'} {face.distance:.2f}"
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
        cv2.putText(
            out, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA
        )
    return out


class Window:
    """An OpenCV window; :meth:`show` returns False once ESC or q was pressed."""

    def __init__(self, title="greeter"):
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, image):
        cv2.imshow(self.title, image)
        return (cv2.waitKey(1) & 0xFF) not in QUIT_KEYS

    def release(self):
        cv2.destroyWindow(self.title)


class Recorder:
    """Writes annotated frames to an .mp4 (mp4v), opened at the first frame's size.

    Frames go to a temporary file beside ``path``, moved into place by :meth:`release`.
    """

    def __init__(self, path, fps=25.0):
        self.path, self.fps = Path(path), fps
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._writer = None

    def write(self, image):
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            h, w = image.shape[:2]
            self._writer = cv2.VideoWriter(
                str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h)
            )
            if not self._writer.isOpened():
                raise ValueError(
                    f"Cannot record to {self.path}: OpenCV could not open a "
                    "video writer there; check the folder and the .mp4 suffix."
                )
        self._writer.write(image)

    def release(self):
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)
