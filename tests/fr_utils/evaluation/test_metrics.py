"""fr_utils.evaluation.metrics on synthetic distances whose answers are known analytically."""

import itertools
from statistics import NormalDist

import numpy as np
import pytest

from fr_utils.evaluation import metrics

# Same-person distances ~ N(0.8, 0.15), different-people ~ N(1.2, 0.15).
G, I, SIGMA = NormalDist(0.8, 0.15), NormalDist(1.2, 0.15), 0.15  # noqa: E741
N = 40_000


def _quantile_sample(dist, n):
    """n points at the mid-quantiles of ``dist``: a sample with no sampling noise."""
    return np.array([dist.inv_cdf((k + 0.5) / n) for k in range(n)])


@pytest.fixture(scope="module")
def normals():
    rng = np.random.default_rng(0)
    return rng.permutation(_quantile_sample(G, N)), rng.permutation(_quantile_sample(I, N))


# ----------------------------------------------------------------------------- pairs


def test_make_pairs_lists_every_pair_once_and_labels_them_right():
    labels = ["b", "a", "b", "c", "a", "b", "d"]
    pairs = metrics.make_pairs(labels)
    genuine = {tuple(sorted(p)) for p in pairs.genuine.tolist()}
    impostor = {tuple(sorted(p)) for p in pairs.impostor.tolist()}
    every = set(itertools.combinations(range(len(labels)), 2))
    assert genuine == {(i, j) for i, j in every if labels[i] == labels[j]}
    assert impostor == {(i, j) for i, j in every if labels[i] != labels[j]}
    assert len(pairs.genuine) == len(genuine) == pairs.genuine_total == 4
    assert len(pairs.impostor) == len(impostor) == pairs.impostor_total == 17


def test_make_pairs_samples_evenly_and_deterministically():
    labels = np.repeat(np.arange(30), 8)  # 840 genuine, 27,840 impostor
    a = metrics.make_pairs(labels, max_pairs=500, seed=7)
    b = metrics.make_pairs(labels, max_pairs=500, seed=7)
    c = metrics.make_pairs(labels, max_pairs=500, seed=8)
    assert np.array_equal(a.genuine, b.genuine) and np.array_equal(a.impostor, b.impostor)
    assert not np.array_equal(a.impostor, c.impostor)
    assert (a.genuine_total, a.impostor_total) == (840, 27_840)
    for kind, same in ((a.genuine, True), (a.impostor, False)):
        assert len(kind) == 500
        assert len({tuple(sorted(p)) for p in kind.tolist()}) == 500  # no pair twice
        assert np.all((labels[kind[:, 0]] == labels[kind[:, 1]]) == same)
    # "evenly": each person's share of sampled impostor pairs is close to its share of all
    share = np.bincount(labels[a.impostor.ravel()], minlength=30) / 1000
    assert np.all(np.abs(share - 1 / 30) < 0.03)


def test_make_pairs_samples_huge_sets_without_listing_them():
    labels = np.arange(50_000) // 3  # ~1.25e9 impostor pairs
    pairs = metrics.make_pairs(labels, max_pairs=1000, seed=0)
    assert pairs.impostor_total == 50_000 * 49_999 // 2 - pairs.genuine_total
    assert len(pairs.impostor) == 1000
    assert np.all(labels[pairs.impostor[:, 0]] != labels[pairs.impostor[:, 1]])


def test_make_pairs_rejects_a_bad_cap():
    with pytest.raises(ValueError, match="max_pairs"):
        metrics.make_pairs(["a", "b"], max_pairs=0)


def test_identity_folds_keep_each_person_in_one_fold():
    labels = np.array(list("aaabbbbccdeeeffg"))
    folds = metrics.identity_folds(labels, k=3, seed=1)
    for person in set(labels):
        assert len(set(folds[labels == person])) == 1
    assert set(folds) == {0, 1, 2}
    with pytest.raises(ValueError, match="k=9"):
        metrics.identity_folds(labels, k=9)


# ----------------------------------------------------------------------------- metrics


