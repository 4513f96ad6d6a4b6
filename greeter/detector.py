"""Face detection on camera frames, on a copy just small enough, boxes scaled back for the
aligner.

Detection is the main cost of the loop. Two detectors (``--detector``):

* ``dlib`` (the default): dlib's HOG detector, what the landmark model and the weights were
  trained with. It finds faces of about 65 pixels and more in the image it searches.
* ``haar``: OpenCV's cascade, finding faces from about 50 pixels (24 in its window, with
  false faces on posters and backgrounds); its boxes are reframed the way dlib frames a
  face (:func:`fr_utils.align.dlib_like_box`), because the landmark model was trained on
  dlib's boxes. ``scale_factor=1.1`` (10 % between pyramid scales) and ``min_neighbors=5``
  (fewer gives false faces, more misses real ones).

The copy searched is as small as it can be while the smallest face to greet, ``min_face``
frame pixels wide, still stays detectable in it: ``detect_width = frame width x 65 /
min_face`` for dlib (50 for Haar), never wider than the frame (``detect_width`` sets it
explicitly). Measured (``bench/bench_greeter.py``): a 640x480 frame is searched whole (dlib:
~27 ms of one core); a 1080p frame with 60-px faces too (~170 ms: ~5 frames/s), because the
320-px copy used before found none of its 45-105-px faces. Faces narrower than ``min_face``
are dropped: they carry too little detail to match (at 45 px FaceNet named someone else
every time), and at a door they are people still far away. Landmarks and the warp then run
on the full-resolution frame, so the encoder sees full-resolution pixels.
"""

import cv2
import numpy as np

from fr_utils.align import DlibDetector, dlib_like_box
from fr_utils.faces import HaarDetector
from greeter.config import DETECTORS, Settings

_DEFAULTS = Settings()  # the defaults are written once, in the settings table
SMALLEST_FOUND = {"dlib": 65, "haar": 50}  # pixels: the smallest face each finds reliably


class FrameDetector:
    """``detector(bgr_frame) -> int (K, 4)`` boxes ``x, y, w, h`` in frame pixels, largest
    first, framed as dlib frames a face (ready for :class:`fr_utils.align.FaceAligner`).

    Args:
        detect_width: width of the copy searched; ``None``: from ``min_face`` and the frame
            (see the module docstring).
        min_face: the smallest face kept, frame pixels.
        scale_factor, min_neighbors: Haar's settings.
        kind: ``"dlib"`` or ``"haar"``.
    """

    def __init__(
        self,
        detect_width=_DEFAULTS.detect_width,
        min_face=_DEFAULTS.min_face,
        scale_factor=_DEFAULTS.scale_factor,
        min_neighbors=_DEFAULTS.min_neighbors,
        kind=_DEFAULTS.detector,
    ):
        if detect_width is not None and int(detect_width) < 32:
            raise ValueError(
                f"detect_width must be >= 32 pixels. Received: detect_width={detect_width}"
            )
        if kind not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}. Received: {kind!r}")
        if int(min_face) < 1:
            raise ValueError(f"min_face must be >= 1 pixel. Received: min_face={min_face}")
        self.detect_width = None if detect_width is None else int(detect_width)
        self.min_face, self.kind = int(min_face), kind
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self._haar = {}  # min_size at detection scale -> HaarDetector
        self._dlib = DlibDetector(max_side=None)

    def width_for(self, frame_width: int) -> int:
        """The width of the copy searched in a frame ``frame_width`` pixels wide."""
        if self.detect_width is not None:
            return min(frame_width, self.detect_width)
        wanted = round(frame_width * SMALLEST_FOUND[self.kind] / self.min_face)
        return max(32, min(frame_width, wanted))

    def __call__(self, frame):
        frame = np.asarray(frame)
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        width = self.width_for(gray.shape[1])
        scale = gray.shape[1] / width
        if scale > 1.0:
            size = (width, max(1, round(gray.shape[0] / scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        if self.kind == "dlib":
            boxes = np.round(self._dlib(gray) * scale).astype(int).reshape(-1, 4)
        else:
            min_size = max(12, round(self.min_face / scale))
            haar = self._haar.get(min_size)
            if haar is None:
                haar = self._haar[min_size] = HaarDetector(
                    self.scale_factor, self.min_neighbors, min_size
                )
            boxes = np.array([dlib_like_box(box * scale) for box in haar(gray)], dtype=int)
            boxes = boxes.reshape(-1, 4)
        return boxes[boxes[:, 2] >= self.min_face]
