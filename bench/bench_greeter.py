"""Benchmark the greeter's visit loop per encoder, next to the loop it replaced (issues 17, 18).

    FACENET_SHARED=../shared FACENET_WEIGHTS=../shared/weights-aligned/nn4.small2.v1.h5 \\
        python bench/bench_greeter.py [--quick] [--litert DIR]

Prints, measured in one run, each figure beside its goal ("met" or "MISSED"), CPU time beside
wall time, and the load average at the start and the end (the machine is shared):

1. frames/s at 640x480 with 1 and 3 faces (Lin-Manuel Miranda's shot in the Hamilton clip,
   frames 82-210: letterboxed, and three columns of it side by side), per encoder: dlib's
   ResNet (the kiosk default), FaceNet on LiteRT int8 and on TensorFlow, each through the
   real loop (``greeter.app.Recognizer`` + ``greeter.app.run`` with a ``LiveLibrary`` on a
   SQLite store, built from the default settings as ``python -m greeter`` builds them: dlib
   HOG, quality gate, visits with a budget of encodings), next to the loop before the
   rewrite (Haar on a 320-px copy, landmarks, FaceNet LiteRT int8 flip-average on every face
   of every frame, nearest-photo match). Goal (README): >= 25 fps with one face.
2. per-stage times: detection per frame (dlib HOG at the default width on 640x480 and on
   1920x1080 frames; Haar on a 320-px copy as before), landmarks, quality measures, the
   two warps and the loose face image per face, encoding per face per encoder. The 1080p
   frames come from ``--hd DIR`` (the r2 study's synthetic videos, not in the repository:
   his shot scaled to 66-80-px faces on a curtain, and 3x3 tiles of the clip with faces of
   45-105 px); without them those rows are skipped.
3. time from a frontal face appearing to the greeting, frames arriving in real time at
   25 fps (late frames dropped, like a camera), per encoder. Goal <= 1 s.
4. ``python -m greeter`` warm start (library filled) to its first processed frame, per
   encoder; what loading dlib's models costs. Goal <= 1.5 s for the kiosk default.
5. cold enrolment of 1,000 LFW photos (issue 18): the greeter's start on a fresh library
   against ``fr_utils.photos.encode_photos`` on the same photos, per encoder, in turn, best
   of 2 for FaceNet (1 for dlib's slow ResNet; 1 with ``--quick``). Goal: the folder sync
   (timed between two of the greeter's log lines: the library opened, the photos added)
   within 1.2x of ``encode_photos``; the first frame against the warm start's, and the CPU
   times, are printed beside it. Then where the sync's time goes per photo (``sync_folder``
   with ``Enroller(workers=1)``, parts timed).

The gallery of 1-3 is small enough for FaceNet to greet (3 people, 4 photos: FaceNet's
threshold for 1 % of strangers' visits greeted is ~0.66 there, ~0.45 at 200 people, where it
does not greet him): Lin-Manuel Miranda and Alex Lacamoire (the clip's reference photos) and
Colin Powell (2 LFW photos; the face of 3 is another photo of his). LiteRT is exported once
into a temporary folder (int8, calibrated on 100 aligned LFW faces) unless ``--litert DIR``.
The full run takes 7-10 minutes on this 2-core machine (load 2), ``--quick`` 1.5-3.
"""

import argparse
import logging
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure this checkout, whatever is installed in the venv

from fr_utils.align import ChipAligner, DlibDetector, FaceAligner, sharpness, yaw_degrees  # noqa: E402
from fr_utils.database import FaceDatabase  # noqa: E402
from fr_utils.dlib_resnet import DlibResNetEncoder  # noqa: E402
from fr_utils.encoding import FaceEncoder, KerasEncoder  # noqa: E402
from fr_utils.litert import LiteRTEncoder  # noqa: E402
from fr_utils.photos import encode_photos  # noqa: E402
from greeter.app import Recognizer, face_image, run  # noqa: E402
from greeter.app import loop_parts as app_loop_parts  # noqa: E402
from greeter.config import Settings  # noqa: E402
from greeter.detector import FrameDetector  # noqa: E402
from greeter.library import EventTee, LiveLibrary, Store, make_enroller  # noqa: E402
from greeter.visits import VisitJudge, threshold_policy  # noqa: E402

FPS_GOAL, GREET_GOAL, WARM_GOAL, ENROL_RATIO_GOAL = 25.0, 1.0, 1.5, 1.2
SHOT = range(82, 211)  # Hamilton clip: his medium shot, frontal to three-quarter, 87-105-px face
# The loop before the rewrite (commit 00f236f): Haar on a 320-px copy, faces from 40 px.
TODAY = {"kind": "haar", "detect_width": 320, "min_face": 40, "scale_factor": 1.1,
         "min_neighbors": 5}  # fmt: skip
