"""The ``images/`` folder on top of the store (FolderWatcher, LiveLibrary), with the real enroller
and real photos on a real SQLite store: a missing folder is waited for with one warning; a folder
deleted while the greeter runs keeps its people enrolled and is picked up again when restored;
added / changed / removed files are synced, unchanged and refused ones are not read again; a file
whose name cleans to nothing is refused once, named. The last test runs the real greeter.

(Ported from the tests of ``greeter.gallery.Gallery``, which the store replaced.)
"""

import datetime as dt
import importlib.util
import logging
import shutil
from pathlib import Path

import pytest

from greeter.library.enroller import Enroller
from greeter.library.live import LiveLibrary
from greeter.library.store import Store, utcnow
from greeter.library.sync import FolderWatcher

pytestmark = pytest.mark.shared

_spec = importlib.util.spec_from_file_location(
    "tests_greeter_process_folder", Path(__file__).resolve().parents[1] / "greeter_process.py"
)
_proc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_proc)
Greeter, facing_video, wait_for = _proc.Greeter, _proc.facing_video, _proc.wait_for

SYNC_LOGGER = "greeter.library.sync"


class CountingEnroller(Enroller):
    """The real enroller, counting the photos it is asked to align and encode."""

    def __init__(self, enroller):
        super().__init__(enroller.encoder, enroller.detector, enroller.aligner,
                         enroller.model_key)  # fmt: skip
        self.labels = []

    def enroll_many(self, images, labels=None, workers=None):
        self.labels += [Path(str(label)).name for label in labels]
        return super().enroll_many(images, labels, workers)


@pytest.fixture
def sqlite_store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'library.db'}") as opened:
        yield opened


def _names(store):
    return sorted(p.name for p in store.people())


def _warnings(caplog, text):
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_missing_folder_is_waited_for_with_one_warning(sqlite_store, enroller, photos, tmp_path,
                                                       caplog):  # fmt: skip
    images = tmp_path / "images"
    watcher = FolderWatcher(sqlite_store, images, enroller)
    with caplog.at_level(logging.INFO, logger=SYNC_LOGGER):
        for _ in range(3):
            assert not watcher.sync()  # not there yet: no error, nothing changed
        assert len(_warnings(caplog, "no such folder")) == 1  # warned once
        assert sqlite_store.people() == []
        images.mkdir()
        shutil.copy(photos["lin"], images / "Lin-Manuel_Miranda.png")
        shutil.copy(photos["alex"], images / "Alex_Lacamoire.png")
        result = watcher.sync()
    assert sorted(Path(p).name for p in result.added) == [
        "Alex_Lacamoire.png", "Lin-Manuel_Miranda.png"
    ]  # fmt: skip
    assert _names(sqlite_store) == ["Alex Lacamoire", "Lin Manuel Miranda"]
    assert len(_warnings(caplog, "the folder is back")) == 1


def test_added_changed_removed_synced_unchanged_and_refused_not_read_again(
    sqlite_store, enroller, photos, tmp_path, caplog
):
    images = tmp_path / "images"
    (images / "ben").mkdir(parents=True)
    shutil.copy(photos["aaron"][0], images / "Ana_Lopez.jpg")
    shutil.copy(photos["gul"][0], images / "ben" / "1.jpg")
    shutil.copy(photos["gul"][1], images / "ben" / "2.jpg")
    shutil.copy(photos["no_face"], images / "nobody.png")
    counting = CountingEnroller(enroller)
    watcher = FolderWatcher(sqlite_store, images, counting)
    with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
        first = watcher.sync()
    assert sorted(counting.labels) == ["1.jpg", "2.jpg", "Ana_Lopez.jpg", "nobody.png"]
    assert {p.name: p.photos for p in sqlite_store.people()} == {"Ana Lopez": 1, "ben": 2}
    assert list(first.refused) == [str(images / "nobody.png")]
    assert "nobody.png" in first.refused[str(images / "nobody.png")]

    shutil.copy(photos["lin"], images / "chloe.png")  # added
    counting.labels.clear()
    with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
        added = watcher.sync()
    assert [Path(p).name for p in added.added] == ["chloe.png"] and not added.removed
    assert counting.labels == ["chloe.png"]  # only the new photo: the refused one is not retried
    assert len(_warnings(caplog, "nobody.png")) == 1  # and not warned about again

    ana = sqlite_store.photos("Ana Lopez")[0]
    shutil.copy(photos["aaron"][1], images / "Ana_Lopez.jpg")  # changed (new content)
    (images / "ben" / "2.jpg").unlink()  # removed
    counting.labels.clear()
    changed = watcher.sync()
    assert [Path(p).name for p in changed.changed] == ["Ana_Lopez.jpg"]
    assert [Path(p).name for p in changed.removed] == ["2.jpg"]
    assert counting.labels == ["Ana_Lopez.jpg"]
    assert {p.name: p.photos for p in sqlite_store.people()} == {
        "Ana Lopez": 1, "ben": 1, "chloe": 1
    }  # fmt: skip
    assert sqlite_store.photos("Ana Lopez")[0].sha256 != ana.sha256

    counting.labels.clear()
    assert not watcher.sync() and counting.labels == []  # nothing changed: nothing read


