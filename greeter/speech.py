"""Speak greetings from one worker thread, so the camera loop never waits for a voice.

One text-to-speech engine (pyttsx3 + espeak-ng) lives in the worker thread and
takes greetings from a queue one at a time: a greeting never overlaps the
previous one. If the engine cannot start or fails (``pyttsx3.init()`` raises
``RuntimeError`` without libespeak-ng1), a warning is logged once and greetings
go on being logged, unspoken.

Measured with pyttsx3 2.99 / espeak-ng 1.51: ``save_to_file`` + ``runAndWait``
writes a 22,050 Hz mono WAV of about 2.2 s for a one-name greeting, and one engine
can be reused for many files. Two quirks: (1) on an engine's first utterance in
a worker thread, ``runAndWait`` sometimes returns *before* the file is written
(in one of two runs here the file appeared after our check), so
:class:`WavVoice` waits for the engine's ``finished-utterance`` callback;
(2) the engine keeps the file name after ``save_to_file``, so a later ``say``
would overwrite that file instead of playing: one engine per mode (file or
speaker), never both. Each WAV is checked with :mod:`wave` and moved into place
atomically.
"""

import logging
import os
import queue
import re
import threading
import wave
from pathlib import Path

from fr_utils.weights import atomic_path

log = logging.getLogger(__name__)


def _engine():
    import pyttsx3  # imported here: importing this module does no work
    return pyttsx3.init()


class LoudspeakerVoice:
    """Plays each text through the default audio output."""

    def __init__(self, engine_factory=_engine):
        self._engine = engine_factory()

    def speak(self, text):
        self._engine.say(text)
        self._engine.runAndWait()


class WavVoice:
    """Writes each text to ``folder/NNNN-<words>.wav`` instead of playing it."""

    timeout = 10.0  # seconds to wait for one greeting's file

    def __init__(self, folder, engine_factory=_engine):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._engine = engine_factory()
        self._count = len(list(self.folder.glob("*.wav")))

    def speak(self, text):
        self._count += 1
        slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60]
        target = self.folder / f"{self._count:04d}-{slug}.wav"
        done = threading.Event()
        token = self._engine.connect("finished-utterance", lambda **kwargs: done.set())
        try:
            with atomic_path(target) as tmp:
                self._engine.save_to_file(text, str(tmp))
                self._engine.runAndWait()
                # runAndWait can return before the file is written (seen on a new
                # engine's first utterance): wait for the engine to say it is done.
                if not done.wait(self.timeout):
                    raise RuntimeError(f"speech engine did not finish {text!r} "
                                       f"within {self.timeout} s")
                _check_wav(tmp, text)
                os.chmod(tmp, 0o644)  # mkstemp makes it private; a greeting is not secret
        finally:
            self._engine.disconnect(token)
        return target


def _check_wav(path, text):
    with wave.open(str(path), "rb") as wav:  # raises if missing or truncated
        if wav.getnframes() == 0:
            raise RuntimeError(f"speech engine wrote an empty WAV for {text!r}")


class SpeechWorker:
    """``say(text)`` returns at once; a thread speaks the texts in order.

    Args:
        voice_factory: builds the voice (``.speak(text)``) inside the worker thread,
            e.g. ``LoudspeakerVoice`` or ``lambda: WavVoice(folder)``.
    """

    def __init__(self, voice_factory):
        self._voice_factory = voice_factory
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="greeter-speech", daemon=True)
        self.failed = None  # the reason, once speech has been given up
        self.spoken = 0
        self._thread.start()

    def say(self, text):
        self._queue.put(text)

    def _run(self):
        voice = None
        while (text := self._queue.get()) is not None:
            if self.failed:
                continue
            try:
                voice = voice or self._voice_factory()
                voice.speak(text)
                self.spoken += 1
            except Exception as err:  # noqa: BLE001 - any engine failure: warn once, keep going
                self.failed = f"{type(err).__name__}: {err}"
                log.warning("Speech disabled (%s); greetings are still logged. "
                            "Install libespeak-ng1 for speech.", self.failed)

    def close(self, timeout=30.0):
        """Finish the queued greetings, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)


class SilentSpeaker:
    """``--no-speech``: greetings are only logged."""

    failed = None
    spoken = 0

    def say(self, text):
        pass

    def close(self, timeout=None):
        pass