POWELL = ("Colin_Powell_0001.jpg", "Colin_Powell_0002.jpg")  # enrolled; 0006 arrives in 3
ENCODERS = ("dlib-resnet", "facenet LiteRT int8", "facenet TensorFlow")
FLAGS = {  # python -m greeter's flags for each (weights, litert and cache are added)
    "dlib-resnet": ["--encoder", "dlib-resnet"],
    "facenet LiteRT int8": ["--encoder", "facenet", "--runtime", "litert"],
    "facenet TensorFlow": ["--encoder", "facenet", "--runtime", "tensorflow"],
}


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


class _Clock:
    """Wall and CPU time (this process's threads) since it was made: ``.wall``, ``.cpu``."""

    def __init__(self):
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.t0

    @property
    def cpu(self) -> float:
        return time.process_time() - self.c0


# --------------------------------------------------------------------------- inputs


def _read_frames(path: Path, indices: range) -> list:
    """Frames ``indices`` of a video (none if it cannot be read)."""
    cap, frames = cv2.VideoCapture(str(path)), []
    for i in range(indices.stop):
        frame = cap.read()[1]
        if frame is None:
            break
        if i in indices:
            frames.append(frame)
    cap.release()
    return frames


def hamilton_videos(video_dir: Path, count: int) -> dict[str, list]:
    """``{"1 face": frames, "3 faces": frames}``, 640x480, ``count`` frames each (at most
    129): his shot letterboxed, and three 213-px columns centred on his face from frames
    i, i+43 and i+86 of the shot side by side (three faces in different poses)."""
    clip = _read_frames(video_dir / "short_hamilton_clip.mp4", range(SHOT.stop))
    detector, centre, x = DlibDetector(), {}, 320.0
    for i in SHOT:  # where his face is (the last one found when HOG misses a turned face)
        boxes = detector(clip[i])
        x = float(boxes[0][0] + boxes[0][2] / 2) if len(boxes) else x
        centre[i] = x
    shot = list(SHOT)
    one = [cv2.copyMakeBorder(clip[i], 60, 60, 0, 0, cv2.BORDER_CONSTANT) for i in shot]
    three = []
    for j in range(len(shot)):
        canvas = np.zeros((480, 640, 3), np.uint8)
        for k in range(3):
            i = shot[(j + 43 * k) % len(shot)]
            x0 = int(np.clip(centre[i] - 106, 0, 640 - 213))
            canvas[60:420, 213 * k : 213 * k + 213] = clip[i][:, x0 : x0 + 213]
        three.append(canvas)
    return {"1 face": one[:count], "3 faces": three[:count]}


def arrival_video(lfw: Path, blank: int, face: int) -> list:
    """640x480 frames: ``blank`` empty ones, then ``face`` frames of a frontal LFW face of
    Colin Powell (a photo not enrolled) enlarged to 300 px."""
    still = cv2.resize(cv2.imread(str(lfw / "Colin_Powell" / "Colin_Powell_0006.jpg")), (300, 300))
    empty = np.full((480, 640, 3), 90, np.uint8)
    shown = empty.copy()
    shown[90:390, 170:470] = still
    return [empty] * blank + [shown] * face


def gallery_folder(folder: Path, lfw: Path, video_dir: Path) -> Path:
    """The ``images/`` folder of 1-3: three people, four photos (copies: a kiosk's own)."""
    folder.mkdir(parents=True)
    for name in ("Lin-Manuel Miranda", "Alex Lacamoire"):
        shutil.copyfile(video_dir / f"{name.lower().replace(' ', '-')}.png", folder / f"{name}.png")
    (folder / "Colin_Powell").mkdir()
    for photo in POWELL:
        shutil.copyfile(lfw / "Colin_Powell" / photo, folder / "Colin_Powell" / photo)
    return folder


def lfw_photos(lfw: Path, count: int) -> list[Path]:
    """The first ``count`` LFW photos, people in name order."""
    photos = []
    for person in sorted(lfw.iterdir()):
        for photo in sorted(person.iterdir()):
            if len(photos) >= count:
                return photos
            photos.append(photo)
    return photos


def images_folder(folder: Path, photos: list[Path]) -> Path:
    """An ``images/`` folder (``<person>/<photo>``) of symlinks to ``photos``."""
    for photo in photos:
        (folder / photo.parent.name).mkdir(parents=True, exist_ok=True)
        os.symlink(photo, folder / photo.parent.name / photo.name)
    return folder


# --------------------------------------------------------------------------- the loop


class _Events:
    """An events sink that keeps what was written (``greeting``, ``unknown``, ...)."""

    def __init__(self):
        self.records = []

    def write(self, kind, **fields):
        self.records.append((time.monotonic(), kind, fields))
        return fields

    def kinds(self, kind):
        return [fields for _, k, fields in self.records if k == kind]

    def close(self):
        pass


