"""Open-set identification measured on encodings: how many people can be enrolled before a
stranger is greeted by some enrolled name, and the impostor curve the greeter's threshold
comes from (:class:`fr_utils.open_set.ImpostorCurve`).

Pure numpy over unit embeddings (no model here: :mod:`fr_utils.evaluation.open_set_report`
encodes and writes the reports). Distances are plain L2 between unit vectors; lower is
stricter. The words are NIST's (FRVT 1:N):

* **FPIR** (false positive identification rate): the share of strangers' visits greeted by
  some enrolled name;
* **FNIR** (false negative identification rate): the share of enrolled people's visits not
  greeted by their own name (missed, or greeted as someone else);
* **wrong**: the share of enrolled people's visits greeted by another person's name (part of
  FNIR).

The protocol (:func:`simulate`, :func:`measure`, :func:`run`), one random draw:

1. **Strangers**: ``n_strangers`` people drawn at random first (:func:`choose_strangers`),
   so every gallery size meets the same strangers. The draw is stratified by photo count
   (1, 2, 3, 4 or more) so that each draw keeps the same mix of one-photo and multi-photo
   people on both sides.
2. **Gallery**: ``n_gallery`` of the other people, drawn at random among those with at least
   2 photos (they can come back as a visit); when there are not enough, people with one
   photo fill the gallery as enrolled people who never visit. ``enrolled_photos=k``: each
   enrolled person's first ``k`` photos when they have more than ``k``, else their first.
3. **Visits**: each enrolled person with photos left comes back once: the mean of their
   next ``visit_photos`` photos (unit embeddings averaged, re-normalised: the greeter's
   visit) when that many are left, else their next photo alone. Each stranger visits once:
   the mean of their first ``visit_photos`` photos, or their first photo alone. Gallery
   photos are never reused in a visit.
4. **Rules**: ``probe="frame"``: every photo of a visit decides alone, counted per photo
   (the greeter's frame-by-frame rule before visits); ``probe="visit"``: the visit mean
   decides. Either is compared with each enrolled person's NEAREST photo, or
   (``gallery_rule="mean"``, the greeter's default) with each person's MEAN (their photos'
   unit embeddings averaged, re-normalised: the same with one photo); with ``max_ratio`` the
   nearest person must also beat the second nearest: ``d1 / d2 <= max_ratio``.
5. **Rates**: for each FPIR target, the threshold is the one that greets at most
   ``floor(target * strangers)`` of the strangers' probes (greet when ``d1 < t``, in-sample
   on the strangers: FNIR *at* FPIR, as NIST reports it), then FNIR and wrong at it. A
   target that the strangers cannot resolve (fewer than ``1 / target`` of them) is reported
   as not resolved, never as a rate.

The impostor curve (:func:`impostor_distances`, :func:`measure_curve`): every person with at
least 3 photos visits (the mean of their first 3 photos, re-normalised) and is compared
with the first photo of every other person: the per-comparison ``F(t)`` for "a stranger's
visit vs one enrolled photo", which is what the greeter compares (rule "nearest"; its
threshold for ``N`` enrolled photos comes from ``F`` through
``FPIR = 1 - (1 - F(t)) ** N``). :func:`check_formula` measures how well that formula
holds on people the curve was not measured on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fr_utils.open_set import ImpostorCurve

SIZES = (10, 50, 200, 1000)  # gallery sizes simulated (people)
TARGETS = (0.01, 0.001)  # FPIR targets
ENROLLED_PHOTOS = (1, 3)  # photos per enrolled person
VISIT_PHOTOS = 3  # photos (frames) averaged into one visit
MAX_STRANGERS = 1000  # strangers per draw (LFW folds 6-10 hold 2,195 people)
MIN_STRANGERS = 100  # the fewest that can show an FPIR of 1 %
MIN_MATED = 10  # the fewest returning enrolled people a gallery size is measured with
MAX_RATIO = 0.85  # the margin rule measured best (d1 / d2 <= 0.85; scratch r1 section 3.2)
DRAWS = 5
CURVE_VISIT_PHOTOS = 3  # the curve's stranger visit: the mean of this many photos
MIN_CURVE_COMPARISONS = 1000  # a curve from fewer is refused
RESOLVED_BY = 10  # a threshold resting on fewer measured impostor comparisons is indicative
GALLERY_RULES = ("nearest", "mean")  # a probe vs each person's nearest photo, or their mean
_STRATA = 4  # photo counts 1, 2, 3 and 4+ are drawn as strangers in proportion


class DataTooSmall(ValueError):
    """Data that cannot support an open-set result (the message says why and what to add)."""


# ----------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Population:
    """Encoded people. Person ``i``'s photos are the rows ``rows(i)`` of ``embeddings``, in
    their order (the first photo is the one enrolled first)."""

    names: tuple
    embeddings: np.ndarray  # (photos, 128) unit rows
    counts: np.ndarray  # (people,) photos per person, >= 1
    paths: tuple = ()  # the photo of each row, when known

    def __post_init__(self):
        counts = np.asarray(self.counts, np.intp)
        embeddings = np.asarray(self.embeddings, np.float64).reshape(-1, 128)
        if len(counts) != len(self.names) or counts.sum() != len(embeddings):
            raise ValueError(
                f"counts ({counts.sum()} photos of {len(counts)} people) must cover the "
                f"{len(embeddings)} embeddings of {len(self.names)} people"
            )
        if len(counts) and counts.min() < 1:
            raise ValueError("every person needs at least one photo")
        norms = np.linalg.norm(embeddings, axis=1)
        if len(norms) and not np.allclose(norms, 1.0, atol=1e-3):
            raise ValueError("embeddings must be unit vectors (plain L2 between unit vectors)")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "embeddings", embeddings)
        object.__setattr__(self, "_starts", np.concatenate([[0], np.cumsum(counts)[:-1]]))

    @classmethod
    def from_photos(cls, people: dict, encodings: dict) -> Population:
        """``people``: ``{name: [photo, ...]}`` in enrolment order; ``encodings``:
        ``{photo: (128,)}``. Photos without an encoding (no face) are left out, and people
        left with none."""
        names, rows, paths = [], [], []
        for name, photos in people.items():
            found = [p for p in photos if p in encodings]
            if found:
                names.append(name)
                rows.append([encodings[p] for p in found])
                paths += found
        counts = [len(r) for r in rows]
        embeddings = np.concatenate(rows) if rows else np.zeros((0, 128))
        return cls(tuple(names), embeddings, np.array(counts, np.intp), tuple(paths))

    @property
    def n_people(self) -> int:
        return len(self.names)

    def rows(self, person: int) -> np.ndarray:
        """The rows of ``person``'s photos, in order."""
        start = self._starts[person]
        return np.arange(start, start + self.counts[person])

    def subset(self, people) -> Population:
        """The population of ``people`` (indices), in that order."""
        people = [int(i) for i in people]
        rows = np.concatenate([self.rows(i) for i in people]) if people else np.zeros(0, int)
        paths = tuple(self.paths[r] for r in rows) if self.paths else ()
        return Population(
            tuple(self.names[i] for i in people), self.embeddings[rows], self.counts[people], paths
        )

    def describe(self) -> str:
        """E.g. ``"2,195 people, 6,311 photos (854 with >= 2, 470 with >= 3, 319 with >= 4)"``."""
        c = self.counts
        return (
            f"{self.n_people:,} people, {int(c.sum()):,} photos ({int((c >= 2).sum()):,} with "
            f">= 2, {int((c >= 3).sum()):,} with >= 3, {int((c >= 4).sum()):,} with >= 4)"
        )


