"""Speak greetings from one worker thread, so the camera loop never waits for a voice.

One text-to-speech engine (pyttsx3 + espeak-ng) lives in the worker thread and
takes greetings from a queue one at a time: a greeting never overlaps the
previous one. If the engine cannot start or fails (``pyttsx3.init()`` raises
``RuntimeError`` without libespeak-ng1), a warning is logged once and greetings
go on being logged, unspoken.

Playback is ours, not the engine's: each greeting is rendered to a WAV file
(:class:`WavVoice`) and played with ``aplay -q`` from alsa-utils
(:class:`AplayPlayer`), whose exit status and error output are checked. (pyttsx3's
own ``say`` runs ``aplay`` through ``os.system`` and ignores the result: without
alsa-utils every greeting printed ``sh: 1: aplay: not found`` and counted as
spoken.) :class:`LoudspeakerVoice` checks the audio output once at start by
playing 0.1 s of silence; a playback that fails is reported once (a warning and
an ``error`` event naming the fix) and later greetings are still tried, so a
speaker that comes back is heard again. ``aplay`` rather than a Python audio
library: it is one small Debian package of the ALSA project, with no compiled
Python extension to build (pyalsaaudio needs libasound2-dev and a compiler,
sounddevice needs PortAudio, simpleaudio is unmaintained since 2019), and its
exit status and messages say exactly what is wrong (no card, no permission,
device busy).

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
import shutil
import subprocess
import sys
import tempfile
import threading
import unicodedata
import wave
from pathlib import Path

from fr_utils._files import atomic_path

log = logging.getLogger(__name__)


def _engine():
    import pyttsx3  # imported here: importing this module does no work

    return pyttsx3.init()


class PlaybackError(RuntimeError):
    """A sound could not be played; ``hint`` says what to do about it."""

    def __init__(self, message, hint):
        super().__init__(message)
        self.hint = hint


class AplayPlayer:
    """Plays WAV files with ``aplay -q`` (alsa-utils) and checks that it worked.

    Args:
        device: the ALSA device (``aplay -D``), e.g. ``"plughw:1,0"``; ``None``: ALSA's default.
        command: the program (looked up on ``$PATH`` at each play, so installing alsa-utils
            while the greeter runs is enough).

    :meth:`play` raises :class:`PlaybackError` when the program is missing, does not
    finish in time, or exits with a non-zero status (its last line of error output quoted).
    """

    def __init__(self, device=None, command="aplay"):
        self.device, self.command = device, command

    def __repr__(self):
        return f"AplayPlayer(device={self.device!r})"

    def play(self, path):
        exe = shutil.which(self.command)
        if exe is None:
            raise PlaybackError(
                f"{self.command} not found",
                f"install alsa-utils (sudo apt install alsa-utils), which provides {self.command}",
            )
        command = [exe, "-q", *(["-D", self.device] if self.device else []), str(path)]
        timeout = wav_seconds(path) + 10.0
        try:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise PlaybackError(
                f"{self.command} did not finish within {timeout:.0f} s",
                "the audio device may be held by another program; stop it, or set "
                "audio_device to a shared ALSA device such as dmix",
            ) from None
        except OSError as err:
            hint = "reinstall alsa-utils (sudo apt install --reinstall alsa-utils)"
            raise PlaybackError(f"cannot run {exe}: {err}", hint) from None
        if done.returncode != 0:
            errors = done.stderr.decode("utf-8", "replace").strip()
            last = errors.splitlines()[-1] if errors else "no error output"
            raise PlaybackError(
                f"{self.command} exited with status {done.returncode}: {last}",
                aplay_hint(errors, self.device),
            )


def aplay_hint(errors, device=None):
    """What to do about ``aplay``'s error output ``errors``."""
    lowered = errors.lower()
    if "permission denied" in lowered:
        return (
            "add the greeter's user to the 'audio' group (sudo usermod -aG audio USER) and "
            "restart the greeter"
        )
    if "busy" in lowered:
        return (
            "the audio device is busy (another program holds it): stop that program, or set "
            "audio_device in the config to a shared ALSA device such as dmix"
        )
    if device and ("unknown pcm" in lowered or "cannot get card" in lowered):
        return (
            f"ALSA has no device {device!r}: set audio_device in the config to one that "
            "`aplay -L` lists (or remove it for ALSA's default)"
        )
    return (
        "no sound card found or ALSA's default device does not work: connect a speaker, "
        "check `aplay -l`, or set audio_device in the config to a device that `aplay -L` "
        "lists (e.g. plughw:1,0)"
    )


