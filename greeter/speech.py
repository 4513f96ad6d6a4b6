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
atomically. pyttsx3 prints "Audio saved to ..." on stdout for every file; that line is
dropped (stdout is the kiosk's, not the engine's).
"""

import logging
import os
import queue
import sys
import threading
import unicodedata
import wave
from pathlib import Path

from fr_utils._files import atomic_path

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
        target = self.folder / f"{self._count:04d}-{wav_slug(text)}.wav"
        done = threading.Event()
        token = self._engine.connect("finished-utterance", lambda **kwargs: done.set())
        try:
            with atomic_path(target) as tmp, _quiet_stdout():
                self._engine.save_to_file(text, str(tmp))
                self._engine.runAndWait()
                # runAndWait can return before the file is written (seen on a new
                # engine's first utterance): wait for the engine to say it is done.
                if not done.wait(self.timeout):
                    raise RuntimeError(
                        f"speech engine did not finish {text!r} within {self.timeout} s"
                    )
                _check_wav(tmp, text)
                os.chmod(tmp, 0o644)  # mkstemp makes it private; a greeting is not secret
        finally:
            self._engine.disconnect(token)
        return target


def wav_slug(text, max_bytes=120):
    """A file-name-safe form of ``text``: letters, marks and digits of every script kept
    (``"Welcome Zoë, 美玲!"`` -> ``"Welcome_Zoë_美玲"``), anything else (``/``, ``.``, spaces,
    controls...) replaced by ``_``; at most ``max_bytes`` UTF-8 bytes."""
    text = unicodedata.normalize("NFC", text)
    chars = [c if unicodedata.category(c)[0] in "LMN" else "_" for c in text]
    slug = "_".join(part for part in "".join(chars).split("_") if part)
    while len(slug.encode()) > max_bytes:
        slug = slug[:-1]
    return slug or "greeting"


class _DropEngineChatter:
    """``sys.stdout`` stand-in that drops pyttsx3's "Audio saved to ..." lines (printed from
    espeak's own thread) and passes everything else on."""

    prefix = "Audio saved to "

    def __init__(self, stream):
        self._stream = stream
        self._dropping = threading.local()  # print() writes the text, then "\n" separately

    def write(self, text):
        if text.startswith(self.prefix) or (text == "\n" and getattr(self._dropping, "on", 0)):
            self._dropping.on = text != "\n"
            log.debug("speech engine: %s", text.strip())
            return len(text)
        self._dropping.on = False
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _quiet_stdout:
    """While a WAV is written, drop the engine's "Audio saved to ..." from stdout."""

    def __enter__(self):
        self._saved = sys.stdout
        sys.stdout = _DropEngineChatter(self._saved)

    def __exit__(self, *exc):
        if isinstance(sys.stdout, _DropEngineChatter):
            sys.stdout = self._saved


def failure_hint(err):
    """What to do about a speech failure, from its error: the missing espeak-ng library,
    a permission problem, or anything else."""
    text = f"{type(err).__name__}: {err}"
    if "espeak" in text.lower() and (
        "shared object" in text or "not found" in text.lower() or "No such file" in text
    ):
        return "install the espeak-ng library (apt install libespeak-ng1)"
    if isinstance(err, PermissionError) or "ermission denied" in text:
        return (
            "check this user may write the WAV folder (--speech-to) or use the audio "
            "device (e.g. add it to the 'audio' group)"
        )
    if isinstance(err, ImportError):
        return "install pyttsx3 (pip install pyttsx3)"
    return "see the error; greetings go on being logged"


def _check_wav(path, text):
    with wave.open(str(path), "rb") as wav:  # raises if missing or truncated
        if wav.getnframes() == 0:
            raise RuntimeError(f"speech engine wrote an empty WAV for {text!r}")


class SpeechWorker:
    """``say(text)`` returns at once; a thread speaks the texts in order.

    Args:
        voice_factory: builds the voice (``.speak(text)``) inside the worker thread,
            e.g. ``LoudspeakerVoice`` or ``lambda: WavVoice(folder)``.
        on_error: called once, from the worker thread, with a message when speech is
            given up, e.g. ``lambda message: events.write("error", message=message)``.
    """

    def __init__(self, voice_factory, on_error=None):
        self._voice_factory = voice_factory
        self._on_error = on_error
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
            except Exception as err:  # any engine failure: warn once, keep going
                self.failed = f"{type(err).__name__}: {err}"
                message = (
                    f"Speech disabled ({self.failed}); greetings are still logged. "
                    f"To fix: {failure_hint(err)}."
                )
                log.warning(message)
                if self._on_error is not None:
                    self._on_error(message)

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
