"""Visits, not frames: the weighted mean of a visit's frames, the verdict (known, stranger,
unsure) with the margin over the runner-up, the per-person cooldown, and the threshold
for the gallery's size. Pure logic: synthetic unit vectors, a fake clock."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from fr_utils.database import FaceDatabase
from fr_utils.open_set import ImpostorCurve
from greeter.config import ConfigError, load_config, resolve_settings
from greeter.visits import (
    Cooldown,
    OpenSetThreshold,
    QualityGate,
    Rules,
    Visit,
    VisitJudge,
    judge,
    threshold_policy,
)


def _unit(v):
    v = np.asarray(v, np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _at(base, distance, seed):
    """A unit vector at plain-L2 ``distance`` from unit ``base``."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=128)
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    cos = 1 - distance**2 / 2
    return _unit(cos * base + math.sqrt(max(0.0, 1 - cos**2)) * noise)


@pytest.fixture
def gallery():
    rng = np.random.default_rng(0)
    people = {name: _unit(rng.normal(size=128)) for name in ("Ana", "Ben", "Cleo")}
    return people, FaceDatabase(list(people), np.stack(list(people.values())))


def _visit(vectors, weights=None):
    visit = Visit(track_id=1, started=0.0)
    for i, v in enumerate(vectors):
        visit.add(v, 1.0 if weights is None else weights[i], face=f"face {i}")
    return visit


def test_visit_mean_is_weighted_and_unit_and_keeps_its_most_typical_face():
    a, b = _unit([1] + [0] * 127), _unit([0, 1] + [0] * 126)
    visit = _visit([a, b, b], weights=[2.0, 1.0, 1.0])
    np.testing.assert_allclose(visit.mean(), _unit([1, 1] + [0] * 126), atol=1e-6)
    assert visit.frames == 3
    odd = _visit([a, b, b, b])  # three frames alike and one odd one out
    assert odd.representative() == "face 1" and Visit(1, 0.0).representative() is None
    with pytest.raises(ValueError):
        Visit(1, 0.0).mean()


def test_known_needs_min_frames_then_greets(gallery):
    people, db = gallery
    rules = Rules(min_frames=3, max_frames=8, max_ratio=0.9)
    frames = [_at(people["Ana"], 0.45, s) for s in range(3)]
    assert judge(_visit(frames[:2]), db, 0.6, rules) is None  # not enough evidence yet
    verdict = judge(_visit(frames), db, 0.6, rules)
    assert verdict.known and verdict.name == "Ana" and verdict.runner_up in ("Ben", "Cleo")
    assert verdict.distance < 0.45  # the mean of three noisy frames is nearer than each
    assert verdict.frames == 3 and verdict.threshold == 0.6 and verdict.ratio < 0.5


def test_a_stranger_is_decided_early_and_a_near_miss_only_at_the_budget(gallery):
    people, db = gallery
    rules = Rules(min_frames=2, max_frames=4)
    rng = np.random.default_rng(5)
    stranger = [_unit(rng.normal(size=128))] * 2
    assert judge(_visit(stranger), db, 0.6, rules).kind == "stranger"
    near = [_at(people["Ben"], 0.68, 7)] * 4  # just over 0.55, within 1.3 x 0.55
    assert judge(_visit(near[:2]), db, 0.55, rules) is None  # keep looking
    final = judge(_visit(near), db, 0.55, rules)
    assert final.kind == "unsure" and final.name == "Ben"


def test_the_margin_rule_refuses_a_tie_between_two_people():
    a = _unit(np.r_[1.0, 0.0, np.zeros(126)])
    b = _unit(np.r_[0.96, 0.28, np.zeros(126)])  # Ana and her look-alike: 0.28 apart
    db = FaceDatabase(["Ana", "Twin"], np.stack([a, b]))
    probe = _unit(a + b)  # exactly between them
    rules = Rules(min_frames=1, max_frames=1, max_ratio=0.9)
    verdict = judge(_visit([probe]), db, 0.5, rules)
    assert verdict.kind == "unsure" and verdict.ratio > 0.9
    assert judge(_visit([probe]), db, 0.5, Rules(1, 1, max_ratio=1.0)).known


def test_an_empty_gallery_gives_strangers():
    rules = Rules(min_frames=1, max_frames=2)
    verdict = judge(_visit([_unit(np.ones(128))]), FaceDatabase(), 0.6, rules)
    assert verdict.kind == "stranger" and verdict.name is None and verdict.ratio == 0.0


def test_mean_rule_uses_each_persons_mean(gallery):
    people, _ = gallery
    rng = np.random.default_rng(3)
    odd = _unit(rng.normal(size=128))  # one of Ana's photos is unlike her others
    ana = [_at(people["Ana"], 0.3, s) for s in range(3)] + [odd]
    db = FaceDatabase(["Ana"] * 4 + ["Ben"], np.stack([*ana, people["Ben"]]))
    probe = _visit([odd])
    nearest = judge(probe, db, 0.6, Rules(1, 1, rule="nearest"))
    mean = judge(probe, db, 0.6, Rules(1, 1, rule="mean"))
    assert nearest.distance < 1e-5 and mean.distance > 0.6


def test_the_mean_rule_is_the_default_and_uses_each_persons_cached_mean(gallery):
    people, _ = gallery
    ana = [_at(people["Ana"], 0.3, s) for s in range(3)]
    db = FaceDatabase(["Ana"] * 3 + ["Ben"], np.stack([*ana, people["Ben"]]))
    mean = _unit(np.mean(ana, axis=0))
    verdict = judge(_visit([mean]), db, 0.6, Rules(1, 1))
    assert Rules().rule == "mean" and verdict.name == "Ana" and verdict.distance < 1e-5
    assert db.person_means is db.person_means  # computed once per gallery
    assert np.allclose(np.linalg.norm(db.person_means, axis=1), 1.0)


