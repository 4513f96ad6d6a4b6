"""Speed of fr_utils against the naive way, measured in the same run.

    python bench/bench_fr_utils.py [--weights W.h5] [--csv CSV_DIR]

Weights: ``--weights`` or ``$FACENET_WEIGHTS``; the CSV folder for the load-time
comparison: ``--csv`` or ``$FACENET_SHARED/weights/nn4.small2.v1``. Prints one
table: goal, measured, pass. Timings are medians (wall clock, ``perf_counter``).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from fr_utils.database import FaceDatabase
from fr_utils.encoding import encode_batch, img_to_encoding
from fr_utils.model import load_model
from fr_utils.weights import (
    HDF5_NAME,
    load_weights_from_FaceNet,
    read_weights,
    resolve_weights,
    tensor_shapes,
)


def _median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _unit_rows(rng, n):
    x = rng.standard_normal((n, 128), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bench_single(model, rng, repeats):
    face = rng.random((1, 3, 96, 96), dtype=np.float32)
    bgr = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    fast = _median_time(lambda: encode_batch(face, model), repeats, warmup=3)
    with_pre = _median_time(lambda: img_to_encoding(bgr, model), repeats, warmup=1)
    naive = _median_time(lambda: model.predict(face, verbose=0), max(5, repeats // 5), warmup=2)
    return fast, with_pre, naive


def bench_batch(model, rng, n_faces, batch_sizes):
    faces = rng.random((n_faces, 3, 96, 96), dtype=np.float32)
    rates = {}
    for bs in batch_sizes:
        t = _median_time(lambda bs=bs: encode_batch(faces, model, batch_size=bs), 2, warmup=1)
        rates[bs] = n_faces / t
    return rates


def bench_load(model, h5, csv_dir):
    shapes = tensor_shapes(model)
    h5_time = _median_time(lambda: load_weights_from_FaceNet(model, h5), 5)
    h5_read = _median_time(lambda: read_weights(resolve_weights(h5), shapes), 5)
    csv_time = _median_time(lambda: load_weights_from_FaceNet(model, csv_dir), 2, warmup=0)
    load_weights_from_FaceNet(model, h5)  # leave the weights under test loaded
    return h5_time, h5_read, csv_time


def bench_match(rng, n, repeats):
    rows = _unit_rows(rng, n)
    names = [f"person_{i}" for i in range(n)]
    db = FaceDatabase(names, rows)
    query = _unit_rows(rng, 1)
    fast = _median_time(lambda: db.nearest(query), repeats, warmup=2)
    course_db = {name: row[None] for name, row in zip(names, rows)}

    def course_loop():  # the course's who_is_it loop
        min_dist, identity = 100, None
        for name, db_enc in course_db.items():
            dist = np.linalg.norm(query - db_enc)
            if dist < min_dist:
                min_dist, identity = dist, name
        return identity

    loop = _median_time(course_loop, 1, warmup=0)
    norm = _median_time(lambda: np.argmin(np.linalg.norm(rows - query, axis=1)), repeats)
    assert course_loop() == db.nearest(query)[0]
    return fast, loop, norm


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--weights",
        default=os.environ.get("FACENET_WEIGHTS"),
        help="HDF5 file or CSV folder (default: $FACENET_WEIGHTS)",
    )
    shared = os.environ.get("FACENET_SHARED")
    parser.add_argument(
        "--csv",
        default=shared and str(Path(shared) / "weights-aligned" / "nn4.small2.v1"),
        help="CSV folder for the load-time comparison "
        "(default: $FACENET_SHARED/weights/nn4.small2.v1)",
    )
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per fast measurement")
    parser.add_argument("--faces", type=int, default=512, help="faces in the batch measurement")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--database-size", type=int, default=100_000)
    args = parser.parse_args(argv)
    if not args.weights:
        parser.error("give --weights or set FACENET_WEIGHTS")

    rng = np.random.default_rng(0)
    model, weights = load_model(args.weights)
    print(
        f"weights: {weights}; {os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    rows = []  # (measure, goal, measured, passed)
    fast, with_pre, naive = bench_single(model, rng, args.repeats)
    rows += [
        (
            "single face, encode_batch N=1 (tf.function)",
            "<= 8 ms",
            f"{fast * 1e3:.2f} ms",
            fast <= 0.008,
        ),
        ("single face, img_to_encoding (96x96 BGR)", "-", f"{with_pre * 1e3:.2f} ms", None),
        ("single face, model.predict (naive)", "-", f"{naive * 1e3:.1f} ms", None),
        ("  speed-up vs model.predict", ">= 15x", f"{naive / fast:.1f}x", naive / fast >= 15),
    ]
    rates = bench_batch(model, rng, args.faces, args.batch_sizes)
    best = max(rates, key=rates.get)
    for bs, rate in rates.items():
        rows.append(
            (
                f"batch of {args.faces}, batch_size={bs}",
                ">= 400 faces/s" if bs == best else "-",
                f"{rate:.0f} faces/s",
                rate >= 400 if bs == best else None,
            )
        )

    if args.csv and Path(args.csv).is_dir():
        h5 = weights if weights.suffix == ".h5" else None
        if h5 is None and Path(args.csv).parent.joinpath(HDF5_NAME).is_file():
            h5 = Path(args.csv).parent / HDF5_NAME
        if h5 is not None:
            h5_time, h5_read, csv_time = bench_load(model, h5, args.csv)
            rows += [
                ("load HDF5 (read + assign)", "-", f"{h5_time:.3f} s", None),
                ("  of which reading the file", "-", f"{h5_read:.3f} s", None),
                ("load CSV folder (naive)", "-", f"{csv_time:.3f} s", None),
                (
                    "  HDF5 speed-up vs CSV",
                    ">= 10x",
                    f"{csv_time / h5_time:.1f}x",
                    csv_time / h5_time >= 10,
                ),
            ]
        else:
            print("load time: skipped (no HDF5 file to compare)")
    else:
        print("load time: skipped (give --csv or set FACENET_SHARED)")

    fast, loop, norm = bench_match(rng, args.database_size, args.repeats)
    n = f"{args.database_size:,}"
    rows += [
        (
            f"1:N match, N={n}, FaceDatabase.nearest",
            "<= 5 ms",
            f"{fast * 1e3:.2f} ms",
            fast <= 0.005,
        ),
        (f"1:N match, N={n}, course's python loop", "-", f"{loop * 1e3:.0f} ms", None),
        (f"1:N match, N={n}, np.linalg.norm(all)", "-", f"{norm * 1e3:.2f} ms", None),
        ("  speed-up vs the course's loop", "-", f"{loop / fast:.0f}x", None),
        ("  speed-up vs np.linalg.norm", "-", f"{norm / fast:.1f}x", None),
    ]

    print(
        f"load average after: {os.getloadavg()[0]:.1f} (above the CPU count, other "
        "processes shared the CPUs and the timings are pessimistic)"
    )
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'goal':>15}  {'measured':>15}  pass")
    for measure, goal, measured, passed in rows:
        mark = "" if passed is None else ("yes" if passed else "NO")
        print(f"{measure:<{width}}  {goal:>15}  {measured:>15}  {mark}")
    return 0 if all(r[3] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
