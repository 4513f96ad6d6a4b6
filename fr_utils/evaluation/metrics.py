"""Choose a face-match threshold from labelled embeddings: pairs, sweeps, ROC, cross-validation.

Pure numpy, no TensorFlow: everything takes embeddings or distances in and
gives arrays or small dataclasses out. Distances are plain L2 between
unit-length embeddings (0 .. 2); a pair is *accepted* ("same person") when
``distance <= threshold``, so a lower threshold is stricter.

Vocabulary, per threshold:

* TAR (true-accept rate, = recall): genuine pairs accepted / genuine pairs.
* FAR (false-accept rate): impostor pairs accepted / impostor pairs.
* accuracy: correct decisions / all pairs (depends on the genuine:impostor ratio).
* balanced accuracy: ``(TAR + 1 - FAR) / 2``, genuine and impostor pairs weighted
  equally. Equal to accuracy on LFW (300 + 300 pairs per fold); it is what
  ``goal="accuracy"`` maximises, so the choice does not depend on how many
  impostor pairs were sampled.
* precision, F1: over the pairs given (they too depend on the ratio).
"""

from dataclasses import dataclass

import numpy as np

DEFAULT_FAR = 0.01  # target false-accept rate: 1 stranger pair in 100 accepted
DEFAULT_THRESHOLDS = np.round(np.arange(0.0, 2.0 + 1e-9, 0.01), 2)  # plain L2 grid for sweeps
GOALS = ("accuracy", "far")


# ----------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class Pairs:
    """Index pairs into an embedding array: ``genuine (G, 2)`` same person, ``impostor (I, 2)``.

    ``genuine_total`` / ``impostor_total`` count every possible pair, before sampling.
    """

    genuine: np.ndarray
    impostor: np.ndarray
    genuine_total: int
    impostor_total: int


def _pairs_after(n_after, first_after, order, max_pairs, rng):
    """Pairs ``(i, j)``: each ``i`` with its ``n_after[i]`` partners ``first_after[i] + 0, 1, ...``.

    Enumerates all of them, or draws ``max_pairs`` uniformly without replacement
    (each pair equally likely) without listing them all. Indices are mapped
    through ``order`` back to the caller's photo order.
    """
    n_after = np.asarray(n_after, np.int64)
    ends = np.cumsum(n_after)
    total = int(ends[-1]) if len(ends) else 0
    if max_pairs is None or total <= max_pairs:
        flat = np.arange(total, dtype=np.int64)
    else:
        flat = np.sort(rng.choice(total, size=int(max_pairs), replace=False))
    first = np.searchsorted(ends, flat, side="right")
    offset = flat - (ends[first] - n_after[first])
    second = np.asarray(first_after, np.int64)[first] + offset
    return np.stack([order[first], order[second]], axis=1).reshape(-1, 2), total


def make_pairs(labels, max_pairs=None, seed=0):
    """Every genuine and every impostor pair of photos, or an even sample of each.

    Args:
        labels: one identity per photo (any hashable values).
        max_pairs: cap on the number of genuine pairs and, separately, on
            impostor pairs; when there are more, that many are drawn uniformly
            at random without replacement. ``None`` keeps every pair
            (impostor pairs grow as N**2: 10,000 photos give ~50 million).
        seed: seed of the sample; the same labels and seed give the same pairs.

    Returns:
        :class:`Pairs`, indices into ``labels``, each pair once (never ``(i, i)``).
    """
    labels = np.asarray(labels)
    if max_pairs is not None and max_pairs < 1:
        raise ValueError(
            f"max_pairs must be a positive number of pairs or None. Received: max_pairs={max_pairs}"
        )
    rng = np.random.default_rng(seed)
    _, codes = np.unique(labels, return_inverse=True)
    order = np.argsort(codes, kind="stable")  # photos grouped by person
    grouped = codes[order]
    n = len(grouped)
    block_end = np.searchsorted(grouped, grouped, side="right")  # end of each photo's group
    index = np.arange(n)
    genuine, g_total = _pairs_after(block_end - index - 1, index + 1, order, max_pairs, rng)
    impostor, i_total = _pairs_after(n - block_end, block_end, order, max_pairs, rng)
    return Pairs(genuine, impostor, g_total, i_total)


