"""The real greeter keeps running when its images/ folder is removed and restored (issue 13)."""

import datetime as dt
import shutil
import time

import pytest

from greeter.library.store import Store, utcnow
from tests.helpers.library import people_names
from tests.helpers.processes import Greeter, facing_video, library_cli
from tests.helpers.waiting import wait_for


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
                      str(images), "--loop", "--encoder", "facenet", "--threshold", "0.81",
                      "--cooldown", "1", "--watch-interval", "0.5",
                      weights=weights_path)  # fmt: skip
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
        assert wait_for(lambda: people_names(store) == ["Alex Lacamoire"], 30), people_names(store)
        time.sleep(2.5)  # picked up within a second, plus a frame in flight
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


@pytest.mark.slow
def test_folder_people_follow_the_folder_and_a_removed_person_stays_removed(
    tmp_path, video_dir, weights_path, photos
):
    """Issue 19 item 5 and issue 20 item 4, with the real greeter on a looping clip in which
    Lin-Manuel Miranda faces the camera: --images A greets him (hyphen kept); --images B does
    not (A's people leave with A); --images A again does; after `greeter-library remove` a
    restart with his photo still in A does not enrol him, and says so."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    shutil.copy(photos["lin"], a / "Lin-Manuel_Miranda.png")
    shutil.copy(photos["alex"], b / "Alex_Lacamoire.png")
    video = facing_video(video_dir / "short_hamilton_clip.mp4", tmp_path / "facing.mp4")
    url = f"sqlite:///{tmp_path / 'library.db'}"
    store = Store(url)

    def run(name, images, greeted):
        """One kiosk run on ``images``: greeted (within 60 s) or not (none in 8 s of frames)."""
        greeter = Greeter(tmp_path / "kiosk", video, "--db", url, "--kiosk", "door", "--images",
                          str(images), "--loop", "--threshold", "0.4", "--cooldown", "1",
                          name=name, weights=weights_path)  # fmt: skip
        try:
            greeter.wait_running(180)
            if greeted:
                assert wait_for(lambda: greeter.events("greeting"), 60), greeter.why()
            else:
                since = utcnow()
                assert wait_for(lambda: _frames_since(store, since, 8), 60), store.kiosks()
                assert greeter.events("greeting") == [], greeter.why()
        finally:
            assert greeter.stop() == 0, greeter.why()
        assert "Traceback" not in greeter.stderr()
        return greeter

    try:
        first = run("a1", a, greeted=True)
        assert first.events("greeting")[0]["names"] == ["Lin-Manuel Miranda"]
        switched = run("b", b, greeted=False)
        assert "is no longer synced by kiosk door" in switched.stderr()
        assert people_names(store) == ["Alex Lacamoire"]
        run("a2", a, greeted=True)  # his photo never left A: he is back

        done = library_cli("remove", "Lin-Manuel Miranda", "--db", url)
        assert done.returncode == 0, done.stderr
        assert "the folder sync will ignore 1 photo(s)" in done.stdout
        assert str(a / "Lin-Manuel_Miranda.png") in done.stdout
        after = run("a3", a, greeted=False)
        said = [line for line in after.stderr().splitlines() if "Not enrolled" in line]
        assert len(said) == 1 and "Lin-Manuel_Miranda.png" in said[0], after.why()
        assert "Lin-Manuel Miranda was removed from the library" in said[0]
        assert people_names(store) == []
    finally:
        store.close()


def _frames_since(store, since, seconds) -> bool:
    """The kiosk has heartbeat with frames processed ``seconds`` after ``since``."""
    rows = store.kiosks()
    later = since + dt.timedelta(seconds=seconds)
    return bool(rows) and rows[0].last_seen >= later and (rows[0].fps or 0) > 0