def test_sweep_by_hand():
    s = metrics.sweep([0.2, 0.4], [0.3, 0.9], [0.1, 0.35, 1.0])
    assert s.tar.tolist() == [0.0, 0.5, 1.0]
    assert s.far.tolist() == [0.0, 0.5, 1.0]
    assert np.isnan(s.precision[0]) and s.precision[1] == 0.5
    assert s.accuracy.tolist() == [0.5, 0.5, 0.5]
    assert s.f1[1] == pytest.approx(0.5)
    assert s.rows()[0]["precision"] is None
    assert metrics.sweep([0.5], [0.5], [0.5]).tar[0] == 1.0  # accepted when distance <= threshold


def test_sweep_counts_with_unbalanced_pairs():
    s = metrics.sweep([0.1, 0.2, 0.9], [0.5] + [1.5] * 9, [0.6])
    assert (s.tar[0], s.far[0]) == (pytest.approx(2 / 3), pytest.approx(0.1))
    assert s.precision[0] == pytest.approx(2 / 3)
    assert s.accuracy[0] == pytest.approx(11 / 13)  # 2 true accepts + 9 true rejects
    assert s.balanced_accuracy[0] == pytest.approx((2 / 3 + 0.9) / 2)


def test_metrics_match_the_analytic_values_of_two_normals(normals):
    genuine, impostor = normals
    # AUC = P(g < i) = Phi((mu_i - mu_g) / sqrt(2) sigma)
    assert metrics.auc(genuine, impostor) == pytest.approx(
        NormalDist().cdf(0.4 / (np.sqrt(2) * SIGMA)), abs=2e-3
    )
    # equal sigmas: EER at the midpoint 1.0, rate Phi(-0.2 / sigma)
    rate, threshold = metrics.eer(genuine, impostor)
    assert threshold == pytest.approx(1.0, abs=2e-3)
    assert rate == pytest.approx(NormalDist().cdf(-0.2 / SIGMA), abs=1e-3)
    # best balanced accuracy: where the densities cross, 1.0
    assert metrics.choose_threshold(genuine, impostor, "accuracy") == pytest.approx(1.0, abs=0.01)
    best = metrics.sweep(genuine, impostor, [1.0]).balanced_accuracy[0]
    assert best == pytest.approx(G.cdf(1.0), abs=1e-3)
    # FAR 1 %: the impostor 1st percentile; TAR there = G.cdf of it
    for far in (0.01, 0.001):
        threshold = metrics.choose_threshold(genuine, impostor, "far", far)
        assert threshold == pytest.approx(I.inv_cdf(far), abs=2e-3)
        point = metrics.sweep(genuine, impostor, [threshold])
        assert point.far[0] <= far
        assert point.tar[0] == pytest.approx(G.cdf(I.inv_cdf(far)), abs=2e-3)


def test_auc_is_the_area_under_the_roc_with_ties():
    rng = np.random.default_rng(3)
    genuine = np.round(rng.normal(0.9, 0.2, 500), 2)  # rounding makes ties
    impostor = np.round(rng.normal(1.2, 0.2, 700), 2)
    far, tar, _thresholds = metrics.roc_curve(genuine, impostor)
    assert far[0] == tar[0] == 0 and far[-1] == tar[-1] == 1
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    trapezoid = float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))
    assert metrics.auc(genuine, impostor) == pytest.approx(trapezoid, abs=1e-12)
    assert metrics.auc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert metrics.auc([0.5], [0.5]) == 0.5


def test_far_threshold_never_exceeds_the_target_with_ties():
    impostor = np.array([0.5] * 5 + [0.9] * 95)  # 5 % tied at 0.5
    genuine = [0.1, 0.7]
    threshold = metrics.choose_threshold(genuine, impostor, "far", 0.03)
    assert 0.1 < threshold < 0.5  # the five tied can only go together
    assert metrics.sweep(genuine, impostor, [threshold]).far[0] == 0.0
    assert metrics.choose_threshold(genuine, impostor, "far", 0.05) == pytest.approx(0.8)
    # no false accept is spent when it buys no genuine accept
    assert metrics.choose_threshold([0.1], impostor, "far", 0.05) == pytest.approx(0.3)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="goal"):
        metrics.choose_threshold([0.1], [0.9], goal="recall")
    with pytest.raises(ValueError, match="far"):
        metrics.choose_threshold([0.1], [0.9], goal="far", far=1.5)
    with pytest.raises(ValueError, match="genuine"):
        metrics.sweep([], [0.9])
    with pytest.raises(ValueError, match="NaN"):
        metrics.auc([np.nan], [0.9])


