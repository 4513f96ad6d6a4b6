"""``python -m greeter`` / ``greeter``: watch a camera (or video) and welcome known people.

The start-up, top to bottom: read the settings (flags > the config file > defaults, all
checked before anything loads: :mod:`greeter.config`), :func:`build` every part once (the
weights resolved once, the encoder, the face library, the event log, the camera, the
voice), :func:`run` the loop (:func:`greeter.app.run`), and release every part in one
place, in reverse order, whatever happened (one ``ExitStack``).
"""

import argparse
import contextlib
import dataclasses
import logging
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from greeter.config import (
    ConfigError,
    add_arguments,
    deprecation_notes,
    find_config,
    load_config,
    resolve_settings,
    validate,
)

log = logging.getLogger("greeter")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # every status line


DOCTOR = "doctor"  # `greeter doctor [FLAGS]`: greeter.doctor checks what the greeter would use


def _parser():
    """The flags, generated from the settings table (:data:`greeter.config.SETTINGS`)."""
    parser = argparse.ArgumentParser(
        prog="greeter",
        description="Watch a camera, video or stream and welcome known people.",
        epilog=f"`greeter {DOCTOR} [FLAGS]` checks, with the same flags and config file, "
        "whether the kiosk can work (camera, audio, encoder, library, people, threshold, "
        f"disk): see `greeter {DOCTOR} --help`.",
    )
    return add_arguments(parser)


