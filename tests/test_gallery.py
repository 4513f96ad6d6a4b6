"""Gallery: a missing or deleted photo folder is waited for; a name that cleans to nothing is
refused with a message naming the file. (The encoder is a stand-in derived from file bytes:
these tests are about the folder, not the faces; the real encoder runs in test_hardening.)"""

import logging
import shutil
from pathlib import Path

import numpy as np

from fr_utils.photos import PhotoEncodings
from greeter.gallery import Gallery


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def encode(paths, model, detector, crop, cache_dir=None, progress=False):
    result = PhotoEncodings()
    for path in paths:
        v = np.zeros(128, np.float32)
        v[len(Path(path).read_bytes()) % 128] = 1.0
        result.encodings[path] = v
    return result


def test_missing_folder_is_waited_for_then_deleted_and_restored(tmp_path, caplog):
    images, clock = tmp_path / "images", Clock()
    gallery = Gallery(images, None, None, interval=1.0, clock=clock, encode=encode)
    with caplog.at_level(logging.WARNING, logger="greeter.gallery"):
        assert gallery.refresh() == ([], [])  # not there yet: no error
        for t in (1.5, 3.0, 4.5):
            clock.now = t
            gallery.poll()
    assert len(gallery.database) == 0
    assert sum("does not exist" in r.message for r in caplog.records) == 1  # warned once

    images.mkdir()
    (images / "Ana.jpg").write_bytes(b"a")
    (images / "Ben.jpg").write_bytes(b"bb")
    clock.now = 6.0
    changed, _ = gallery.poll()
    assert sorted(p.name for p in changed) == ["Ana.jpg", "Ben.jpg"]
    assert sorted(gallery.database) == ["Ana", "Ben"]

    backup = tmp_path / "backup"
    shutil.move(images, backup)  # deleted while running
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="greeter.gallery"):
        for t in (7.5, 9.0):
            clock.now = t
            gallery.poll()
    assert len(gallery.database) == 0  # its photos are gone: nobody is greeted
    assert sum("does not exist" in r.message for r in caplog.records) == 1

    shutil.move(backup, images)  # restored
    clock.now = 10.5
    with caplog.at_level(logging.WARNING, logger="greeter.gallery"):
        gallery.poll()
    assert sorted(gallery.database) == ["Ana", "Ben"]
    assert any("is back" in r.message for r in caplog.records)


def test_name_that_cleans_to_nothing_is_refused_by_file(tmp_path, caplog):
    images = tmp_path / "images"
    images.mkdir()
    (images / "__--_.jpg").write_bytes(b"x")
    (images / "\x1b[2J.jpg").write_bytes(b"xx")  # an escape sequence only
    (images / "Zo\u00eb_\u7f8e\u73b2.jpg").write_bytes(b"xxx")
    clock = Clock()
    gallery = Gallery(images, None, None, clock=clock, encode=encode)
    with caplog.at_level(logging.WARNING, logger="greeter.gallery"):
        gallery.refresh()
        clock.now = 10.0
        gallery.poll()
    assert list(gallery.database) == ["Zo\u00eb \u7f8e\u73b2"]
    refused = [r.getMessage() for r in caplog.records if "Skipped" in r.getMessage()]
    assert len(refused) == 2  # once per file, not at every check
    assert any("__--_.jpg" in m and "rename the file" in m for m in refused)