def pair_distances(embeddings, pairs):
    """Plain L2 distance of each index pair: ``embeddings (N, D)``, ``pairs (P, 2)`` -> ``(P,)``."""
    embeddings = np.asarray(embeddings, np.float32)
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    return np.linalg.norm(embeddings[pairs[:, 0]] - embeddings[pairs[:, 1]], axis=1)


def identity_folds(labels, k=5, seed=0):
    """Deal the people (not the photos) into ``k`` folds; returns a fold number per photo.

    Folds are identity-disjoint, as in LFW View 2: a threshold chosen on k-1
    folds is then tested on people it has never seen. People are shuffled with
    ``seed`` and dealt largest-first to the fold with the fewest photos.
    """
    labels = np.asarray(labels)
    people, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if not 2 <= k <= len(people):
        raise ValueError(
            f"Cannot split {len(people)} people into k={k} identity folds; "
            "use 2 <= k <= number of people."
        )
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(people))
    fold_of_person = np.zeros(len(people), np.int64)
    load = np.zeros(k, np.int64)
    for person in shuffled[np.argsort(-counts[shuffled], kind="stable")]:
        fold = int(np.argmin(load))
        fold_of_person[person] = fold
        load[fold] += counts[person]
    return fold_of_person[codes]


# ----------------------------------------------------------------------------- metrics


def _as_distances(genuine, impostor):
    genuine = np.asarray(genuine, np.float64).ravel()
    impostor = np.asarray(impostor, np.float64).ravel()
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError(
            "Need at least one genuine and one impostor distance. Received: "
            f"{len(genuine)} genuine, {len(impostor)} impostor."
        )
    if not (np.all(np.isfinite(genuine)) and np.all(np.isfinite(impostor))):
        raise ValueError("Distances contain NaN or infinite values.")
    return genuine, impostor


def _accepted(distances_sorted, thresholds):
    """How many sorted distances are ``<= threshold``, for each threshold."""
    return np.searchsorted(distances_sorted, thresholds, side="right")


@dataclass(frozen=True)
class Sweep:
    """Metrics at each threshold (arrays of the same length as ``thresholds``)."""

    thresholds: np.ndarray
    tar: np.ndarray  # = recall
    far: np.ndarray
    precision: np.ndarray  # NaN where nothing is accepted
    f1: np.ndarray
    accuracy: np.ndarray
    balanced_accuracy: np.ndarray
    n_genuine: int
    n_impostor: int

    FIELDS = ("threshold", "tar", "far", "precision", "f1", "accuracy", "balanced_accuracy")

    def rows(self):
        """The table as a list of dicts (JSON-ready floats; NaN becomes None)."""
        columns = [
            self.thresholds,
            self.tar,
            self.far,
            self.precision,
            self.f1,
            self.accuracy,
            self.balanced_accuracy,
        ]
        return [
            {
                name: (None if np.isnan(v) else round(float(v), 6))
                for name, v in zip(self.FIELDS, values)
            }
            for values in zip(*columns)
        ]


def sweep(genuine, impostor, thresholds=None):
    """Accept/reject metrics of genuine and impostor distances at each threshold.

    Args:
        genuine: distances of same-person pairs.
        impostor: distances of different-person pairs.
        thresholds: plain-L2 thresholds; ``None`` uses :data:`DEFAULT_THRESHOLDS`
            (0 to 2 in steps of 0.01).

    Returns:
        :class:`Sweep`.
    """
    genuine, impostor = _as_distances(genuine, impostor)
    if thresholds is None:
        thresholds = DEFAULT_THRESHOLDS
    thresholds = np.atleast_1d(np.asarray(thresholds, np.float64))
    tp = _accepted(np.sort(genuine), thresholds).astype(np.float64)
    fp = _accepted(np.sort(impostor), thresholds).astype(np.float64)
    n_g, n_i = len(genuine), len(impostor)
    tar, far = tp / n_g, fp / n_i
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + (n_g - tp)), 0.0)
    accuracy = (tp + (n_i - fp)) / (n_g + n_i)
    balanced = (tar + 1.0 - far) / 2.0
    return Sweep(thresholds, tar, far, precision, f1, accuracy, balanced, n_g, n_i)