def dataset_people(dataset) -> dict:
    """``{name: [photo paths, sorted]}`` of a :class:`fr_utils.evaluation.datasets.Dataset`:
    a person's first photo (by file name) is the one enrolled first."""
    people = {}
    for label, path in zip(dataset.labels, dataset.paths):
        people.setdefault(label, []).append(Path(path))
    return {name: sorted(people[name]) for name in sorted(people)}


# ----------------------------------------------------------------------------- one draw


@dataclass(frozen=True)
class Draw:
    """One simulated gallery and its visits; photos are rows of the population's embeddings.

    Gallery people are numbered ``0 .. n_gallery - 1`` (``enrolled[j]`` is the population's
    person); ``mated_person[v]`` is the gallery person who made visit ``mated[v]``."""

    enrolled: np.ndarray  # (N,) population person of each gallery person
    gallery_rows: np.ndarray  # (G,) enrolled photos
    gallery_owner: np.ndarray  # (G,) gallery person of each enrolled photo
    mated: tuple  # each enrolled person's visit: an array of rows
    mated_person: np.ndarray  # (V,) gallery person of each visit
    strangers: np.ndarray  # (S,) population person of each stranger
    stranger_visits: tuple  # each stranger's visit: an array of rows

    @property
    def n_gallery(self) -> int:
        return len(self.enrolled)