class _Speaker:
    def __init__(self):
        self.said = []  # (time.monotonic(), text)

    def say(self, text):
        self.said.append((time.monotonic(), text))


class _Counting:
    """The recognizer as ``run`` sees it, counting the visits and faces it returned."""

    def __init__(self, recognizer):
        self.inner, self.visits_seen, self.faces = recognizer, set(), 0

    def __call__(self, frame):
        faces = self.inner(frame)
        self.faces += len(faces)
        self.visits_seen.update(face.visit.uid for face in faces)
        return faces

    def __getattr__(self, name):
        return getattr(self.inner, name)


def settings_for(encoder_name: str, weights) -> Settings:
    """The greeter's default settings for one of :data:`ENCODERS`."""
    if encoder_name == "dlib-resnet":
        return Settings(encoder="dlib-resnet")
    return Settings(encoder="facenet", weights=str(weights))


def loop_parts(settings: Settings, encoder, aligner) -> tuple[Recognizer, VisitJudge]:
    """The recognizer and the judge exactly as ``greeter`` builds them for ``settings``."""
    policy, _ = threshold_policy(settings, {}, encoder, settings.weights)
    return app_loop_parts(settings, encoder, aligner, policy)


class Kiosk:
    """One encoder's greeter parts on a SQLite library synced from the gallery folder:
    ``kiosk.run(frames)`` runs ``greeter.app.run`` with a fresh recognizer and judge."""

    def __init__(self, name: str, encoder, weights, gallery: Path, db: Path):
        self.name, self.encoder = name, encoder
        self.settings = settings_for(name, weights)
        self.aligner = encoder.make_aligner()
        self.store = Store(f"sqlite:///{db}")
        enroller = make_enroller(self.settings.weights, encoder=encoder, aligner=self.aligner)
        self.library = LiveLibrary(
            self.store, enroller.model_key, kiosk="bench", enroller=enroller, images_dir=gallery
        ).start()

    def close(self):
        self.library.close()
        self.store.close()

    def run(self, frames, speaker=None):
        """``(recognizer, judge, speaker, events, frames processed)`` after ``run``: events
        go to the library (as the greeter's do) and are kept for the caller."""
        recognizer, judge = loop_parts(self.settings, self.encoder, self.aligner)
        counting, speaker, events = _Counting(recognizer), speaker or _Speaker(), _Events()
        sink = EventTee(events, self.library.events)
        processed = run(frames, counting, self.library, judge, speaker, sink)
        return counting, judge, speaker, events, processed


def warm(encoder, aligner, frame) -> None:
    """Pay the one-off costs before timing: the runtime, the landmark model and this
    thread's dlib detector (~0.8 s)."""
    encoder.warm_up()
    aligner.predictor  # noqa: B018 (loads the landmark model)
    FrameDetector()(frame)


# --------------------------------------------------------------------------- 1. frames/s


def today_step(encoder, aligner, database: FaceDatabase):
    """The loop before the rewrite: ``step(frame) -> faces``. Haar on a 320-px copy, 68
    landmarks and a warp per face, every face encoded every frame (one batch), every face
    matched against every photo (``nearest_many``); its greeting logic is left out."""
    detector = FrameDetector(**TODAY)

    def step(frame):
        boxes = detector(frame)
        if len(boxes):
            database.nearest_many(encoder([aligner.align(frame, box) for box in boxes]))
        return len(boxes)

    return step


def bench_fps(kiosks: dict, videos: dict) -> None:
    lite = kiosks["facenet LiteRT int8"]
    for video_name, frames in videos.items():
        step = today_step(lite.encoder, FaceAligner(), lite.library.database)
        step(frames[0])
        clock, found = _Clock(), sum(step(frame) for frame in frames)
        today, today_cpu = len(frames) / clock.wall, clock.cpu / len(frames)
        print(
            f"  {video_name}, before the rewrite: Haar 320 + landmarks + LiteRT int8 flip on "
            f"every face, every frame: {today:5.1f} frames/s (CPU "
            f"{1e3 * clock.cpu / len(frames):5.1f} ms/frame = {len(frames) / clock.cpu:5.1f} "
            "frames per CPU-second); "
            f"{found} faces found, {found} encoded"
        )
        for name in ENCODERS:
            kiosk = kiosks[name]
            clock = _Clock()
            recognizer, judge, _, events, n = kiosk.run(frames)
            fps, cpu = n / clock.wall, clock.cpu
            greeted = [g["names"][0] for g in events.kinds("greeting")]
            other = len(events.kinds("unknown")) + len(events.kinds("unsure"))
            goal = (
                f"goal >= {FPS_GOAL:.0f} fps: {_verdict(fps >= FPS_GOAL)}"
                if video_name == "1 face"
                else "(no goal)"
            )
            print(
                f"    visits, dlib HOG + {name:20s}: {fps:5.1f} frames/s, {fps / today:4.2f}x "
                f"before ({today_cpu / (cpu / n):4.2f}x by CPU; CPU {1e3 * cpu / n:5.1f} "
                f"ms/frame = {n / cpu:5.1f} frames per CPU-second); {recognizer.faces} faces "
                f"found, {recognizer.encoded} encoded in "
                f"{len(recognizer.visits_seen)} visits (budget {judge.rules.max_frames}), "
                f"greeted {greeted or 'nobody'} at threshold {judge.threshold:.3f}"
                f"{f', {other} visits not greeted' if other else ''}; {goal}"
            )


