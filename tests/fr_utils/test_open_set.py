"""Open-set thresholds: the impostor curve, FPIR for a gallery size, the threshold that keeps
FPIR at a target (more people: stricter), files, and the curve lookup."""

import json

import numpy as np
import pytest

from fr_utils.open_set import (
    FILE_NAME,
    GRID,
    ImpostorCurve,
    OpenSetError,
    find_curve,
    packaged_curve_path,
)


def _curve(seed=0, n=200_000, model="m"):
    """Impostor distances like a real encoder's: roughly normal around 1.3, sd 0.12."""
    rng = np.random.default_rng(seed)
    return ImpostorCurve.from_distances(rng.normal(1.3, 0.12, n), model=model, probe="test")


def test_curve_from_distances():
    curve = ImpostorCurve.from_distances([0.5, 1.0, 1.0, 1.5], model="m")
    assert curve.comparisons == 4 and len(curve.thresholds) == len(GRID)
    assert curve.far_at(0.4) == 0 and curve.far_at(0.5) == 0.25 and curve.far_at(1.0) == 0.75
    assert curve.far_at(2.0) == 1.0
    with pytest.raises(OpenSetError):
        ImpostorCurve.from_distances([], model="m")


def test_fpir_grows_with_the_gallery_and_the_threshold_shrinks():
    curve = _curve()
    t = 0.95
    f = curve.far_at(t)
    assert curve.fpir(t, 1) == pytest.approx(f)
    assert curve.fpir(t, 200) == pytest.approx(1 - (1 - f) ** 200)
    assert curve.fpir(t, 0) == 0.0
    sizes = [1, 10, 50, 200, 1000]
    thresholds = [curve.threshold_for(n, 0.01) for n in sizes]
    assert thresholds == sorted(thresholds, reverse=True)  # more people -> stricter
    assert len(set(thresholds)) == len(thresholds)
    for n, threshold in zip(sizes, thresholds):
        assert curve.fpir(threshold, n) <= 0.0101  # kept at the target (interpolation)
        assert curve.fpir(threshold + 0.02, n) > 0.01  # and not needlessly strict
    assert curve.threshold_for(200, 0.001) < curve.threshold_for(200, 0.01)
    with pytest.raises(ValueError, match="fpir"):
        curve.threshold_for(10, 0.0)


def test_the_threshold_never_goes_beyond_what_the_data_supports():
    curve = ImpostorCurve.from_distances(np.full(1000, 1.2), model="m")  # all at 1.2
    # 1000 impostors cannot tell a rate of 1e-5 from zero: stop below the first impostor
    assert curve.threshold_for(1000, 0.01) < 1.2


def test_empirical_fpir_of_simulated_galleries_is_no_worse_than_predicted():
    """Strangers (random unit vectors in a low-dimensional space, so some are near) against
    galleries of N people: the measured share greeted stays at or under the prediction."""
    rng = np.random.default_rng(1)

    def unit(n):
        v = rng.normal(size=(n, 8))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    gallery, strangers = unit(1000), unit(4000)
    distances = np.linalg.norm(strangers[:, None, :] - gallery[None, :, :], axis=2)
    curve = ImpostorCurve.from_distances(distances[:2000].ravel(), model="m")
    for n in (10, 100, 1000):
        t = curve.threshold_for(n, 0.05)
        measured = np.mean(distances[2000:, :n].min(axis=1) <= t)
        assert measured <= 0.05 * 1.3, (n, t, measured)


def test_json_round_trip_and_damaged_files(tmp_path):
    curve = _curve()
    path = curve.to_json(tmp_path / FILE_NAME)
    back = ImpostorCurve.from_json(path)
    assert back.model == "m" and back.probe == "test" and back.comparisons == curve.comparisons
    np.testing.assert_allclose(back.far, curve.far, rtol=1e-5)
    assert back.threshold_for(200) == pytest.approx(curve.threshold_for(200), abs=1e-4)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(OpenSetError, match="not an impostor-curve file"):
        ImpostorCurve.from_json(bad)
    data = json.loads(path.read_text())
    data["far"] = data["far"][::-1]
    bad.write_text(json.dumps(data))
    with pytest.raises(OpenSetError, match="non-decreasing"):
        ImpostorCurve.from_json(bad)
    with pytest.raises(OpenSetError, match="no such"):
        ImpostorCurve.from_json(tmp_path / "missing.json")


def test_find_curve_explicit_beside_the_weights_and_packaged(tmp_path):
    weights = tmp_path / "w" / "nn4.small2.v1.h5"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    assert find_curve("nobody-measured-this", weights=weights) is None
    _curve(model="mine").to_json(weights.parent / FILE_NAME)
    assert find_curve("mine", weights=weights).source == str(weights.parent / FILE_NAME)
    assert find_curve("other", weights=weights) is None  # beside the weights but not theirs
    explicit = _curve(model="other").to_json(tmp_path / "other.json")
    assert find_curve("other", explicit=explicit).model == "other"
    with pytest.raises(OpenSetError, match="not for the encoder in use"):
        find_curve("mine", explicit=explicit)
    assert packaged_curve_path("a/b c").name == "a_b_c.json"
