"""facenet-weights: convert, check, download (from a local server on 127.0.0.1 serving links to
the shared CSV files: never the internet) and export-litert; its messages and exit codes.
(The download itself: tests/fr_utils/test_weight_files.py.)
"""

import shutil

import numpy as np
import pytest

from fr_utils._files import sha256
from fr_utils.cli import USER_ERROR
from fr_utils.cli.weights import main
from fr_utils.weight_files import UNHASHED_SHAPES, download, provenance, public_files
from fr_utils.weights import read_weights, tensor_shapes
from tests.helpers.weights import link_csv_folder


def test_download_all_then_resume(csv_weights_dir, tmp_path, serve, capsys):
    url = serve(link_csv_folder(csv_weights_dir, tmp_path / "site" / "weights").parent)
    dest = tmp_path / "dest"
    assert main(["download", "--dest", str(dest), "--base-url", url, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "226 weight files" in out and "226 downloaded" in out
    assert "221 verified by sha256" in out
    assert "5 could NOT be verified by hash" in out
    for stem in UNHASHED_SHAPES:
        assert stem in out
    for f in csv_weights_dir.glob("*.csv"):
        assert sha256(dest / f.name) == sha256(f), f.name
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.csv" for s in public_files())
    again = download(dest, base_url=url, progress=False)  # resumable: nothing fetched twice
    assert again.fetched == [] and len(again.present) == 226


def test_missing_file_404(csv_weights_dir, tmp_path, serve, capsys):
    site = link_csv_folder(csv_weights_dir, tmp_path / "site" / "weights", leave_out=["dense_b"])
    dest = link_csv_folder(csv_weights_dir, tmp_path / "dest" / "weights", leave_out=["dense_b"])
    assert (
        main(["download", "--dest", str(dest), "--base-url", serve(site.parent), "--no-progress"])
        == USER_ERROR
    )
    err = capsys.readouterr().err
    assert "dense_b.csv: HTTP 404" in err and "run again to resume" in err


def test_convert_and_check(csv_weights_dir, bare_model, tmp_path, capsys):
    out = tmp_path / "w.h5"
    assert main(["convert", str(csv_weights_dir), str(out)]) == 0
    shapes = tensor_shapes(bare_model)
    from_h5, from_csv = read_weights(out, shapes), read_weights(csv_weights_dir, shapes)
    for stem in shapes:
        np.testing.assert_array_equal(from_h5[stem], from_csv[stem])
    prov = provenance(out)  # the sha256 and re-learned marks travel with the HDF5 file
    assert (len(prov.official), len(prov.relearned), prov.unverified) == (221, 5, [])
    capsys.readouterr()

    assert main(["check", str(out)]) == 0
    _assert_shared_check(capsys.readouterr().out, out)


def _assert_shared_check(text, path):
    assert f"weights: {path}" in text
    assert "tensors: 226" in text
    assert "public hashes: 221 of the 221" in text
    assert "re-learned: 5" in text and "unverified: 0" in text
    assert "NOT the complete public nn4.small2.v1 set" in text
    assert "official" not in text.lower()  # never call the shared set official


def test_check_default_location_and_errors(csv_weights_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACENET_WEIGHTS", str(csv_weights_dir))
    assert main(["check"]) == 0
    _assert_shared_check(capsys.readouterr().out, csv_weights_dir)
    monkeypatch.delenv("FACENET_WEIGHTS")
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == USER_ERROR
    assert "No weights at weights" in capsys.readouterr().err
    short = tmp_path / "short"
    short.mkdir()
    for f in list(csv_weights_dir.glob("*.csv"))[:10]:
        shutil.copy(f, short / f.name)
    assert main(["check", str(short)]) == USER_ERROR
    assert "incomplete" in capsys.readouterr().err


def test_export_litert_flags_and_too_few_faces(course_dir, weights_path, tmp_path, capsys):
    shutil.copy(min(course_dir.glob("*.jpg")), tmp_path / "face.jpg")
    out = tmp_path / "o"
    argv = ["--calibrate", str(tmp_path), "--weights", str(weights_path), "--out", str(out)]
    assert main(["export-litert", *argv]) == USER_ERROR
    assert "faces found in 1 photos" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit) as stopped:
        main(["export-litert", "--help"])
    assert stopped.value.code == 0
    assert "(default: 300)" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as stopped:
        main(["export-litert"])  # --calibrate is required
    assert stopped.value.code == 2