# --------------------------------------------------------------------------- 2. stages


def _per_call(call, items) -> tuple[float, float]:
    """``(wall ms, CPU ms)`` per call of ``call(item)``, after one warm-up call."""
    call(items[0])
    clock = _Clock()
    for item in items:
        call(item)
    return 1e3 * clock.wall / len(items), 1e3 * clock.cpu / len(items)


def _row(label: str, wall: float, cpu: float, note: str = "") -> None:
    print(f"  {label:64s} {wall:8.2f} {cpu:8.2f}  {note}")


def bench_stages(kiosks: dict, frames: list, hd: dict, encode_calls: int) -> None:
    print(f"  {'stage':64s} {'wall ms':>8s} {'CPU ms':>8s}")
    default, haar = FrameDetector(), FrameDetector(**TODAY)
    hog = "detect/frame: dlib HOG at the default width"
    for label, detector, video in (
        (f"{hog} ({default.width_for(640)} px), 640x480", default, frames),
        (f"{hog} ({default.width_for(1920)} px), 1080p, 1 face", default, hd["single"]),
        (f"{hog} ({default.width_for(1920)} px), 1080p, 3x3 tiles", default, hd["tiles"]),
        ("detect/frame: Haar on a 320-px copy (before), 640x480", haar, frames),
        ("detect/frame: Haar on a 320-px copy (before), 1080p, 1 face", haar, hd["single"]),
        ("detect/frame: Haar on a 320-px copy (before), 1080p, 3x3 tiles", haar, hd["tiles"]),
    ):
        if not video:
            print(f"  {label}: no frames (see --hd)")
            continue
        detector(video[0])  # warm-up
        clock = _Clock()
        found = sum(len(detector(frame)) for frame in video)
        _row(label, 1e3 * clock.wall / len(video), 1e3 * clock.cpu / len(video),
             f"({found} faces in {len(video)} frames)")  # fmt: skip
    faces = [(frame, box) for frame in frames for box in default(frame)]
    if not faces:
        print("  no face detected: no per-face figures")
        return
    aligner, chip = FaceAligner(), ChipAligner()
    marks = [(frame, aligner.landmarks(frame, box)) for frame, box in faces]
    _row(
        "landmarks per face (68, dlib, full frame)",
        *_per_call(lambda f: aligner.landmarks(*f), faces),
    )
    wall, cpu = _per_call(lambda m: (sharpness(*m), yaw_degrees(m[1])), marks)
    _row("quality per face: sharpness (96-px warp + Laplacian) + yaw", wall, cpu)
    _row(
        "warp per face: FaceNet's 96-px crop",
        *_per_call(lambda m: aligner.align_landmarks(*m), marks),
    )
    _row("warp per face: dlib's 150-px chip", *_per_call(lambda m: chip.align_landmarks(*m), marks))
    wall, cpu = _per_call(lambda f: face_image(*f), faces)
    _row("loose face image per face (JPEG; each new best frame)", wall, cpu)
    frame, landmarks = marks[0]
    for name in ENCODERS:
        kiosk = kiosks[name]
        crop = kiosk.aligner.align_landmarks(frame, landmarks)
        wall, cpu = _per_call(lambda c, e=kiosk.encoder: e([c]), [crop] * encode_calls)
        flip = ", flip-average" if kiosk.encoder.flip else ""
        _row(f"encode per face: {name}{flip}", wall, cpu, "(one face a call)")


# --------------------------------------------------------------------------- 3. latency


class Camera:
    """Frames arriving in real time at ``fps``, as a camera delivers them: each next frame
    is the newest one that has arrived (later ones dropped), or, when the loop is ahead,
    the next one once it arrives. Stops when ``stop()`` is true or the frames run out."""

    def __init__(self, frames, fps: float, stop):
        self.frames, self.fps, self.stop = frames, fps, stop
        self.start, self.delivered = None, 0

    def __iter__(self):
        self.start, last = time.monotonic(), -1
        while not self.stop():
            index = max(last + 1, int((time.monotonic() - self.start) * self.fps))
            if index >= len(self.frames):
                return
            wait = self.start + index / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            last, self.delivered = index, self.delivered + 1
            yield self.frames[index]


