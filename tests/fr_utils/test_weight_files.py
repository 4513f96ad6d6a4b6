"""fr_utils.weight_files: the public file list and its hashes, provenance (official, re-learned,
unverified) and its labels, and the download of the public CSV files, which checks each one (only
ever from a local server on 127.0.0.1)."""

import pytest

from fr_utils.weight_files import (
    UNHASHED_SHAPES,
    DownloadError,
    Provenance,
    download,
    known_hashes,
    provenance,
    public_files,
)
from fr_utils.weights import EXTRANEOUS, tensor_shapes
from tests.helpers.weights import link_csv_folder

RELEARNED = [
    "inception_3c_3x3_conv2_w",
    "inception_4e_3x3_conv2_w",
    "inception_5a_1x1_conv_w",
    "inception_5a_3x3_conv2_w",
    "inception_5b_3x3_conv2_w",
]


def test_known_hashes():
    known = known_hashes()
    assert len(known) == 221
    assert set(EXTRANEOUS) <= set(known)
    assert not set(RELEARNED) & set(known)
    assert all(len(h) == 64 for h in known.values())


def test_shared_csv_provenance(csv_weights_dir):
    prov = provenance(csv_weights_dir)
    assert len(prov.official) == 221
    assert prov.relearned == RELEARNED
    assert prov.unverified == []
    assert prov.is_complete_official is False


def test_public_file_list(bare_model):
    files = public_files()
    assert len(files) == 226
    assert sum(digest is None for digest in files.values()) == 5
    shapes = tensor_shapes(bare_model)
    assert set(shapes) <= set(files)
    for stem, shape in UNHASHED_SHAPES.items():
        assert shapes[stem] == shape


def test_corrupted_file_is_rejected(csv_weights_dir, tmp_path, serve):
    site = link_csv_folder(
        csv_weights_dir, tmp_path / "site" / "weights", leave_out=["bn1_b", "dense_w"]
    )
    good = (csv_weights_dir / "bn1_b.csv").read_text()
    (site / "bn1_b.csv").write_text(good.replace("1", "2", 1))
    (site / "dense_w.csv").write_text("0.1,0.2")
    # everything else is already in dest (links): only the two bad files are fetched
    dest = link_csv_folder(
        csv_weights_dir, tmp_path / "dest" / "weights", leave_out=["bn1_b", "dense_w"]
    )
    with pytest.raises(DownloadError) as err:
        download(dest, base_url=serve(site.parent), progress=False)
    message = str(err.value)
    assert "2 of 226 weight files failed" in message
    assert "bn1_b.csv: sha256" in message and "dense_w.csv: sha256" in message
    assert not (dest / "bn1_b.csv").exists() and not (dest / "dense_w.csv").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no temp files left


def test_unhashed_file_checked_by_count(csv_weights_dir, tmp_path, serve):
    stem = "inception_5a_1x1_conv_w"
    site = link_csv_folder(csv_weights_dir, tmp_path / "site" / "weights", leave_out=[stem])
    (site / f"{stem}.csv").write_text(",".join(["0.5"] * 100))
    dest = link_csv_folder(csv_weights_dir, tmp_path / "dest" / "weights", leave_out=[stem])
    with pytest.raises(DownloadError, match=rf"{stem}\.csv: not \(256, 1024, 1, 1\)"):
        download(dest, base_url=serve(site.parent), progress=False)
    assert not (dest / f"{stem}.csv").exists()


def test_unreachable_server(tmp_path, serve):
    with pytest.raises(DownloadError, match=r"bn1_b\.csv: could not fetch"):
        download(tmp_path, base_url="http://127.0.0.1:9/", progress=False, timeout=5)


def test_provenance_labels():
    assert Provenance(official=["a"] * 221).label() == "nn4.small2.v1 (public weights)"
    relearned = Provenance(official=["a"] * 216, relearned=["b"] * 5)
    assert relearned.label() == "nn4.small2.v1 + 5 re-learned tensors"
    assert "3 unverified" in Provenance(official=["a"] * 10, unverified=["c"] * 3).label()
