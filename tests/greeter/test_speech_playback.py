"""Greetings are heard or reported: each is rendered to a WAV and played with ``aplay``,
whose result is checked; the audio output is checked once at start (0.1 s of silence); a
playback that fails is one warning and one ``error`` event naming the fix, and greetings go
on being logged. ``aplay`` is a fake put first on ``$PATH`` (``fake_aplay.py``): a missing
one, a failing one, and a working one that copies what it plays into a sink folder."""

import importlib.util
import json
import logging
import os
import wave
from pathlib import Path

import numpy as np
import pytest

from greeter.events import EventLog
from greeter.speech import LoudspeakerVoice, SpeechWorker

_spec = importlib.util.spec_from_file_location(
    "tests_fake_aplay", Path(__file__).resolve().parent / "fake_aplay.py"
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)

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