def test_a_symlinked_photo_is_synced_once_and_removed_with_its_link(
    sqlite_store, enroller, photos, tmp_path
):
    """A photo that is a symlink (e.g. into a shared drive) belongs to the folder it is in."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "Lin.png").symlink_to(photos["lin"])
    counting = CountingEnroller(enroller)
    assert [Path(p).name for p in FolderWatcher(sqlite_store, images, counting).sync().added] == [
        "Lin.png"
    ]
    again = FolderWatcher(sqlite_store, images, counting).sync()  # a restart: nothing new
    assert not again.added and counting.labels == ["Lin.png"]
    (images / "Lin.png").unlink()
    gone = FolderWatcher(sqlite_store, images, counting).sync()
    assert [Path(p).name for p in gone.removed] == ["Lin.png"] and _names(sqlite_store) == []


def test_name_that_cleans_to_nothing_is_refused_once_naming_the_file(
    sqlite_store, enroller, photos, tmp_path, caplog
):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(photos["lin"], images / "__--_.png")
    shutil.copy(photos["alex"], images / "\x1b[2J.png")  # an escape sequence only
    shutil.copy(photos["aaron"][0], images / "Zo\u00eb_\u7f8e\u73b2.jpg")
    watcher = FolderWatcher(sqlite_store, images, enroller)
    with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
        watcher.sync()
        shutil.copy(photos["gul"][0], images / "Gul.jpg")  # a later change elsewhere
        watcher.sync()
        watcher.sync()
    assert _names(sqlite_store) == ["Gul", "Zo\u00eb \u7f8e\u73b2"]
    refused = _warnings(caplog, "Skipped")
    assert len(refused) == 2  # once per file, not at every check
    assert any("__--_.png" in m and "rename the file" in m for m in refused)
    assert all("\x1b" not in m for m in refused)  # quoted: no escape reaches the terminal
    assert any("\\x1b[2J.png" in m for m in refused)


def test_folder_deleted_while_running_keeps_people_then_restored_changes_are_picked_up(
    sqlite_store, enroller, photos, tmp_path, caplog
):
    images, away = tmp_path / "images", tmp_path / "away"
    images.mkdir()
    shutil.copy(photos["lin"], images / "Lin-Manuel_Miranda.png")
    shutil.copy(photos["alex"], images / "Alex_Lacamoire.png")
    library = LiveLibrary(sqlite_store, enroller.model_key, kiosk="door", enroller=enroller,
                          images_dir=images, interval=0.1)  # fmt: skip
    with caplog.at_level(logging.INFO, logger=SYNC_LOGGER):
        library.start()
        try:
            both = ["Alex Lacamoire", "Lin Manuel Miranda"]
            assert sorted(library.database) == both
            shutil.move(images, away)  # deleted (or unmounted) while running
            assert wait_for(lambda: _warnings(caplog, "no such folder"), 10)
            wait_for(lambda: False, 1.0)  # several more checks while it is gone
            assert len(_warnings(caplog, "no such folder")) == 1
            assert sorted(library.database) == both and _names(sqlite_store) == both
            assert library._thread.is_alive()

            (away / "Alex_Lacamoire.png").unlink()  # changed while away ...
            shutil.copy(photos["aaron"][0], away / "Aaron_Peirsol.jpg")
            shutil.move(away, images)  # ... and restored
            expected = ["Aaron Peirsol", "Lin Manuel Miranda"]
            assert wait_for(lambda: sorted(library.database) == expected, 20), list(
                library.database
            )
            assert _names(sqlite_store) == expected
            assert len(_warnings(caplog, "the folder is back")) == 1
        finally:
            library.close()


@pytest.mark.slow
def test_greeter_survives_its_photo_folder_being_removed_and_restored(
    tmp_path, video_dir, weights_path, photos
):
    """Issue 13, against the real greeter on a looping clip and the default-style SQLite store:
    images/ moved away (the greeter runs on, still greeting from the store) and restored with
    Lin-Manuel Miranda's photo gone (he is no longer greeted)."""
    images, away = tmp_path / "images", tmp_path / "away"
    images.mkdir()
    shutil.copy(photos["lin"], images / "Lin-Manuel_Miranda.png")
    video = facing_video(video_dir / "short_hamilton_clip.mp4", tmp_path / "facing.mp4")
    url = f"sqlite:///{tmp_path / 'library.db'}"
    greeter = Greeter(tmp_path / "run", video, "--db", url, "--kiosk", "door", "--images",
                      str(images), "--loop", "--threshold", "0.81", "--cooldown", "1",
                      "--watch-interval", "0.5", weights=weights_path)  # fmt: skip
    store = Store(url)
    try:
        greeter.wait_running(180)
        assert wait_for(lambda: greeter.events("greeting"), 60), greeter.why()
        shutil.move(images, away)
        assert wait_for(lambda: "no such folder" in greeter.stderr(), 30), greeter.why()
        during = len(greeter.events("greeting"))
        assert wait_for(lambda: len(greeter.events("greeting")) > during + 1, 30), greeter.why()
        assert greeter.alive() and greeter.stderr().count("no such folder") == 1

        (away / "Lin-Manuel_Miranda.png").unlink()
        shutil.copy(photos["alex"], away / "Alex_Lacamoire.png")
        shutil.move(away, images)
        assert wait_for(lambda: "the folder is back" in greeter.stderr(), 30), greeter.why()
        assert wait_for(lambda: _names(store) == ["Alex Lacamoire"], 30), _names(store)
        _proc.time.sleep(2.5)  # picked up within a second, plus a frame in flight
        after, quiet = len(greeter.events("greeting")), utcnow()

        def beat_since_quiet():  # frames processed after `quiet` (heartbeat with frames/s)
            rows = store.kiosks()
            later = quiet + dt.timedelta(seconds=3)
            return rows and rows[0].last_seen >= later and (rows[0].fps or 0) > 0

        assert wait_for(beat_since_quiet, 30), store.kiosks()
        assert len(greeter.events("greeting")) == after  # ... yet nobody is greeted
        assert "Traceback" not in greeter.stderr()
    finally:
        code = greeter.stop()
        store.close()
    assert code == 0, greeter.why()
