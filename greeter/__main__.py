"""``python -m greeter`` / ``greeter``: watch a camera (or video) and welcome known people.

Settings come from flags > the config file (``--config``, ``$GREETER_CONFIG`` or
``./greeter.json``) > built-in defaults; see :mod:`greeter.config`.
"""

import argparse
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from greeter.config import ConfigError, find_config, load_config, resolve_settings

log = logging.getLogger("greeter")


def _parser():
    p = argparse.ArgumentParser(prog="greeter", description=__doc__.splitlines()[0],
                                argument_default=None)
    p.add_argument("--config", help="JSON settings file (keys = these flags' long names with "
                   "underscores); default $GREETER_CONFIG, else ./greeter.json if present")
    p.add_argument("--images", help="folder of photos: <name>.jpg or <name>/*.jpg (default images/)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, help="camera index (default 0)")
    src.add_argument("--video", help="video file or URL instead of a camera")
    p.add_argument("--loop", action=argparse.BooleanOptionalAction, help="repeat the video")
    p.add_argument("--threshold", type=float, help="plain-L2 match threshold, lower is stricter "
                   "(default: config file, else 0.52; see facenet-tune)")
    p.add_argument("--cooldown", type=float, help="seconds before greeting a person again (default 300)")
    p.add_argument("--confirm-frames", type=int, help="consecutive matched frames before a "
                   "greeting (default 3)")
    p.add_argument("--no-speech", action="store_true", default=None, help="log greetings only")
    p.add_argument("--speech-to", metavar="DIR", help="write each greeting as a WAV file in DIR "
                   "instead of playing it")
    p.add_argument("--headless", action=argparse.BooleanOptionalAction,
                   help="never open a window (needed without a display)")
    p.add_argument("--record", metavar="OUT.mp4", help="write the annotated video")
    p.add_argument("--log", metavar="FILE", help="append one JSON line per greeting/unknown/error")
    p.add_argument("--weights", help="weights file or folder (default $FACENET_WEIGHTS, else ./weights)")
    p.add_argument("--cache", metavar="DIR", help="encoding cache (default $FACENET_CACHE or "
                   "~/.cache/facenet)")
    p.add_argument("--detect-width", type=int, help="width of the downscaled frame Haar runs on "
                   "(default 320)")
    p.add_argument("--min-face", type=int, help="smallest face, in frame pixels (default 40)")
    p.add_argument("--scale-factor", type=float, help="Haar scaleFactor (default 1.1)")
    p.add_argument("--min-neighbors", type=int, help="Haar minNeighbors (default 5)")
    p.add_argument("--crop-scale", type=float, help="face crop side / box width (default 0.855)")
    p.add_argument("--crop-dx", type=float, help="crop left offset / box width (default 0.07)")
    p.add_argument("--crop-dy", type=float, help="crop top offset / box width (default 0.25)")
    p.add_argument("--watch-interval", type=float, help="seconds between photo-folder checks "
                   "(default 2)")
    return p


def settings_from_args(argv=None):
    """Parse flags, read the config file -> ``(Settings, sources, config path or None)``."""
    flags = vars(_parser().parse_args(argv))
    config_path, _ = find_config(flags.pop("config"))
    config = load_config(config_path) if config_path is not None else None
    settings, sources = resolve_settings(flags, config, config_path)
    if sources["camera"] == "flag" and sources["video"] != "flag":
        settings.video = None  # --camera on the command line beats a video in the config
    return settings, sources, config_path


def _load_model(weights):
    from fr_utils.model import faceRecoModel
    from fr_utils.weights import load_weights_from_FaceNet
    model = faceRecoModel()
    load_weights_from_FaceNet(model, weights)
    return model


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt  # unwinds through the finally blocks: camera, speech, log


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings, sources, config_path = settings_from_args(argv)
    except ConfigError as err:
        print(f"greeter: {err}", file=sys.stderr)
        return 2
    print(f"greeter: config file: {config_path if config_path else 'none'}")
    where = {"flag": "--threshold", "default": "built-in default (GREETER_THRESHOLD)"}
    print(f"greeter: threshold {settings.threshold:.3f} (plain L2) from "
          f"{where.get(sources['threshold'], sources['threshold'])}")
    from greeter.display import display_available
    if not settings.headless and not display_available():
        print("greeter: no display ($DISPLAY is not set), so no window can be opened; "
              "run with --headless.", file=sys.stderr)
        return 2
    try:
        return _run(settings)
    except KeyboardInterrupt:  # during start-up; once running, _run stops cleanly itself
        print("greeter: interrupted before start", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:  # bad weights, folder, camera: say what and stop
        print(f"greeter: {err}", file=sys.stderr)
        return 1


def _run(settings):
    import time

    from fr_utils.cache import default_cache_dir
    from fr_utils.encoding import encode_faces, warm_up
    from fr_utils.faces import CropSpec, HaarDetector

    from greeter.app import Recognizer, run
    from greeter.camera import FrameSource
    from greeter.detector import FrameDetector
    from greeter.display import Recorder, Window
    from greeter.events import EventLog
    from greeter.gallery import Gallery
    from greeter.speech import LoudspeakerVoice, SilentSpeaker, SpeechWorker, WavVoice
    from greeter.tracker import GreetingTracker

    start = time.monotonic()
    crop = CropSpec(settings.crop_scale, settings.crop_dx, settings.crop_dy)
    model = _load_model(settings.weights)
    # Trace the encoder (about 1 s) while the gallery loads and the camera opens.
    tracer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trace")
    tracing = tracer.submit(warm_up, model)  # .result() below waits and re-raises its error
    tracer.shutdown(wait=False)
    cache = settings.cache if settings.cache is not None else default_cache_dir()
    gallery = Gallery(settings.images, model, HaarDetector(), crop, cache_dir=cache,
                      interval=settings.watch_interval)
    gallery.refresh(progress=True)
    print(f"greeter: {len(gallery.database)} people enrolled from {settings.images} "
          f"({len(gallery.database.names)} photos)")
    recognizer = Recognizer(
        FrameDetector(settings.detect_width, settings.min_face, settings.scale_factor,
                      settings.min_neighbors),
        lambda faces: encode_faces(faces, model), crop, settings.threshold)
    events = EventLog(settings.log)
    frames = speaker = window = recorder = None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        source = settings.video if settings.video is not None else settings.camera
        frames = FrameSource(source, loop=settings.loop,
                             on_event=lambda kind, msg: events.write(kind, message=msg))
        if settings.no_speech:
            speaker = SilentSpeaker()
        elif settings.speech_to is not None:
            speaker = SpeechWorker(lambda: WavVoice(settings.speech_to))
        else:
            speaker = SpeechWorker(LoudspeakerVoice)
        window = None if settings.headless else Window()
        recorder = Recorder(settings.record) if settings.record else None
        tracing.result()
        events.write("start", threshold=settings.threshold, people=len(gallery.database))
        print(f"greeter: running ({time.monotonic() - start:.1f} s to start); "
              f"{'Ctrl-C' if settings.headless else 'ESC or q'} to stop")
        tracker = GreetingTracker(settings.confirm_frames, settings.cooldown)
        processed = run(frames, recognizer, gallery, tracker, speaker, events, window, recorder)
        print(f"greeter: {processed} frames processed")
    except KeyboardInterrupt:
        print("greeter: stopping")
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
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
