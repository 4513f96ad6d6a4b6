"""A fleet end to end, all real: one PostgreSQL server (tests/helpers/postgres.py), two greeter
processes ("lobby" and "side") on a real video, the real ``greeter-library`` CLI, and the faults
a fleet meets (a kiosk SIGKILLed mid-run, the database stopping for a few seconds).

The seed's single-door workflow (``images/<name>.jpg`` + the default SQLite store, no set-up
step) is shown by test_hamilton_greets_lin_manuel_miranda_exactly_once in
tests/greeter/test_e2e_video.py, which runs the real greeter exactly that way (its library is a
fresh default-style SQLite file).

One scenario test rather than several: each greeter start loads TensorFlow (~20-30 s on the
2-core CI machine), so the steps share the two running kiosks.
"""

import datetime as dt
import time

import pytest

from greeter.library.store import Store, utcnow
from tests.helpers.processes import Greeter, facing_video, library_cli, start_library_cli
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.slow


NAME = "Lin-Manuel Miranda"
KIOSKS = ("lobby", "side")


def _json_time(record: dict) -> dt.datetime:
    return dt.datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S%z")


def _greetings(store, kiosk=None, since=None, until=None):
    return store.events(since=since, until=until, kiosk=kiosk, kinds=["greeting"])


def test_two_kiosks_share_one_postgres_library(
    postgres_server, postgres_url, video_dir, weights_path, tmp_path
):
    video = facing_video(video_dir / "short_hamilton_clip.mp4", tmp_path / "facing.mp4")
    photo = video_dir / "lin-manuel-miranda.png"
    common = ["--db", postgres_url, "--encoder", "facenet", "--threshold", "0.81",
              "--cooldown", "2", "--loop"]  # fmt: skip
    greeters = {
        kiosk: Greeter(
            tmp_path / kiosk,
            video,
            *common,
            "--kiosk",
            kiosk,
            name=kiosk,
            weights=weights_path,
            nice=5,
        )
        for kiosk in KIOSKS
    }
    side = greeters["side"]
    store = Store(postgres_url)
    # `greeter-library add` loads the model too (~30 s here): started now so that its start-up
    # overlaps the kiosks', but its commit is held back until both kiosks run, by a row lock on
    # the change counter (every library change updates that row in its own transaction).
    hold = store.engine.connect()
    held = hold.begin()
    hold.exec_driver_sql("SELECT counter FROM library_changes WHERE id = 1 FOR UPDATE")
    adding = start_library_cli("add", NAME, str(photo), "--db", postgres_url, weights=weights_path)
    try:
        for greeter in greeters.values():
            greeter.wait_running(180)
        assert store.people() == [] and adding.poll() is None, adding.communicate()

        # 1. A person added with the CLI while both run is greeted by both, within the video.
        before_add = utcnow()
        held.commit()
        hold.close()
        out, err = adding.communicate(timeout=180)
        assert adding.returncode == 0, err
        assert postgres_server.password not in out + err
        for kiosk in KIOSKS:
            assert wait_for(lambda k=kiosk: _greetings(store, k, before_add), 60), greeters[
                kiosk
            ].why()
        assert _greetings(store, until=before_add) == []  # nobody was greeted before the add
        for kiosk in KIOSKS:
            first = _greetings(store, kiosk, before_add)[0]
            assert first.kiosk == kiosk and first.names == [NAME]
            assert 0 <= first.distances[0] <= 0.81 and first.frame >= 1
            assert first.extra["text"] == "Welcome Lin Manuel Miranda, have a nice day!"  # spoken
        for greeter in greeters.values():  # the add was picked up live, not at start
            assert "0 people enrolled" in greeter.stderr()

        # 2. PostgreSQL stops for a few seconds: greetings go on from memory (JSON-lines logs),
        # the events are queued and arrive in the store once it is back.
        logged = {k: len(g.events("greeting")) for k, g in greeters.items()}
        down_at = utcnow()
        postgres_server.stop()
        stopped = time.monotonic()
        try:
            greeted_offline = wait_for(
                lambda: all(len(g.events("greeting")) > logged[k] for k, g in greeters.items()),
                30,
            )
            time.sleep(max(0.0, 4.0 - (time.monotonic() - stopped)))  # down >= 4 s
            offline = {k: g.events("greeting")[logged[k] :] for k, g in greeters.items()}
            alive = all(g.alive() for g in greeters.values())
        finally:
            postgres_server.start()
        back_at = utcnow()
        assert alive and greeted_offline, {k: g.why() for k, g in greeters.items()}
        for kiosk, greeter in greeters.items():
            frames = {r["frame"] for r in offline[kiosk]}

            def arrived(kiosk=kiosk, frames=frames):
                stored = _greetings(store, kiosk, down_at, back_at)
                return frames <= {e.frame for e in stored}

            assert wait_for(arrived, 60), f"queued greetings lost; {greeter.why()}"
            assert wait_for(lambda g=greeter: "is back" in g.stderr(), 10), greeter.why()
            err = greeter.stderr()
            assert err.count("Greeting from memory") == 1 and err.count("is back") == 1, err
            lost = next(line for line in err.splitlines() if "Greeting from memory" in line)
            assert "WARNING greeter.library.live: Library database postgresql://" in lost  # 1 line
            assert postgres_server.password not in err

        # 3. SIGKILL the side kiosk mid-run: what it committed is kept, the database is
        # consistent, and it restarts (same name) greeting from the store.
        committed = {e.id for e in store.events(kiosk="side")}
        side_logged = side.events("greeting")
        side.kill()
        killed = utcnow()
        events = store.events(kiosk="side")
        assert committed <= {e.id for e in events}
        stored_frames = {e.frame for e in events if e.kind == "greeting"}
        settled = [r for r in side_logged if _json_time(r) <= killed - dt.timedelta(seconds=2.5)]
        assert settled and all(r["frame"] in stored_frames for r in settled), "greetings lost"
        assert [p.name for p in store.people()] == [NAME] and store.people()[0].photos == 1
        assert len(store.events()) == len({e.id for e in store.events()})
        side.start()
        side.wait_running(180)
        assert "1 people enrolled for kiosk side" in side.stderr()
        restarted = utcnow()
        assert wait_for(lambda: _greetings(store, "side", restarted), 60), side.why()
        assert "stop" not in [e.kind for e in store.events(kiosk="side", until=killed)]

        # 4. `greeter-library remove` stops the greetings on both kiosks (still running).
        done = library_cli("remove", NAME, "--db", postgres_url)
        assert done.returncode == 0, done.stderr
        time.sleep(3.0)  # picked up within 2 s, plus a frame in flight
        quiet = utcnow()

        def processed_since_quiet():  # both heartbeat after `quiet` with frames processed
            rows = {k.name: k for k in store.kiosks()}
            later = quiet + dt.timedelta(seconds=3)
            return all(rows[k].last_seen >= later and (rows[k].fps or 0) > 0 for k in KIOSKS)

        assert wait_for(processed_since_quiet, 40), store.kiosks()
        assert _greetings(store, since=quiet) == []
        for greeter in greeters.values():
            late = [r for r in greeter.events("greeting") if _json_time(r) > quiet]
            assert late == [], greeter.name
            assert greeter.alive()
    finally:
        if held.is_active:
            held.rollback()
        hold.close()
        if adding.poll() is None:
            adding.kill()
            adding.communicate(timeout=30)
        codes = {k: g.stop() for k, g in greeters.items()}
        store.close()
    assert codes == {"lobby": 0, "side": 0}, {k: g.why() for k, g in greeters.items()}
    for greeter in greeters.values():
        assert greeter.events()[-1]["event"] == "stop"
        assert "Traceback" not in greeter.stderr(), greeter.why()


