"""fr_utils.evaluation.lfw: pairs.txt parsing, and the View-2 benchmark on a tiny pairs file."""

import json

import cv2
import numpy as np
import pytest

from fr_utils.align import dlib_like_box
from fr_utils.cli import tune as cli_tune
from fr_utils.evaluation import datasets, lfw
from fr_utils.weight_files import Provenance, provenance

TINY = (
    "2\t2\nAnn\t1\t2\nBob\t1\t3\nAnn\t1\tBob\t2\nCid\t1\tAnn\t2\n"
    "Dee\t1\t2\nEve\t2\t1\nDee\t1\tEve\t1\nFay\t1\tDee\t2\n"
)


def test_read_pairs_parses_folds_matched_and_mismatched(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text(TINY)
    pairs = datasets.read_pairs(path)
    assert pairs.fold.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert pairs.same.tolist() == [True, True, False, False] * 2
    assert (pairs.first[0], pairs.second[0]) == ("Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg")
    assert (pairs.first[3], pairs.second[3]) == ("Cid/Cid_0001.jpg", "Ann/Ann_0002.jpg")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "first line"),
        ("2\t2\nAnn\t1\t2\n", "expected 8 pair lines"),
        ("1\t1\nAnn\t1\tBob\t2\nAnn\t1\tBob\t2\n", "line 2 should have 3 fields"),
    ],
)
def test_read_pairs_rejects_malformed_files(tmp_path, text, message):
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        datasets.read_pairs(path)
    with pytest.raises(ValueError, match="cannot read"):
        datasets.read_pairs(tmp_path / "absent.txt")


def test_centre_box_is_a_detector_that_always_finds_the_middle():
    """The box a detector finds on a typical LFW photo, reframed as dlib frames a face and
    scaled with the image (enrollment enlarges a 250x250 photo before detecting)."""
    boxes = lfw.CentreBox()(np.zeros((250, 250, 3), np.uint8))
    assert boxes.tolist() == [dlib_like_box(lfw.LFW_CENTRE_BOX).tolist()] == [[77, 83, 104, 104]]
    enlarged = lfw.CentreBox()(np.zeros((320, 320, 3), np.uint8))
    np.testing.assert_allclose(enlarged, boxes * 320 / 250, atol=1)


@pytest.mark.shared
def test_the_real_pairs_file_is_view_2(lfw_dir):
    pairs = datasets.read_pairs(lfw_dir / datasets.PAIRS_FILE)
    assert len(pairs.fold) == 6000
    assert np.bincount(pairs.fold).tolist() == [600] * 10
    assert np.bincount(pairs.fold[pairs.same]).tolist() == [300] * 10
    assert all((datasets.images_dir(lfw_dir) / p).is_file() for p in pairs.first[:50])


@pytest.mark.shared
@pytest.mark.slow
def test_benchmark_end_to_end_on_a_tiny_pairs_file(lfw_dir, weights_path, tmp_path):
    """10 folds x (2 matched + 2 mismatched) real LFW pairs, plus one photo with no face."""
    real = datasets.read_pairs(lfw_dir / datasets.PAIRS_FILE)
    root = tmp_path / "lfw"
    lines = ["10\t2"]
    for fold in range(10):
        rows = np.flatnonzero(real.fold == fold)
        for i in [*rows[:2], *rows[300:302]]:
            for rel in (real.first[i], real.second[i]):
                (root / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
                if not (root / "images" / rel).exists():
                    (root / "images" / rel).symlink_to(datasets.images_dir(lfw_dir) / rel)
            a, b = (p.split("/")[1][:-4] for p in (real.first[i], real.second[i]))
            name_a, n_a = a.rsplit("_", 1)
            name_b, n_b = b.rsplit("_", 1)
            lines.append(
                f"{name_a}\t{int(n_a)}\t{int(n_b)}"
                if real.same[i]
                else f"{name_a}\t{int(n_a)}\t{name_b}\t{int(n_b)}"
            )
    # the last mismatched pair's second photo becomes a blank wall: no face is found
    blank = root / "images" / real.second[np.flatnonzero(real.fold == 9)[301]]
    blank.unlink()
    cv2.imwrite(str(blank), np.full((250, 250, 3), 200, np.uint8))
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    config = tmp_path / "greeter.json"
    code = cli_tune.main(
        [
            "--lfw",
            str(root),
            "--encoder",
            "facenet",
            "--weights",
            str(weights_path),
            "--quiet",
            "--cache",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "out"),
            "--write-config",
            str(config),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "out" / "lfw_report.json").read_text())
    assert report["folds_1_10"]["folds"] == 10 and report["folds_6_10"]["folds"] == 5
    # the blank wall, and at most a couple of real photos dlib's frontal detector misses
    assert str(blank) in report["centre_box_fallback"]
    assert len(report["centre_box_fallback"]) <= 3
    assert 0.5 < report["folds_1_10"]["accuracy_mean"] <= 1.0
    assert 0.5 < report["auc_1_10"] <= 1.0
    for name in ("lfw_histograms.png", "lfw_roc.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert cv2.imread(str(tmp_path / "out" / name)) is not None
    assert json.loads(config.read_text())["threshold"] == pytest.approx(
        report["threshold_far_6_10"], abs=1e-4
    )
    # the table names the weights actually loaded, from their hashes
    table = (tmp_path / "out" / "lfw_report.md").read_text()
    label = f"{provenance(weights_path).label()}, aligned, flip-average, tensorflow"
    assert f"{label}, folds 1-10" in table  # no LiteRT export in this cache: TensorFlow


def test_provenance_labels():
    assert Provenance(official=["a"] * 221).label() == "nn4.small2.v1 (public weights)"
    relearned = Provenance(official=["a"] * 216, relearned=["b"] * 5)
    assert relearned.label() == "nn4.small2.v1 + 5 re-learned tensors"
    assert "3 unverified" in Provenance(official=["a"] * 10, unverified=["c"] * 3).label()
