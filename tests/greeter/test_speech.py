"""greeter.speech: the worker never blocks the loop and keeps the order; the failure hint fits
the error, failures warn once and reach the JSON event log; WAV files are written whole (even by
an engine that returns early) under names that keep every script's letters; pyttsx3's "Audio
saved to ..." never reaches stdout."""

import json
import logging
import os
import threading
import time
import wave

import numpy as np
import pytest

from greeter.events import EventLog
from greeter.speech import LoudspeakerVoice, SpeechWorker, WavVoice, failure_hint, wav_slug
from tests.helpers import fake_aplay as fake
from tests.helpers.fakes import LateEngine


@pytest.mark.parametrize(
    "error, hint",
    [
        (
            OSError("libespeak-ng.so.1: cannot open shared object file: No such file or directory"),
            "apt install libespeak-ng1",
        ),
        (RuntimeError("could not load espeak: libespeak-ng.so.1 not found"), "libespeak-ng1"),
        (PermissionError(13, "Permission denied", "/dev/snd/pcmC0D0p"), "'audio' group"),
        (OSError("[Errno 13] Permission denied: 'wavs/0001.wav'"), "may write the WAV folder"),
        (RuntimeError("speech engine did not finish 'Welcome Ana' within 10.0 s"), "see the error"),
    ],
)
def test_failure_hint_matches_the_error(error, hint):
    assert hint in failure_hint(error)
    if "Permission" in str(error) or "did not finish" in str(error):
        assert "libespeak" not in failure_hint(error)


def test_speech_failure_goes_to_the_event_log_once(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")

    def no_permission():
        raise PermissionError(13, "Permission denied", "/dev/snd/pcmC0D0p")

    worker = SpeechWorker(no_permission, on_error=lambda msg: log.write("error", message=msg))
    for text in ("Welcome Ana, have a nice day!", "Welcome Ben, have a nice day!"):
        worker.say(text)
        log.write("greeting", text=text)  # the camera loop writes from the main thread meanwhile
    worker.close()
    log.close()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1 and len(events) == 3
    assert "PermissionError" in errors[0]["message"] and "audio" in errors[0]["message"]


def test_wav_names_keep_letters_of_every_script_and_only_safe_characters():
    assert wav_slug("Welcome Zo\u00eb, \u7f8e\u73b2, have a nice day!") == (
        "Welcome_Zo\u00eb_\u7f8e\u73b2_have_a_nice_day"
    )
    assert wav_slug("Welcome \u0928\u092e\u0938\u094d\u0924\u0947!") == (
        "Welcome_\u0928\u092e\u0938\u094d\u0924\u0947"
    )  # Devanagari vowel signs kept
    assert (
        wav_slug("Welcome \u0410\u043d\u043d\u0430 \u041f\u0435\u0442\u0440\u043e\u0432\u0430")
        == "Welcome_\u0410\u043d\u043d\u0430_\u041f\u0435\u0442\u0440\u043e\u0432\u0430"
    )
    for hostile in ("../../etc/passwd", 'a/b\\c:d*e?f"g<h>i|j', "\x1b[31mred\x00", "..."):
        slug = wav_slug(hostile)
        assert not set(slug) & set('/\\:*?"<>|.\x00\x1b') and slug
    long = wav_slug("\u7f8e" * 200)
    assert len(long.encode()) <= 120


@pytest.mark.slow
def test_real_wav_voice_keeps_stdout_quiet_and_names_in_any_script(tmp_path, capfd):
    pytest.importorskip("pyttsx3")
    printed = []
    main_thread_output = threading.Thread(target=lambda: printed.append(print("main says hi")))
    voice = WavVoice(tmp_path)
    main_thread_output.start()
    path = voice.speak("Welcome Zo\u00eb \u7f8e\u73b2, have a nice day!")
    main_thread_output.join()
    out = capfd.readouterr().out
    assert "Audio saved to" not in out
    assert "main says hi" in out  # other threads' output still gets through
    assert path.name == "0001-Welcome_Zo\u00eb_\u7f8e\u73b2_have_a_nice_day.wav"
    with wave.open(str(path)) as wav:
        assert wav.getnframes() > 0


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


def test_wav_voice_waits_for_the_engine_and_writes_atomically(tmp_path):
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


# ---- playback: each greeting is rendered to a WAV and played with aplay, heard or reported


GREETINGS = ("Welcome Ana, have a nice day!", "Welcome Ben, have a nice day!")


class ToneEngine:
    """pyttsx3's interface as WavVoice uses it: writes 0.5 s of a tone per text, then says
    the utterance is finished (no espeak needed)."""

    def __init__(self):
        self._callbacks, self._file = {}, None

    def connect(self, topic, callback):
        self._callbacks[id(callback)] = callback
        return id(callback)

    def disconnect(self, token):
        self._callbacks.pop(token, None)

    def save_to_file(self, text, path):
        self._file = path

    def runAndWait(self):
        with wave.open(self._file, "wb") as wav:
            wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(22050)
            wav.writeframes(np.full(11025, 1000, np.int16).tobytes())
        for callback in list(self._callbacks.values()):
            callback(name=None, completed=True)


def _greet(tmp_path, voice_factory):
    """Speak GREETINGS through a worker, logging each greeting as the camera loop does ->
    (worker, events read back)."""
    log = EventLog(tmp_path / "events.jsonl")
    worker = SpeechWorker(voice_factory, on_error=lambda msg: log.write("error", message=msg))
    for text in GREETINGS:
        worker.say(text)
        log.write("greeting", text=text)
    worker.close()
    log.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    return worker, [json.loads(line) for line in lines]


def _only_path(monkeypatch, folder):
    """``$PATH`` is ``folder`` alone: no real aplay can be found."""
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(folder))