def stranger_count(n_people: int) -> int:
    """Strangers per draw for a population: half the people, at least :data:`MIN_STRANGERS`
    (so FPIR 1 % can be shown) and at most :data:`MAX_STRANGERS`; ``0`` when that would leave
    fewer than the smallest gallery (:data:`MIN_MATED` people)."""
    count = min(MAX_STRANGERS, max(n_people // 2, MIN_STRANGERS))
    return count if n_people - count >= MIN_MATED else 0


def choose_strangers(counts, n_strangers: int, rng) -> np.ndarray:
    """``n_strangers`` people at random, stratified by photo count (1, 2, 3, 4+): each count
    gives its share of strangers (largest remainders), so a draw never leaves the gallery
    short of people who can visit by chance."""
    counts = np.asarray(counts)
    n_strangers = int(n_strangers)
    if not 0 <= n_strangers <= len(counts):
        raise ValueError(
            f"n_strangers must be in [0, {len(counts)}]. Received: n_strangers={n_strangers}"
        )
    stratum = np.minimum(counts, _STRATA)
    members = [np.flatnonzero(stratum == s) for s in range(1, _STRATA + 1)]
    share = np.array([len(m) for m in members]) * n_strangers / max(len(counts), 1)
    take = np.floor(share).astype(int)
    for s in np.argsort(-(share - take), kind="stable")[: n_strangers - take.sum()]:
        take[s] += 1
    chosen = [rng.permutation(m)[:t] for m, t in zip(members, take)]
    return np.sort(np.concatenate(chosen)).astype(np.intp)


def draw_people(population: Population, n_gallery: int, n_strangers: int, seed: int = 0):
    """``(enrolled, strangers)`` person indices of one random draw.

    The strangers depend only on ``seed`` (every gallery size meets the same strangers); the
    gallery on ``seed`` and ``n_gallery``. Enrolled people are drawn among the non-strangers
    with at least 2 photos, then (when short) among those with one.

    Raises:
        DataTooSmall: fewer than ``n_gallery`` people besides the strangers.
    """
    strangers = choose_strangers(population.counts, n_strangers, np.random.default_rng(seed))
    rest = np.setdiff1d(np.arange(population.n_people), strangers)
    if len(rest) < n_gallery:
        raise DataTooSmall(
            f"a gallery of {n_gallery} people needs {n_gallery} people besides the "
            f"{n_strangers} strangers; the data has {len(rest)}"
        )
    rest = np.random.default_rng([seed, n_gallery]).permutation(rest)
    multi = rest[population.counts[rest] >= 2]
    single = rest[population.counts[rest] < 2]
    enrolled = np.concatenate([multi, single])[:n_gallery]
    return enrolled.astype(np.intp), strangers


def _visit(rows: np.ndarray, size: int) -> np.ndarray:
    """The first ``size`` rows when there are that many, else the first one."""
    return rows[:size] if len(rows) >= size else rows[:1]


def build_draw(
    population: Population,
    enrolled,
    strangers,
    enrolled_photos: int = 1,
    visit_photos: int = VISIT_PHOTOS,
) -> Draw:
    """The gallery and visits of ``enrolled`` and ``strangers`` (see the module docstring)."""
    if enrolled_photos < 1 or visit_photos < 1:
        raise ValueError(
            "enrolled_photos and visit_photos must be >= 1. Received: "
            f"enrolled_photos={enrolled_photos}, visit_photos={visit_photos}"
        )
    if np.intersect1d(enrolled, strangers).size:
        raise ValueError("a stranger cannot be enrolled")
    gallery_rows, gallery_owner, mated, mated_person = [], [], [], []
    for j, person in enumerate(enrolled):
        rows = population.rows(person)
        k = enrolled_photos if len(rows) > enrolled_photos else 1
        gallery_rows.append(rows[:k])
        gallery_owner += [j] * k
        if len(rows) > k:
            mated.append(_visit(rows[k:], visit_photos))
            mated_person.append(j)
    stranger_visits = tuple(_visit(population.rows(s), visit_photos) for s in strangers)
    return Draw(
        np.asarray(enrolled, np.intp),
        np.concatenate(gallery_rows).astype(np.intp),
        np.asarray(gallery_owner, np.intp),
        tuple(mated),
        np.asarray(mated_person, np.intp),
        np.asarray(strangers, np.intp),
        stranger_visits,
    )


def simulate(
    population: Population,
    n_gallery: int,
    n_strangers: int,
    enrolled_photos: int = 1,
    visit_photos: int = VISIT_PHOTOS,
    seed: int = 0,
) -> Draw:
    """One random draw: :func:`draw_people`, then :func:`build_draw`."""
    enrolled, strangers = draw_people(population, n_gallery, n_strangers, seed)
    return build_draw(population, enrolled, strangers, enrolled_photos, visit_photos)


# ----------------------------------------------------------------------------- decisions


def unit_mean(vectors) -> np.ndarray:
    """The mean of unit vectors ``(k, 128)``, re-normalised: the greeter's visit embedding."""
    mean = np.asarray(vectors, np.float64).mean(axis=0)
    return mean / np.linalg.norm(mean)


def pairwise_distances(a, b) -> np.ndarray:
    """Plain L2 between each row of ``a (M, 128)`` and each row of ``b (N, 128)`` -> ``(M, N)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def person_means(gallery, owner, n_people: int) -> np.ndarray:
    """Each enrolled person's mean ``(n_people, 128)``: their photos' unit embeddings
    averaged and re-normalised (a person without photos: a zero row, never near)."""
    sums = np.zeros((n_people, np.asarray(gallery).shape[1]), np.float64)
    np.add.at(sums, np.asarray(owner, np.intp), np.asarray(gallery, np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.where(norms > 0, norms, 1.0)


def person_distances(probes, gallery, owner, n_people: int, rule: str = "nearest") -> np.ndarray:
    """Plain L2 from each probe ``(M, 128)`` to each enrolled person (``gallery (G, 128)``,
    ``owner (G,)`` in ``0 .. n_people - 1``) -> ``(M, n_people)``: to their NEAREST photo
    (``rule="nearest"``) or to their mean (``"mean"``: :func:`person_means`)."""
    if rule not in GALLERY_RULES:
        raise ValueError(f"rule must be one of {GALLERY_RULES}. Received: rule={rule!r}")
    owner = np.asarray(owner, np.intp)
    if rule == "mean":
        out = pairwise_distances(probes, person_means(gallery, owner, n_people))
        out[:, np.bincount(owner, minlength=n_people) == 0] = np.inf
        return out
    rows = pairwise_distances(probes, gallery)
    order = np.argsort(owner, kind="stable")  # each person's photos side by side
    present, starts = np.unique(owner[order], return_index=True)
    out = np.full((len(rows), n_people), np.inf)  # a person without photos is never near
    if len(order):
        out[:, present] = np.minimum.reduceat(rows[:, order], starts, axis=1)
    return out


def nearest_two(distances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(nearest person, d1, d2)`` per row of ``(M, people)`` distances; ``d2`` is the second
    nearest PERSON's distance (``inf`` with one person)."""
    distances = np.asarray(distances, np.float64)
    if distances.shape[1] == 1:
        return np.zeros(len(distances), np.intp), distances[:, 0], np.full(len(distances), np.inf)
    two = np.argpartition(distances, 1, axis=1)[:, :2]
    d = np.take_along_axis(distances, two, axis=1)
    swap = d[:, 1] < d[:, 0]
    two[swap], d[swap] = two[swap][:, ::-1], d[swap][:, ::-1]
    return two[:, 0], d[:, 0], d[:, 1]


def decision_scores(d1, d2, max_ratio: float | None = None) -> np.ndarray:
    """The distance a probe is greeted at: ``d1``, or ``inf`` where the margin rule
    ``d1 / d2 <= max_ratio`` fails (``None``: no margin rule)."""
    d1 = np.asarray(d1, np.float64)
    if max_ratio is None:
        return d1.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.asarray(d2) > 0, d1 / np.asarray(d2, np.float64), 1.0)
    return np.where(ratio <= max_ratio, d1, np.inf)


def threshold_at_fpir(stranger_scores, target: float) -> float:
    """The threshold that greets (``score < t``) at most ``floor(target * n)`` of ``n``
    strangers' scores: the next score up (``inf`` when the margin alone keeps enough out)."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1). Received: target={target}")
    scores = np.sort(np.asarray(stranger_scores, np.float64))
    if len(scores) == 0:
        raise ValueError("no strangers' scores to place a threshold")
    allowed = math.floor(target * len(scores) + 1e-9)
    return float(scores[allowed]) if allowed < len(scores) else math.inf


@dataclass(frozen=True)
class Outcome:
    """One rule at one FPIR target in one draw (rates are shares, not %)."""

    target: float
    threshold: float
    fpir: float
    fnir: float
    wrong: float
    mated: int  # enrolled people's probes (visits or frames)
    strangers: int  # strangers' probes
    resolved: bool  # strangers >= 1 / target: the target can be shown at all


@dataclass(frozen=True)
class Scores:
    """Who each probe would be greeted as, and at what distance (see :func:`score_draw`)."""

    mated_scores: np.ndarray
    mated_nearest: np.ndarray  # gallery person nearest each mated probe
    mated_true: np.ndarray  # the gallery person who made it
    stranger_scores: np.ndarray
    mated_size: np.ndarray  # photos in each mated probe's visit
    stranger_size: np.ndarray


def score_draw(
    population: Population,
    draw: Draw,
    probe: str = "visit",
    max_ratio: float | None = None,
    gallery_rule: str = "nearest",
) -> Scores:
    """Every probe of ``draw`` against its gallery under one rule.

    ``probe="visit"``: one probe per visit, its re-normalised mean; ``"frame"``: one probe
    per photo of each visit (the frame-by-frame rule). ``max_ratio``: the margin rule.
    ``gallery_rule``: each person's ``"nearest"`` photo or their ``"mean"``.
    ``mated_size``/``stranger_size``: how many photos the probe's visit has."""
    if probe not in ("visit", "frame"):
        raise ValueError(f"probe must be 'visit' or 'frame'. Received: probe={probe!r}")
    e = population.embeddings
    sizes_m = np.array([len(v) for v in draw.mated], np.intp)
    sizes_s = np.array([len(v) for v in draw.stranger_visits], np.intp)
    if probe == "visit":
        mated = np.stack([unit_mean(e[v]) for v in draw.mated]) if draw.mated else None
        strangers = np.stack([unit_mean(e[v]) for v in draw.stranger_visits])
        true = draw.mated_person
    else:
        mated = e[np.concatenate(draw.mated)] if draw.mated else None
        strangers = e[np.concatenate(draw.stranger_visits)]
        true = np.repeat(draw.mated_person, sizes_m)
        sizes_m, sizes_s = np.repeat(sizes_m, sizes_m), np.repeat(sizes_s, sizes_s)
    gallery = e[draw.gallery_rows]

    def scored(probes):
        if probes is None:
            return np.zeros(0), np.zeros(0, np.intp)
        nearest, d1, d2 = nearest_two(
            person_distances(probes, gallery, draw.gallery_owner, draw.n_gallery, gallery_rule)
        )
        return decision_scores(d1, d2, max_ratio), nearest

    mated_scores, mated_nearest = scored(mated)
    stranger_scores, _ = scored(strangers)
    return Scores(mated_scores, mated_nearest, true, stranger_scores, sizes_m, sizes_s)


def rates_at(scores: Scores, threshold: float, target: float = math.nan) -> Outcome:
    """FPIR, FNIR and wrong of ``scores`` at ``threshold`` (greet when ``score < t``)."""
    greeted = scores.mated_scores < threshold
    right = greeted & (scores.mated_nearest == scores.mated_true)
    n_m, n_s = len(scores.mated_scores), len(scores.stranger_scores)
    return Outcome(
        target,
        float(threshold),
        float(np.mean(scores.stranger_scores < threshold)) if n_s else math.nan,
        float(1.0 - right.mean()) if n_m else math.nan,
        float((greeted & ~right).mean()) if n_m else math.nan,
        n_m,
        n_s,
        bool(target * n_s >= 1.0) if math.isfinite(target) else True,
    )


def measure(scores: Scores, targets=TARGETS) -> list[Outcome]:
    """FNIR, wrong and FPIR at each FPIR target, the threshold set on the strangers."""
    return [rates_at(scores, threshold_at_fpir(scores.stranger_scores, t), t) for t in targets]


# ----------------------------------------------------------------------------- many draws

RULES = {  # name: (probe, margin, gallery rule) -- the rules reported, the oldest first
    "frame": ("frame", False, "nearest"),
    "frame+ratio": ("frame", True, "nearest"),
    "visit": ("visit", False, "nearest"),
    "visit+ratio": ("visit", True, "nearest"),
    "mean+ratio": ("visit", True, "mean"),
}
RULE_LABELS = {
    "frame": "one frame vs nearest photo (the frame-by-frame rule)",
    "frame+ratio": "one frame + ratio margin",
    "visit": "visit mean vs nearest photo",
    "visit+ratio": "visit mean vs nearest photo + ratio margin",
    "mean+ratio": "visit mean vs each person's mean + ratio margin (the greeter's rule)",
}


@dataclass(frozen=True)
class Cell:
    """One rule, gallery size, enrolment and target over all draws."""

    rule: str
    n_gallery: int
    enrolled_photos: int
    target: float
    outcomes: tuple  # one Outcome per draw

    def mean_std(self, what: str) -> tuple[float, float]:
        """Mean and std over the draws of an :class:`Outcome` field (a threshold that is
        ``inf`` in some draw, where the margin alone kept strangers out, gives ``inf, nan``)."""
        values = np.array([getattr(o, what) for o in self.outcomes], float)
        if not np.isfinite(values).all():
            return float(values.mean()), math.nan
        return float(values.mean()), float(values.std())

    @property
    def resolved(self) -> bool:
        return all(o.resolved for o in self.outcomes)


@dataclass(frozen=True)
class OpenSetResult:
    """:func:`run`'s cells, the sizes measured, the sizes the data could not support (and
    why), and what the draws held."""

    cells: tuple
    sizes: tuple
    skipped: dict  # gallery size -> why it was not measured
    n_strangers: int
    draws: int
    max_ratio: float
    counts: dict  # (n_gallery, enrolled_photos) -> {"mated visits": mean, ...}

    def cell(self, rule, n_gallery, enrolled_photos, target) -> Cell:
        for c in self.cells:
            if (c.rule, c.n_gallery, c.enrolled_photos, c.target) == (
                rule,
                n_gallery,
                enrolled_photos,
                target,
            ):
                return c
        raise KeyError((rule, n_gallery, enrolled_photos, target))


def check_counts(counts, sizes=SIZES) -> tuple[int, tuple, dict]:
    """``(strangers, sizes that can be measured, {size: why not})`` for people with
    ``counts`` photos each (before encoding, to refuse early, and after).

    Raises:
        DataTooSmall: too few people for :data:`MIN_STRANGERS` strangers beside a gallery,
            or too few people with 2 or more photos to come back as visits.
    """
    counts = np.asarray(counts)
    n_people = len(counts)
    described = (
        f"{n_people:,} people, {int(counts.sum()):,} photos "
        f"({int((counts >= 2).sum()):,} people with 2 or more)"
    )
    n_strangers = stranger_count(n_people)
    if n_strangers == 0:
        raise DataTooSmall(
            f"{described}: an FPIR of 1 % can only be shown with at least "
            f"{MIN_STRANGERS} strangers, each a person of their own, beside a gallery of "
            f"{MIN_MATED}; add photos of more people (at least "
            f"{MIN_STRANGERS + MIN_MATED}: other people's faces, e.g. LFW's, serve as strangers)"
        )
    multi = int((counts >= 2).sum())
    kept = multi - round(multi * n_strangers / n_people)  # stratified: this many stay
    if kept < MIN_MATED:
        raise DataTooSmall(
            f"{described}: only about {kept} people with 2 or more photos are left "
            f"beside the {n_strangers} strangers; measuring missed visits needs at least "
            f"{MIN_MATED} (add a second and third photo of more people)"
        )
    available = n_people - n_strangers
    usable = tuple(s for s in sizes if s <= available)
    skipped = {
        s: f"needs {s:,} people besides the {n_strangers:,} strangers; the data has {available:,}"
        for s in sizes
        if s > available
    }
    if skipped and available not in usable:
        usable = (*usable, available)  # the largest gallery the data allows
    return n_strangers, usable, skipped


def run(
    population: Population,
    sizes=SIZES,
    enrolled_photos=ENROLLED_PHOTOS,
    draws: int = DRAWS,
    targets=TARGETS,
    max_ratio: float = MAX_RATIO,
    rules=tuple(RULES),
    seed: int = 0,
) -> OpenSetResult:
    """Simulate ``draws`` random galleries of each size and enrolment; every rule of
    :data:`RULES` at every FPIR target (see the module docstring).

    Strangers per draw: :func:`stranger_count` (LFW folds 6-10: 1,000). Sizes the data
    cannot hold are skipped and said so in ``.skipped``; the largest gallery it allows is
    added when any was skipped.

    Raises:
        DataTooSmall: see :func:`check_counts`.
    """
    n_strangers, usable, skipped = check_counts(population.counts, sizes)
    cells, counts = [], {}
    for n in usable:
        for k in enrolled_photos:
            per_rule = {rule: {t: [] for t in targets} for rule in rules}
            tally = []
            for d in range(draws):
                draw = simulate(population, n, n_strangers, k, VISIT_PHOTOS, seed + d)
                tally.append(
                    (
                        len(draw.mated),
                        sum(len(v) == VISIT_PHOTOS for v in draw.mated),
                        sum(len(v) == VISIT_PHOTOS for v in draw.stranger_visits),
                        len(draw.gallery_rows),
                    )
                )
                for rule in rules:
                    probe, margin, gallery_rule = RULES[rule]
                    scores = score_draw(
                        population, draw, probe, max_ratio if margin else None, gallery_rule
                    )
                    for outcome in measure(scores, targets):
                        per_rule[rule][outcome.target].append(outcome)
            mean = np.mean(tally, axis=0)
            counts[(n, k)] = {
                "mated visits": float(mean[0]),
                f"mated visits of {VISIT_PHOTOS} photos": float(mean[1]),
                f"stranger visits of {VISIT_PHOTOS} photos": float(mean[2]),
                "gallery photos": float(mean[3]),
            }
            if mean[0] < MIN_MATED:
                skipped[n] = f"only {mean[0]:.0f} enrolled people come back as visits"
                continue
            for rule in rules:
                for t in targets:
                    cells.append(Cell(rule, n, k, t, tuple(per_rule[rule][t])))
    measured = tuple(n for n in usable if n not in skipped)
    return OpenSetResult(tuple(cells), measured, skipped, n_strangers, draws, max_ratio, counts)


# ----------------------------------------------------------------------------- impostor curve


def curve_probes(population: Population, visit_photos: int = CURVE_VISIT_PHOTOS):
    """``(visits (V, 128), person of each visit)``: the re-normalised mean of the first
    ``visit_photos`` photos of everyone who has that many."""
    people = np.flatnonzero(population.counts >= visit_photos)
    e = population.embeddings
    visits = [unit_mean(e[population.rows(p)[:visit_photos]]) for p in people]
    return (np.stack(visits) if visits else np.zeros((0, 128))), people


def first_photos(population: Population) -> np.ndarray:
    """Each person's first photo ``(people, 128)``: what one enrolled photo is."""
    return population.embeddings[[population.rows(p)[0] for p in range(population.n_people)]]


def impostor_distances(population: Population, visit_photos: int = CURVE_VISIT_PHOTOS):
    """Plain L2 from each stranger visit (:func:`curve_probes`) to the first photo of every
    OTHER person: ``V * (people - 1)`` impostor comparisons, flat."""
    visits, owner = curve_probes(population, visit_photos)
    d = pairwise_distances(visits, first_photos(population))
    d[np.arange(len(owner)), owner] = np.nan  # a person is no impostor of themselves
    return d[~np.isnan(d)]


def largest_gallery(comparisons: int, fpir: float = TARGETS[0], accepted: int = RESOLVED_BY) -> int:
    """The most enrolled photos for which a curve of ``comparisons`` impostor comparisons
    resolves ``fpir``: its threshold still lets ``accepted`` measured impostor comparisons
    through. Beyond it the threshold rests on a handful of look-alikes (or none): indicative."""
    if comparisons <= accepted:
        return 0
    return int(math.log1p(-fpir) / math.log1p(-accepted / comparisons))


def measure_curve(
    population: Population,
    model: str,
    notes: dict | None = None,
    visit_photos: int = CURVE_VISIT_PHOTOS,
) -> ImpostorCurve:
    """The impostor curve of ``population`` for encoder ``model`` (``encoder.model_id``):
    :func:`impostor_distances` as :meth:`ImpostorCurve.from_distances`, its notes saying what
    it was measured on (``notes`` adds to them: the data, the command).

    Raises:
        DataTooSmall: fewer than :data:`MIN_CURVE_COMPARISONS` comparisons (too few people
            with ``visit_photos`` photos, or too few people).
    """
    visits, _ = curve_probes(population, visit_photos)
    distances = impostor_distances(population, visit_photos)
    if len(distances) < MIN_CURVE_COMPARISONS:
        raise DataTooSmall(
            f"{population.describe()}: an impostor curve needs people with {visit_photos} or "
            f"more photos (their visits) compared with other people's photos; this gives "
            f"{len(distances):,} comparisons, fewer than {MIN_CURVE_COMPARISONS:,} (add "
            f"photos: a third photo of more people, or more people)"
        )
    probe = f"mean of {visit_photos} photos (unit embeddings, re-normalised) vs one enrolled photo"
    measured = {
        "what": "F(t): the share of (stranger's visit, one enrolled photo of another person) "
        "pairs at plain L2 distance <= t; FPIR for N enrolled photos ~= 1 - (1 - F(t))^N",
        "people": population.describe(),
        "stranger visits": f"{len(visits):,}: the mean of the first {visit_photos} photos of "
        f"each person with >= {visit_photos} photos, re-normalised",
        "enrolled photos": f"{population.n_people:,}: each person's first photo",
        "comparisons": f"{len(distances):,}: every visit vs the first photo of every other person",
        "resolves": f"FPIR 1 % up to {largest_gallery(len(distances), 0.01):,} enrolled photos, "
        f"FPIR 0.1 % up to {largest_gallery(len(distances), 0.001):,} (beyond, the threshold "
        f"rests on fewer than {RESOLVED_BY} measured impostor comparisons: indicative)",
        **(notes or {}),
    }
    return ImpostorCurve.from_distances(distances, model, probe, measured)


def empirical_fpir(
    visits, visit_owner, photos, n_gallery: int, threshold: float, galleries: int, rng
) -> float:
    """The share of (stranger visit, random gallery of ``n_gallery`` other people) trials in
    which the visit lands within ``threshold`` of some enrolled photo (nearest photo, no
    margin): what the formula predicts. ``photos (P, 128)``: one per person;
    ``visit_owner``: each visit's own person, never in its gallery."""
    d = pairwise_distances(visits, photos)
    n_people = d.shape[1]
    if n_gallery + 1 > n_people:
        raise ValueError(f"a gallery of {n_gallery} needs {n_gallery + 1} people; have {n_people}")
    hits = 0
    for _ in range(galleries):
        cols = rng.permutation(n_people)[: n_gallery + 1]
        sub = d[:, cols].copy()
        own = cols[None, :] == np.asarray(visit_owner)[:, None]
        sub[own] = np.inf  # the visitor's own photo: not a stranger's comparison
        sub[~own[:, :n_gallery].any(axis=1), n_gallery] = np.inf  # keep n_gallery others
        hits += int((sub.min(axis=1) <= threshold).sum())
    return hits / (galleries * len(d))


@dataclass(frozen=True)
class FormulaCheck:
    """The curve's threshold for ``n_gallery`` at ``target``, the FPIR the formula predicts
    there and the FPIR measured on people the curve was not measured on."""

    n_gallery: int
    target: float
    thresholds: tuple  # per split
    predicted: tuple
    measured: tuple
    comparisons: tuple  # of each split's curve


def check_formula(
    population: Population,
    n_gallery: int = 200,
    targets=TARGETS,
    splits: int = 5,
    galleries: int = 200,
    seed: int = 0,
    model: str = "check",
) -> list[FormulaCheck]:
    """Does the formula's threshold keep the measured FPIR at the target on new people?

    The people are split at random in halves ``splits`` times, both ways: the curve of one
    half gives the threshold for ``n_gallery`` enrolled photos (one per person) at each
    target; on the other half, each visit (mean of 3 photos) meets ``galleries`` random
    galleries of ``n_gallery`` other people of its half, and the share greeted is measured.
    """
    rows = {t: ([], [], [], []) for t in targets}
    for s in range(splits):
        order = np.random.default_rng([seed, s]).permutation(population.n_people)
        halves = [np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2 :])]
        for a, b in ((0, 1), (1, 0)):
            curve = measure_curve(population.subset(halves[a]), model)
            other = population.subset(halves[b])
            visits, owner = curve_probes(other)
            photos = first_photos(other)
            for t in targets:
                threshold = curve.threshold_for(n_gallery, t)
                rng = np.random.default_rng([seed, s, a, int(t * 1e6)])
                measured = empirical_fpir(
                    visits, owner, photos, n_gallery, threshold, galleries, rng
                )
                for column, value in zip(
                    rows[t],
                    (threshold, curve.fpir(threshold, n_gallery), measured, curve.comparisons),
                ):
                    column.append(value)
    return [FormulaCheck(n_gallery, t, *(tuple(c) for c in rows[t])) for t in targets]
