"""greeter.detector: faces found on a smaller copy of the frame, boxes scaled back."""

import cv2
import numpy as np

from greeter.detector import FrameDetector


def test_frame_detector_scales_boxes_back(lfw_dir):
    photo = cv2.imread(str(next((lfw_dir / "images" / "Colin_Powell").glob("*_0001.jpg"))))
    big = cv2.resize(photo, (1000, 1000))
    boxes_small = FrameDetector(detect_width=250)(big)
    boxes_full = FrameDetector(detect_width=1000)(big)
    assert len(boxes_small) >= 1 and len(boxes_full) >= 1
    # the same face, found on a copy 4x smaller, lands within a few percent of its full-size box
    assert np.abs(boxes_small[0] - boxes_full[0]).max() <= 0.1 * boxes_full[0][2]