def test_events_queued_during_an_outage_survive_sigterm_and_are_stored_once(
    postgres_server, postgres_url, video_dir, weights_path, tmp_path
):
    """Issue 19 item 8, all real: a kiosk greets during a PostgreSQL outage (the greetings are
    in its JSON log, queued and spooled), is stopped with SIGTERM while the server is still
    down, and after both restart every queued event is in the library, once. The kiosk syncs
    its folder into the shared library because it is told to (--sync-folder)."""
    video = facing_video(video_dir / "short_hamilton_clip.mp4", tmp_path / "facing.mp4")
    images = tmp_path / "images"
    images.mkdir()
    (images / "Lin-Manuel_Miranda.png").write_bytes((video_dir / "lin-manuel-miranda.png")
                                                    .read_bytes())  # fmt: skip
    flags = ["--db", postgres_url, "--threshold", "0.4", "--cooldown", "2", "--loop",
             "--kiosk", "door", "--images", str(images), "--sync-folder"]  # fmt: skip
    door = Greeter(tmp_path / "door", video, *flags, name="door", weights=weights_path)
    spool = tmp_path / "door" / "state" / "spool" / "door.jsonl"
    store = Store(postgres_url)
    try:
        door.wait_running(180)
        assert wait_for(lambda: _greetings(store, "door"), 60), door.why()
        assert [p.name for p in store.people()] == [NAME]  # the hyphen kept

        logged = len(door.events())
        postgres_server.stop()
        try:
            assert wait_for(
                lambda: (
                    len(door.events("greeting"))
                    >= 3 + len([e for e in door.events()[:logged] if e["event"] == "greeting"])
                ),
                60,
            ), door.why()
            assert wait_for(lambda: "Greeting from memory" in door.stderr(), 30), door.why()
            assert door.stop() == 0  # SIGTERM, the database still away
        finally:
            postgres_server.start()
        offline = door.events()[logged:]  # the greetings and the stop, only in the JSON log
        assert [e["event"] for e in offline].count("greeting") >= 3 and offline[-1][
            "event"
        ] == "stop"
        assert "sent at the next start" in door.stderr()
        assert len(spool.read_text().splitlines()) >= len(offline)

        door.start()
        door.wait_running(180)
        assert wait_for(lambda: spool.exists() and spool.read_bytes() == b"", 60), door.why()
        stored = store.events(kiosk="door")
        for record in offline:  # each queued event stored, exactly once
            same = [e for e in stored if e.kind == record["event"]
                    and e.frame == record.get("frame")
                    and abs((e.time - _json_time(record)).total_seconds()) < 2]  # fmt: skip
            assert len(same) == 1, (record, [(e.kind, e.time, e.frame) for e in stored])
        assert "spooled by the last run will be sent" in door.stderr()
        (kiosk,) = store.kiosks()  # the restart's first beat came before the old stop
        instance = (tmp_path / "door" / "state" / "instance-id").read_text().strip()
        assert kiosk.instance == instance and kiosk.state() == "up"
        # greeter doctor's one-line summary, set once the kiosk runs: sent with the next beat
        assert wait_for(lambda: store.kiosks()[0].status.startswith("ok: 1 person"), 10), (
            store.kiosks()[0].status
        )
        (kiosk,) = store.kiosks()
        assert kiosk.weights == "dlib-resnet-v1-unit"  # the encoder by name, not a path
    finally:
        code = door.stop()
        store.close()
    assert code == 0, door.why()
    assert "Traceback" not in door.stderr(), door.why()