def roc_curve(genuine, impostor):
    """The full ROC: ``(far, tar, thresholds)``, one point per distinct distance.

    Starts at ``(0, 0)`` (threshold below every distance) and ends at ``(1, 1)``;
    ``far`` and ``tar`` never decrease along it.
    """
    genuine, impostor = _as_distances(genuine, impostor)
    cuts = np.unique(np.concatenate([genuine, impostor]))
    thresholds = np.concatenate([[np.nextafter(cuts[0], -np.inf)], cuts])
    tar = _accepted(np.sort(genuine), thresholds) / len(genuine)
    far = _accepted(np.sort(impostor), thresholds) / len(impostor)
    return far, tar, thresholds


def auc(genuine, impostor):
    """Area under the ROC: the chance a genuine pair is closer than an impostor pair.

    Ties count one half (the Mann-Whitney U statistic), which equals the
    trapezoidal area under :func:`roc_curve`. 1.0 is perfect, 0.5 is chance.
    """
    genuine, impostor = _as_distances(genuine, impostor)
    imp = np.sort(impostor)
    below = np.searchsorted(imp, genuine, side="left")  # impostors strictly closer
    at_or_below = np.searchsorted(imp, genuine, side="right")
    farther = len(imp) - at_or_below
    ties = at_or_below - below
    return float((farther.sum() + 0.5 * ties.sum()) / (len(genuine) * len(imp)))


def eer(genuine, impostor):
    """Equal error rate: ``(rate, threshold)`` where FAR = FRR (= 1 - TAR).

    Found on the ROC's steps and linearly interpolated between the two
    thresholds where the difference changes sign.
    """
    far, tar, thresholds = roc_curve(genuine, impostor)
    diff = far - (1.0 - tar)  # rises from -1 to +1
    k = int(np.searchsorted(diff, 0.0, side="left"))
    if k == 0:
        return float(far[0]), float(thresholds[0])
    d0, d1 = diff[k - 1], diff[k]
    w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    rate_far = far[k - 1] + w * (far[k] - far[k - 1])
    rate_frr = (1 - tar[k - 1]) + w * ((1 - tar[k]) - (1 - tar[k - 1]))
    threshold = thresholds[k - 1] + w * (thresholds[k] - thresholds[k - 1])
    return float((rate_far + rate_frr) / 2), float(threshold)


# ----------------------------------------------------------------------------- choosing


def _check_goal(goal, far):
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}. Received: goal={goal!r}")
    if goal == "far" and not 0.0 <= far < 1.0:
        raise ValueError(f"far must be a rate in [0, 1). Received: far={far}")


def choose_threshold(genuine, impostor, goal="accuracy", far=DEFAULT_FAR):
    """The threshold that best meets ``goal`` on these distances.

    Args:
        genuine, impostor: same-person and different-person distances.
        goal: ``"accuracy"`` maximises balanced accuracy (see the module doc);
            ``"far"`` gives the most genuine accepts whose false-accept rate on
            ``impostor`` is at most ``far`` (and, for that many, the fewest false
            accepts) -- the goal a door greeter should use.
        far: target false-accept rate for ``goal="far"``, e.g. 0.01.

    Returns:
        A plain-L2 threshold, halfway between two neighbouring observed
        distances, so it does not sit on a sample.
    """
    _check_goal(goal, far)
    genuine, impostor = _as_distances(genuine, impostor)
    if goal == "far":
        imp = np.sort(impostor)
        allowed = int(np.floor(far * len(imp) + 1e-9))  # impostors we may accept
        if allowed >= len(imp):
            return float(max(imp[-1], genuine.max()))
        cut = imp[allowed]  # the first one we may not accept
        kept = genuine[genuine < cut]  # (ties with it go too)
        if len(kept) == 0:  # no genuine accept is possible
            return float(np.nextafter(min(cut, genuine.min()), -np.inf))
        # Same TAR, fewest false accepts: stop halfway to the first impostor past
        # the last genuine distance we keep.
        last = kept.max()
        return float((last + imp[np.searchsorted(imp, last, side="right")]) / 2)
    cuts = np.unique(np.concatenate([genuine, impostor]))
    candidates = np.concatenate([[cuts[0] - 1e-6], (cuts[:-1] + cuts[1:]) / 2, [cuts[-1]]])
    tar = _accepted(np.sort(genuine), candidates) / len(genuine)
    fa = _accepted(np.sort(impostor), candidates) / len(impostor)
    return float(candidates[int(np.argmax(tar + 1.0 - fa))])


