"""The greeter loop: frame -> faces -> names -> greeting.

Per frame: detect faces (:mod:`greeter.detector`), align each face by its 68 landmarks
on the unannotated full-resolution frame (:class:`fr_utils.align.FaceAligner`), encode
all faces of the frame in one batch (flip-averaged by default), and match them all
against the database in one matrix operation (``FaceDatabase.nearest_many``). Everything the
loop talks to (frames, detector, encoder, gallery, speaker, window, clock) is passed in.
"""

import logging
import time
import uuid
from dataclasses import dataclass

import numpy as np

from fr_utils.align import FaceAligner
from greeter.config import GREETER_THRESHOLD
from greeter.display import annotate
from greeter.names import greeting_text
from greeter.tracker import GreetingTracker

log = logging.getLogger(__name__)
UNKNOWN_LOG_INTERVAL = 60.0  # seconds between "unknown" events while strangers stay in view
# A face just over the threshold is more often an enrolled person in a poor frame than a
# stranger (a greeted man measured 0.56, then 0.84 three seconds later, at threshold 0.81):
# it is neither greeted nor logged (or kept) as an unknown visitor. Plain L2; strangers
# measure about 1.3 (the median over LFW's different-person pairs).
UNSURE_MARGIN = 0.15


@dataclass(frozen=True, eq=False)
class Face:
    box: tuple
    name: str  # the nearest enrolled person (None with an empty database)
    distance: float  # plain L2 to that person's nearest photo
    known: bool  # distance <= threshold
    crop: np.ndarray = None  # the aligned uint8 (96, 96, 3) BGR crop that was encoded
    encoding: np.ndarray = None  # its (128,) encoding


class Recognizer:
    """``recognizer(frame, database) -> [Face]``.

    Args:
        detector: ``frame -> (K, 4)`` boxes, framed for the aligner.
        encoder: ``list of 96x96 BGR crops -> (K, 128)``, called once per frame (a
            :class:`fr_utils.encoding.FaceEncoder`).
        aligner: a :class:`fr_utils.align.FaceAligner` (``None``: a new 96-pixel one).
        threshold: plain L2; a face is known when its distance is at most this (lower is stricter).
    """

    def __init__(self, detector, encoder, aligner=None, threshold=GREETER_THRESHOLD):
        self.detector, self.encoder, self.threshold = detector, encoder, threshold
        self.aligner = FaceAligner() if aligner is None else aligner

    def __call__(self, frame, database):
        boxes = self.detector(frame)
        if len(boxes) == 0:
            return []
        crops = [self.aligner.align(frame, box) for box in boxes]
        encodings = self.encoder(crops)
        names, distances = database.nearest_many(encodings)
        return [
            Face(
                tuple(int(v) for v in box),
                name,
                float(dist),
                name is not None and dist <= self.threshold,
                crop,
                encoding,
            )
            for box, name, dist, crop, encoding in zip(boxes, names, distances, crops, encodings)
        ]


def run(
    frames,
    recognizer,
    gallery,
    tracker,
    speaker,
    events,
    window=None,
    recorder=None,
    clock=time.monotonic,
    unknown_tracker=None,
):
    """Greet until ``frames`` ends or the window is closed; returns the frames processed.

    ``gallery`` (a :class:`greeter.library.LiveLibrary`) has ``.database`` and ``.poll()``,
    and ``.keep_visitor(crop, encoding, visit_id)`` to keep an unknown visitor's face;
    ``speaker`` has ``.say(text)``; ``events`` has ``.write(kind, **fields)``; ``window``
    (``None`` when headless) has ``.show(image) -> keep going``; ``recorder`` has
    ``.write(image)``.
    """
    if unknown_tracker is None:
        unknown_tracker = GreetingTracker(tracker.confirm_frames, UNKNOWN_LOG_INTERVAL, clock)
    unsure_above = recognizer.threshold + UNSURE_MARGIN
    count = 0
    for count, frame in enumerate(frames, 1):
        gallery.poll()
        faces = recognizer(frame, gallery.database)
        known = {}
        for face in faces:  # a person seen twice in one frame counts once, at the nearer face
            if face.known and (face.name not in known or face.distance < known[face.name]):
                known[face.name] = face.distance
        due = tracker.update(list(known))
        if due:
            text = greeting_text(due)
            speaker.say(text)
            events.write(
                "greeting",
                names=due,
                text=text,
                frame=count,
                distances=[_rounded(known[n]) for n in due],
            )
            log.info("%s (frame %d)", text, count)
        strangers = [f for f in faces if f.name is None or f.distance > unsure_above]
        if unknown_tracker.update(["unknown"] if strangers else []):
            events.write(
                "unknown",
                faces=len(strangers),
                frame=count,
                distances=[_rounded(f.distance) for f in strangers],
            )
            keep = getattr(gallery, "keep_visitor", None)  # one face per visit, if kept at all
            if keep is not None and strangers[0].crop is not None:
                keep(strangers[0].crop, strangers[0].encoding, uuid.uuid4().hex)
        if window is not None or recorder is not None:
            image = annotate(frame, faces)
            if recorder is not None:
                recorder.write(image)
            if window is not None and not window.show(image):
                break
    return count


def _rounded(distance):
    return round(distance, 4) if np.isfinite(distance) else None  # JSON has no Infinity
