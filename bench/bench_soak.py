"""Soak test: the greeter on a looping video for many minutes; memory and greetings measured.

    FACENET_SHARED=../shared FACENET_WEIGHTS=../shared/weights-aligned/nn4.small2.v1.h5 \\
        python bench/bench_soak.py --minutes 30

Runs the real command (``python -m greeter --video CLIP --loop --headless --no-speech``)
on the shared Hamilton clip (9 s; Lin-Manuel Miranda frontal from 2.7 s to 7.0 s) with an
images folder holding only ``lin-manuel-miranda.png``, and samples the greeter process's
resident memory (RSS, from /proc) once at start and then every minute. Prints:

1. RSS at start and at the end, and the growth in percent (goal: < 5 %);
2. greetings against cooldown windows: a video file is read as fast as it is processed,
   so Lin appears once per loop of the clip; with a cooldown of C seconds each greeting
   must come at least C s after the previous one (at most one per window) and at most
   C + one loop later (none missed). The naive expectation, a greeting at every
   appearance, is printed next to it as the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP_FRAMES = 275  # short_hamilton_clip.mp4: 9.2 s at 29.97 fps
LIN_FROM = 82  # first frame of Lin-Manuel Miranda's frontal segment (the shots CSV)


def _rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _events(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _seconds(event: dict) -> float:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S%z").timestamp()


def main(argv: list[str] | None = None) -> int:
    shared = Path(os.environ.get("FACENET_SHARED", REPO.parent / "shared"))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="soak length (default 30)")
    p.add_argument("--cooldown", type=float, default=60.0, help="greeter cooldown, s (default 60)")
    p.add_argument("--video", type=Path, default=shared / "data/video/short_hamilton_clip.mp4")
    p.add_argument("--photo", type=Path, default=shared / "data/video/lin-manuel-miranda.png")
    p.add_argument("--weights", default=os.environ.get("FACENET_WEIGHTS"))
    p.add_argument(
        "--encoder", default="dlib-resnet", help="the greeter's encoder (default dlib-resnet)"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="a fixed greeter threshold (default: none, the encoder's impostor curve sets it "
        "for the gallery, as on a kiosk)",
    )
    p.add_argument("--sample", type=float, default=60.0, help="seconds between RSS samples")
    args = p.parse_args(argv)
    for path in (args.video, args.photo):
        if not path.is_file():
            p.error(f"{path}: not found; set FACENET_SHARED to the folder holding data/")

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        (work / "images").mkdir()
        (work / "images" / "Lin-Manuel_Miranda.png").write_bytes(args.photo.read_bytes())
        log = work / "events.jsonl"
        cmd = [
            sys.executable,
            "-m",
            "greeter",
            "--video",
            str(args.video),
            "--loop",
            "--headless",
            "--no-speech",
            "--images",
            str(work / "images"),
            "--log",
            str(log),
            "--cache",
            str(work / "cache"),
            "--db",
            f"sqlite:///{work / 'library.db'}",  # never the user's own library
            "--state",
            str(work / "state"),
            "--cooldown",
            str(args.cooldown),
            "--encoder",
            args.encoder,
        ]
        if args.threshold is not None:
            cmd += ["--threshold", str(args.threshold)]
        if args.weights:
            cmd += ["--weights", args.weights]
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GREETER_CONFIG": "",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        with (work / "stderr.txt").open("w") as err:
            greeter = subprocess.Popen(
                cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=err
            )
        try:
            while not any(e["event"] == "start" for e in _events(log)):
                if greeter.poll() is not None:
                    print((work / "stderr.txt").read_text()[-3000:], file=sys.stderr)
                    return 1
                time.sleep(0.5)
            started = time.monotonic()
            samples = [(0.0, _rss_mb(greeter.pid))]
            print(f"started; RSS {samples[0][1]:.0f} MB", flush=True)
            end = started + args.minutes * 60
            while time.monotonic() < end and greeter.poll() is None:
                time.sleep(min(args.sample, end - time.monotonic()))
                if greeter.poll() is None:
                    samples.append((time.monotonic() - started, _rss_mb(greeter.pid)))
                    print(
                        f"  {samples[-1][0] / 60:5.1f} min  RSS {samples[-1][1]:.0f} MB", flush=True
                    )
            alive = greeter.poll() is None
            greeter.send_signal(signal.SIGTERM)
            code = greeter.wait(timeout=120)
        finally:
            if greeter.poll() is None:
                greeter.kill()
        events = _events(log)
    frames = max((e.get("frame", 0) for e in events), default=0)  # the last frame logged
    return _report(args, samples, events, alive, code, frames)


def _report(args, samples, events, alive, code, frames) -> int:
    start = next(_seconds(e) for e in events if e["event"] == "start")
    greetings = [_seconds(e) - start for e in events if e["event"] == "greeting"]
    errors = [e for e in events if e["event"] == "error"]
    first, last = samples[0][1], samples[-1][1]
    growth = 100 * (last - first) / first
    print(
        f"\nsoak {args.minutes:g} min, {args.encoder}, cooldown {args.cooldown:g} s; greeter "
        f"alive to the end: {alive}; exit status after SIGTERM: {code}; error events: {len(errors)}"
    )
    print(
        f"RSS: start {first:.0f} MB, end {last:.0f} MB, peak {max(r for _, r in samples):.0f}"
        f" MB; growth {growth:+.1f} % (goal < 5 %)"
    )
    gaps = [b - a for a, b in itertools.pairwise(greetings)]
    print(f"greetings: {len(greetings)}", end="")
    if gaps:
        print(
            f"; gaps between greetings {min(gaps):.0f}..{max(gaps):.0f} s "
            f"(at least the cooldown {args.cooldown:g} s: {min(gaps) >= args.cooldown - 1})"
        )
    else:
        print()
    span = samples[-1][0]
    if greetings:
        windows = int(span // args.cooldown)
        per_window = [
            sum(
                1
                for g in greetings
                if k * args.cooldown <= g - greetings[0] < (k + 1) * args.cooldown
            )
            for k in range(windows)
        ]
        print(f"greetings per {args.cooldown:g}-s window from the first greeting: {per_window}")
    if frames:
        loops = frames / CLIP_FRAMES
        period = span / loops  # seconds per loop of the clip at the measured speed
        appearances = (frames - LIN_FROM) // CLIP_FRAMES + 1 if frames > LIN_FROM else 0
        print(
            f"{frames} frames processed = {loops:.1f} loops of the clip ({frames / span:.1f} "
            f"fps; Lin appears once per loop, every {period:.0f} s): {appearances} "
            f"appearances, {len(greetings)} greetings; without the cooldown every matched "
            f"frame of every appearance would be due"
        )
        if gaps:
            print(
                f"no appearance missed after a cooldown (every gap <= cooldown + one loop, "
                f"{args.cooldown + period:.0f} s): {max(gaps) <= args.cooldown + period + 1}"
            )
    return 0 if alive and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