@dataclass(frozen=True)
class CrossValidation:
    """Per held-out fold: the threshold chosen on the other folds and how it did.

    Arrays have one entry per fold tested; ``summary()`` gives mean and
    standard deviation (population std, ``ddof=0``, as OpenFace reports it).
    """

    goal: str
    far_target: float
    folds: np.ndarray
    thresholds: np.ndarray
    accuracy: np.ndarray  # balanced accuracy on the held-out fold
    tar: np.ndarray
    far: np.ndarray

    def summary(self):
        out = {"goal": self.goal, "folds": len(self.folds)}
        if self.goal == "far":
            out["far_target"] = self.far_target
        for name in ("thresholds", "accuracy", "tar", "far"):
            values = getattr(self, name)
            key = "threshold" if name == "thresholds" else name
            out[f"{key}_mean"] = round(float(np.mean(values)), 6)
            out[f"{key}_std"] = round(float(np.std(values)), 6)
        return out


def cross_validate(distances, same, pair_folds, goal="accuracy", far=DEFAULT_FAR):
    """Choose a threshold on k-1 folds, test it on the held-out fold, for each fold.

    Args:
        distances: ``(P,)`` pair distances.
        same: ``(P,)`` bool, True for genuine pairs.
        pair_folds: ``(P,)`` fold of each pair (LFW), or ``(P, 2)`` fold of each
            side's person (from :func:`identity_folds`). A pair trains when
            neither side is in the held-out fold and tests when both are, so
            held-out people are never seen while choosing.
        goal, far: as in :func:`choose_threshold`.

    Returns:
        :class:`CrossValidation` over the folds that have both genuine and
        impostor pairs to train and to test on.
    """
    _check_goal(goal, far)
    distances = np.asarray(distances, np.float64).ravel()
    same = np.asarray(same, bool).ravel()
    folds = np.asarray(pair_folds)
    folds = np.stack([folds, folds], axis=1) if folds.ndim == 1 else folds.reshape(-1, 2)
    if not len(distances) == len(same) == len(folds):
        raise ValueError(
            f"distances, same and pair_folds must have one entry per pair. "
            f"Received: {len(distances)}, {len(same)}, {len(folds)}"
        )
    rows = []
    for fold in np.unique(folds):
        test = (folds[:, 0] == fold) & (folds[:, 1] == fold)
        train = (folds[:, 0] != fold) & (folds[:, 1] != fold)
        parts = [
            distances[train & same],
            distances[train & ~same],
            distances[test & same],
            distances[test & ~same],
        ]
        if min(len(p) for p in parts) == 0:
            continue
        threshold = choose_threshold(parts[0], parts[1], goal, far)
        result = sweep(parts[2], parts[3], [threshold])
        rows.append((fold, threshold, result.balanced_accuracy[0], result.tar[0], result.far[0]))
    if not rows:
        raise ValueError(
            "No fold has both genuine and impostor pairs to train and test on; "
            "add more people (or photos per person), or use fewer folds."
        )
    columns = [np.asarray(c) for c in zip(*rows)]
    return CrossValidation(goal, far, *columns)


# ----------------------------------------------------------------------------- all of it

DEFAULT_MAX_PAIRS = 100_000  # per kind (genuine, impostor): enough for FAR down to ~1e-4
DEFAULT_CV_FOLDS = 5  # identity folds for a personal dataset


