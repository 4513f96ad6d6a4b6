"""Unit tests of the greeter's parts with fake camera, detector, encoder, speaker and clock."""

import json
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fr_utils.database import FaceDatabase
from greeter import __main__ as cli
from greeter.app import Recognizer, run
from greeter.camera import CameraError, FrameSource
from greeter.config import ConfigError, find_config, load_config, resolve_settings
from greeter.detector import FrameDetector
from greeter.events import EventLog
from greeter.names import clean_name, greeting_text
from greeter.speech import SpeechWorker
from greeter.tracker import GreetingTracker


class FakeClock:
    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now


# --- tracker: names, wording, confirmation, cooldown -------------------------------------


def test_clean_name():
    assert clean_name("Lin-Manuel_Miranda") == "Lin Manuel Miranda"
    assert clean_name("ana__maria--lopez ") == "ana maria lopez"


def test_clean_name_removes_escapes_and_controls_keeps_every_script():
    assert clean_name("\x1b[31mEvil\x1b[0m_Name\x07") == "Evil Name"
    assert clean_name("x\x1b]0;owned\x07y") == "xy"  # terminal title sequence
    assert clean_name("Ann\u202eA") == "AnnA"  # bidi override
    assert clean_name("Zo\u00eb_\u7f8e\u73b2") == "Zo\u00eb \u7f8e\u73b2"
    assert clean_name("__-_") == "" and clean_name("\x1b[2J") == ""


def test_greeting_text_never_has_an_empty_name():
    assert greeting_text(["__", "Ana"]) == "Welcome Ana, have a nice day!"
    with pytest.raises(ValueError, match="non-empty name"):
        greeting_text(["_-_"])


def test_greeting_text_one_two_three():
    assert greeting_text(["Ana"]) == "Welcome Ana, have a nice day!"
    assert greeting_text(["Ana", "Ben"]) == "Welcome Ana and Ben, have a nice day!"
    assert (
        greeting_text(["Ana", "Ben", "Chloe_X"])
        == "Welcome Ana, Ben, and Chloe X, have a nice day!"
    )
    with pytest.raises(ValueError, match="at least one non-empty name"):
        greeting_text([])


def test_confirm_frames_needs_consecutive_matches():
    tracker = GreetingTracker(confirm_frames=3, cooldown=60, clock=FakeClock())
    assert tracker.update(["ana"]) == []
    assert tracker.update(["ana"]) == []
    assert tracker.update([]) == []  # a frame without her resets the count
    assert tracker.update(["ana"]) == []
    assert tracker.update(["ana"]) == []
    assert tracker.update(["ana"]) == ["ana"]  # third in a row
    assert tracker.update(["ana"]) == []  # not again while she stays


def test_cooldown_with_injected_clock():
    clock = FakeClock()
    tracker = GreetingTracker(confirm_frames=1, cooldown=300, clock=clock)
    assert tracker.update(["ana"]) == ["ana"]
    clock.now = 299.0
    tracker.update([])
    assert tracker.update(["ana"]) == []
    clock.now = 300.0
    assert tracker.update(["ana"]) == ["ana"]


def test_group_arriving_together_is_greeted_in_one_greeting():
    tracker = GreetingTracker(confirm_frames=2, cooldown=60, clock=FakeClock())
    tracker.update(["ana", "ben", "chloe"])
    assert tracker.update(["ana", "ben", "chloe"]) == ["ana", "ben", "chloe"]


def test_tracker_rejects_bad_settings():
    with pytest.raises(ValueError, match="confirm_frames"):
        GreetingTracker(confirm_frames=0)
    with pytest.raises(ValueError, match="cooldown"):
        GreetingTracker(cooldown=-1)


# --- the loop with fakes ----------------------------------------------------------------


class FakeSpeaker:
    def __init__(self):
        self.texts = []

    def say(self, text):
        self.texts.append(text)


class FakeGallery:
    def __init__(self, database):
        self.database, self.polls = database, 0

    def poll(self):
        self.polls += 1


def _unit(i):
    v = np.zeros(128, np.float32)
    v[i] = 1.0
    return v