def _first_on_path(monkeypatch, folder):
    """``folder`` (holding a fake aplay) goes first on ``$PATH``, before any real aplay."""
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_missing_aplay_is_one_warning_and_one_error_event(tmp_path, monkeypatch, caplog):
    _only_path(monkeypatch, tmp_path / "bin")
    with caplog.at_level(logging.WARNING, logger="greeter.speech"):
        worker, events = _greet(tmp_path, lambda: LoudspeakerVoice(engine_factory=ToneEngine))
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1, errors
    assert "aplay not found" in errors[0]["message"]
    assert "sudo apt install alsa-utils" in errors[0]["message"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        errors[0]["message"]
    ]
    assert [e["text"] for e in events if e["event"] == "greeting"] == list(GREETINGS)
    assert worker.spoken == 0 and "aplay not found" in worker.failed


@pytest.mark.parametrize(
    "errors, fix",
    [
        (fake.NO_CARD, "no sound card found"),
        (
            "aplay: main:831: audio open error: Permission denied",
            "add the greeter's user to the 'audio' group",
        ),
        ("aplay: main:831: audio open error: Device or resource busy", "device is busy"),
    ],
)
def test_failing_aplay_is_one_error_event_naming_the_fix(tmp_path, monkeypatch, errors, fix):
    fake.failing_aplay(tmp_path / "bin", errors)
    _first_on_path(monkeypatch, tmp_path / "bin")
    worker, events = _greet(tmp_path, lambda: LoudspeakerVoice(engine_factory=ToneEngine))
    errors_logged = [e["message"] for e in events if e["event"] == "error"]
    assert len(errors_logged) == 1, errors_logged
    assert "aplay exited with status 1: aplay: main:831: audio open error" in errors_logged[0]
    assert fix in errors_logged[0]
    assert sum(e["event"] == "greeting" for e in events) == 2 and worker.spoken == 0


def test_an_unknown_alsa_device_is_named(tmp_path, monkeypatch):
    fake.failing_aplay(
        tmp_path / "bin",
        "ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM speaker\n"
        "aplay: main:831: audio open error: No such file or directory",
    )
    _first_on_path(monkeypatch, tmp_path / "bin")
    _, events = _greet(
        tmp_path, lambda: LoudspeakerVoice(engine_factory=ToneEngine, device="speaker")
    )
    (message,) = [e["message"] for e in events if e["event"] == "error"]
    assert "ALSA has no device 'speaker'" in message and "aplay -L" in message


def test_working_playback_reaches_the_sink(tmp_path, monkeypatch, caplog):
    """The real engine (pyttsx3 + espeak-ng) renders; the fake aplay receives the WAV."""
    sink = tmp_path / "sink"
    fake.sink_aplay(tmp_path / "bin", sink)
    _first_on_path(monkeypatch, tmp_path / "bin")
    with caplog.at_level(logging.INFO, logger="greeter.speech"):
        worker, events = _greet(tmp_path, lambda: LoudspeakerVoice(device="plughw:1,0"))
    assert [e["event"] for e in events] == ["greeting", "greeting"]  # no error event
    assert worker.spoken == 2 and worker.failed is None
    assert any("Audio output checked" in r.getMessage() for r in caplog.records)
    played = sorted(sink.glob("*.wav"))
    assert [p.name.split("-", 1)[1] for p in played] == [
        "silence.wav",  # the start-up check
        "0001-Welcome_Ana_have_a_nice_day.wav",
        "0002-Welcome_Ben_have_a_nice_day.wav",
    ]
    with wave.open(str(played[0])) as wav:
        assert wav.getnframes() == 2205 and set(wav.readframes(2205)) == {0}  # 0.1 s silent
    for path in played[1:]:
        with wave.open(str(path)) as wav:
            seconds = wav.getnframes() / wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
        assert 1.0 < seconds < 5.0 and np.abs(samples).max() > 1000  # a voice, not silence
    args = (sink / "args.txt").read_text().splitlines()
    assert all(line.startswith("-q -D plughw:1,0 ") for line in args), args


def test_a_speaker_that_comes_back_is_heard_again(tmp_path, monkeypatch, caplog):
    """One error for the outage (the start-up check and the first greeting fail); the next
    greeting is played once the output works, and that is logged."""
    sink = tmp_path / "sink"
    fake.sink_aplay(tmp_path / "bin", sink, failures=2)
    _first_on_path(monkeypatch, tmp_path / "bin")
    with caplog.at_level(logging.INFO, logger="greeter.speech"):
        worker, events = _greet(tmp_path, lambda: LoudspeakerVoice(engine_factory=ToneEngine))
    assert len([e for e in events if e["event"] == "error"]) == 1
    assert worker.spoken == 1 and worker.failed is None
    assert [p.name for p in sink.glob("*.wav")] == ["0001-0002-Welcome_Ben_have_a_nice_day.wav"]
    assert sum("heard again" in r.getMessage() for r in caplog.records) == 1
