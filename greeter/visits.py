"""Decide per visit, not per frame: evidence from a tracked face, the open-set threshold for
the gallery's size, the margin over the runner-up, and who is greeted when.

A visit is one tracked face (:mod:`greeter.tracks`). Its good frames (the quality gate:
:class:`QualityGate`) each add a unit embedding, weighted by how large and sharp the face
is; the visit is judged on the weighted mean of them all (re-normalised), which is far
steadier than any single frame (LFW: averaging 3 photos of the probe lifts the share of
true matches at 1 % false accepts from 0.69 to 0.84). :func:`judge` compares that mean with
each enrolled person and returns a :class:`Verdict`:

* ``known``: the nearest person is within the threshold AND beats the runner-up by the
  margin rule; the visit is greeted (once; the per-person cooldown still applies);
* ``stranger``: no one is close (farther than :data:`UNSURE_FACTOR` times the threshold);
* ``unsure``: in between, or too close to call between two people: neither greeted nor
  logged as a stranger (a near miss is more often a poorly seen enrolled person).

A visit collects at least ``min_frames`` good frames before any verdict and at most
``max_frames`` encodings (its budget): once decided, or once the budget is spent, the face
is only tracked, not encoded again, so several faces in view cost little.

The threshold is the one that keeps the expected rate of greeting a stranger's visit by
some enrolled name at ``fpir`` for the number of people enrolled *now*
(:class:`OpenSetThreshold`, from the encoder's impostor curve: :mod:`fr_utils.open_set`);
an explicit ``--threshold`` wins. Pure logic: tested without a camera or a model.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from greeter.config import (
    DEFAULT_CONFIRM_FRAMES,
    DEFAULT_MARGIN,
    DEFAULT_MATCH,
    DEFAULT_VISIT_FRAMES,
    GREETER_THRESHOLD,
    MATCH_RULES,
    ConfigError,
    Settings,
    describe_source,
    tuned_for,
)

# Up to 1.3 times the threshold a visit is a near miss, not a stranger: more often an enrolled
# person seen poorly (LMM's FaceNet visit at 0.55, threshold 0.45). Relative, because the
# encoders' scales differ (strangers' median distance: dlib 0.58, FaceNet 1.34).
UNSURE_FACTOR = 1.3
# A finished visit's face, looked at again, is someone else when farther than this many times
# the threshold from the visit's mean: wide, because a single turned frame of the same person
# strays far (FaceNet's threshold for 200 people is 0.45; its same-person LFW pairs' median
# distance is 0.69), while strangers sit at about twice the threshold (dlib: 0.58 vs 0.31).
# An enrolled person taking over the track is caught by name, whatever the distance.
SWAP_FACTOR = 2.0


@dataclass(frozen=True)
class Verdict:
    """What a visit was judged to be (see the module docstring). Distances are plain L2 to
    the person (their nearest photo, or their mean: the ``rule``)."""

    kind: str  # "known", "stranger" or "unsure"
    name: str | None  # the nearest enrolled person (None with nobody enrolled)
    distance: float
    runner_up: str | None
    runner_up_distance: float
    threshold: float
    frames: int  # good frames the verdict rests on

    @property
    def known(self) -> bool:
        return self.kind == "known"

    @property
    def ratio(self) -> float:
        """``distance / runner_up_distance`` (lower is a clearer win; 0 with no runner-up)."""
        if self.runner_up is None or not math.isfinite(self.runner_up_distance):
            return 0.0
        return self.distance / self.runner_up_distance if self.runner_up_distance > 0 else 1.0


WINDOW = 8  # a visit is judged on its last 8 good frames: a face turning towards the camera
# starts poor (looking down, small), and its first frames would hold a running mean of all
# its frames back; a mean of 8 frames still averages out most frame-to-frame noise


@dataclass
class Visit:
    """The evidence of one tracked face: its good frames' weighted unit embeddings, and the
    caller's record of each of those faces (to keep the most representative one)."""

    track_id: int
    started: float
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)  # one kept face per visit
    vectors: list = field(default_factory=list)
    weights: list = field(default_factory=list)
    encoded: int = 0  # faces encoded for it (its budget is Rules.max_frames)
    checked: float = 0.0  # clock time its face was last encoded (evidence or identity check)
    verdict: Verdict | None = None  # the latest verdict (final once known or reported)
    decided: bool = False  # known (greeted, or in the person's cooldown): no more encodings
    reported: bool = False  # its final verdict was reported (once)
    faces: list = field(default_factory=list)  # the caller's record of each good frame

    @property
    def frames(self) -> int:
        return len(self.vectors)

    def add(self, encoding, weight: float = 1.0, face=None) -> None:
        """One good frame's unit embedding, its weight (e.g. the face's size) and the
        caller's record of that face."""
        self.vectors.append(np.asarray(encoding, np.float32).reshape(128))
        self.weights.append(float(weight))
        self.faces.append(face)

    def representative(self, window: int | None = WINDOW):
        """The record of the frame (among the last ``window``) nearest the visit's mean: the
        face most like what the visit was judged on (``None`` with no good frame)."""
        if not self.vectors:
            return None
        start = 0 if window is None else max(0, len(self.vectors) - int(window))
        distances = np.linalg.norm(np.stack(self.vectors[start:]) - self.mean(window), axis=1)
        return self.faces[start + int(np.argmin(distances))]

    def mean(self, window: int | None = WINDOW) -> np.ndarray:
        """The weighted mean of the last ``window`` frames' embeddings (all: ``None``),
        re-normalised to unit length."""
        if not self.vectors:
            raise ValueError("A visit with no good frame has no mean embedding.")
        start = 0 if window is None else max(0, len(self.vectors) - int(window))
        weights = np.asarray(self.weights[start:], np.float64)
        mean = np.average(np.stack(self.vectors[start:]), axis=0, weights=weights)
        return (mean / np.linalg.norm(mean)).astype(np.float32)

    def wants_frames(self, rules: Rules) -> bool:
        """Whether its face should still be encoded: not yet decided, budget left."""
        return not self.decided and not self.reported and self.encoded < rules.max_frames

    def wants_check(self, rules: Rules, now: float, resumed: bool) -> bool:
        """Whether a finished visit's face should be encoded once more, to check it is still
        the same person: when its face comes back after frames without it (someone else may
        have stepped into the same place), and every ``rules.recheck`` seconds."""
        if self.wants_frames(rules) or not self.vectors:
            return False
        return resumed or now - self.checked >= rules.recheck


