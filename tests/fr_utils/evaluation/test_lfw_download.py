"""download_lfw against a real HTTP server on 127.0.0.1 serving a tiny LFW the test builds."""

import tarfile

import cv2
import numpy as np
import pytest

from fr_utils.evaluation.lfw_download import LfwDownloadError, check_lfw, download_lfw
from tests.helpers.servers import FileServer

PEOPLE = {"Ada_Lovelace": 2, "Alan_Turing": 3, "Grace_Hopper": 1}
PAIRS = "1\t1\nAda_Lovelace\t1\t2\nAda_Lovelace\t2\tAlan_Turing\t3\n"
PEOPLE_TXT = "1\n3\nAda_Lovelace\t2\nAlan_Turing\t3\nGrace_Hopper\t1\n"
N_PHOTOS = sum(PEOPLE.values())


def _tiny_lfw(folder, people=PEOPLE):
    """folder/lfw-deepfunneled.tgz, pairs.txt, people.txt: a real archive of real JPEGs."""
    top = folder / "build" / "lfw-deepfunneled"
    for name, count in people.items():
        (top / name).mkdir(parents=True)
        for k in range(1, count + 1):
            pixels = np.full((250, 250, 3), 40 * k, np.uint8)
            cv2.imwrite(str(top / name / f"{name}_{k:04d}.jpg"), pixels)
    with tarfile.open(folder / "lfw-deepfunneled.tgz", "w:gz") as tar:
        tar.add(top, arcname="lfw-deepfunneled")
    (folder / "pairs.txt").write_text(PAIRS)
    (folder / "people.txt").write_text(PEOPLE_TXT)


@pytest.fixture
def server(tmp_path):
    """A real http.server on 127.0.0.1 serving tmp_path/site; yields (site, base_url, log)."""
    site = tmp_path / "site"
    site.mkdir()
    _tiny_lfw(site)
    server = FileServer(site)
    try:
        yield site, server.url, server.requests
    finally:
        server.stop()


def _download(dest, base_url, **kwargs):
    return download_lfw(
        dest, base_url=base_url, expected_photos=N_PHOTOS, sha256={}, timeout=5, **kwargs
    )


def test_downloads_unpacks_and_checks(server, tmp_path):
    _, base_url, requests = server
    dest = tmp_path / "data" / "lfw"
    summary = _download(dest, base_url)
    assert summary == {"photos": N_PHOTOS, "people": 3, "named": N_PHOTOS}
    assert sorted(p.name for p in dest.iterdir()) == ["images", "pairs.txt", "people.txt"]
    assert (dest / "images" / "Alan_Turing" / "Alan_Turing_0003.jpg").is_file()
    assert (dest / "pairs.txt").read_text() == PAIRS
    assert len(requests) == 3
    # a complete folder is left alone: no second download
    assert _download(dest, base_url) == summary
    assert len(requests) == 3


def test_pinned_hash_is_checked(server, tmp_path):
    _, base_url, _ = server
    dest = tmp_path / "lfw"
    with pytest.raises(LfwDownloadError, match="pairs.txt: sha256 .* differs"):
        download_lfw(
            dest,
            base_url=base_url,
            expected_photos=N_PHOTOS,
            sha256={"pairs.txt": "0" * 64},
            timeout=5,
        )
    assert not (dest / "images").exists() and not (dest / ".download").exists()


def test_incomplete_archive_is_refused_and_nothing_is_installed(server, tmp_path):
    site, base_url, _ = server
    (site / "lfw-deepfunneled.tgz").unlink()
    _tiny_lfw(site / "other", {"Ada_Lovelace": 2, "Alan_Turing": 2})  # Alan_Turing_0003 missing
    (site / "other" / "lfw-deepfunneled.tgz").rename(site / "lfw-deepfunneled.tgz")
    dest = tmp_path / "lfw"
    with pytest.raises(LfwDownloadError, match="4 photos, expected 6"):
        _download(dest, base_url)
    with pytest.raises(LfwDownloadError, match="missing, e.g. Alan_Turing/Alan_Turing_0003.jpg"):
        download_lfw(dest, base_url=base_url, expected_photos=None, sha256={}, timeout=5)
    assert not (dest / "images").exists()


def test_missing_file_names_the_url(server, tmp_path):
    site, base_url, _ = server
    (site / "people.txt").unlink()
    with pytest.raises(
        LfwDownloadError,
        match=r"could not download http://127\.0\.0\.1:\d+/"
        r"people\.txt",
    ):
        _download(tmp_path / "lfw", base_url)


def test_not_an_archive(server, tmp_path):
    site, base_url, _ = server
    (site / "lfw-deepfunneled.tgz").write_bytes(b"<html>moved</html>")
    with pytest.raises(LfwDownloadError, match="not a readable tar.gz"):
        _download(tmp_path / "lfw", base_url)


def test_check_names_what_is_missing(tmp_path):
    with pytest.raises(LfwDownloadError, match="pairs.txt is missing"):
        check_lfw(tmp_path)
