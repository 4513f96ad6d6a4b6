"""facenet-weights: convert, check, download (from a local server on 127.0.0.1 serving links to
the shared CSV files: never the internet) and export-litert; its messages and exit codes.
(The download itself: tests/fr_utils/test_weight_files.py.)
"""

import functools
import http.server
import shutil
import threading

import h5py
import numpy as np
import pytest

from fr_utils._files import sha256
from fr_utils.cli import USER_ERROR
from fr_utils.cli.weights import main, verdict
from fr_utils.weight_files import (
    UNHASHED_SHAPES,
    Provenance,
    download,
    known_hashes,
    known_tensor_hashes,
    provenance,
    public_files,
    tensor_sha256,
)
from fr_utils.weights import read_csv, read_weights, tensor_shapes
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


# ---- facenet-weights check: the complete public set only when every tensor is verified

VERDICT = "5 tensors could not be verified: not the complete public nn4.small2.v1 set"


def _verdict(text):
    lines = [line for line in text.splitlines() if line.startswith("verdict:")]
    assert len(lines) == 1, text
    return lines[0].lower()


def test_verdict_wording():
    complete = Provenance(official=["a"] * len(known_hashes()))
    assert verdict(complete) == [
        "verdict: the complete public nn4.small2.v1 set (every tensor's sha256 matches)"
    ]
    download = Provenance(official=["a"] * len(known_hashes()), unverified=sorted(UNHASHED_SHAPES))
    assert download.public_where_known and not download.is_complete_official
    lines = verdict(download)
    assert VERDICT in lines[0].lower()
    assert "no known public sha256" in lines[1] and "inception_5b_3x3_conv2_w" in lines[1]
    mixed = Provenance(official=["a"] * 210, relearned=["r"] * 2, unverified=["bn1_b", "x"])
    assert not mixed.public_where_known
    lines = verdict(mixed)
    assert "4 tensors could not be verified" in lines[0]
    assert lines[1:] == [
        "  2 re-learned (marked so beside the weights)",
        "  2 differ from the public files or carry no hash to compare: bn1_b, x",
    ]


def test_tensor_hashes_cover_the_known_files():
    assert set(known_tensor_hashes()) == set(known_hashes())
    assert all(len(digest) == 64 for digest in known_tensor_hashes().values())
    # the value hash is of little-endian float32, whatever the dtype it is given
    values = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert tensor_sha256(values) == tensor_sha256(values.astype(">f4"))


@pytest.mark.shared
def test_shared_set_reports_five_unverified(shared_dir, capsys):
    """The brief's case: ../shared/weights-aligned (its HDF5 file, which records no per-tensor
    sha256) is checked by value: 221 public, 5 re-learned."""
    assert main(["check", str(shared_dir / "weights-aligned")]) == 0
    text = capsys.readouterr().out
    assert "nn4.small2.v1.h5" in text
    assert "public hashes: 221 of the 221" in text
    assert _verdict(text) == f"verdict: {VERDICT}"
    assert "  5 re-learned" in text
    assert "official" not in text.lower()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(csv_weights_dir, tmp_path, monkeypatch):
    """A local server whose ``/weights/`` holds the shared CSV files (no MANIFEST.tsv)."""
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    site = tmp_path / "site" / "weights"
    site.mkdir(parents=True)
    for f in csv_weights_dir.glob("*.csv"):
        (site / f.name).symlink_to(f)
    handler = functools.partial(_QuietHandler, directory=str(site.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/weights/"
    server.shutdown()
    server.server_close()


@pytest.mark.shared
def test_downloaded_folder_without_manifest_is_not_called_public(mirror, tmp_path, capsys):
    """The issue's case: the download fills the folder, its five largest tensors are not the
    public ones (the shared set's re-learned kernels: right sizes, no manifest to say so)."""
    dest = tmp_path / "repo" / "weights"
    assert main(["download", "--dest", str(dest), "--base-url", mirror, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["check", str(dest)]) == 0
    text = capsys.readouterr().out
    assert f"weights: {dest}\n" in text  # the folder itself: the CSV files are straight in it
    assert "public hashes: 221 of the 221" in text and "unverified: 5" in text
    assert _verdict(text) == f"verdict: {VERDICT}"
    assert "5 have no known public sha256" in text
    assert "the complete public nn4.small2.v1 set (every" not in text
    prov = provenance(dest)
    assert prov.public_where_known and not prov.is_complete_official
    assert prov.unverified == sorted(UNHASHED_SHAPES)


@pytest.mark.shared
def test_hdf5_checked_by_values(csv_weights_dir, tmp_path, capsys):
    """An HDF5 file made elsewhere (no sha256 attributes, no re-learned marks): each tensor is
    checked by its values; one changed value makes that tensor differ."""
    out = tmp_path / "w.h5"
    with h5py.File(out, "w") as f:
        for csv in sorted(csv_weights_dir.glob("*.csv")):
            values = read_csv(csv).astype(np.float32)
            if csv.stem == "bn1_b":
                values[0] += 1e-3
            f.create_dataset(csv.stem, data=values)
    prov = provenance(out)
    assert len(prov.official) == 220 and prov.relearned == []
    assert prov.unverified == sorted(["bn1_b", *UNHASHED_SHAPES])
    lines = verdict(prov)
    assert lines[0].lower() == f"verdict: {VERDICT.replace('5', '6', 1)}"
    assert lines[1] == "  1 differ from the public files or carry no hash to compare: bn1_b"
