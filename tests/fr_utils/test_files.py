"""fr_utils._files: atomic writes (old file kept on failure, mode kept, symlinks kept), sha256,
where the cache lives."""

import os
import stat
from pathlib import Path

import pytest

from fr_utils._files import atomic_path, default_cache_dir, sha256


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "db.npz"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["db.npz"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["db.npz"]


def test_atomic_path_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "greeter.json"
    target.write_text("{}")
    target.chmod(0o640)
    with atomic_path(target) as tmp:
        tmp.write_text('{"threshold": 0.8}')
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_atomic_path_new_file_gets_the_umask_mode(tmp_path):
    with atomic_path(tmp_path / "sub" / "new.txt") as tmp:  # creates the folder too
        tmp.write_text("x")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "sub" / "new.txt").stat().st_mode) == 0o666 & ~mask


def test_atomic_path_writes_through_a_symlink(tmp_path):
    real = tmp_path / "real" / "greeter.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "greeter.json"
    link.symlink_to(real)
    with atomic_path(link) as tmp:
        tmp.write_text("new")
    assert link.is_symlink() and real.read_text() == "new" and link.read_text() == "new"


def test_sha256(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    assert sha256(tmp_path / "a") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FACENET_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FACENET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "facenet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "facenet"