@dataclass(frozen=True)
class Rules:
    """How visits are decided (the greeter's settings; see :mod:`greeter.config`).

    ``max_ratio``: the nearest person's distance over the runner-up's must be at most this
    (1.0: no margin rule). ``rule``: compare with each person's ``"mean"`` encoding (their
    photos' unit encodings averaged, re-normalised) or their ``"nearest"`` photo; the same
    with one photo a person, and the mean misses far fewer visits with several."""

    min_frames: int = DEFAULT_CONFIRM_FRAMES
    max_frames: int = DEFAULT_VISIT_FRAMES
    max_ratio: float = DEFAULT_MARGIN
    rule: str = DEFAULT_MATCH
    recheck: float = 2.0  # seconds between identity checks of a finished visit's face

    def __post_init__(self):
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(
                f"Need 1 <= min_frames <= max_frames. Received: {self.min_frames}, "
                f"{self.max_frames}"
            )
        if not 0.0 < self.max_ratio <= 1.0:
            raise ValueError(f"max_ratio must be in (0, 1]. Received: {self.max_ratio}")
        if self.rule not in MATCH_RULES:
            raise ValueError(f"rule must be one of {MATCH_RULES}. Received: {self.rule!r}")


def judge(visit: Visit, gallery, threshold: float, rules: Rules) -> Verdict | None:
    """The verdict on ``visit`` against ``gallery`` (a :class:`fr_utils.database.FaceDatabase`)
    at ``threshold``, or ``None`` while it needs more frames.

    ``known`` needs ``min_frames`` good frames, the nearest person within ``threshold`` and
    the runner-up far enough (``distance / runner_up <= max_ratio``). Without a match, the
    verdict is ``stranger`` (or ``unsure`` for a near miss or a tie) once ``max_frames``
    were seen, or earlier when the nearest person is clearly too far after ``min_frames``.
    """
    if visit.frames < rules.min_frames:
        return None
    names, distances = gallery.person_distances(visit.mean(), rules.rule)
    name = names[0] if names else None
    d1 = float(distances[0]) if names else math.inf
    runner_up = names[1] if len(names) > 1 else None
    d2 = float(distances[1]) if len(names) > 1 else math.inf
    verdict = Verdict("unsure", name, d1, runner_up, d2, float(threshold), visit.frames)
    if name is not None and d1 <= threshold and verdict.ratio <= rules.max_ratio:
        return dataclasses.replace(verdict, kind="known")
    if d1 > threshold * UNSURE_FACTOR:
        return dataclasses.replace(verdict, kind="stranger")
    return verdict if visit.frames >= rules.max_frames else None


class Cooldown:
    """A person greeted recently is not greeted again for ``seconds`` (injectable clock)."""

    def __init__(self, seconds: float, clock=time.monotonic):
        if not seconds >= 0:
            raise ValueError(f"cooldown must be >= 0 seconds. Received: cooldown={seconds}")
        self.seconds, self._clock, self._last = float(seconds), clock, {}

    def ready(self, name: str) -> bool:
        last = self._last.get(name)
        return last is None or self._clock() - last >= self.seconds

    def greeted(self, name: str) -> None:
        self._last[name] = self._clock()