def bench_latency(kiosks: dict, frames: list, face_from: int, runs: int) -> None:
    for name in ENCODERS:
        results = []  # (seconds from the face appearing to the greeting, greeting event)
        for _ in range(runs):
            speaker = _Speaker()
            camera = Camera(frames, 25.0, stop=lambda s=speaker: bool(s.said))
            _, _, _, events, _ = kiosks[name].run(camera, speaker)
            if speaker.said:
                latency = speaker.said[0][0] - camera.start - face_from / 25.0
                results.append((latency, events.kinds("greeting")[0]))
            else:
                results.append((None, None))
        done = [r for r in results if r[0] is not None]
        if not done:
            print(f"  {name:20s}: no greeting before the video ended; goal MISSED")
            continue
        latency, greeting = statistics.median(r[0] for r in done), done[0][1]
        runs_text = ", ".join("none" if r[0] is None else f"{r[0]:.2f}" for r in results)
        met = len(done) == len(results) and latency <= GREET_GOAL
        print(
            f"  {name:20s}: greeted {latency:.2f} s after the face appeared (median of "
            f"{len(results)}: {runs_text} s); distance {greeting['distances'][0]:.3f} "
            f"(threshold {greeting['threshold']:.3f}, runner-up {greeting['runner_up'][0]} at "
            f"{greeting['runner_up_distances'][0]:.3f}), {greeting['frames'][0]} good frames, "
            f"at the loop's frame {greeting['frame']}; goal <= {GREET_GOAL:.0f} s: {_verdict(met)}"
        )


# --------------------------------------------------------------------------- 4./5. greeter


def greeter_start(name: str, args, db: Path, images: Path, video: Path, cache: Path) -> dict:
    """Run ``python -m greeter`` for encoder ``name`` on a one-frame video. Returns the
    seconds from the spawn to its status lines (``library``: the store opened, ``synced``:
    the folder sync done, ``running``, ``first``: the first frame processed), to its exit
    (``total``), and the child's CPU seconds (``cpu``)."""
    cache.mkdir(parents=True, exist_ok=True)
    config = cache / "none.json"
    config.write_text("{}")
    cmd = [
        sys.executable, "-m", "greeter", *FLAGS[name], "--weights", str(args.weights),
        "--litert", str(args.litert), "--db", f"sqlite:///{db}", "--images", str(images),
        "--video", str(video), "--headless", "--no-speech", "--cache", str(cache),
        "--config", str(config),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    markers = {
        "library": "face library: ",
        "synced": " photos added, ",
        "running": "running (",
        "first": "frames processed",
    }
    added = refused = None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, out, tail = time.perf_counter(), dict.fromkeys(markers), []
    with subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True) as proc:
        for line in proc.stderr:  # the greeter's status lines go through logging, to stderr
            tail = [*tail[-19:], line]
            for key, text in markers.items():
                if out[key] is None and text in line:
                    out[key] = time.perf_counter() - t0
            counts = re.search(r"(\d+) photos added, .*?(\d+) refused", line)
            if added is None and counts:  # "..: 9 photos added, 0 changed, 0 removed, 1 refused"
                added, refused = int(counts[1]), int(counts[2])
    out["total"] = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out["added"], out["refused"] = added, refused
    if proc.returncode != 0 or out["first"] is None:
        raise RuntimeError(f"{shlex.join(cmd)} failed (exit {proc.returncode}):\n{''.join(tail)}")
    return out


DLIB_LOADS = """
import time
t = time.perf_counter(); import dlib; imported = time.perf_counter() - t
from fr_utils.align import predictor_path
from fr_utils.dlib_resnet import model_path
t = time.perf_counter(); model = dlib.face_recognition_model_v1(str(model_path()))
resnet = time.perf_counter() - t
t = time.perf_counter(); dlib.shape_predictor(str(predictor_path()))
shapes = time.perf_counter() - t
t = time.perf_counter(); dlib.get_frontal_face_detector(); hog = time.perf_counter() - t
import numpy as np
chip = np.zeros((150, 150, 3), np.uint8)
t = time.perf_counter(); model.compute_face_descriptor([chip]); first = time.perf_counter() - t
t = time.perf_counter(); model.compute_face_descriptor([chip]); second = time.perf_counter() - t
print(imported, resnet, shapes, hog, first, second)
"""


