"""fr_utils.evaluation.lfw: the box LFW photos fall back to. (The View-2 benchmark end to end:
tests/fr_utils/cli/test_tune.py, through ``facenet-tune --lfw``.)"""

import numpy as np

from fr_utils.align import dlib_like_box
from fr_utils.evaluation import lfw


def test_centre_box_is_a_detector_that_always_finds_the_middle():
    """The box a detector finds on a typical LFW photo, reframed as dlib frames a face and
    scaled with the image (enrollment enlarges a 250x250 photo before detecting)."""
    boxes = lfw.CentreBox()(np.zeros((250, 250, 3), np.uint8))
    assert boxes.tolist() == [dlib_like_box(lfw.LFW_CENTRE_BOX).tolist()] == [[77, 83, 104, 104]]
    enlarged = lfw.CentreBox()(np.zeros((320, 320, 3), np.uint8))
    np.testing.assert_allclose(enlarged, boxes * 320 / 250, atol=1)