def wav_seconds(path):
    """The duration of a WAV file in seconds (0.0 when it cannot be read)."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / float(wav.getframerate() or 1)
    except (OSError, EOFError, wave.Error):
        return 0.0


def write_silence(path, seconds=0.1, rate=22050):
    """Write ``seconds`` of silence as a 16-bit mono WAV (the start-up check's sound)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * int(rate * seconds))
    return Path(path)


class LoudspeakerVoice:
    """Plays each text through the audio output: rendered to a WAV (:class:`WavVoice`, in a
    private temporary folder, deleted once played), then played by ``player``.

    :meth:`check` plays 0.1 s of silence: :class:`SpeechWorker` calls it once at start, so a
    kiosk that cannot be heard says so before the first visitor.

    Args:
        engine_factory: builds the text-to-speech engine (pyttsx3's by default).
        player: plays a WAV file or raises :class:`PlaybackError` (``None``: an
            :class:`AplayPlayer` on ``device``).
        device: the ALSA device for the default player (``None``: ALSA's default).
    """

    def __init__(self, engine_factory=_engine, player=None, device=None):
        self.player = AplayPlayer(device) if player is None else player
        self._folder = tempfile.TemporaryDirectory(prefix="greeter-speech-")
        try:
            self._wav = WavVoice(self._folder.name, engine_factory)
        except BaseException:
            self._folder.cleanup()
            raise

    def check(self):
        """Play a short silence; raises :class:`PlaybackError` when the output does not work."""
        self.player.play(write_silence(Path(self._folder.name) / "silence.wav"))

    def speak(self, text):
        path = self._wav.speak(text)
        try:
            self.player.play(path)
        finally:
            path.unlink(missing_ok=True)

    def close(self):
        self._folder.cleanup()


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
    if isinstance(err, PlaybackError):
        return err.hint
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

    The voice is built, and its output checked (``voice.check()``, when it has one), as
    the thread starts, before the first greeting. A voice that cannot be built or fails
    otherwise is given up: one warning and one ``on_error`` call, greetings go on being
    logged. A :class:`PlaybackError` (nothing heard) is reported the same way, once; later
    greetings are still played, and the first one heard again is logged.

    Args:
        voice_factory: builds the voice (``.speak(text)``, optionally ``.check()`` and
            ``.close()``) inside the worker thread, e.g. ``LoudspeakerVoice`` or
            ``lambda: WavVoice(folder)``.
        on_error: called from the worker thread with a message when speech fails, e.g.
            ``lambda message: events.write("error", message=message)``.
    """

    def __init__(self, voice_factory, on_error=None):
        self._voice_factory = voice_factory
        self._on_error = on_error
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="greeter-speech", daemon=True)
        self.failed = None  # the reason while speech is given up or not heard
        self.spoken = 0
        self._thread.start()

    def say(self, text):
        self._queue.put(text)

    def _run(self):
        voice = self._start()
        try:
            while (text := self._queue.get()) is not None:
                if voice is None:
                    continue
                try:
                    voice.speak(text)
                except PlaybackError as err:
                    if self.failed is None:
                        self._report(err, "Greetings are not heard")
                    continue
                except Exception as err:  # any engine failure: warn once, keep going
                    self._report(err, "Speech disabled")
                    voice = None
                    continue
                if self.failed is not None:
                    log.info("Greetings are heard again (the failure was: %s).", self.failed)
                    self.failed = None
                self.spoken += 1
        finally:
            close = getattr(voice, "close", None)
            if close is not None:
                close()

    def _start(self):
        """The voice, built and checked; ``None`` when it cannot be built."""
        try:
            voice = self._voice_factory()
        except Exception as err:
            self._report(err, "Speech disabled")
            return None
        check = getattr(voice, "check", None)
        if check is not None:
            try:
                check()
                log.info("Audio output checked: %s works.", getattr(voice, "player", voice))
            except PlaybackError as err:
                self._report(err, "Greetings are not heard")
        return voice

    def _report(self, err, what):
        self.failed = f"{type(err).__name__}: {err}"
        message = (
            f"{what} ({self.failed}); greetings are still logged. To fix: {failure_hint(err)}."
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