def dlib_loads() -> str:
    """What loading dlib's parts costs in a fresh process (files in the page cache)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", DLIB_LOADS], env=env, capture_output=True, text=True, check=True
    )
    imported, resnet, shapes, hog, first, second = (float(v) for v in out.stdout.split())
    return (
        f"import dlib {imported:.2f} s; load its ResNet face encoder {resnet:.2f} s, its first "
        f"face {first:.2f} s (the next {second:.2f} s); load the 68-landmark model "
        f"{shapes:.2f} s; build a HOG detector {hog:.2f} s (once per thread). The greeter "
        "loads the encoder and the landmarks in a warm-up thread while the library loads."
    )


def warm_start_inputs(lfw: Path, tmp: Path) -> tuple[Path, Path]:
    """``(images folder of 2 LFW photos of Colin Powell, one-frame video of him)``. The
    photos are copies, so the library's entries stay valid between runs."""
    video = tmp / "one.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (640, 480))
    writer.write(arrival_video(lfw, 0, 1)[0])
    writer.release()
    folder = tmp / "images-small" / "Colin_Powell"
    folder.mkdir(parents=True)
    for photo in POWELL:
        shutil.copyfile(lfw / "Colin_Powell" / photo, folder / photo)
    return folder.parent, video


def bench_warm_start(args, images: Path, video: Path, tmp: Path, runs: int) -> dict:
    """Warm start per encoder: one run fills a fresh library, then ``runs`` measured runs."""
    best = {}
    for name in ENCODERS:
        db, cache = tmp / f"warm-{name.split()[-1]}.db", tmp / f"cache-warm-{name.split()[-1]}"
        greeter_start(name, args, db, images, video, cache)  # fills the library
        times = [greeter_start(name, args, db, images, video, cache) for _ in range(runs)]
        best[name] = min(times, key=lambda t: t["first"])
        first = best[name]["first"]
        goal = (
            f"goal <= {WARM_GOAL} s (kiosk default): {_verdict(first <= WARM_GOAL)}"
            if name == Settings().encoder
            else "(no goal)"
        )
        runs_text = ", ".join(
            f"{t['first']:.2f}/{t['total']:.2f} s (CPU {t['cpu']:.2f} s)" for t in times
        )
        print(
            f"  {name:20s}: first frame {first:.2f} s (best of {runs}; 'running' at "
            f"{min(t['running'] for t in times):.2f} s); first frame / process total (CPU) per "
            f"run: {runs_text}; {goal}"
        )
    print(f"  dlib's loads in a fresh process: {dlib_loads()}")
    return best


