"""EncodingCache: round trip, "no face" remembered, damaged files ignored, where it lives."""

from pathlib import Path

import numpy as np

from fr_utils.cache import EncodingCache, default_cache_dir, file_digest


def test_round_trip(tmp_path):
    cache = EncodingCache(tmp_path, "abc")
    row = np.random.default_rng(0).random(128).astype(np.float32)
    cache.put("photo1", row)
    cache.put("photo2", None)  # no face
    cache.save()
    assert cache.path == tmp_path / "encodings-abc.npz" and cache.path.is_file()
    back = EncodingCache(tmp_path, "abc")
    assert len(back) == 2 and "photo1" in back and "photo2" in back and "photo3" not in back
    np.testing.assert_array_equal(back.get("photo1"), row)
    assert back.get("photo2") is None
    assert len(EncodingCache(tmp_path, "other-model")) == 0


def test_damaged_cache_is_ignored(tmp_path):
    (tmp_path / "encodings-abc.npz").write_bytes(b"PK\x03\x04 this is not a zip")
    cache = EncodingCache(tmp_path, "abc")
    assert len(cache) == 0
    cache.put("photo", np.ones(128))
    cache.save()  # rebuilt atomically over the damaged file
    assert len(EncodingCache(tmp_path, "abc")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["encodings-abc.npz"]


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FACENET_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FACENET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "facenet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "facenet"


def test_file_digest(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    assert file_digest(tmp_path / "a") == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
