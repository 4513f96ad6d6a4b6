"""fr_utils.evaluation.datasets: LFW's pairs.txt (folds, matched and mismatched pairs, malformed
files refused; the real one is View 2), people.txt folds, and data sets of person folders."""

import numpy as np
import pytest

from fr_utils.evaluation import datasets
from tests.helpers.images import touch_photos

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


def test_the_real_pairs_file_is_view_2(lfw_dir):
    pairs = datasets.read_pairs(lfw_dir / datasets.PAIRS_FILE)
    assert len(pairs.fold) == 6000
    assert np.bincount(pairs.fold).tolist() == [600] * 10
    assert np.bincount(pairs.fold[pairs.same]).tolist() == [300] * 10
    assert all((datasets.images_dir(lfw_dir) / p).is_file() for p in pairs.first[:50])


def test_load_dataset_reads_person_folders_and_flat_files(tmp_path):
    touch_photos(
        tmp_path,
        [
            "ann/1.jpg",
            "ann/2.png",
            "bob/x.jpg",
            "Carl_Lee_0001.jpg",
            "Carl_Lee_0002.jpg",
            "dee.jpg",
            ".hidden.jpg",
            "notes.txt",
        ],
    )
    data = datasets.load_dataset(tmp_path)
    assert data.people == ["Carl_Lee", "ann", "bob", "dee"]
    assert sorted(zip(data.labels, (p.name for p in data.paths))) == [
        ("Carl_Lee", "Carl_Lee_0001.jpg"),
        ("Carl_Lee", "Carl_Lee_0002.jpg"),
        ("ann", "1.jpg"),
        ("ann", "2.png"),
        ("bob", "x.jpg"),
        ("dee", "dee.jpg"),
    ]


def test_load_dataset_needs_two_people_and_names_the_folder(tmp_path):
    touch_photos(tmp_path / "one", ["ann/1.jpg", "ann/2.jpg"])
    with pytest.raises(ValueError, match=r"one.*at least two\s+people"):
        datasets.load_dataset(tmp_path / "one")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        datasets.load_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="missing"):
        datasets.load_dataset(tmp_path / "missing")


def test_read_lfw_folds(tmp_path):
    path = tmp_path / "people.txt"
    path.write_text("2\n2\nAnn\t3\nBob\t1\n1\nCid\t5\n")
    assert datasets.read_lfw_folds(path) == [{"Ann": 3, "Bob": 1}, {"Cid": 5}]
    path.write_text("2\n2\nAnn\t3\n")
    with pytest.raises(ValueError, match="people.txt"):
        datasets.read_lfw_folds(path)
