"""``python -m greeter`` / ``greeter``: watch a camera (or video) and welcome known people.

Settings come from flags > the config file (``--config``, ``$GREETER_CONFIG`` or
``./greeter.json``) > built-in defaults; see :mod:`greeter.config`.
"""

import argparse
import logging
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

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


def _parser():
    """The flags, generated from the settings table (:data:`greeter.config.SETTINGS`)."""
    parser = argparse.ArgumentParser(
        prog="greeter", description="Watch a camera, video or stream and welcome known people."
    )
    return add_arguments(parser)


def settings_from_args(argv=None):
    """Parse flags, read the config file, check every value ->
    ``(Settings, sources, config path or None)``; raises ``ConfigError`` (nothing loaded yet)."""
    flags = vars(_parser().parse_args(argv))
    config_path, _ = find_config(flags.pop("config"))
    config = load_config(config_path) if config_path is not None else None
    settings, sources = resolve_settings(flags, config, config_path)
    if sources["camera"] == "flag" and sources["video"] != "flag":
        settings.video = None  # --camera on the command line beats a video in the config
    validate(settings, sources)
    for note in deprecation_notes(sources):
        log.warning(note)
    return settings, sources, config_path


def _make_encoder(settings, cache_dir):
    """The face encoder for the settings' weights, runtime and flip setting
    (:func:`fr_utils.encoding.make_encoder`; TensorFlow is imported only if it is used)."""
    from fr_utils.encoding import make_encoder
    from fr_utils.weights import resolve_weights

    weights = resolve_weights(settings.weights)
    encoder = make_encoder(weights, settings.runtime, settings.litert, settings.flip, cache_dir)
    log.info(
        "weights: %s; encoding with %s%s",
        weights,
        encoder.runtime,
        ", flip-average" if encoder.flip else "",
    )
    return encoder


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``systemctl stop``): a clean stop, exit status 0."""

    received = False  # set by the handler: an exception it caused mid-import is a stop too


def _on_sigterm(signum, frame):
    _Terminated.received = True
    raise _Terminated  # unwinds through the finally blocks: camera, speech, log


def main(argv=None):
    # Installed first: a stop while TensorFlow or the photos load is clean too (not 143).
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _start(argv)
    except KeyboardInterrupt as err:  # during start-up; once running, _run stops cleanly itself
        print("greeter: stopped before start", file=sys.stderr)
        return 0 if isinstance(err, _Terminated) else 130
    except Exception:
        if _Terminated.received:  # raised inside an import (e.g. numpy's) becomes ImportError
            print("greeter: stopped before start", file=sys.stderr)
            return 0
        raise


def _start(argv):
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
        return _run(settings, sources)
    except (ValueError, OSError) as err:  # bad weights, folder, camera: say what and stop
        if _Terminated.received:
            raise
        print(f"greeter: {err}", file=sys.stderr)
        return 1


def _log_threshold(settings, sources):
    """Say which threshold is used and where it came from. Unset by flag and config file, it
    is the one measured for these weights (``THRESHOLDS.json`` beside them, for the flip
    setting in use), else the built-in :data:`greeter.config.GREETER_THRESHOLD`."""
    from fr_utils.weight_files import measured_threshold

    origin = {"flag": "--threshold"}.get(sources["threshold"], sources["threshold"])
    if sources["threshold"] == "default":
        measured = measured_threshold(settings.weights, settings.flip)
        if measured is not None:
            settings.threshold, path = measured
            origin = f"{path} ({'flip-average' if settings.flip else 'single crop'})"
        else:
            origin = "the built-in default (GREETER_THRESHOLD); tune yours with facenet-tune"
    log.info("threshold %.3f (plain L2, lower is stricter) from %s", settings.threshold, origin)


def _open_library(settings, sources, encoder, aligner):
    """The shared face library (default: a SQLite file), loaded for this encoder, with the
    images folder synced into it: the folder given, or ``images/`` when it exists."""
    from pathlib import Path

    from fr_utils.weights import resolve_weights
    from greeter.library import LiveLibrary, Store, default_kiosk_name, make_enroller
    from greeter.library.url import resolve_db_url

    url, origin = resolve_db_url(settings.db)
    origin = sources["db"] if origin == "--db" and sources["db"] != "flag" else origin
    store = Store(url)
    log.info("face library: %s (from %s)", store.url, origin)  # password masked
    enroller = make_enroller(settings.weights, encoder=encoder, aligner=aligner)
    given = sources["images"] != "default"
    images = settings.images if given or Path(settings.images).is_dir() else None
    library = LiveLibrary(
        store, enroller.model_key, kiosk=settings.kiosk or default_kiosk_name(),
        enroller=enroller, images_dir=images, interval=min(1.0, settings.watch_interval),
        status={"threshold": settings.threshold, "runtime": encoder.runtime,
                "weights": str(resolve_weights(settings.weights))},
        keep_visitor_days=settings.keep_visitor_faces,
    )  # fmt: skip
    try:
        library.start()
    except BaseException:
        store.close()
        raise
    return store, library


def _run(settings, sources):
    # Imported here, not at the top: `greeter --help` must not load OpenCV or TensorFlow.
    from fr_utils._files import default_cache_dir
    from fr_utils.align import FaceAligner
    from greeter.app import Recognizer, run
    from greeter.camera import FrameSource
    from greeter.detector import FrameDetector
    from greeter.display import Recorder, Window
    from greeter.events import EventLog
    from greeter.library import EventTee
    from greeter.speech import LoudspeakerVoice, SilentSpeaker, SpeechWorker, WavVoice
    from greeter.tracker import GreetingTracker

    start = time.monotonic()
    _log_threshold(settings, sources)
    cache = settings.cache if settings.cache is not None else default_cache_dir()
    encoder = _make_encoder(settings, cache)
    aligner = FaceAligner()
    # Warm the encoder (TensorFlow's trace: ~1 s) and load the landmark model (~0.6 s)
    # while the library loads and the camera opens.
    tracer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-up")
    tracing = tracer.submit(lambda: (encoder.warm_up(), aligner.predictor))
    tracer.shutdown(wait=False)  # .result() below waits and re-raises its error
    store, library = _open_library(settings, sources, encoder, aligner)
    log.info(
        "%d people enrolled for kiosk %s (%d photos)",
        len(library.database),
        library.kiosk,
        len(library.database.names),
    )
    recognizer = Recognizer(
        FrameDetector(
            settings.detect_width,
            settings.min_face,
            settings.scale_factor,
            settings.min_neighbors,
            settings.detector,
        ),
        encoder,
        aligner,
        settings.threshold,
    )
    events = EventTee(EventLog(settings.log), library.events)
    frames = speaker = window = recorder = None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        source = settings.video if settings.video is not None else settings.camera
        frames = FrameSource(
            source, loop=settings.loop, on_event=lambda kind, msg: events.write(kind, message=msg)
        )

        def speech_failed(message):  # from the speech thread: into the JSON event log
            events.write("error", message=message)

        if settings.no_speech:
            speaker = SilentSpeaker()
        elif settings.speech_to is not None:
            speaker = SpeechWorker(lambda: WavVoice(settings.speech_to), on_error=speech_failed)
        else:
            speaker = SpeechWorker(LoudspeakerVoice, on_error=speech_failed)
        window = None if settings.headless else Window()
        recorder = Recorder(settings.record) if settings.record else None
        tracing.result()
        events.write("start", threshold=settings.threshold, people=len(library.database))
        log.info(
            "running (%.1f s to start); %s to stop",
            time.monotonic() - start,
            "Ctrl-C" if settings.headless else "ESC or q",
        )
        tracker = GreetingTracker(settings.confirm_frames, settings.cooldown)
        processed = run(frames, recognizer, library, tracker, speaker, events, window, recorder)
        log.info("%d frames processed", processed)
    except KeyboardInterrupt:
        log.info("stopping")
    except ValueError as err:
        events.write("error", message=str(err))
        raise
    finally:
        for part in (frames, window, recorder):
            if part is not None:
                part.release()
        if speaker is not None:
            speaker.close()
        events.write("stop")
        events.close()
        library.close()
        store.close()
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
