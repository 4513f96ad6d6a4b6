"""``facenet-weights check``: never "the complete public set" without proof.

The public sha256 of the five largest kernels is not known here, so no set can be shown to be
the complete public one: ``check`` must say "5 tensors could not be verified: not the complete
public set" and why, for the shared set (5 re-learned), for a CSV folder without a manifest whose
five largest tensors are not the public ones, and for an HDF5 file (checked by its values).
"""

import functools
import http.server
import threading

import h5py
import numpy as np
import pytest

from fr_utils.cli.weights import main, verdict
from fr_utils.weight_files import (
    UNHASHED_SHAPES,
    Provenance,
    known_hashes,
    known_tensor_hashes,
    provenance,
    tensor_sha256,
)
from fr_utils.weights import read_csv

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
