"""Follow faces from frame to frame: each face becomes a track, and a track is one visit.

A few lines of our own rather than a tracking library (SORT, norfair, ByteTrack): at a door
the faces are few (one to five), large and slow next to the frame rate, so matching boxes by
overlap is enough, and a Kalman filter or an appearance model would add a dependency and
code the greeter does not need. Pure logic with an injectable clock: tested without a camera.

Each processed frame, :meth:`FaceTracker.update` matches the new boxes to the live tracks,
greedily by overlap (intersection over union, best pairs first); a box that overlaps no
track enough but whose centre lies close to a track's (a face moving fast between two
processed frames, e.g. when encoding slows the loop) is matched too, if the sizes agree. A
box matched to nothing starts a new track. A track not seen for ``max_missed`` processed
frames (or ``max_gap`` seconds) has ended: the person left, or turned away long enough.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

DEFAULT_MIN_IOU = 0.3  # boxes of one face in consecutive frames overlap far more
DEFAULT_MAX_MISSED = 10  # processed frames a track survives without its face (a turn, a hand)
DEFAULT_MAX_GAP = 1.5  # seconds, the same for a slow loop
_CENTRE_SLACK = 0.5  # a match by centre: within half a face width...
_SIZE_SLACK = 1.5  # ... and widths within a factor of 1.5


@dataclass(eq=False)
class Track:
    """One face followed across frames (one visit). ``box`` is its last ``x, y, w, h``."""

    id: int
    box: tuple
    first_seen: float
    last_seen: float
    frames: int = 1  # processed frames it was detected in
    missed: int = 0  # processed frames since it was last detected
    resumed: bool = False  # found again at this update after frames without its face
    data: dict = field(default_factory=dict)  # what the caller keeps with it (the visit)


def iou(a, b) -> float:
    """Intersection over union of two ``x, y, w, h`` boxes (0 when they do not touch)."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


def _close(a, b) -> bool:
    """True when box ``b`` could be the face of box ``a`` moved fast: centres within
    :data:`_CENTRE_SLACK` widths, widths within a factor :data:`_SIZE_SLACK`."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    width = max(aw, bw)
    if min(aw, bw) <= 0 or width / min(aw, bw) > _SIZE_SLACK:
        return False
    dx, dy = (ax + aw / 2) - (bx + bw / 2), (ay + ah / 2) - (by + bh / 2)
    return float(np.hypot(dx, dy)) <= _CENTRE_SLACK * width


class FaceTracker:
    """Boxes per frame in, tracks out: ``tracker.update(boxes) -> [Track]`` (one per box).

    Args:
        min_iou: the least overlap for a box to continue a track.
        max_missed: processed frames a track may go without a box before it ends.
        max_gap: seconds a track may go without a box before it ends.
        clock: ``time.monotonic``-like (injectable for tests).
    """

    def __init__(
        self,
        min_iou: float = DEFAULT_MIN_IOU,
        max_missed: int = DEFAULT_MAX_MISSED,
        max_gap: float = DEFAULT_MAX_GAP,
        clock=time.monotonic,
    ):
        if not 0.0 < min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1]. Received: min_iou={min_iou}")
        if int(max_missed) < 0 or not max_gap >= 0:
            raise ValueError(
                f"max_missed and max_gap must be >= 0. Received: {max_missed}, {max_gap}"
            )
        self.min_iou, self.max_missed, self.max_gap = float(min_iou), int(max_missed), max_gap
        self._clock = clock
        self._ids = itertools.count(1)
        self.tracks: list[Track] = []  # live, oldest first
        self.ended: list[Track] = []  # ended at the last update (the caller reads them once)

    def update(self, boxes) -> list[Track]:
        """Match this frame's ``boxes`` (``(K, 4)`` ``x, y, w, h``) to the live tracks.

        Returns the track of each box, in the boxes' order (new tracks for new faces). Tracks
        that have now been gone too long move to :attr:`ended`."""
        now = self._clock()
        stale = [t for t in self.tracks if now - t.last_seen > self.max_gap]  # e.g. a stream
        if stale:  # that dropped for a while: whoever is there now is a new visit
            self.tracks = [t for t in self.tracks if t not in stale]
        boxes = [tuple(int(v) for v in box) for box in np.asarray(boxes).reshape(-1, 4)]
        pairs = sorted(
            (
                (iou(track.box, box), t, b)
                for t, track in enumerate(self.tracks)
                for b, box in enumerate(boxes)
            ),
            key=lambda pair: -pair[0],
        )
        owner: dict[int, Track] = {}
        taken: set[int] = set()
        for overlap, t, b in pairs:
            if overlap < self.min_iou:
                break
            if t not in taken and b not in owner:
                owner[b] = self.tracks[t]
                taken.add(t)
        for b, box in enumerate(boxes):  # fast movers: no overlap, but close centres
            if b in owner:
                continue
            near = [
                (t, track)
                for t, track in enumerate(self.tracks)
                if t not in taken and _close(track.box, box)
            ]
            if near:
                t, track = min(near, key=lambda item: _centre_distance(item[1].box, box))
                owner[b] = track
                taken.add(t)
        for t, track in enumerate(self.tracks):
            if t not in taken:
                track.missed += 1
        result = []
        for b, box in enumerate(boxes):
            track = owner.get(b)
            if track is None:
                track = Track(next(self._ids), box, now, now)
                self.tracks.append(track)
            else:
                track.resumed = track.missed > 0  # who comes back may be someone else
                track.box, track.last_seen, track.missed = box, now, 0
                track.frames += 1
            result.append(track)
        gone = [t for t in self.tracks if t.missed > self.max_missed]
        if gone:
            self.tracks = [t for t in self.tracks if t not in gone]
        self.ended = stale + gone
        return result

    def reset(self) -> list[Track]:
        """End every track now (a shot cut); returns them."""
        ended, self.tracks = self.tracks, []
        return ended


class CutDetector:
    """``cuts(frame) -> True`` at a shot cut: the mean absolute difference between this
    frame and the previous one, as 64x36 grey copies, is over ``threshold`` grey levels
    (~0.1 ms a frame). On the Hamilton clip its three cuts score 27.7-30.5 and every other
    frame at most 13.6; a grey-histogram comparison missed a cut between two dark shots.
    Edited footage has cuts; a door camera has none."""

    def __init__(self, threshold: float = 20.0):
        self.threshold, self._previous = float(threshold), None

    def __call__(self, frame) -> bool:
        frame = np.asarray(frame)
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)
        previous, self._previous = self._previous, small
        return previous is not None and float(np.abs(small - previous).mean()) > self.threshold


def _centre_distance(a, b) -> float:
    return float(np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2))