@dataclass(frozen=True)
class Tuning:
    """Everything :func:`tune_threshold` measured on one labelled set of embeddings.

    ``threshold_far`` (chosen on all pairs for the target false-accept rate) is
    the one to give a greeter; ``cv_far`` says how well that choice carries
    over to people it was not chosen on.
    """

    pairs: Pairs
    genuine: np.ndarray  # distances of the genuine pairs
    impostor: np.ndarray
    sweep: Sweep
    auc: float
    eer: float
    eer_threshold: float
    far_target: float
    threshold_accuracy: float
    threshold_far: float
    cv_accuracy: "CrossValidation | None"
    cv_far: "CrossValidation | None"
    n_people: int
    n_photos: int
    one_photo: tuple  # people with a single photo: impostor pairs only

    def summary(self):
        """A JSON-ready dict of the figures (no per-pair arrays)."""
        return {
            "people": self.n_people,
            "photos": self.n_photos,
            "people_with_one_photo": list(self.one_photo),
            "genuine_pairs": len(self.genuine),
            "genuine_pairs_total": self.pairs.genuine_total,
            "impostor_pairs": len(self.impostor),
            "impostor_pairs_total": self.pairs.impostor_total,
            "median_genuine": round(float(np.median(self.genuine)), 6),
            "median_impostor": round(float(np.median(self.impostor)), 6),
            "auc": round(self.auc, 6),
            "eer": round(self.eer, 6),
            "eer_threshold": round(self.eer_threshold, 6),
            "far_target": self.far_target,
            "threshold_accuracy": round(self.threshold_accuracy, 6),
            "threshold_far": round(self.threshold_far, 6),
            "at_threshold_accuracy": sweep(
                self.genuine, self.impostor, [self.threshold_accuracy]
            ).rows()[0],
            "at_threshold_far": sweep(self.genuine, self.impostor, [self.threshold_far]).rows()[0],
            "cv_accuracy": None if self.cv_accuracy is None else self.cv_accuracy.summary(),
            "cv_far": None if self.cv_far is None else self.cv_far.summary(),
        }


def tune_threshold(
    embeddings,
    labels,
    max_pairs=DEFAULT_MAX_PAIRS,
    seed=0,
    far=DEFAULT_FAR,
    folds=DEFAULT_CV_FOLDS,
    thresholds=None,
):
    """Pairs, sweep, AUC, EER and cross-validated thresholds for labelled embeddings.

    Args:
        embeddings: ``(N, 128)`` unit-length encodings, one per photo.
        labels: ``N`` person names.
        max_pairs, seed: see :func:`make_pairs`.
        far: target false-accept rate of the recommended threshold.
        folds: identity folds for cross-validation; lowered to ``people // 2``
            so every held-out fold has impostor pairs. With fewer than 4
            people there is no cross-validation (``cv_*`` are None).
        thresholds: the sweep's thresholds (see :func:`sweep`).

    Raises:
        ValueError: fewer than two people, or no person with two photos.
    """
    labels = np.asarray(labels)
    embeddings = np.asarray(embeddings, np.float32)
    if len(embeddings) != len(labels):
        raise ValueError(
            f"One label per embedding needed. Received: {len(embeddings)} "
            f"embeddings, {len(labels)} labels."
        )
    people, counts = np.unique(labels, return_counts=True)
    if len(people) < 2:
        raise ValueError(
            f"Need photos of at least two people to tune a threshold. "
            f"Received: {len(people)} ({', '.join(map(str, people))})."
        )
    if counts.max() < 2:
        raise ValueError(
            "Need at least one person with two or more photos (no genuine "
            "pairs otherwise); add photos so each person has several."
        )
    pairs = make_pairs(labels, max_pairs, seed)
    genuine = pair_distances(embeddings, pairs.genuine)
    impostor = pair_distances(embeddings, pairs.impostor)
    rate, eer_threshold = eer(genuine, impostor)
    cv = {"accuracy": None, "far": None}
    k = min(folds, len(people) // 2)
    if k >= 2:
        photo_folds = identity_folds(labels, k, seed)
        all_pairs = np.concatenate([pairs.genuine, pairs.impostor])
        distances = np.concatenate([genuine, impostor])
        same = np.arange(len(distances)) < len(genuine)
        for goal in cv:
            try:
                cv[goal] = cross_validate(distances, same, photo_folds[all_pairs], goal, far)
            except ValueError:
                cv[goal] = None  # no fold had genuine pairs on both sides
    return Tuning(
        pairs,
        genuine,
        impostor,
        sweep(genuine, impostor, thresholds),
        auc(genuine, impostor),
        rate,
        eer_threshold,
        far,
        choose_threshold(genuine, impostor, "accuracy"),
        choose_threshold(genuine, impostor, "far", far),
        cv["accuracy"],
        cv["far"],
        len(people),
        len(labels),
        tuple(str(p) for p in people[counts == 1]),
    )
