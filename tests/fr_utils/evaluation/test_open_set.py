"""fr_utils.evaluation.open_set: the open-set protocol on synthetic embeddings, where the
answers are known (well-separated people are never missed nor mistaken; the formula's
threshold keeps strangers out on people it was not measured on), and the LFW people list."""

import math

import numpy as np
import pytest

from fr_utils.evaluation import lfw
from fr_utils.evaluation import open_set as osi


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _population(counts, spread=0.05, seed=0, dims=128):
    """People as clusters: a random unit centre each, photos scattered around it (``spread``
    per dimension, so about ``spread * sqrt(dims)`` from it before re-normalising). In 128
    dimensions random centres are ~1.41 apart: a spread of 0.02 keeps a person's photos
    ~0.3 apart (never confused); fewer dimensions crowd people together."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(len(counts), dims)))
    rows = [_unit(c + spread * rng.normal(size=(n, dims))) for c, n in zip(centres, counts)]
    if dims < 128:
        rows = [np.pad(r, ((0, 0), (0, 128 - dims))) for r in rows]
    names = tuple(f"p{i:04d}" for i in range(len(counts)))
    return osi.Population(names, np.concatenate(rows), np.array(counts))


def _counts(n_people, seed=0):
    """A photo-count mix like LFW's: most people one photo, some several."""
    rng = np.random.default_rng(seed)
    return rng.choice([1, 1, 1, 2, 3, 4, 5, 7], size=n_people).tolist()


# ----------------------------------------------------------------------------- people


def test_population_groups_photos_by_person_in_order():
    pop = osi.Population.from_photos(
        {"ann": ["a1", "a2", "a3"], "bob": ["b1"], "cid": ["c1"]},
        {p: _unit(np.eye(128)[i]) for i, p in enumerate(["a1", "a2", "a3", "b1"])},
    )
    assert pop.names == ("ann", "bob")  # cid has no encoding (no face): left out
    assert pop.counts.tolist() == [3, 1] and pop.paths == ("a1", "a2", "a3", "b1")
    assert pop.rows(0).tolist() == [0, 1, 2] and pop.rows(1).tolist() == [3]
    sub = pop.subset([1, 0])
    assert sub.names == ("bob", "ann") and sub.paths == ("b1", "a1", "a2", "a3")
    assert pop.describe() == "2 people, 4 photos (1 with >= 2, 1 with >= 3, 0 with >= 4)"
    with pytest.raises(ValueError, match="unit vectors"):
        osi.Population(("x",), np.ones((1, 128)), np.array([1]))
    with pytest.raises(ValueError, match="cover"):
        osi.Population(("x",), np.eye(128)[:2], np.array([1]))


def test_dataset_people_sorts_each_persons_photos(tmp_path):
    from fr_utils.evaluation.datasets import Dataset

    data = Dataset(
        tmp_path, ["b", "a", "b"], [tmp_path / "b2.jpg", tmp_path / "a.jpg", tmp_path / "b1.jpg"]
    )
    assert osi.dataset_people(data) == {
        "a": [tmp_path / "a.jpg"],
        "b": [tmp_path / "b1.jpg", tmp_path / "b2.jpg"],
    }


def test_lfw_unseen_people_are_those_of_pairs_folds_6_to_10(tmp_path):
    """Ten folds of one matched and one mismatched pair: people of folds 6-10 only, with
    every photo they have on disk (not only the ones in pairs), by number."""
    lines = ["10\t1"]
    for fold in range(10):
        lines += [f"P{fold}\t1\t2", f"P{fold}\t1\tQ{fold}\t1"]
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    for fold in range(10):
        for name, n in ((f"P{fold}", 3), (f"Q{fold}", 1)):
            (tmp_path / "images" / name).mkdir(parents=True)
            for i in range(n, 0, -1):
                (tmp_path / "images" / name / f"{name}_{i:04d}.jpg").write_bytes(b"")
    people = lfw.unseen_people(tmp_path)
    assert sorted(people) == sorted(
        [f"P{f}" for f in range(5, 10)] + [f"Q{f}" for f in range(5, 10)]
    )
    assert [p.name for p in people["P7"]] == ["P7_0001.jpg", "P7_0002.jpg", "P7_0003.jpg"]
    (tmp_path / "images" / "Q9" / "Q9_0001.jpg").unlink()
    with pytest.raises(ValueError, match="no photos of 1 people.*Q9"):
        lfw.unseen_people(tmp_path)