def test_rules_are_checked():
    with pytest.raises(ValueError):
        Rules(min_frames=0)
    with pytest.raises(ValueError):
        Rules(min_frames=5, max_frames=3)
    with pytest.raises(ValueError):
        Rules(max_ratio=0)
    with pytest.raises(ValueError):
        Rules(rule="median")


def test_cooldown():
    now = [0.0]
    cooldown = Cooldown(300, clock=lambda: now[0])
    assert cooldown.ready("Ana")
    cooldown.greeted("Ana")
    now[0] = 299.0
    assert not cooldown.ready("Ana") and cooldown.ready("Ben")
    now[0] = 300.0
    assert cooldown.ready("Ana")
    with pytest.raises(ValueError):
        Cooldown(-1)


def test_threshold_for_the_gallery_size():
    rng = np.random.default_rng(0)
    curve = ImpostorCurve.from_distances(rng.normal(1.3, 0.12, 100_000), model="m")
    policy = OpenSetThreshold(curve, fpir=0.01)
    small, large = policy.for_gallery(10, 10), policy.for_gallery(200, 200)
    assert large < small  # more people enrolled -> stricter
    assert policy.expected_fpir(large, 200, 200) == pytest.approx(0.01, abs=0.002)
    text = policy.describe(200, 200)
    assert text.startswith("200 people enrolled (200 photos): a stranger is greeted by mistake in")
    assert "1 % of visits at threshold" in text
    # every enrolled photo counts, whichever match rule (a person's mean draws strangers nearer)
    assert policy.for_gallery(200, 600) < policy.for_gallery(200, 200)
    assert policy.for_gallery(200, 600) == policy.for_gallery(600, 600)
    fixed = OpenSetThreshold(curve, fpir=0.01, fixed=0.9)
    assert fixed.for_gallery(1000, 1000) == 0.9 and "as set" in fixed.describe(1000, 1000)
    assert fixed.expected_fpir(0.9, 1000, 1000) > 0.01  # said, not hidden
    blind = OpenSetThreshold(None, fixed=None, fallback=0.81)
    assert blind.for_gallery(5, 5) == 0.81 and "unknown" in blind.describe(5, 5)
    with pytest.raises(ValueError):
        OpenSetThreshold(None)


def test_quality_gate():
    gate = QualityGate(min_face=60, min_sharpness=0.02, max_yaw=45.0)
    assert gate.problem((0, 0, 80, 80), 0.1, 10.0) is None
    assert gate.problem((0, 0, 45, 45), 0.1, 0.0).startswith("small")
    assert gate.problem((0, 0, 80, 80), 0.01, 0.0).startswith("blurred")
    assert gate.problem((0, 0, 80, 80), 0.1, -50.0).startswith("turned")
    assert gate.weight((0, 0, 80, 80)) == 0.5 and gate.weight((0, 0, 400, 400)) == 1.0


DLIB = SimpleNamespace(name="dlib-resnet", model_id="dlib-resnet-v1-unit")


def _policy(tmp_path, data, flags=None):
    config = tmp_path / "greeter.json"
    config.write_text(json.dumps(data))
    settings, sources = resolve_settings(flags or {}, load_config(config), config)
    return threshold_policy(settings, sources, DLIB, None)


def test_a_threshold_tuned_for_another_encoder_is_refused_naming_the_file(tmp_path):
    tuned = {"threshold": 0.7, "tuning": {"model": "facenet-0527334a7929bad4-flip"}}
    with pytest.raises(ConfigError) as err:
        _policy(tmp_path, tuned)
    message = str(err.value)
    assert "0.7" in message and str(tmp_path / "greeter.json") in message
    assert "facenet-0527334a7929bad4-flip" in message and "dlib-resnet-v1-unit" in message
    assert "--encoder dlib-resnet" in message


def test_a_threshold_tuned_for_this_encoder_typed_by_hand_or_given_by_flag_is_used(tmp_path):
    same = {"threshold": 0.3, "tuning": {"model": "dlib-resnet-v1-unit"}}
    assert _policy(tmp_path, same)[0].fixed == 0.3
    assert _policy(tmp_path, {"threshold": 0.31})[0].fixed == 0.31
    other = {"threshold": 0.7, "tuning": {"model": "facenet-0527334a7929bad4-flip"}}
    assert _policy(tmp_path, other, flags={"threshold": 0.32})[0].fixed == 0.32
    policy, origin = _policy(tmp_path, {})
    assert policy.fixed is None and "impostor curve" in origin


def test_a_finished_visit_keeps_its_person_through_a_poor_frame_but_not_a_swap(gallery):
    people, database = gallery
    judge = VisitJudge(OpenSetThreshold(fixed=0.5), Rules(min_frames=3), Cooldown(300))
    visit = _visit([_at(people["Ana"], 0.1, seed) for seed in range(5)])
    assert judge.consider(visit, database).name == "Ana"
    turned = _at(visit.mean(), 0.9, seed=7)  # 1.8 x the threshold: Ana, seen poorly
    assert database.person_distances(turned, "nearest")[1][0] > 0.5  # nobody else's either
    assert judge.same_person(visit, turned, database)
    assert not judge.same_person(visit, _at(visit.mean(), 1.1, seed=8), database)  # a stranger
    assert not judge.same_person(visit, _at(people["Ben"], 0.2, seed=9), database)  # Ben