def test_loop_greets_a_group_once_and_logs(tmp_path):
    """Fake detector + encoder: 'frames' are lists of person indices; each is a face."""
    database = FaceDatabase(["Ana", "Ben", "Chloe_Z"], np.stack([_unit(0), _unit(1), _unit(2)]))

    def detector(frame):
        return np.array([[10 * i, 0, 20, 20] for i in range(len(frame.ids))])

    encoder_calls = []

    def encoder(crops):
        encoder_calls.append(len(crops))
        return np.stack([_unit(i) for i in current["ids"]])

    class Frame(np.ndarray):
        pass

    current = {}

    def frames():
        for ids in [[0, 1, 2]] * 4 + [[]] * 2 + [[5]] * 3:
            frame = np.zeros((60, 80, 3), np.uint8).view(Frame)
            frame.ids = ids
            current["ids"] = ids
            yield frame

    speaker, log = FakeSpeaker(), tmp_path / "log.jsonl"
    events = EventLog(log)
    gallery = FakeGallery(database)
    recognizer = Recognizer(detector, encoder, threshold=0.5)
    n = run(frames(), recognizer, gallery, GreetingTracker(3, 60, FakeClock()), speaker, events)
    events.close()
    assert n == 9 and gallery.polls == 9
    assert speaker.texts == ["Welcome Ana, Ben, and Chloe Z, have a nice day!"]
    assert encoder_calls == [3, 3, 3, 3, 1, 1, 1]  # one batch per frame with faces
    records = [json.loads(line) for line in log.read_text().splitlines()]
    greetings = [r for r in records if r["event"] == "greeting"]
    assert [g["frame"] for g in greetings] == [3]
    assert [r["event"] for r in records].count("unknown") == 1  # person 5 is a stranger


def test_a_near_miss_is_neither_greeted_nor_an_unknown_visitor(tmp_path):
    """Just over the threshold: most often an enrolled person in a poor frame. Only faces
    beyond threshold + UNSURE_MARGIN are logged (and kept) as unknown visitors."""
    from greeter.app import UNSURE_MARGIN, Face

    class Recorded:
        threshold = 0.8

        def __init__(self, distance):
            self.distance = distance

        def __call__(self, frame, database):
            crop = np.zeros((96, 96, 3), np.uint8)
            return [
                Face((0, 0, 50, 50), "ana", self.distance, self.distance <= 0.8, crop, _unit(0))
            ]

    kept = []

    class Library(FakeGallery):
        def keep_visitor(self, crop, encoding, visit_id):
            kept.append(visit_id)

    for distance, unknown in ((0.8 + UNSURE_MARGIN / 2, 0), (0.8 + 2 * UNSURE_MARGIN, 1)):
        log, speaker = tmp_path / f"{distance}.jsonl", FakeSpeaker()
        events = EventLog(log)
        tracker = GreetingTracker(3, 60, FakeClock())
        run(iter([np.zeros((60, 60, 3), np.uint8)] * 5), Recorded(distance), Library(None),
            tracker, speaker, events)  # fmt: skip
        events.close()
        records = [json.loads(line)["event"] for line in log.read_text().splitlines()]
        assert speaker.texts == [] and records.count("unknown") == unknown, distance
    assert len(kept) == 1  # the stranger's face only, once for the visit


def test_recognizer_aligns_from_the_frame_it_was_given():
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[20:60, 20:60] = 200
    seen = []
    rec = Recognizer(
        lambda f: np.array([[20, 10, 40, 40]]),
        lambda crops: seen.extend(crops) or np.stack([_unit(0)]),
        threshold=0.5,
    )
    faces = rec(frame, FaceDatabase(["a"], _unit(0)[None]))
    assert [(f.box, f.name, f.distance, f.known) for f in faces] == [
        ((20, 10, 40, 40), "a", 0.0, True)
    ]
    assert seen[0].shape == (96, 96, 3) and seen[0].max() == 200  # warped from this frame
    assert faces[0].crop is seen[0]  # kept with the face (for visitor faces)
    np.testing.assert_array_equal(faces[0].encoding, _unit(0))
    assert rec(frame, FaceDatabase())[0].known is False  # empty database: nobody is known


@pytest.mark.shared
def test_frame_detector_scales_boxes_back(lfw_dir):
    photo = cv2.imread(str(next((lfw_dir / "images" / "Colin_Powell").glob("*_0001.jpg"))))
    big = cv2.resize(photo, (1000, 1000))
    boxes_small = FrameDetector(detect_width=250)(big)
    boxes_full = FrameDetector(detect_width=1000)(big)
    assert len(boxes_small) >= 1 and len(boxes_full) >= 1
    # the same face, found on a copy 4x smaller, lands within a few percent of its full-size box
    assert np.abs(boxes_small[0] - boxes_full[0]).max() <= 0.1 * boxes_full[0][2]


