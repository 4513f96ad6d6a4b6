"""Face detection on camera frames, on a downscaled copy, boxes scaled back for the aligner.

Detection is the main cost of the loop. Two detectors (``--detector``):

* ``haar`` (the default): OpenCV's cascade on a grayscale copy ``detect_width`` pixels
  wide (about 20-30 ms on a 640x480 frame on this 2-core machine), its boxes reframed the
  way dlib frames a face (:func:`fr_utils.align.dlib_like_box`), because the landmark
  predictor was trained on dlib's boxes. ``scale_factor=1.1`` (10 % between pyramid
  scales; coarser is faster but misses faces between steps) and ``min_neighbors=5``
  (fewer gives false faces on posters, more misses real ones).
* ``dlib``: dlib's HOG detector, what the weights' training used; about twice Haar's cost
  and it needs faces of about 80 pixels in the copy it searches.

``min_face`` pixels in the full frame: smaller faces carry too little detail to match,
and at a door they are people still far away. Landmarks and the warp then run on the
full-resolution (unannotated) frame, so the encoder sees full-resolution pixels.
"""

import cv2
import numpy as np

from fr_utils.align import DlibDetector, dlib_like_box
from fr_utils.faces import HaarDetector
from greeter.config import DETECTORS, Settings

_DEFAULTS = Settings()  # the defaults are written once, in the settings table


class FrameDetector:
    """``detector(bgr_frame) -> int (K, 4)`` boxes ``x, y, w, h`` in frame pixels, largest
    first, framed as dlib frames a face (ready for :class:`fr_utils.align.FaceAligner`)."""

    def __init__(
        self,
        detect_width=_DEFAULTS.detect_width,
        min_face=_DEFAULTS.min_face,
        scale_factor=_DEFAULTS.scale_factor,
        min_neighbors=_DEFAULTS.min_neighbors,
        kind=_DEFAULTS.detector,
    ):
        if int(detect_width) < 32:
            raise ValueError(
                f"detect_width must be >= 32 pixels. Received: detect_width={detect_width}"
            )
        if kind not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}. Received: {kind!r}")
        self.detect_width, self.min_face, self.kind = int(detect_width), int(min_face), kind
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self._haar = {}  # min_size at detection scale -> HaarDetector
        self._dlib = DlibDetector(max_side=None)

    def __call__(self, frame):
        frame = np.asarray(frame)
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        scale = max(1.0, gray.shape[1] / self.detect_width)
        if scale > 1.0:
            size = (self.detect_width, max(1, round(gray.shape[0] / scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        if self.kind == "dlib":
            boxes = self._dlib(gray) * scale
            return np.round(boxes[boxes[:, 2] >= self.min_face]).astype(int).reshape(-1, 4)
        min_size = max(12, round(self.min_face / scale))
        haar = self._haar.get(min_size)
        if haar is None:
            haar = self._haar[min_size] = HaarDetector(
                self.scale_factor, self.min_neighbors, min_size
            )
        boxes = [dlib_like_box(box * scale) for box in haar(gray)]
        return np.array(boxes, dtype=int).reshape(-1, 4)