# ----------------------------------------------------------------------------- draws


def test_strangers_are_drawn_in_proportion_to_photo_counts():
    counts = np.array([1] * 600 + [2] * 200 + [3] * 100 + [6] * 100)
    strangers = osi.choose_strangers(counts, 500, np.random.default_rng(0))
    assert len(strangers) == len(set(strangers)) == 500
    assert np.bincount(np.minimum(counts[strangers], 4), minlength=5)[1:].tolist() == [
        300,
        100,
        50,
        50,
    ]
    other = osi.choose_strangers(counts, 500, np.random.default_rng(1))
    assert set(other) != set(strangers)
    with pytest.raises(ValueError, match="n_strangers"):
        osi.choose_strangers(counts, 1001, np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("enrolled_photos", [1, 3])
def test_a_draw_never_enrols_a_stranger_nor_reuses_a_gallery_photo(seed, enrolled_photos):
    pop = _population(_counts(400, seed), seed=seed)
    draw = osi.simulate(pop, 120, 150, enrolled_photos, 3, seed)
    owner = np.repeat(np.arange(pop.n_people), pop.counts)  # person of each photo
    assert not set(draw.enrolled) & set(draw.strangers)
    assert not set(owner[draw.gallery_rows]) & set(draw.strangers)
    assert len(draw.enrolled) == len(set(draw.enrolled)) == 120 and len(draw.strangers) == 150
    np.testing.assert_array_equal(draw.enrolled[draw.gallery_owner], owner[draw.gallery_rows])
    gallery = set(draw.gallery_rows)
    for visit, who in zip(draw.mated, draw.mated_person):
        assert not set(visit) & gallery  # never a gallery photo
        assert set(owner[visit]) == {draw.enrolled[who]}  # all the visitor's own
        assert len(visit) in (1, 3)
    for visit, who in zip(draw.stranger_visits, draw.strangers):
        assert set(owner[visit]) == {who}
    # everyone with a photo left after enrolment comes back, once
    enrolled = np.where(pop.counts > enrolled_photos, enrolled_photos, 1)[draw.enrolled]
    expected = np.flatnonzero(pop.counts[draw.enrolled] > enrolled)
    assert draw.mated_person.tolist() == expected.tolist()


def test_visits_are_the_next_photos_after_the_gallery():
    pop = _population([7, 5, 2, 1, 4] + [1] * 20)
    draw = osi.build_draw(pop, [0, 1, 2, 3, 4], np.arange(5, 25), enrolled_photos=3)
    rows = {p: pop.rows(p) for p in range(5)}
    assert draw.gallery_rows.tolist() == [
        *rows[0][:3],
        *rows[1][:3],
        rows[2][0],
        rows[3][0],
        *rows[4][:3],
    ]
    visits = dict(zip(draw.mated_person.tolist(), (v.tolist() for v in draw.mated)))
    assert visits == {
        0: rows[0][3:6].tolist(),  # 4 left: the next 3
        1: [rows[1][3]],  # 2 left: the next one alone
        2: [rows[2][1]],  # 1 enrolled (not more than it has), 1 left
        4: [rows[4][3]],
    }  # person 3 has one photo: enrolled, never visits
    with pytest.raises(ValueError, match="stranger cannot be enrolled"):
        osi.build_draw(pop, [0, 5], [5, 6])


def test_the_same_seed_meets_the_same_strangers_at_every_gallery_size():
    pop = _population(_counts(500))
    a = osi.simulate(pop, 10, 200, seed=3)
    b = osi.simulate(pop, 200, 200, seed=3)
    assert a.strangers.tolist() == b.strangers.tolist()
    assert osi.simulate(pop, 10, 200, seed=4).strangers.tolist() != a.strangers.tolist()
    with pytest.raises(osi.DataTooSmall, match="needs 400 people besides the 200 strangers"):
        osi.simulate(pop, 400, 200)


# ----------------------------------------------------------------------------- decisions


def test_nearest_two_and_the_ratio_margin():
    d = np.array([[0.5, 0.2, 0.9], [0.3, 0.3, 0.1], [0.4, 1.0, 0.45]])
    nearest, d1, d2 = osi.nearest_two(d)
    assert nearest.tolist() == [1, 2, 0]
    np.testing.assert_allclose(d1, [0.2, 0.1, 0.4])
    np.testing.assert_allclose(d2, [0.5, 0.3, 0.45])
    scores = osi.decision_scores(d1, d2, 0.85)  # 0.4, 0.33 pass; 0.4 / 0.45 = 0.89 fails
    assert scores.tolist() == [0.2, 0.1, math.inf]
    assert osi.decision_scores(d1, d2, None).tolist() == d1.tolist()
    one = osi.nearest_two(np.array([[0.7]]))
    assert one[0].tolist() == [0] and one[2].tolist() == [math.inf]


def test_person_distances_take_each_persons_nearest_photo():
    rng = np.random.default_rng(0)
    gallery = _unit(rng.normal(size=(7, 128)))
    owner = np.array([0, 0, 1, 2, 2, 2, 3])
    probes = _unit(rng.normal(size=(5, 128)))
    got = osi.person_distances(probes, gallery, owner, 4)
    for i, probe in enumerate(probes):
        for person in range(4):
            expected = np.linalg.norm(gallery[owner == person] - probe, axis=1).min()
            assert got[i, person] == pytest.approx(expected, abs=1e-9)


def test_person_distances_to_each_persons_mean():
    rng = np.random.default_rng(1)
    gallery = _unit(rng.normal(size=(6, 128)))
    owner = np.array([0, 0, 0, 1, 3, 3])  # person 2 has no photo: never near
    probes = _unit(rng.normal(size=(4, 128)))
    got = osi.person_distances(probes, gallery, owner, 4, rule="mean")
    for i, probe in enumerate(probes):
        for person in (0, 1, 3):
            mean = _unit(gallery[owner == person].mean(axis=0))
            assert got[i, person] == pytest.approx(np.linalg.norm(mean - probe), abs=1e-9)
    assert np.isinf(got[:, 2]).all()
    nearest = osi.person_distances(probes, gallery, owner, 4)
    assert got[:, 1] == pytest.approx(nearest[:, 1])  # one photo: the same either way
    with pytest.raises(ValueError, match="rule must be one of"):
        osi.person_distances(probes, gallery, owner, 4, rule="median")


def test_a_persons_mean_misses_fewer_visits_when_each_has_several_photos():
    pop = _population(_counts(1200, 5), spread=0.16, seed=5, dims=16)
    result = osi.run(pop, sizes=(100,), draws=3, enrolled_photos=(3,))
    fnir = {r: result.cell(r, 100, 3, 0.01).mean_std("fnir")[0] for r in osi.RULES}
    assert fnir["mean+ratio"] < fnir["visit+ratio"]


def test_threshold_at_fpir_greets_at_most_the_allowed_strangers():
    scores = np.arange(1000, 0, -1) / 1000.0  # 0.001 .. 1.0
    t = osi.threshold_at_fpir(scores, 0.01)
    assert np.sum(scores < t) == 10 and t == pytest.approx(0.011)
    assert np.sum(scores < osi.threshold_at_fpir(scores, 0.001)) == 1
    assert osi.threshold_at_fpir(scores[:50], 0.01) == pytest.approx(0.951)  # 0 allowed
    assert osi.threshold_at_fpir(np.full(10, math.inf), 0.5) == math.inf
    with pytest.raises(ValueError, match="target"):
        osi.threshold_at_fpir(scores, 1.0)


def _brute_force(pop, draw, probe, max_ratio, threshold):
    """The rule written out per probe, to check the vectorised one."""
    e, gallery = pop.embeddings, pop.embeddings[draw.gallery_rows]

    def decide(vector):
        d = [
            np.linalg.norm(gallery[draw.gallery_owner == j] - vector, axis=1).min()
            for j in range(draw.n_gallery)
        ]
        order = np.argsort(d)
        d1, d2 = d[order[0]], d[order[1]]
        ok = d1 < threshold and (max_ratio is None or d1 / d2 <= max_ratio)
        return order[0] if ok else None

    def probes(visits):
        if probe == "visit":
            return [(i, _unit(e[v].mean(axis=0))) for i, v in enumerate(visits)]
        return [(i, e[r]) for i, v in enumerate(visits) for r in v]

    mated = [(decide(v), draw.mated_person[i]) for i, v in probes(draw.mated)]
    strangers = [decide(v) for _, v in probes(draw.stranger_visits)]
    return (
        np.mean([g is not None for g in strangers]),
        np.mean([g != who for g, who in mated]),
        np.mean([g is not None and g != who for g, who in mated]),
    )


@pytest.mark.parametrize("probe", ["visit", "frame"])
@pytest.mark.parametrize("max_ratio", [None, 0.85])
def test_rates_match_the_rule_written_out(probe, max_ratio):
    pop = _population(_counts(300, 1), spread=0.2, seed=1, dims=6)  # crowded: mistakes happen
    draw = osi.simulate(pop, 40, 120, 1, 3, seed=2)
    scores = osi.score_draw(pop, draw, probe, max_ratio)
    n_frames = sum(len(v) for v in draw.stranger_visits)
    assert len(scores.stranger_scores) == (n_frames if probe == "frame" else 120)
    threshold = float(np.quantile(scores.mated_scores[np.isfinite(scores.mated_scores)], 0.8))
    got = osi.rates_at(scores, threshold)
    fpir, fnir, wrong = _brute_force(pop, draw, probe, max_ratio, threshold)
    assert (got.fpir, got.fnir, got.wrong) == pytest.approx((fpir, fnir, wrong))
    assert 0 < got.fpir < 1 and 0 < got.wrong < got.fnir < 1  # neither all nor nothing


def test_well_separated_people_are_never_missed_nor_strangers_greeted():
    pop = _population(_counts(1400, 2), spread=0.02, seed=2)
    result = osi.run(pop, sizes=(10, 50, 200), draws=2)
    assert result.n_strangers == 700 and result.sizes == (10, 50, 200) and not result.skipped
    for cell in result.cells:
        assert cell.mean_std("fnir") == (0.0, 0.0), cell
        assert cell.mean_std("wrong") == (0.0, 0.0)
        assert cell.mean_std("fpir")[0] <= cell.target  # in-sample: at most the target
        if cell.rule.startswith("visit"):  # one probe per stranger
            assert cell.resolved == (cell.target * 700 >= 1)
    draw = osi.simulate(pop, 200, 700, seed=0)
    for rule in ("frame", "visit"):
        between = osi.rates_at(osi.score_draw(pop, draw, rule, 0.85), 0.8)  # between clusters
        assert (between.fpir, between.fnir, between.wrong) == (0.0, 0.0, 0.0)


def test_crowded_galleries_miss_more_as_they_grow():
    pop = _population(_counts(1200, 3), spread=0.12, seed=3, dims=16)
    result = osi.run(pop, sizes=(10, 100, 500), draws=3, enrolled_photos=(1,))
    fnir = [result.cell("visit", n, 1, 0.01).mean_std("fnir")[0] for n in (10, 100, 500)]
    assert fnir[0] <= fnir[1] <= fnir[2] and fnir[2] > 0
    frame = result.cell("frame", 100, 1, 0.01).mean_std("fnir")[0]
    assert fnir[1] < frame  # a visit mean beats single frames
    counts = result.counts[(100, 1)]
    assert counts["gallery photos"] == 100 and counts["mated visits"] > 50


def test_sizes_the_data_cannot_hold_are_skipped_and_said_so():
    pop = _population(_counts(300, 4))
    n_strangers, sizes, skipped = osi.check_counts(pop.counts)
    assert n_strangers == 150 and sizes == (10, 50, 150)
    assert set(skipped) == {200, 1000} and "the data has 150" in skipped[200]
    assert osi.stranger_count(150) == 100 and osi.stranger_count(3000) == 1000
    assert osi.stranger_count(105) == 0  # 100 strangers would leave 5 people


def test_data_that_cannot_support_a_result_is_refused_with_the_reason():
    with pytest.raises(osi.DataTooSmall, match="at least 100 strangers"):
        osi.run(_population([3] * 60))
    with pytest.raises(osi.DataTooSmall, match="2 or more photos"):
        osi.run(_population([1] * 190 + [2] * 10))
    with pytest.raises(osi.DataTooSmall, match="fewer than 1,000"):
        osi.measure_curve(_population([1] * 150 + [3] * 5), "m")


# ----------------------------------------------------------------------------- the curve


def test_impostor_distances_are_every_visit_against_every_other_persons_first_photo():
    pop = _population([3, 1, 4, 2, 3])
    d = osi.impostor_distances(pop)
    assert len(d) == 3 * 4  # 3 people with >= 3 photos, each against 4 others
    visits, owner = osi.curve_probes(pop)
    assert owner.tolist() == [0, 2, 4]
    expected = [
        np.linalg.norm(visits[i] - pop.embeddings[pop.rows(q)[0]])
        for i, p in enumerate(owner)
        for q in range(5)
        if q != p
    ]
    np.testing.assert_allclose(np.sort(d), np.sort(expected))
    assert d.min() > 1.0  # no one compared with themselves (~0.5 away at this spread)


def test_measured_curve_says_how_and_knows_its_limits():
    pop = _population(_counts(600, 5), spread=0.09, dims=16)
    curve = osi.measure_curve(pop, "model-x", {"command": "facenet-tune --open-set X"})
    visits = int((pop.counts >= 3).sum())
    assert curve.comparisons == visits * (pop.n_people - 1) and curve.model == "model-x"
    assert curve.probe.startswith("mean of 3 photos")
    assert curve.notes["command"] == "facenet-tune --open-set X"
    assert f"{curve.comparisons:,}" in curve.notes["comparisons"]
    thresholds = [curve.threshold_for(n, 0.01) for n in (10, 50, 200, 1000)]
    assert thresholds == sorted(thresholds, reverse=True)
    assert osi.largest_gallery(1_000_000, 0.01, accepted=1) == pytest.approx(10_050, rel=0.01)
    assert osi.largest_gallery(1_000_000, 0.01) == pytest.approx(1_005, rel=0.01)  # 10 accepted
    assert osi.largest_gallery(5, 0.01) == 0


def test_the_formulas_threshold_keeps_new_strangers_at_the_target():
    """Curve measured on half the people, strangers' visits from the other half, galleries of
    10 and 50: the share greeted stays at the target (the formula is, if anything, strict)."""
    pop = _population(_counts(2000, 6), spread=0.09, seed=6, dims=16)
    for n in (10, 50):
        for check in osi.check_formula(pop, n, targets=(0.01,), splits=2, galleries=100):
            measured, predicted = np.mean(check.measured), np.mean(check.predicted)
            assert predicted <= 0.0101
            assert 0.003 < measured <= 0.012, (n, check)
            assert len(check.thresholds) == 4  # 2 splits, both ways