# --- camera: open failure, reconnect with backoff, video end ---------------------------


class FakeCapture:
    def __init__(self, frames):
        self.frames, self.released = list(frames), False

    def read(self):
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def release(self):
        self.released = True


def test_camera_that_cannot_open_is_a_clear_error():
    with pytest.raises(CameraError, match="Could not open camera 3"):
        FrameSource(3, opener=lambda source: None)


def test_camera_reconnects_with_backoff_and_never_crash_loops():
    first = FakeCapture(["a", "b"])  # delivers two frames, then fails
    later = FakeCapture(["c", "d"])
    opens = iter([first, None, None, FakeCapture([]), later])  # 3 failed retries, then recovers
    waits, events = [], []
    source = FrameSource(
        0,
        opener=lambda s: next(opens),
        sleep=waits.append,
        backoff=0.5,
        max_backoff=1.5,
        on_event=lambda k, m: events.append(k),
    )
    got = []
    for frame in source:
        got.append(frame)
        if frame == "d":
            source.stop()
    assert got == ["a", "b", "c", "d"]
    assert waits == [0.5, 1.0, 1.5, 1.5]  # doubling, capped
    assert first.released
    assert events == ["error", "reconnected"]
    source.release()
    assert later.released


def test_video_ends_cleanly_or_loops():
    assert list(FrameSource("clip.mp4", opener=lambda s: FakeCapture([1, 2]))) == [1, 2]
    looped = FrameSource("clip.mp4", loop=True, opener=lambda s: FakeCapture([1, 2]))
    got = []
    for frame in looped:
        got.append(frame)
        if len(got) == 5:
            looped.stop()
    assert got == [1, 2, 1, 2, 1]


# --- speech worker -------------------------------------------------------------------------


def test_speech_worker_does_not_block_and_keeps_order():
    spoken, started = [], threading.Event()

    class SlowVoice:
        def speak(self, text):
            started.set()
            time.sleep(0.2)
            spoken.append(text)

    worker = SpeechWorker(SlowVoice)
    t0 = time.perf_counter()
    worker.say("one")
    worker.say("two")
    assert time.perf_counter() - t0 < 0.05
    worker.close()
    assert spoken == ["one", "two"]


def test_speech_failure_warns_once_and_greeting_goes_on(caplog):
    def broken():
        raise RuntimeError("libespeak-ng.so.1: cannot open shared object file")

    worker = SpeechWorker(broken)
    with caplog.at_level(logging.WARNING, logger="greeter.speech"):
        for text in ["a", "b", "c"]:
            worker.say(text)
        worker.close()
    assert "libespeak" in worker.failed
    assert sum("Speech disabled" in r.message for r in caplog.records) == 1


# --- config ---------------------------------------------------------------------------------


def test_config_precedence_flag_over_file_over_default(tmp_path):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps({"threshold": 0.8, "cooldown": 10, "tuning": {"far": 0.01}}))
    config = load_config(path)
    assert config == {"threshold": 0.8, "cooldown": 10.0}  # "tuning" accepted and ignored
    settings, sources = resolve_settings({"threshold": 0.7, "cooldown": None}, config, path)
    assert (settings.threshold, sources["threshold"]) == (0.7, "flag")
    assert (settings.cooldown, sources["cooldown"]) == (10.0, str(path))
    assert (settings.confirm_frames, sources["confirm_frames"]) == (3, "default")
    settings, _ = resolve_settings({}, None)
    assert settings.threshold == 0.52


