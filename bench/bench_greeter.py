"""Benchmark the greeter on the aligned pipeline, TensorFlow and LiteRT int8 (issues 9 and 14).

    FACENET_SHARED=../shared FACENET_WEIGHTS=../shared/weights-aligned/nn4.small2.v1.h5 \\
        python bench/bench_greeter.py [--quick] [--litert DIR]

Prints, measured in one run (each figure beside its goal, "met" or "MISSED"):

1. greeter frames/s on a 640x480 video with one face: the aligned pipeline
   (``FrameDetector`` -> 68-landmark ``FaceAligner`` -> ``FaceEncoder`` -> vectorised match ->
   greeting logic) on TensorFlow and on LiteRT int8, Haar (default) and dlib detection,
   flip-average and single crop; next to the seed's loop (Haar scaleFactor 1.3 on the full
   frame, the Haar-offset ``crop_face``, ``model.predict`` per face) and the ratio to it.
   Goals: >= 25 fps and >= 3x the seed loop.
2. per-stage times: detection per frame (Haar on a 320-wide copy; dlib HOG on the same copy),
   landmarks + warp per face, encoding per face (TF and LiteRT int8, single and flip).
3. time to greet with frames arriving in real time at 25 fps (late frames dropped, like a
   camera). Goal <= 1 s.
4. ``python -m greeter`` warm start (store already filled) to its first processed frame, per
   runtime, and the process's total (with the interpreter's shutdown). Goal <= 1.5 s (LiteRT).
5. cold enrollment of 1,000 LFW photos (goal <= 20 s): (a) ``fr_utils.photos.encode_photos``
   (detection threads + batched encoding), (b) the greeter's start on a fresh store with an
   images folder of those photos (the store's folder sync: detection threads, batched
   encoding), each on TF and LiteRT; then where the time goes per photo, timed one photo at
   a time (decode, detect, landmarks, encode, DB).

The machine is shared: wall-clock figures move with its load, so CPU time (this process's
threads, ``time.process_time``; for child processes their user + system time) is printed
beside them, and the load average at the start and the end. LiteRT models are exported
once into a temporary folder (int8, calibrated on ~100 aligned LFW faces), or taken from
``--litert DIR``. The default run takes about 6-8 minutes; ``--quick`` about 2.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from fr_utils.align import DlibDetector, FaceAligner, face_crop_from_photo
from fr_utils.database import FaceDatabase, list_photos
from fr_utils.encoding import FaceEncoder, KerasEncoder
from fr_utils.faces import crop_face
from fr_utils.litert import LiteRTEncoder
from fr_utils.litert_export import calibration_faces, export_litert
from fr_utils.model import load_model
from fr_utils.photos import encode_photos
from fr_utils.preprocess import preprocess_image
from fr_utils.weights import weights_fingerprint
from greeter.app import Recognizer
from greeter.detector import FrameDetector
from greeter.tracker import GreetingTracker

REPO = Path(__file__).resolve().parents[1]
THRESHOLD = {True: 0.81, False: 0.84}  # THRESHOLDS.json of weights-aligned: flip / single crop
FPS_GOAL, SEED_RATIO_GOAL, GREET_GOAL, WARM_GOAL, ENROLL_GOAL = 25.0, 3.0, 1.0, 1.5, 20.0
ENROLLED = ("Colin_Powell_0001.jpg", "Colin_Powell_0002.jpg")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


# --------------------------------------------------------------------------- inputs


def _face_video(lfw: Path, path: Path, frames: int, blank_frames: int = 0, fps: float = 25.0):
    """640x480 video: ``blank_frames`` empty frames, then an LFW face (enlarged to 300 px)."""
    still = cv2.imread(str(lfw / "Colin_Powell" / "Colin_Powell_0006.jpg"))
    still = cv2.resize(still, (300, 300))
    blank = np.full((480, 640, 3), 90, np.uint8)
    face = blank.copy()
    face[90:390, 170:470] = still
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for i in range(blank_frames + frames):
        writer.write(blank if i < blank_frames else face)
    writer.release()
    return path


def _read_all(path: Path) -> list:
    cap, frames = cv2.VideoCapture(str(path)), []
    while (frame := cap.read()[1]) is not None:
        frames.append(frame)
    cap.release()
    return frames


def _lfw_photos(lfw: Path, count: int) -> list[Path]:
    """The first ``count`` LFW photos, people in name order (as the old bench took them)."""
    photos = []
    for person in sorted(lfw.iterdir()):
        for photo in sorted(person.iterdir()):
            if len(photos) >= count:
                return photos
            photos.append(photo)
    return photos


def _images_folder(folder: Path, photos: list[Path]) -> Path:
    """An ``images/`` folder (``<person>/<photo>``) of symlinks to ``photos``."""
    for photo in photos:
        (folder / photo.parent.name).mkdir(parents=True, exist_ok=True)
        os.symlink(photo, folder / photo.parent.name / photo.name)
    return folder


# --------------------------------------------------------------------------- 1. frames/s


def _timed(step, frames) -> tuple[float, float, int]:
    """``(frames/s, CPU ms per frame, faces found)`` of ``step`` over ``frames``."""
    step(frames[0])  # warm-up
    found, t0, cpu = 0, time.perf_counter(), time.process_time()
    for frame in frames:
        found += step(frame)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
    return len(frames) / wall, 1e3 * cpu / len(frames), found


def _pipeline(detector_kind: str, encoder: FaceEncoder, aligner, database, clock=time.monotonic):
    """The greeter's per-frame work: ``step(frame) -> (faces, names due a greeting)``."""
    recognizer = Recognizer(
        FrameDetector(kind=detector_kind), encoder, aligner, THRESHOLD[encoder.flip]
    )
    tracker = GreetingTracker(clock=clock)

    def step(frame):
        faces = recognizer(frame, database)
        return faces, tracker.update([f.name for f in faces if f.known])

    return step