# ----------------------------------------------------------------------------- cross-validation


def test_cross_validation_recovers_the_analytic_thresholds(normals):
    genuine, impostor = normals
    distances = np.concatenate([genuine, impostor])
    same = np.arange(2 * N) < N
    folds = np.arange(2 * N) % 10
    cv = metrics.cross_validate(distances, same, folds, "accuracy")
    assert len(cv.folds) == 10
    assert np.all(np.abs(cv.thresholds - 1.0) < 0.03)
    assert cv.summary()["accuracy_mean"] == pytest.approx(G.cdf(1.0), abs=5e-3)
    cv = metrics.cross_validate(distances, same, folds, "far", far=0.01)
    assert cv.summary()["threshold_mean"] == pytest.approx(I.inv_cdf(0.01), abs=5e-3)
    assert cv.summary()["far_mean"] == pytest.approx(0.01, abs=2e-3)
    assert cv.summary()["tar_mean"] == pytest.approx(G.cdf(I.inv_cdf(0.01)), abs=0.01)


def test_cross_validation_trains_on_other_people_and_tests_on_held_out_people():
    rng = np.random.default_rng(1)
    n = 1200
    same = rng.random(n) < 0.4
    distances = np.where(same, rng.normal(0.8, 0.15, n), rng.normal(1.2, 0.15, n))
    sides = rng.integers(0, 4, (n, 2))
    sides[same, 1] = sides[same, 0]  # a genuine pair is one person: one fold
    cv = metrics.cross_validate(distances, same, sides, "far", far=0.05)
    assert cv.folds.tolist() == [0, 1, 2, 3]
    for fold, threshold, tar, far in zip(cv.folds, cv.thresholds, cv.tar, cv.far):
        train = (sides != fold).all(axis=1)  # pairs touching the held-out fold never train
        test = (sides == fold).all(axis=1)  # pairs straddling two folds never test
        assert threshold == metrics.choose_threshold(
            distances[train & same], distances[train & ~same], "far", 0.05
        )
        expected = metrics.sweep(distances[test & same], distances[test & ~same], [threshold])
        assert (tar, far) == (expected.tar[0], expected.far[0])


# ----------------------------------------------------------------------------- all of it


def _embeddings(labels, spread, seed=0):
    """Unit vectors: one random centre per person plus noise of size ``spread``."""
    rng = np.random.default_rng(seed)
    centres = {p: rng.normal(size=128) for p in sorted(set(labels))}
    x = np.stack(
        [centres[p] / np.linalg.norm(centres[p]) + rng.normal(0, spread, 128) for p in labels]
    )
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_tune_threshold_separates_well_separated_people():
    labels = [f"p{i}" for i in range(12) for _ in range(6)] + ["solo"]
    result = metrics.tune_threshold(_embeddings(labels, 0.05), labels, folds=4)
    assert result.auc == 1.0 and result.eer == 0.0
    assert result.genuine.max() < result.threshold_far < result.impostor.min()
    assert result.one_photo == ("solo",)
    solo = len(labels) - 1
    assert solo not in result.pairs.genuine and solo in result.pairs.impostor
    assert result.pairs.genuine_total == 12 * 15
    assert result.cv_far.summary()["folds"] == 4
    assert result.cv_accuracy.summary()["accuracy_mean"] == 1.0
    summary = result.summary()
    assert summary["people_with_one_photo"] == ["solo"] and summary["people"] == 13


def test_tune_threshold_needs_two_people_and_a_genuine_pair():
    with pytest.raises(ValueError, match="at least two people"):
        metrics.tune_threshold(_embeddings(["a"] * 4, 0.1), ["a"] * 4)
    with pytest.raises(ValueError, match="two or more photos"):
        metrics.tune_threshold(_embeddings(["a", "b", "c"], 0.1), ["a", "b", "c"])


def test_tune_threshold_without_enough_people_for_folds_skips_cross_validation():
    labels = ["a"] * 5 + ["b"] * 5 + ["c"] * 5
    result = metrics.tune_threshold(_embeddings(labels, 0.05), labels)
    assert result.cv_far is None and result.cv_accuracy is None
    assert result.summary()["cv_far"] is None
