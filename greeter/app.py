"""The greeter loop: frame -> tracked faces -> visits -> greetings.

Per frame (:class:`Recognizer`): detect faces (:mod:`greeter.detector`), follow each from
frame to frame (:mod:`greeter.tracks`: a track is one visit), and for the visits that still
need evidence find the 68 landmarks on the full-resolution frame, check the face is worth a
vote (:class:`greeter.visits.QualityGate`: size, sharpness, yaw), align it the way the
encoder wants and encode all of them in one batch. A visit that is decided (greeted, or in
the person's cooldown) or has spent its budget of encodings is only tracked from then on.

:func:`run` then judges each visit that got new evidence
(:class:`greeter.visits.VisitJudge`: the mean of its last good frames against every
enrolled person, the threshold for the gallery's size, the margin over the runner-up),
speaks one greeting for the people due in this frame, and reports once per visit what was
not greeted (a stranger, or a near miss). Everything the loop talks to (frames, detector,
encoder, gallery, speaker, window, clock) is passed in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from fr_utils.align import sharpness, yaw_degrees
from greeter.detector import FrameDetector
from greeter.display import annotate
from greeter.names import greeting_text
from greeter.tracks import CutDetector, FaceTracker
from greeter.visits import Cooldown, QualityGate, Rules, Verdict, Visit, VisitJudge

log = logging.getLogger(__name__)
FACE_IMAGE_SCALE = 2.2  # a kept face's loose image: the box enlarged 2.2x (as LFW frames faces)
FACE_IMAGE_SIDE = 250  # ... at most this many pixels square, JPEG


@dataclass(frozen=True)
class FaceRecord:
    """What is kept of a visit's frame: the aligned crop the encoder saw and a loose image of
    the face (JPEG) that any encoder can enrol from."""

    crop: np.ndarray
    image: bytes | None
    box: tuple


@dataclass(eq=False)
class FaceSeen:
    """One detected face in one frame: where it is, its visit, and whether this frame
    added evidence to the visit (for display and for the loop)."""

    box: tuple
    visit: Visit
    fresh: bool = False  # this frame added a good, encoded face to the visit
    problem: str | None = None  # why this frame's face did not vote
    check: np.ndarray | None = None  # a finished visit's face encoded again, to check who it is
    record: FaceRecord | None = None  # this frame's look at the face, when it was encoded

    @property
    def verdict(self) -> Verdict | None:
        return self.visit.verdict

    # what greeter.display.annotate draws
    @property
    def known(self) -> bool:
        return self.verdict is not None and self.verdict.known

    @property
    def name(self) -> str | None:
        return None if self.verdict is None else self.verdict.name

    @property
    def distance(self) -> float | None:
        return None if self.verdict is None else self.verdict.distance


def face_image(frame, box) -> bytes | None:
    """The face with a margin: ``box`` enlarged :data:`FACE_IMAGE_SCALE` times about its
    centre (black outside the frame), at most :data:`FACE_IMAGE_SIDE` px, as JPEG."""
    x, y, w, h = (float(v) for v in box)
    side = FACE_IMAGE_SCALE * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    scale = min(1.0, FACE_IMAGE_SIDE / side)
    out = round(side * scale)
    matrix = np.array(
        [[scale, 0, -(cx - side / 2) * scale], [0, scale, -(cy - side / 2) * scale]], np.float32
    )
    crop = cv2.warpAffine(np.asarray(frame), matrix, (out, out), flags=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return data.tobytes() if ok else None


class Recognizer:
    """``recognizer(frame) -> [FaceSeen]``: faces tracked into visits, evidence added.

    Args:
        detector: ``frame -> (K, 4)`` boxes, framed for the aligner.
        encoder: ``aligned crops -> (K, 128)`` unit vectors, called at most once per frame
            (see :func:`fr_utils.encoding.make_encoder`).
        aligner: the encoder's aligner (``encoder.make_aligner()``), with ``landmarks`` and
            ``align_landmarks``.
        rules: how visits are decided (:class:`greeter.visits.Rules`; its ``max_frames`` is
            each visit's budget of encodings).
        gate: which faces vote (:class:`greeter.visits.QualityGate`).
        tracker: a :class:`greeter.tracks.FaceTracker` (``None``: a new one).
        cuts: a :class:`greeter.tracks.CutDetector` (``None``: a new one): at a shot cut in
            edited footage every visit ends (a new face in the same place is not the same
            person). A door camera has no cuts; it costs ~0.1 ms a frame.
        clock: ``time.monotonic``-like, for the visits' start times.
    """

    def __init__(
        self,
        detector,
        encoder,
        aligner=None,
        *,
        rules: Rules | None = None,
        gate: QualityGate | None = None,
        tracker: FaceTracker | None = None,
        cuts: CutDetector | None = None,
        clock=time.monotonic,
    ):
        self.detector, self.encoder = detector, encoder
        self.aligner = encoder.make_aligner() if aligner is None else aligner
        self.rules = Rules() if rules is None else rules
        self.gate = QualityGate() if gate is None else gate
        self.tracker = FaceTracker(clock=clock) if tracker is None else tracker
        self.cuts = CutDetector() if cuts is None else cuts
        self._clock = clock
        self._cut = False
        self.ended: list[Visit] = []  # visits whose face left at the last call
        self.encoded = 0  # faces encoded so far (for the benchmarks)

    def visits(self) -> list[Visit]:
        """The visits of the faces being tracked now."""
        return [t.data["visit"] for t in self.tracker.tracks if "visit" in t.data]

    def cut(self) -> None:
        """A break in the picture (a camera that reconnected, a looped video starting again):
        the next frame is judged afresh, as after a shot cut."""
        self._cut = True

    def __call__(self, frame) -> list[FaceSeen]:
        cut, self._cut = self.cuts(frame) or self._cut, False
        ended = self.tracker.reset() if cut else []
        boxes = self.detector(frame)
        tracks = self.tracker.update(boxes)
        self.ended = [t.data["visit"] for t in ended + self.tracker.ended if "visit" in t.data]
        now = self._clock()
        seen, todo = [], []
        for track in tracks:
            visit = track.data.get("visit")
            if visit is None:
                visit = track.data["visit"] = Visit(track.id, now)
            face = FaceSeen(track.box, visit)
            seen.append(face)
            if visit.wants_frames(self.rules) or visit.wants_check(self.rules, now, track.resumed):
                todo.append(face)
        crops, voters = [], []
        for face in todo:
            landmarks = self.aligner.landmarks(frame, face.box)
            face.problem = self.gate.problem(
                face.box, sharpness(frame, landmarks), yaw_degrees(landmarks)
            )
            if face.problem is None:
                crops.append(self.aligner.align_landmarks(frame, landmarks))
                voters.append(face)
        if voters:
            encodings = self.encoder(crops)
            self.encoded += len(voters)
            for face, crop, encoding in zip(voters, crops, encodings):
                face.record = FaceRecord(crop, face_image(frame, face.box), face.box)
                face.visit.checked = now
                if face.visit.wants_frames(self.rules):
                    self._add(face, encoding)
                else:
                    face.check = np.asarray(encoding, np.float32)
        return seen

    def _add(self, face: FaceSeen, encoding) -> None:
        face.visit.encoded += 1
        face.visit.add(encoding, self.gate.weight(face.box), face.record)
        face.fresh = True

    def restart(self, face: FaceSeen) -> Visit:
        """Someone else now has ``face``'s track (its identity check failed): the old visit
        has ended (it is in :attr:`ended`), and a new one starts with this frame's face."""
        track = next(t for t in self.tracker.tracks if t.data.get("visit") is face.visit)
        self.ended.append(face.visit)
        face.visit = track.data["visit"] = Visit(track.id, self._clock())
        self._add(face, face.check)
        face.check = None
        return face.visit


def loop_parts(settings, encoder, aligner, policy) -> tuple[Recognizer, VisitJudge]:
    """The recognizer and the judge for ``settings`` (a :class:`greeter.config.Settings`),
    with ``policy`` from :func:`greeter.visits.threshold_policy`: how ``greeter`` wires
    them, and ``bench/bench_greeter.py`` measures the same."""
    rules = Rules(
        min_frames=settings.confirm_frames,
        max_frames=settings.visit_frames,
        max_ratio=settings.margin,
        rule=settings.match,
    )
    detector = FrameDetector(
        detect_width=settings.detect_width,
        min_face=settings.min_face,
        scale_factor=settings.scale_factor,
        min_neighbors=settings.min_neighbors,
        kind=settings.detector,
    )
    gate = QualityGate(settings.min_face, settings.min_sharpness, settings.max_yaw)
    recognizer = Recognizer(detector, encoder, aligner, rules=rules, gate=gate)
    return recognizer, VisitJudge(policy, rules, Cooldown(settings.cooldown))


def run(
    frames,
    recognizer: Recognizer,
    gallery,
    judge: VisitJudge,
    speaker,
    events,
    window=None,
    recorder=None,
):
    """Greet until ``frames`` ends or the window is closed; returns the frames processed.

    ``gallery`` (a :class:`greeter.library.LiveLibrary`) has ``.database`` (a
    :class:`fr_utils.database.FaceDatabase`), ``.poll()`` (photo ids added and removed
    since the last call) and ``.keep_face(...)``; ``speaker`` has ``.say(text)``;
    ``events`` has ``.write(kind, **fields)``; ``window`` (``None`` when headless) has
    ``.show(image) -> keep going``; ``recorder`` has ``.write(image)``.
    """
    gallery.poll()  # what was loaded before the start is no change
    _settle(judge, gallery, events)
    count, restarts = 0, getattr(frames, "restarts", 0)
    for count, frame in enumerate(frames, 1):
        if any(gallery.poll()):
            _settle(judge, gallery, events)
        if getattr(frames, "restarts", 0) != restarts:  # the camera came back, the video looped
            restarts = frames.restarts
            recognizer.cut()
        faces = recognizer(frame)
        for face in faces:
            if face.check is not None and not judge.same_person(
                face.visit, face.check, gallery.database
            ):
                recognizer.restart(face)  # someone else in the same place: a new visit
        due = []
        for face in faces:
            if face.fresh and not face.visit.decided:
                verdict = judge.consider(face.visit, gallery.database)
                if verdict is not None:  # greeted (a visit in the person's cooldown is not kept)
                    due.append(verdict)
                    _keep(gallery, face.visit, verdict)
        if due:
            _greet(due, count, speaker, events)
        finished = [(f.visit, False) for f in faces] + [(v, True) for v in recognizer.ended]
        for visit, ended in finished:
            verdict = judge.final(visit, gallery.database, ended)
            if verdict is not None:
                _report(verdict, visit, count, events)
                _keep(gallery, visit, verdict)
        if window is not None or recorder is not None:
            image = annotate(frame, faces)
            if recorder is not None:
                recorder.write(image)
            if window is not None and not window.show(image):
                break
    for visit in recognizer.visits():  # the video ended: the faces still in view have left
        verdict = judge.final(visit, gallery.database, ended=True)
        if verdict is not None:
            _report(verdict, visit, count, events)
            _keep(gallery, visit, verdict)
    return count


def _settle(judge: VisitJudge, gallery, events) -> None:
    """The threshold for the gallery as it is now, said in words (log and event)."""
    database = gallery.database
    text = judge.set_gallery(len(database), len(database.names))
    log.info(text)
    if hasattr(gallery, "set_status"):  # the kiosk's heartbeat reports it
        gallery.set_status(threshold=judge.threshold)
    events.write("threshold", threshold=_rounded(judge.threshold), people=len(database),
                 message=text)  # fmt: skip


def _greet(due: list[Verdict], frame: int, speaker, events) -> None:
    text = greeting_text([v.name for v in due])
    speaker.say(text)
    events.write(
        "greeting",
        names=[v.name for v in due],
        text=text,
        frame=frame,
        distances=[_rounded(v.distance) for v in due],
        runner_up=[v.runner_up for v in due],
        runner_up_distances=[_rounded(v.runner_up_distance) for v in due],
        threshold=_rounded(due[0].threshold),
        frames=[v.frames for v in due],
    )
    log.info("%s (frame %d)", text, frame)


def _report(verdict: Verdict, visit: Visit, frame: int, events) -> None:
    """A visit that was not greeted: a stranger ("unknown"), or a near miss ("unsure")."""
    kind = "unknown" if verdict.kind == "stranger" else "unsure"
    events.write(
        kind,
        faces=1,
        frame=frame,
        names=[] if verdict.name is None else [verdict.name],
        distances=[_rounded(verdict.distance)],
        runner_up=verdict.runner_up,
        threshold=_rounded(verdict.threshold),
        frames=verdict.frames,
        visit=visit.track_id,
    )


def _keep(gallery, visit: Visit, verdict: Verdict) -> None:
    """Keep the visit's face, if the library keeps faces of this kind: the frame most like the
    visit's mean (its crop and loose image), with the mean itself as its encoding, what the
    kiosk judged (enrolled, it matches the next visit in the same light best)."""
    keep = getattr(gallery, "keep_face", None)
    record = visit.representative()
    if keep is None or record is None:
        return
    keep(
        record.crop,
        visit.mean(),
        visit.uid,
        verdict=verdict.kind,
        image=record.image,
        name=verdict.name,
        distance=verdict.distance,
        runner_up=verdict.runner_up,
        runner_up_distance=verdict.runner_up_distance,
        threshold=verdict.threshold,
    )


def _rounded(distance):
    if distance is None or not np.isfinite(distance):
        return None  # JSON has no Infinity
    return round(float(distance), 4)