class OpenSetThreshold:
    """The match threshold for the gallery's size: ``policy.for_gallery(people, photos)``.

    The curve is measured against single enrolled photos, and the threshold is set for the
    number of enrolled PHOTOS under either match rule: a person's mean of several photos
    draws strangers a little nearer than one photo does, and counting every photo covers
    that (LFW, 200 people x 3 photos, dlib, at the threshold for 600 photos: 0.24 % of
    strangers greeted with the margin rule, 0.52 % without; bench/bench_open_set.py).

    Args:
        curve: the encoder's :class:`fr_utils.open_set.ImpostorCurve`, or ``None``.
        fpir: the target share of strangers' visits greeted by some enrolled name.
        fixed: an explicit threshold (``--threshold`` / config): used as it is, and the
            expected FPIR at it is still reported when the curve is known.
        fallback: the threshold when there is neither (the weights' measured one).
    """

    def __init__(self, curve=None, fpir: float = 0.01, fixed=None, fallback=None):
        if fixed is None and curve is None and fallback is None:
            raise ValueError("A threshold needs an impostor curve, a fixed value or a fallback.")
        self.curve, self.fpir, self.fixed, self.fallback = curve, float(fpir), fixed, fallback

    def for_gallery(self, people: int, photos: int) -> float:
        """The threshold for ``people`` enrolled with ``photos`` photos in all."""
        if self.fixed is not None:
            return float(self.fixed)
        if self.curve is None:
            return float(self.fallback)
        return self.curve.threshold_for(max(1, int(photos)), self.fpir)

    def expected_fpir(self, threshold: float, people: int, photos: int) -> float | None:
        """The expected share of strangers' visits greeted at ``threshold`` (None without a
        curve)."""
        if self.curve is None:
            return None
        return self.curve.fpir(threshold, int(photos))

    def describe(self, people: int, photos: int) -> str:
        """The log line, in words, e.g. "200 people enrolled: a stranger is greeted by
        mistake in about 1 % of visits at threshold 0.47"."""
        threshold = self.for_gallery(people, photos)
        rate = self.expected_fpir(threshold, people, photos)
        who = f"{people} {'person' if people == 1 else 'people'} enrolled ({photos} photos)"
        if rate is None:
            how = "no impostor curve for this encoder, so the stranger-greet rate is unknown"
        else:
            how = f"a stranger is greeted by mistake in about {_percent(rate)} of visits"
        origin = "as set" if self.fixed is not None else "for this gallery"
        return f"{who}: {how} at threshold {threshold:.3f} ({origin}; plain L2, lower is stricter)"


def _percent(rate: float) -> str:
    value = rate * 100
    digits = 0 if value >= 0.95 or value == 0 else 1 if value >= 0.095 else 2
    return f"{value:.{digits}f} %"


@dataclass(frozen=True)
class QualityGate:
    """Which faces vote: large enough, sharp enough, turned little enough.

    ``min_face``: box width in frame pixels (below ~60 px FaceNet named someone else on
    every frame of the Hamilton clip's wide shot); ``min_sharpness``: the contrast-free
    Laplacian measure of :func:`fr_utils.align.sharpness` (out-of-focus audience faces score
    0.007-0.023, sharp video faces 0.065 and more, LFW photos 0.059 at the median);
    ``max_yaw``: degrees (:func:`fr_utils.align.yaw_degrees`; up to ~45° both encoders still
    match well). The defaults drop 6.3 % of LFW photos.
    """

    min_face: int = 60
    min_sharpness: float = 0.02
    max_yaw: float = 45.0

    def problem(self, box, sharpness: float, yaw: float) -> str | None:
        """Why a face does not vote (``None``: it votes)."""
        if box[2] < self.min_face:
            return f"small ({box[2]} px < {self.min_face})"
        if sharpness < self.min_sharpness:
            return f"blurred ({sharpness:.3f} < {self.min_sharpness})"
        if abs(yaw) > self.max_yaw:
            return f"turned ({abs(yaw):.0f}° > {self.max_yaw:g}°)"
        return None

    @staticmethod
    def weight(box) -> float:
        """How much a good frame counts in its visit's mean: larger faces carry more detail
        (up to 160 px wide)."""
        return min(1.0, box[2] / 160.0)


