"""greeter.speech: the worker never blocks the loop and keeps the order; the failure hint fits
the error, failures warn once and reach the JSON event log; WAV files are written whole (even by
an engine that returns early) under names that keep every script's letters; pyttsx3's "Audio
saved to ..." never reaches stdout."""

import json
import logging
import threading
import time
import wave

import pytest

from greeter.events import EventLog
from greeter.speech import SpeechWorker, WavVoice, failure_hint, wav_slug
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