def _doctor_parser():
    parser = argparse.ArgumentParser(
        prog=f"greeter {DOCTOR}",
        description="Check, with the greeter's own flags and config file, whether the kiosk "
        "can work, and say in words what is wrong and the fix: camera, audio, encoder "
        "(weights, runtime, model), face library, people enrolled, threshold, disk space. "
        "Exit status 0 when it can work (warnings allowed), 1 otherwise. Nothing is enrolled "
        "or synced; stop a running greeter first (it holds the camera).",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return add_arguments(parser)


def settings_from_args(argv=None):
    """Parse flags, read the config file, check every value ->
    ``(Settings, sources, config path or None)``; raises ``ConfigError`` (nothing loaded yet)."""
    settings, sources, config_path, _ = _settings(vars(_parser().parse_args(argv)))
    for note in deprecation_notes(sources):
        log.warning(note)
    return settings, sources, config_path


def _settings(flags):
    """Parsed flags -> ``(Settings, sources, config path or None, how it was chosen)``."""
    config_path, origin = find_config(flags.pop("config"))
    config = load_config(config_path) if config_path is not None else None
    settings, sources = resolve_settings(flags, config, config_path)
    if sources["camera"] == "flag" and sources["video"] != "flag":
        settings.video = None  # --camera on the command line beats a video in the config
    validate(settings, sources)
    return settings, sources, config_path, origin


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``systemctl stop``): a clean stop, exit status 0."""

    received = False  # set by the handler: an exception it caused mid-import is a stop too


def _on_sigterm(signum, frame):
    _Terminated.received = True
    raise _Terminated  # unwinds through the ExitStack: camera, speech, log, library


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [DOCTOR]:
        return doctor(argv[1:])
    # Installed first: a stop while TensorFlow or the photos load is clean too (not 143).
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _start(argv)
    except KeyboardInterrupt as err:  # during start-up; once running, run() stops cleanly itself
        print("greeter: stopped before start", file=sys.stderr)
        return 0 if isinstance(err, _Terminated) else 130
    except Exception:
        if _Terminated.received:  # raised inside an import (e.g. numpy's) becomes ImportError
            print("greeter: stopped before start", file=sys.stderr)
            return 0
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start(argv) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt="%H:%M:%S")
    try:
        settings, sources, config_path = settings_from_args(argv)
    except ConfigError as err:
        print(f"greeter: {err}", file=sys.stderr)
        return 2
    log.info("config file: %s", config_path if config_path else "none")
    from greeter.display import display_available

    if not settings.headless and not display_available():
        print(
            "greeter: no display ($DISPLAY is not set), so no window can be opened; "
            "run with --headless.",
            file=sys.stderr,
        )
        return 2
    try:
        with contextlib.ExitStack() as stack:
            return run(build(settings, sources, stack))
    except (ValueError, OSError) as err:  # bad weights, folder, camera: say what and stop
        if _Terminated.received:
            raise
        print(f"greeter: {' '.join(str(err).split())}", file=sys.stderr)  # a driver's too: 1 line
        return 1


def doctor(argv) -> int:
    """``greeter doctor [FLAGS]``: :func:`greeter.doctor.diagnose` printed for people (or
    ``--json``); exit status 0 when the kiosk can work, 1 otherwise."""
    import json

    from greeter.doctor import Report, config_check, diagnose

    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, datefmt="%H:%M:%S")
    flags = vars(_doctor_parser().parse_args(argv))
    as_json = flags.pop("json")
    try:
        settings, sources, config_path, origin = _settings(flags)
    except ConfigError as err:
        report = Report([config_check(None, error=err)])
    else:
        try:
            report = diagnose(settings, sources, config_path, origin)
        except KeyboardInterrupt:
            print("greeter doctor: stopped", file=sys.stderr)
            return 130
    print(json.dumps(report.as_dict(), indent=1) if as_json else report.text())
    return 0 if report.works else 1


@dataclass
class Parts:
    """Everything the loop talks to, built by :func:`build` (see :func:`greeter.app.run`)."""

    settings: Any
    frames: Any
    recognizer: Any
    library: Any
    judge: Any
    speaker: Any
    events: Any
    window: Any = None
    recorder: Any = None
    started: float = 0.0  # time.monotonic() when the build began


def _make_encoder(settings, cache_dir):
    """The face encoder the settings ask for: dlib's ResNet, or FaceNet on the (resolved)
    weights, runtime and flip setting (:func:`fr_utils.encoding.make_encoder`; TensorFlow is
    imported only if it is used)."""
    from fr_utils.encoding import make_encoder

    return make_encoder(
        settings.weights,
        runtime=settings.runtime,
        litert=settings.litert,
        flip=settings.flip,
        cache_dir=cache_dir,
        kind=settings.encoder,
    )


def build(settings, sources, stack: contextlib.ExitStack) -> Parts:
    """Build every part for ``settings``; each is released by ``stack`` (in reverse order).

    Imports happen here, not at the top: ``greeter --help`` must not load OpenCV or
    TensorFlow."""
    from fr_utils._files import default_cache_dir
    from fr_utils.weights import resolve_weights
    from greeter.app import loop_parts
    from greeter.camera import FrameSource
    from greeter.display import Recorder, Window
    from greeter.doctor import disk_check, started_status
    from greeter.events import EventLog
    from greeter.library import EventTee
    from greeter.visits import threshold_policy

    started = time.monotonic()
    disk = _start_check(disk_check(settings))  # before anything loads: cheap
    if settings.encoder == "facenet":  # resolved once: everything below gets this path
        settings = dataclasses.replace(settings, weights=str(resolve_weights(settings.weights)))
    cache = settings.cache if settings.cache is not None else default_cache_dir()
    encoder = _make_encoder(settings, cache)
    log.info(
        "encoder: %s (%s%s)%s",
        encoder.name,
        encoder.runtime,
        ", flip-average" if encoder.flip else "",
        f"; weights {settings.weights}" if encoder.name == "facenet" else "",
    )
    policy, origin = threshold_policy(settings, sources, encoder, settings.weights)
    log.info("threshold from %s", origin)
    aligner = encoder.make_aligner()  # the crops this encoder takes
    # Warm the encoder (TensorFlow's trace: ~1 s) and load the landmark model (~0.6 s)
    # while the library loads and the camera opens.
    warming = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-up")
    warm = warming.submit(lambda: (encoder.warm_up(), aligner.predictor))
    warming.shutdown(wait=False)  # .result() below waits and re-raises its error
    library = _open_library(settings, sources, encoder, aligner, stack)
    events = EventTee(EventLog(settings.log), library.events)
    stack.callback(events.close)
    stack.callback(events.write, "stop")  # runs before close: written whatever happens
    stack.push(_error_event(events))  # a camera or weights failure is logged as an event too
    recognizer, judge = loop_parts(settings, encoder, aligner, policy)
    speaker = _speaker(settings, events)
    stack.callback(speaker.close)
    source = settings.video if settings.video is not None else settings.camera
    frames = FrameSource(
        source, loop=settings.loop, on_event=lambda kind, msg: events.write(kind, message=msg)
    )
    stack.callback(frames.release)
    window = None if settings.headless else Window()
    if window is not None:
        stack.callback(window.release)
    recorder = Recorder(settings.record) if settings.record else None
    if recorder is not None:
        stack.callback(recorder.release)
    warm.result()
    status = started_status(settings, encoder, library.database, disk)
    log.info("status: %s", status)
    library.set_status(status=status)  # the heartbeat carries it: the Kiosks page shows it
    return Parts(
        settings=settings,
        frames=frames,
        recognizer=recognizer,
        library=library,
        judge=judge,
        speaker=speaker,
        events=events,
        window=window,
        recorder=recorder,
        started=started,
    )


def _open_library(settings, sources, encoder, aligner, stack):
    """The face library (default: a SQLite file), loaded for this encoder, its images folder
    synced when it should be, this kiosk's identity and event spool: see
    :func:`greeter.library.kiosk.open_kiosk_library`."""
    from pathlib import Path

    from greeter.doctor import Gallery, people_check
    from greeter.library.kiosk import open_kiosk_library

    library = open_kiosk_library(settings, sources, encoder, aligner, stack)
    given = sources["images"] != "default"
    images = Path(settings.images) if given or Path(settings.images).is_dir() else None
    gallery = Gallery(len(library.database), len(library.database.names))
    _start_check(people_check(gallery, images, given))  # 0 people: a warning
    return library


def _start_check(check):
    """A check of :mod:`greeter.doctor` at start: a failure stops the greeter (one sentence,
    exit status 1), a warning is logged; returns the check."""
    from greeter.doctor import FAIL, WARNING

    if check.level == FAIL:
        raise StartRefused(check.sentence())
    if check.level == WARNING:
        log.warning(check.sentence())
    return check


class StartRefused(ValueError):
    """The greeter would not work: ``greeter doctor`` fails the same check."""


def _speaker(settings, events):
    from greeter.speech import LoudspeakerVoice, SilentSpeaker, SpeechWorker, WavVoice

    def speech_failed(message):  # from the speech thread: into the event log
        events.write("error", message=message)

    if settings.no_speech:
        return SilentSpeaker()
    if settings.speech_to is not None:
        return SpeechWorker(lambda: WavVoice(settings.speech_to), on_error=speech_failed)
    return SpeechWorker(
        lambda: LoudspeakerVoice(device=settings.audio_device), on_error=speech_failed
    )


def _error_event(events):
    """An ExitStack exit callback: a ``ValueError`` leaving the block (a camera that cannot
    be opened, a bad video) is written as an ``error`` event before ``stop``."""

    def on_exit(exc_type, exc, tb):
        if isinstance(exc, ValueError):
            events.write("error", message=str(exc))
        return False

    return on_exit


def run(parts: Parts) -> int:
    """Greet until the video ends or a signal stops it; returns the exit status (0)."""
    from greeter.app import run as loop

    parts.events.write(
        "start", encoder=parts.recognizer.encoder.name, people=len(parts.library.database)
    )
    log.info(
        "running (%.1f s to start); %s to stop",
        time.monotonic() - parts.started,
        "Ctrl-C" if parts.settings.headless else "ESC or q",
    )
    try:
        processed = loop(
            parts.frames,
            parts.recognizer,
            parts.library,
            parts.judge,
            parts.speaker,
            parts.events,
            window=parts.window,
            recorder=parts.recorder,
        )
        log.info("%d frames processed", processed)
    except KeyboardInterrupt:
        log.info("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