class VisitJudge:
    """Judges visits for the current gallery: its threshold, the rules, the cooldown.

    Args:
        policy: the :class:`OpenSetThreshold`.
        rules: the :class:`Rules`.
        cooldown: the :class:`Cooldown` (per person).
    """

    def __init__(self, policy: OpenSetThreshold, rules: Rules, cooldown: Cooldown):
        self.policy, self.rules, self.cooldown = policy, rules, cooldown
        self.threshold = policy.for_gallery(0, 0)

    def set_gallery(self, people: int, photos: int) -> str:
        """Settle the threshold for a gallery of ``people`` (``photos`` in all); returns the
        sentence saying what it means (for the log)."""
        self.threshold = self.policy.for_gallery(people, photos)
        return self.policy.describe(people, photos)

    def consider(self, visit: Visit, gallery) -> Verdict | None:
        """Judge ``visit`` after new evidence. Returns its verdict when it is now known and
        due a greeting (the person is not in their cooldown); a known visit is decided
        either way and not encoded again."""
        verdict = judge(visit, gallery, self.threshold, self.rules)
        if verdict is None:
            return None
        visit.verdict = verdict
        if not verdict.known:
            return None
        visit.decided = True
        if not self.cooldown.ready(verdict.name):
            return None
        self.cooldown.greeted(verdict.name)
        return verdict

    def same_person(self, visit: Visit, encoding, gallery) -> bool:
        """Whether ``encoding`` (a new look at a finished visit's face) is still the visit's
        person: within :data:`SWAP_FACTOR` times the threshold of the visit's mean, and not
        recognised as another enrolled person than the one the visit was."""
        encoding = np.asarray(encoding, np.float32)
        if float(np.linalg.norm(encoding - visit.mean())) > self.threshold * SWAP_FACTOR:
            return False
        names, distances = gallery.person_distances(encoding, self.rules.rule)
        known_as = visit.verdict.name if visit.verdict is not None else None
        return not (names and names[0] != known_as and distances[0] <= self.threshold)

    def final(self, visit: Visit, gallery, ended: bool) -> Verdict | None:
        """The verdict to report, once, for a visit that was not greeted: when its budget is
        spent, or when its face left (``ended``) after at least ``min_frames`` good frames.
        ``None``: nothing to report (yet)."""
        if visit.decided or visit.reported:
            return None
        spent = visit.encoded >= self.rules.max_frames
        if not (spent or ended) or visit.frames < self.rules.min_frames:
            return None
        visit.reported = True
        verdict = judge(visit, gallery, self.threshold, dataclasses.replace(
            self.rules, max_frames=visit.frames, min_frames=min(visit.frames, self.rules.min_frames)
        ))  # fmt: skip
        visit.verdict = verdict
        return verdict


def threshold_policy(settings: Settings, sources: dict[str, str], encoder, weights):
    """How the match threshold is chosen, and where from, in words: ``(policy, origin)``.

    ``policy`` is a :class:`greeter.visits.OpenSetThreshold`: a threshold set by flag or
    config file wins; unset, it is the one that keeps the expected share of strangers'
    visits greeted at ``fpir`` for the number of people enrolled at the time, from the
    encoder's impostor curve (``open_set`` file, else ``OPEN_SET.json`` beside the weights,
    else the curve shipped for the encoder: :func:`fr_utils.open_set.find_curve`). FaceNet
    weights with no curve fall back to the 1:1 threshold measured for them
    (``THRESHOLDS.json``), else :data:`GREETER_THRESHOLD`, with a warning: such a threshold
    does not know the gallery's size.
    """
    from fr_utils.open_set import find_curve
    from fr_utils.weight_files import measured_threshold

    fixed = settings.threshold if sources.get("threshold", "default") != "default" else None
    curve = find_curve(encoder.model_id, explicit=settings.open_set, weights=weights)
    fallback, origin = None, None
    if curve is not None:
        origin = f"the impostor curve {curve.source} ({curve.comparisons:,} comparisons)"
    elif fixed is None:
        if encoder.name != "facenet":
            raise ConfigError(
                f"No impostor curve for the {encoder.name} encoder ({encoder.model_id}); "
                "reinstall the package, or give --threshold or --open-set."
            )
        measured = measured_threshold(weights, settings.flip)
        fallback, origin = (measured[0], str(measured[1])) if measured else (GREETER_THRESHOLD, "")
        origin = (
            f"{origin or 'the built-in default'}: a 1:1 threshold that does not know how many "
            "people are enrolled (measure a curve with facenet-tune --open-set)"
        )
    if fixed is not None:
        origin = describe_source("threshold", sources)
        source = sources.get("threshold")
        tuned = tuned_for(source) if source not in (None, "flag", "default") else None
        if tuned is not None and tuned != encoder.model_id:
            raise ConfigError(
                f"The threshold {fixed:g} in {source} was tuned for {tuned}, but the greeter "
                f"encodes with {encoder.model_id}; a threshold does not carry over between "
                "encoders (a wrong one greets strangers). Tune again with `facenet-tune ... "
                f'--encoder {encoder.name} --write-config {source}`, or remove "threshold" '
                'and "tuning" from the file to use the encoder\'s impostor curve.'
            )
    policy = OpenSetThreshold(curve, fpir=settings.fpir, fixed=fixed, fallback=fallback)
    return policy, origin