class _Timed:
    """Wraps a callable (or one method of an object) and adds up its wall-clock time."""

    def __init__(self, inner, method=None):
        self.inner, self.method, self.seconds, self.calls = inner, method, 0.0, 0

    def _call(self, fn, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1

    def __call__(self, *args, **kwargs):
        return self._call(self.inner, *args, **kwargs)

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name == self.method:
            return lambda *args, **kwargs: self._call(attr, *args, **kwargs)
        return attr


def sync_breakdown(name: str, encoder, photos: list[Path], tmp: Path) -> None:
    """Where the folder sync's time goes per photo, in this process, on a fresh SQLite
    library: the real ``sync_folder`` with the greeter's enroller on one thread
    (``Enroller(workers=1)``: the greeter overlaps detection in threads), parts timed."""
    from greeter.library.enroller import Enroller
    from greeter.library.sync import sync_folder

    real = make_enroller(encoder=encoder)
    detector, aligner = _Timed(real.detector), _Timed(real.aligner, "align")
    encode = _Timed(real.encoder)
    enroller = _Timed(Enroller(encode, detector, aligner, real.model_key, workers=1), "enroll_many")
    label = name.split()[-1]
    folder = images_folder(tmp / f"sync-{label}", photos)
    store = _Timed(Store(f"sqlite:///{tmp / f'sync-{label}.db'}"), "add_photos")
    try:
        clock = _Clock()
        result = sync_folder(store, folder, enroller)
        wall, cpu = clock.wall, clock.cpu
    finally:
        store.close()
    n = len(photos)
    parts = [
        ("decode + enlarge to 320 px", enroller.seconds - detector.seconds - aligner.seconds
         - encode.seconds),
        ("detect (dlib HOG)", detector.seconds),
        ("landmarks + warp", aligner.seconds),
        (f"encode ({'flip, ' if encoder.flip else ''}chunks of 256)", encode.seconds),
        ("store (one transaction per chunk)", store.seconds),
        ("the rest: listing, reading, sha256, PNG", wall - enroller.seconds - store.seconds),
    ]  # fmt: skip
    text = "; ".join(f"{part} {1e3 * s / n:.1f} ms ({100 * s / wall:.0f} %)" for part, s in parts)
    print(
        f"  {name:20s}: {n} photos in {wall:.1f} s = {1e3 * wall / n:.1f} ms/photo (CPU "
        f"{1e3 * cpu / n:.1f} ms), {len(result.added)} added, {len(result.refused)} refused: {text}"
    )


def bench_enrolment(kiosks, args, photos, video, tmp: Path, breakdown: int, warm: dict, rounds):
    """Per encoder, ``rounds[name]`` times in turn: ``encode_photos``, then the greeter's
    start on a fresh library; the best of each is compared (the machine is shared)."""
    n = len(photos)
    folder = images_folder(tmp / "images-enrol", photos)
    for name in ENCODERS:
        direct, starts = [], []
        for k in range(rounds[name]):
            clock = _Clock()
            result = encode_photos(photos, kiosks[name].encoder, progress=False)
            direct.append((clock.wall, clock.cpu))
            label = f"{name.split()[-1]}-{k}"
            db, cache = tmp / f"enrol-{label}.db", tmp / f"cache-enrol-{label}"
            starts.append(greeter_start(name, args, db, folder, video, cache))
        wall, cpu = min(direct)
        t = min(starts, key=lambda t: t["synced"] - t["library"])
        sync = t["synced"] - t["library"]  # from its log: the store opened -> "photos added"
        start = t["first"] - warm[name]["first"]  # what the enrolment added to the start
        start_cpu = t["cpu"] - warm[name]["cpu"]
        ratio = sync / wall
        tries = f"best of {rounds[name]}: " if rounds[name] > 1 else ""
        print(
            f"  {name:20s}: encode_photos {wall:5.1f} s ({tries}"
            + ", ".join(f"{w:.1f}" for w, _ in direct)
            + f" s; {1e3 * wall / n:.1f} ms/photo, CPU {1e3 * cpu / n:.1f} ms; "
            f"{len(result.encodings)} encoded, {len(result.several_faces)} of them from photos "
            f"with several faces, {len(result.no_face)} without a face)"
        )
        print(
            f"  {'':20s}  the greeter's folder sync at its start {sync:5.1f} s ({tries}"
            + ", ".join(f"{s['synced'] - s['library']:.1f}" for s in starts)
            + f" s; {1e3 * sync / n:.1f} ms/photo; {t['added']} added, {t['refused']} refused) "
            f"= {ratio:.2f}x encode_photos; goal <= {ENROL_RATIO_GOAL}x: "
            f"{_verdict(ratio <= ENROL_RATIO_GOAL)}"
        )
        print(
            f"  {'':20s}  its first frame at {t['first']:.1f} s, {start:.1f} s after the warm "
            f"start's; CPU {start_cpu:.1f} s more than the warm start's "
            f"({start_cpu / cpu:.2f}x encode_photos' CPU)"
        )
    print(f"  where the sync's time goes, one thread, {breakdown} photos:")
    for name in ENCODERS:
        sync_breakdown(name, kiosks[name].encoder, photos[:breakdown], tmp)


# --------------------------------------------------------------------------- main


def export(args, model, weights, fingerprint, lfw: Path, tmp: Path, faces: int) -> Path:
    """``--litert DIR``, or an int8 export of ``model`` into ``tmp`` (calibrated on ``faces``
    aligned LFW faces)."""
    if args.litert:
        return Path(args.litert)
    from fr_utils.database import list_photos
    from fr_utils.litert_export import calibration_faces, export_litert

    clock, out = _Clock(), tmp / "litert"
    paths = [path for _, path in list_photos(lfw, recursive=True)]
    chosen = [paths[i] for i in np.random.default_rng(0).permutation(len(paths))[:200]]
    cal = calibration_faces(chosen, limit=faces)
    manifest = export_litert(model, out, cal.faces, fingerprint, cal.aligner, ("int8",))
    a = manifest["models"]["int8"]["agreement_with_keras"]
    print(
        f"exported LiteRT int8 in {clock.wall:.0f} s (CPU {clock.cpu:.0f} s), calibrated on "
        f"{len(cal.faces)} aligned LFW faces (distance to Keras: mean {a['mean']:.3f}, "
        f"p99 {a['p99']:.3f})"
    )
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=os.environ.get("FACENET_SHARED"), help="$FACENET_SHARED")
    p.add_argument("--weights", default=os.environ.get("FACENET_WEIGHTS"), help="$FACENET_WEIGHTS")
    p.add_argument("--litert", default=None, help="an int8 export to use (default: export now)")
    p.add_argument("--quick", action="store_true", help="fewer frames, runs and photos (~3 min)")
    p.add_argument(
        "--hd",
        default="/work/scratch/r2",
        help="folder of synth1080_single.mp4 and synth1080_tiles.mp4 (1080p detection)",
    )
    p.add_argument("--frames", type=int, default=None, help="frames per fps figure (129)")
    p.add_argument("--photos", type=int, default=None, help="LFW photos to enrol (1000)")
    args = p.parse_args(argv)
    if not args.shared or not args.weights:
        p.error("set FACENET_SHARED and FACENET_WEIGHTS (or --shared/--weights)")
    env = " ".join(
        f"{k}={shlex.quote(os.environ[k])}"
        for k in ("FACENET_SHARED", "FACENET_WEIGHTS", "PYTHONPATH")
        if k in os.environ
    )
    print(
        f"command: cd {shlex.quote(os.getcwd())} && {env} {shlex.join([sys.executable, *sys.argv])}"
    )
    started = _Clock()
    logging.basicConfig(level=logging.ERROR)  # not the warnings about LFW photos' faces
    print(f"load average at start {_load()} (1/5/15 min) on {os.cpu_count()} CPUs")
    shared = Path(args.shared)
    lfw, video_dir = shared / "data" / "lfw" / "images", shared / "data" / "video"
    n_frames = args.frames or (40 if args.quick else len(SHOT))
    n_photos = args.photos or (100 if args.quick else 1000)

    from fr_utils.model import load_model
    from fr_utils.weights import weights_fingerprint

    clock = _Clock()
    model, weights = load_model(args.weights)
    fingerprint = weights_fingerprint(weights)
    print(f"TensorFlow and the Keras model loaded in {clock.wall:.1f} s (CPU {clock.cpu:.1f} s)")
    with tempfile.TemporaryDirectory(prefix="bench-greeter-") as tmp:
        tmp = Path(tmp)
        args.litert = export(args, model, weights, fingerprint, lfw, tmp, 32 if args.quick else 100)
        int8 = LiteRTEncoder(args.litert, "int8", None, fingerprint)
        encoders = {
            "dlib-resnet": DlibResNetEncoder(),
            "facenet LiteRT int8": FaceEncoder(int8),
            "facenet TensorFlow": FaceEncoder(KerasEncoder(model, weights)),
        }
        gallery = gallery_folder(tmp / "gallery", lfw, video_dir)
        videos = hamilton_videos(video_dir, n_frames)
        kiosks = {}
        try:
            for name, encoder in encoders.items():
                kiosks[name] = Kiosk(
                    name, encoder, weights, gallery, tmp / f"kiosk-{len(kiosks)}.db"
                )
                warm(encoder, kiosks[name].aligner, videos["1 face"][0])
            lite = kiosks["facenet LiteRT int8"].encoder.backend
            database = kiosks["dlib-resnet"].library.database
            print(
                f"cv2 threads {cv2.getNumThreads()}, LiteRT threads {lite.num_threads}; the "
                f"gallery of 1-3: {', '.join(database.people)}: {len(database)} people, "
                f"{len(database.names)} photos (small enough for FaceNet to greet; at 200 people "
                "its threshold would be ~0.45)"
            )
            print(f"\n1. frames/s at 640x480 ({n_frames} frames of his shot each; load {_load()}):")
            bench_fps(kiosks, videos)

            print(f"\n2. per-stage times (load {_load()}):")
            shot = SHOT[:: 32 if args.quick else 8]  # his shot, scaled into 1080p frames
            hd = {
                k: _read_frames(Path(args.hd) / f"synth1080_{k}.mp4", shot)
                for k in ("single", "tiles")
            }
            bench_stages(kiosks, videos["1 face"][:: 4 if args.quick else 2], hd,
                         10 if args.quick else 30)  # fmt: skip

            print(
                "\n3. time to greet, frames arriving at 25 fps (1 s without a face, then Colin "
                f"Powell; load {_load()}):"
            )
            arrival = arrival_video(lfw, 25, 75)
            bench_latency(kiosks, arrival, 25, 1 if args.quick else 3)
        finally:
            for kiosk in kiosks.values():
                kiosk.close()

        small, one = warm_start_inputs(lfw, tmp)
        print(
            "\n4. python -m greeter warm start to the first processed frame (2 photos enrolled; "
            f"load {_load()}):"
        )
        warm_first = bench_warm_start(args, small, one, tmp, 1 if args.quick else 3)

        print(f"\n5. cold enrolment of {n_photos} LFW photos (issue 18; load {_load()}):")
        photos = lfw_photos(lfw, n_photos)
        rounds = {name: 1 if args.quick or name == "dlib-resnet" else 2 for name in ENCODERS}
        bench_enrolment(kiosks, args, photos, one, tmp, 20 if args.quick else 100, warm_first,
                        rounds)  # fmt: skip

    print(
        f"\nload average at end {_load()}; bench took {started.wall:.0f} s "
        f"(CPU time of this process: {time.process_time():.0f} s)"
    )


if __name__ == "__main__":
    main()
