"""facenet-weights (convert / check / download / export-litert) and fr_utils.weight_files'
download.

The download tests only ever talk to a local http.server on 127.0.0.1 serving
links to the shared CSV files: they never contact the internet.
"""

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest

from fr_utils._files import sha256
from fr_utils.cli import USER_ERROR
from fr_utils.cli.weights import main
from fr_utils.weight_files import (
    UNHASHED_SHAPES,
    DownloadError,
    download,
    provenance,
    public_files,
)
from fr_utils.weights import read_weights, tensor_shapes


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(monkeypatch):
    """serve(folder) -> base URL of a local server for that folder (stopped after the test)."""
    for var in ("no_proxy", "NO_PROXY"):  # never route 127.0.0.1 through a configured proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    servers = []

    def start(folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/weights/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _mirror(csv_dir, root, leave_out=()):
    """root/weights/<stem>.csv links to the shared files (the layout of the public repository)."""
    folder = root / "weights"
    folder.mkdir(parents=True)
    for f in csv_dir.glob("*.csv"):
        if f.stem not in leave_out:
            (folder / f.name).symlink_to(f)
    return folder


def test_public_file_list(bare_model):
    files = public_files()
    assert len(files) == 226
    assert sum(digest is None for digest in files.values()) == 5
    shapes = tensor_shapes(bare_model)
    assert set(shapes) <= set(files)
    for stem, shape in UNHASHED_SHAPES.items():
        assert shapes[stem] == shape


@pytest.mark.shared
def test_download_all_then_resume(csv_weights_dir, tmp_path, serve, capsys):
    url = serve(_mirror(csv_weights_dir, tmp_path / "site").parent)
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


@pytest.mark.shared
def test_corrupted_file_is_rejected(csv_weights_dir, tmp_path, serve):
    site = _mirror(csv_weights_dir, tmp_path / "site", leave_out=["bn1_b", "dense_w"])
    good = (csv_weights_dir / "bn1_b.csv").read_text()
    (site / "bn1_b.csv").write_text(good.replace("1", "2", 1))
    (site / "dense_w.csv").write_text("0.1,0.2")
    # everything else is already in dest (links): only the two bad files are fetched
    dest = _mirror(csv_weights_dir, tmp_path / "dest", leave_out=["bn1_b", "dense_w"])
    with pytest.raises(DownloadError) as err:
        download(dest, base_url=serve(site.parent), progress=False)
    message = str(err.value)
    assert "2 of 226 weight files failed" in message
    assert "bn1_b.csv: sha256" in message and "dense_w.csv: sha256" in message
    assert not (dest / "bn1_b.csv").exists() and not (dest / "dense_w.csv").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.shared
def test_unhashed_file_checked_by_count(csv_weights_dir, tmp_path, serve):
    stem = "inception_5a_1x1_conv_w"
    site = _mirror(csv_weights_dir, tmp_path / "site", leave_out=[stem])
    (site / f"{stem}.csv").write_text(",".join(["0.5"] * 100))
    dest = _mirror(csv_weights_dir, tmp_path / "dest", leave_out=[stem])
    with pytest.raises(DownloadError, match=rf"{stem}\.csv: not \(256, 1024, 1, 1\)"):
        download(dest, base_url=serve(site.parent), progress=False)
    assert not (dest / f"{stem}.csv").exists()


@pytest.mark.shared
def test_missing_file_404(csv_weights_dir, tmp_path, serve, capsys):
    site = _mirror(csv_weights_dir, tmp_path / "site", leave_out=["dense_b"])
    dest = _mirror(csv_weights_dir, tmp_path / "dest", leave_out=["dense_b"])
    assert (
        main(["download", "--dest", str(dest), "--base-url", serve(site.parent), "--no-progress"])
        == USER_ERROR
    )
    err = capsys.readouterr().err
    assert "dense_b.csv: HTTP 404" in err and "run again to resume" in err


def test_unreachable_server(tmp_path, serve):
    with pytest.raises(DownloadError, match=r"bn1_b\.csv: could not fetch"):
        download(tmp_path, base_url="http://127.0.0.1:9/", progress=False, timeout=5)


@pytest.mark.shared
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


@pytest.mark.shared
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


@pytest.mark.shared
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