def test_config_unknown_key_and_bad_type_are_named(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"threshold": 0.8, "treshold": 0.7}))
    with pytest.raises(ConfigError, match=r"g\.json.*unknown setting 'treshold'"):
        load_config(path)
    path.write_text(json.dumps({"threshold": "high"}))
    with pytest.raises(ConfigError, match="'threshold' must be a float"):
        load_config(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(path)


def test_config_file_lookup(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    assert find_config() == (None, None)
    (tmp_path / "greeter.json").write_text("{}")
    assert find_config()[0] == Path("greeter.json")
    monkeypatch.setenv("GREETER_CONFIG", str(tmp_path / "elsewhere.json"))
    assert find_config()[0] == tmp_path / "elsewhere.json"
    assert find_config("x.json")[0] == Path("x.json")


def test_cli_reads_the_tuned_threshold_and_flags_win(tmp_path, monkeypatch):
    path = tmp_path / "greeter.json"
    (tmp_path / "a.mp4").write_bytes(b"")  # a video must exist to be accepted
    path.write_text(json.dumps({"threshold": 0.8, "video": str(tmp_path / "a.mp4"), "tuning": {}}))
    monkeypatch.setenv("GREETER_CONFIG", str(path))
    settings, sources, used = cli.settings_from_args([])
    assert (settings.threshold, sources["threshold"], used) == (0.8, str(path), path)
    settings, _, _ = cli.settings_from_args(
        ["--threshold", "0.6", "--camera", "1", "--confirm-frames", "5", "--no-speech"]
    )
    assert (settings.threshold, settings.camera, settings.video) == (0.6, 1, None)
    assert (settings.confirm_frames, settings.no_speech) == (5, True)


def test_cli_unknown_config_key_exits_with_message(tmp_path, monkeypatch, capsys):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps({"colour": "red"}))
    assert cli.main(["--config", str(path), "--headless"]) == 2
    err = capsys.readouterr().err
    assert "colour" in err and str(path) in err


def test_no_display_refuses_a_window_instead_of_crashing(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("highgui called")

    for name in ("imshow", "namedWindow", "waitKey"):
        monkeypatch.setattr(cv2, name, forbidden)
    monkeypatch.setattr(cli, "_make_encoder", forbidden)
    (tmp_path / "x.mp4").write_bytes(b"")
    assert cli.main(["--video", "x.mp4"]) == 2
    assert "--headless" in capsys.readouterr().err


class LateEngine:
    """A pyttsx3-like engine whose runAndWait returns before the WAV is written (seen for real)."""

    def __init__(self):
        self._callbacks, self._job = {}, None

    def connect(self, topic, callback):
        self._callbacks[id(callback)] = callback
        return id(callback)

    def disconnect(self, token):
        del self._callbacks[token]

    def save_to_file(self, text, path):
        self._job = (text, path)

    def runAndWait(self):
        _text, path = self._job

        def write_later():
            time.sleep(0.2)
            import wave

            with wave.open(path, "wb") as wav:
                wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(22050)
                wav.writeframes(np.full(22050, 1000, np.int16).tobytes())
            for callback in list(self._callbacks.values()):
                callback(name=None, completed=True)

        threading.Thread(target=write_later).start()


def test_wav_voice_waits_for_the_engine_and_writes_atomically(tmp_path):
    import wave

    from greeter.speech import WavVoice

    voice = WavVoice(tmp_path / "speech", engine_factory=LateEngine)
    first = voice.speak("Welcome Ana, have a nice day!")
    second = voice.speak("Welcome Ben, have a nice day!")
    assert [p.name for p in sorted((tmp_path / "speech").iterdir())] == [
        "0001-Welcome_Ana_have_a_nice_day.wav",
        "0002-Welcome_Ben_have_a_nice_day.wav",
    ]
    for path in (first, second):
        with wave.open(str(path)) as wav:
            assert wav.getnframes() == 22050


class _UnusedBackend:
    """An encoder backend the run never gets to use (the video fails first)."""

    runtime = "none"

    def cache_key(self):
        return "unused"

    def warm_up(self):
        pass

    def encode_batch(self, batch):
        raise AssertionError("nothing should be encoded")


def test_cli_video_that_cannot_be_opened_exits_non_zero(
    tmp_path, monkeypatch, capsys, weights_path
):
    monkeypatch.setenv("FACENET_WEIGHTS", str(weights_path))  # its THRESHOLDS.json is read
    from fr_utils.encoding import FaceEncoder

    monkeypatch.setattr(cli, "_make_encoder", lambda settings, cache: FaceEncoder(_UnusedBackend()))
    (tmp_path / "images").mkdir()
    log, config = tmp_path / "events.jsonl", tmp_path / "greeter.json"
    config.write_text("{}")
    args = [
        "--images",
        str(tmp_path / "images"),
        "--headless",
        "--no-speech",
        "--log",
        str(log),
        "--config",
        str(config),
    ]
    assert cli.main([*args, "--video", str(tmp_path / "no.mp4")]) == 2  # missing: a bad setting
    assert "no.mp4" in capsys.readouterr().err and not log.exists()
    (tmp_path / "notes.mp4").write_text("not a video")
    code = cli.main([*args, "--video", str(tmp_path / "notes.mp4")])
    assert code == 1
    assert "Could not open video" in capsys.readouterr().err
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["error", "stop"]