def _seed_step(model, database: FaceDatabase, threshold: float):
    """The seed's loop: Haar(1.3, 5) on the full frame, Haar-offset crop, ``model.predict`` per
    face, a Python scan of the gallery."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    known = {name: database[name][0] for name in database}

    def step(frame):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        names = []
        for box in cascade.detectMultiScale(gray, 1.3, 5):
            enc = model.predict(preprocess_image(crop_face(frame, box))[None], verbose=0)
            dist, who = min((float(np.linalg.norm(enc - e)), n) for n, e in known.items())
            names.append(who if dist < threshold else None)
        return len(names)

    return step


def bench_fps(model, encoders, databases, aligner, frames, seed_frames):
    seed = _seed_step(model, databases["seed"], 0.84)
    seed_fps, seed_cpu, found = _timed(seed, frames[:seed_frames])
    print(
        f"  {'seed loop (Haar 1.3 full frame, crop_face, model.predict)':58s} {seed_fps:6.1f} "
        f"frames/s  CPU {seed_cpu:6.1f} ms/frame (= {1e3 / seed_cpu:5.1f} frames per CPU-second)"
        f"  ({found} faces in {seed_frames} frames)"
    )
    rows = [
        ("TF", "haar", "flip"),
        ("LiteRT int8", "haar", "flip"),
        ("TF", "haar", "single"),
        ("LiteRT int8", "haar", "single"),
        ("TF", "dlib", "flip"),
        ("LiteRT int8", "dlib", "flip"),
    ]
    results = {}
    for runtime, kind, crop in rows:
        key = (runtime, crop)
        step = _pipeline(kind, encoders[key], aligner, databases[key])
        fps, cpu, found = _timed(lambda f, step=step: len(step(f)[0]), frames)
        results[(runtime, kind, crop)] = fps
        ratio = fps / seed_fps
        default = " (greeter default)" if (runtime, kind, crop) == rows[1] else ""
        label = f"aligned, {kind} + landmarks + {runtime} {crop}{default}"
        print(
            f"  {label:58s} {fps:6.1f} frames/s  CPU {cpu:6.1f} ms/frame "
            f"(= {1e3 / cpu:5.1f} frames per CPU-second)  "
            f"({found} faces in {len(frames)} frames); {ratio:.1f}x the seed loop; "
            f"goals >= {FPS_GOAL:.0f} fps: {_verdict(fps >= FPS_GOAL)}, "
            f">= {SEED_RATIO_GOAL:.0f}x: {_verdict(ratio >= SEED_RATIO_GOAL)}"
        )
    return results


# --------------------------------------------------------------------------- 2. stages


def _per_call(call, items, repeat: int = 1) -> tuple[float, float]:
    """``(wall ms, CPU ms)`` per call of ``call(item)``, after one warm-up call."""
    call(items[0])
    n, t0, cpu = 0, time.perf_counter(), time.process_time()
    for _ in range(repeat):
        for item in items:
            call(item)
            n += 1
    return 1e3 * (time.perf_counter() - t0) / n, 1e3 * (time.process_time() - cpu) / n


def bench_stages(encoders, aligner, frames, encode_calls):
    print(f"  {'stage':52s} {'wall ms':>8s} {'CPU ms':>7s}")
    haar, dlib = FrameDetector(kind="haar"), FrameDetector(kind="dlib")
    for label, detector in (
        ("detect per frame: Haar on a 320-wide grey copy", haar),
        ("detect per frame: dlib HOG on a 320-wide grey copy", dlib),
    ):
        wall, cpu = _per_call(detector, frames)
        print(f"  {label:52s} {wall:8.2f} {cpu:7.2f}")
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        wall, cpu = _per_call(FrameDetector(kind="haar"), frames)
    finally:
        cv2.setNumThreads(threads)
    print(f"  {'detect per frame: Haar as above, OpenCV on 1 thread':52s} {wall:8.2f} {cpu:7.2f}")
    boxes = [(frame, box) for frame in frames for box in haar(frame)]
    if not boxes:
        print("  no face detected: no landmark or encoding figures")
        return
    wall, cpu = _per_call(lambda fb: aligner.landmarks(*fb), boxes)
    print(f"  {'landmarks per face (68, dlib predictor, full frame)':52s} {wall:8.2f} {cpu:7.2f}")
    wall, cpu = _per_call(lambda fb: aligner.align(*fb), boxes)
    print(f"  {'landmarks + warp per face (FaceAligner.align)':52s} {wall:8.2f} {cpu:7.2f}")
    crop = aligner.align(*boxes[0])
    for (runtime, kind), encoder in encoders.items():
        wall, cpu = _per_call(lambda c, e=encoder: e([c]), [crop] * encode_calls)
        label = f"encode per face: {runtime} {kind}"
        print(f"  {label:52s} {wall:8.2f} {cpu:7.2f}")


# --------------------------------------------------------------------------- 3. latency


def bench_latency(encoder, aligner, database, frames, face_from: int, fps: float = 25.0):
    """Frames 'arrive' at ``fps`` in real time; the loop always takes the newest one."""
    step = _pipeline("haar", encoder, aligner, database)
    step(frames[0])
    start, processed = time.monotonic(), 0
    while True:
        index = int((time.monotonic() - start) * fps)
        if index >= len(frames):
            return f"no greeting before the video ended ({processed} frames processed)"
        faces, due = step(frames[index])
        processed += 1
        if due:
            latency = time.monotonic() - start - face_from / fps
            return (
                f"greeting queued {latency:.2f} s after the face appeared (frame {index}, "
                f"distance {faces[0].distance:.3f}, confirm-frames 3, {processed} frames "
                f"processed); goal <= {GREET_GOAL:.0f} s: {_verdict(latency <= GREET_GOAL)}"
            )


# --------------------------------------------------------------------------- 4./5. greeter


def greeter_start(
    runtime: str, litert: Path, db: Path, images: Path, video: Path, cache: Path, weights
) -> dict:
    """Run ``python -m greeter`` on a one-frame video. Returns seconds from the spawn to the
    first processed frame (the "frames processed" line, written right after the video's only
    frame), to "running", and to the process's exit, and the child's CPU seconds."""
    cache.mkdir(parents=True, exist_ok=True)
    config = cache / "none.json"
    config.write_text("{}")
    cmd = [
        sys.executable, "-m", "greeter", "--runtime", runtime, "--litert", str(litert),
        "--db", f"sqlite:///{db}", "--images", str(images), "--video", str(video),
        "--headless", "--no-speech", "--cache", str(cache), "--weights", str(weights),
        "--config", str(config),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = {"first": None, "running": None}
    tail = []
    with subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True) as proc:
        for line in proc.stderr:  # the greeter's status lines go through logging, to stderr
            tail = [*tail[-19:], line]
            if out["running"] is None and "running (" in line:
                out["running"] = time.perf_counter() - t0
            if out["first"] is None and "frames processed" in line:
                out["first"] = time.perf_counter() - t0
    out["total"] = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0 or out["first"] is None:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (exit code {proc.returncode}):\n{''.join(tail)}"
        )
    return out


def warm_start_inputs(lfw: Path, tmp: Path) -> tuple[Path, Path]:
    """``(images folder of 2 LFW photos of one person, one-frame 640x480 video of him)``.

    The photos are copied (into ``tmp``), not symlinked: the folder sync keys a photo by its
    resolved path, so a symlinked photo is enrolled again at every start."""
    video = _face_video(lfw, tmp / "one.mp4", 1)
    folder = tmp / "images-small" / "Colin_Powell"
    folder.mkdir(parents=True)
    for name in ENROLLED:
        shutil.copyfile(lfw / "Colin_Powell" / name, folder / name)
    return folder.parent, video


def bench_warm_start(litert, weights, images, video, tmp: Path, runs: int) -> dict:
    """Warm start per runtime: one run fills a fresh store, then ``runs`` measured runs."""
    best = {}
    for runtime in ("tensorflow", "litert"):
        db, cache = tmp / f"warm-{runtime}.db", tmp / f"cache-warm-{runtime}"
        greeter_start(runtime, litert, db, images, video, cache, weights)  # fills the store
        times = [
            greeter_start(runtime, litert, db, images, video, cache, weights) for _ in range(runs)
        ]
        first = min(t["first"] for t in times)
        running = min(t["running"] for t in times if t["running"] is not None)
        best[runtime] = first
        goal = (
            f"goal <= {WARM_GOAL} s: {_verdict(first <= WARM_GOAL)}"
            if runtime == "litert"
            else "(no goal; the LiteRT row is the kiosk's)"
        )
        runs_text = ", ".join(
            f"{t['first']:.2f}/{t['total']:.2f} s (CPU {t['cpu']:.2f} s)" for t in times
        )
        print(
            f"  --runtime {runtime:10s}: first frame {first:.2f} s (best of {runs}; its "
            f"'running' line at {running:.2f} s); "
            f"first frame / process total per run: {runs_text}; {goal}"
        )
    return best


class _Timed:
    """Wraps a callable (or one method of an object) and adds up its wall-clock time."""

    def __init__(self, inner, method=None):
        self.inner, self.method, self.seconds, self.calls = inner, method, 0.0, 0

    def _call(self, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1

    def __call__(self, *args):
        return self._call(self.inner, *args)

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name == self.method:
            return lambda *args: self._call(attr, *args)
        return attr


def sync_breakdown(encoder, photos: list[Path], tmp: Path, label: str) -> None:
    """Where the folder sync's time goes per photo, in this process, on a fresh SQLite store:
    the real ``sync_folder`` with the greeter's enroller, without detection threads (so each
    part can be timed on its own; the greeter overlaps them in threads), parts timed."""
    from greeter.library import Store
    from greeter.library.enroller import Enroller, make_enroller
    from greeter.library.sync import sync_folder

    real = make_enroller(encoder=encoder)
    detector, aligner = _Timed(real.detector), _Timed(real.aligner, "align")
    encode = _Timed(real.encoder)
    enroller = Enroller(encode, detector, aligner, real.model_key, workers=1)
    enroll = _Timed(enroller, "enroll_many")
    folder = _images_folder(tmp / f"sync-{label}", photos)
    store = Store(f"sqlite:///{tmp / f'sync-{label}.db'}")
    try:
        detector(np.zeros((320, 320, 3), np.uint8))  # build this thread's dlib detector
        aligner.inner.predictor  # noqa: B018 (loads the landmark model)
        encoder.warm_up()
        detector.seconds = 0.0
        t0, cpu = time.perf_counter(), time.process_time()
        result = sync_folder(store, folder, enroll)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
    finally:
        store.close()
    n = len(photos)
    read_decode = enroll.seconds - detector.seconds - aligner.seconds - encode.seconds
    db = wall - enroll.seconds
    parts = [
        ("upscale to 320 px", read_decode),
        ("detect (dlib HOG)", detector.seconds),
        ("landmarks + warp", aligner.seconds),
        ("encode (flip, batch of 1)", encode.seconds),
        ("the rest: listing, read, decode, sha256, PNG, SQL", db),
    ]
    text = "; ".join(f"{name} {1e3 * s / n:.1f} ms ({100 * s / wall:.0f} %)" for name, s in parts)
    print(
        f"  {label}: {n} photos in {wall:.1f} s = {1e3 * wall / n:.1f} ms/photo (CPU "
        f"{1e3 * cpu / n:.1f} ms), {len(result.added)} added, {len(result.refused)} refused: {text}"
    )


def bench_enrollment(encoders, litert, weights, photos, video, tmp: Path, breakdown: int, warm):
    n = len(photos)
    print(f"  (a) fr_utils.photos.encode_photos, {n} photos, no cache (dlib detector threads):")
    for runtime in ("TF", "LiteRT int8"):
        t0, cpu = time.perf_counter(), time.process_time()
        result = encode_photos(photos, encoders[(runtime, "flip")], progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
        print(
            f"      {runtime:11s} flip: {wall:5.1f} s ({1e3 * wall / n:.1f} ms/photo, CPU "
            f"{1e3 * cpu / n:.1f} ms/photo; {len(result.encodings)} encoded, "
            f"{len(result.no_face)} without a face); goal <= {ENROLL_GOAL:.0f} s: "
            f"{_verdict(wall <= ENROLL_GOAL)}"
        )
    print(
        f"  (b) python -m greeter on a fresh store with an images folder of the {n} photos "
        "(folder sync: detection threads, batched encoding):"
    )
    folder = _images_folder(tmp / "images-enroll", photos)
    missed = False
    for runtime in ("tensorflow", "litert"):
        db, cache = tmp / f"enroll-{runtime}.db", tmp / f"cache-enroll-{runtime}"
        t = greeter_start(runtime, litert, db, folder, video, cache, weights)
        missed |= t["first"] > ENROLL_GOAL
        sync = t["first"] - warm[runtime]
        print(
            f"      --runtime {runtime:10s}: first frame {t['first']:5.1f} s (minus the warm "
            f"start of 4: {sync:.1f} s = {1e3 * sync / n:.1f} ms/photo), "
            f"process total {t['total']:5.1f} s, "
            f"CPU {t['cpu']:.1f} s; goal <= {ENROLL_GOAL:.0f} s: "
            f"{_verdict(t['first'] <= ENROLL_GOAL)}"
        )
    print(
        f"  (b) where the time goes: the same sync_folder in this process, one photo at a time, "
        f"{breakdown} photos" + (" (b missed its goal)" if missed else "") + ":"
    )
    for runtime in ("TF", "LiteRT int8"):
        sync_breakdown(
            encoders[(runtime, "flip")], photos[:breakdown], tmp, runtime.replace(" ", "-")
        )


# --------------------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=os.environ.get("FACENET_SHARED"), help="$FACENET_SHARED")
    p.add_argument("--weights", default=os.environ.get("FACENET_WEIGHTS"), help="$FACENET_WEIGHTS")
    p.add_argument("--litert", default=None, help="an export to use (default: export now)")
    p.add_argument("--quick", action="store_true", help="fewer frames and photos (~2 min)")
    p.add_argument("--frames", type=int, default=None, help="frames per fps figure (120)")
    p.add_argument("--photos", type=int, default=None, help="LFW photos to enroll (1000)")
    args = p.parse_args(argv)
    if not args.shared or not args.weights:
        p.error("set FACENET_SHARED and FACENET_WEIGHTS (or --shared/--weights)")
    lfw = Path(args.shared) / "data" / "lfw" / "images"
    n_frames = args.frames or (30 if args.quick else 120)
    n_photos = args.photos or (100 if args.quick else 1000)
    seed_frames = max(5, n_frames // 3)
    n_calibration = 32 if args.quick else 100
    breakdown = 20 if args.quick else 100
    started = time.perf_counter()
    print(f"load average at start {_load()} (1/5/15 min) on {os.cpu_count()} CPUs")

    model, weights = load_model(args.weights)
    fingerprint = weights_fingerprint(weights)
    aligner = FaceAligner()
    with tempfile.TemporaryDirectory(prefix="bench-greeter-") as tmp:
        tmp = Path(tmp)
        litert = Path(args.litert) if args.litert else tmp / "litert"
        if not args.litert:
            t0 = time.perf_counter()
            paths = [path for _, path in list_photos(lfw, recursive=True)]
            cal = calibration_faces(
                [paths[i] for i in np.random.default_rng(0).permutation(len(paths))[:200]],
                limit=n_calibration,
            )
            export_litert(model, litert, cal.faces, fingerprint, cal.aligner, ("int8",))
            agreement = json.loads((litert / "litert_manifest.json").read_text())["models"]
            a = agreement["int8"]["agreement_with_keras"]
            print(
                f"exported LiteRT int8 to {litert} in {time.perf_counter() - t0:.0f} s, "
                f"calibrated on {len(cal.faces)} aligned LFW faces (distance to Keras: mean "
                f"{a['mean']:.3f}, p99 {a['p99']:.3f})"
            )
        tf_backend = KerasEncoder(model, weights)
        lite_backend = LiteRTEncoder(litert, "int8", None, fingerprint)
        encoders = {
            (runtime, crop): FaceEncoder(backend, crop == "flip")
            for runtime, backend in (("TF", tf_backend), ("LiteRT int8", lite_backend))
            for crop in ("single", "flip")
        }
        for encoder in encoders.values():
            encoder.warm_up()
        enrolled = [
            face_crop_from_photo(lfw / "Colin_Powell" / f, DlibDetector(), aligner)[0]
            for f in ENROLLED
        ]
        databases = {
            key: FaceDatabase(["Colin Powell"] * len(enrolled), encoder(enrolled))
            for key, encoder in encoders.items()
        }
        seed_faces = []  # the seed's gallery: its own Haar-offset crop of the same photos
        cascade = cv2.CascadeClassifier(
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        )
        for f in ENROLLED:
            image = cv2.imread(str(lfw / "Colin_Powell" / f))
            box = cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1.3, 5)[0]
            seed_faces.append(preprocess_image(crop_face(image, box)))
        databases["seed"] = FaceDatabase(
            ["Colin Powell"] * len(seed_faces), model.predict(np.stack(seed_faces), verbose=0)
        )
        print(f"cv2 threads {cv2.getNumThreads()}, LiteRT threads {lite_backend.num_threads}")

        video = _read_all(_face_video(lfw, tmp / "face.mp4", n_frames))
        print(f"\n1. greeter frames/s, 640x480, one face ({len(video)} frames each):")
        bench_fps(model, encoders, databases, aligner, video, seed_frames)

        print("\n2. per-stage times (faces from the same video):")
        bench_stages(encoders, aligner, video[: max(10, n_frames // 3)], 20 if args.quick else 60)

        print("\n3. time to greet at 25 fps input (1 s of empty frames, then the face; Haar):")
        arrive = _read_all(_face_video(lfw, tmp / "arrive.mp4", 75, blank_frames=25))
        for runtime in ("TF", "LiteRT int8"):
            key = (runtime, "flip")
            text = bench_latency(encoders[key], aligner, databases[key], arrive, 25)
            print(f"  {runtime} flip: {text}")

        small, one = warm_start_inputs(lfw, tmp)
        print("\n4. python -m greeter warm start to the first processed frame (2 photos enrolled):")
        warm = bench_warm_start(litert, weights, small, one, tmp, 1 if args.quick else 3)

        print(f"\n5. cold enrollment of {n_photos} LFW photos:")
        photos = _lfw_photos(lfw, n_photos)
        bench_enrollment(encoders, litert, weights, photos, one, tmp, breakdown, warm)

    print(
        f"\nload average at end {_load()}; bench took {time.perf_counter() - started:.0f} s "
        f"(CPU time of this process: {time.process_time():.0f} s)"
    )


if __name__ == "__main__":
    main()
