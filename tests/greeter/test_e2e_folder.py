"""The real greeter keeps running when its images/ folder is removed and restored (issue 13)."""

import datetime as dt
import shutil
import time

import pytest

from greeter.library.store import Store, utcnow
from tests.helpers.library import people_names
from tests.helpers.processes import Greeter, facing_video
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
