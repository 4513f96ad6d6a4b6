"""Encoder runtimes side by side: Keras ``model.predict``, TensorFlow ``tf.function``, LiteRT.

    FACENET_WEIGHTS=../shared/weights-aligned/nn4.small2.v1.h5 \\
        python bench/bench_runtimes.py --lfw ../shared/data/lfw/images

One run prints, for each runtime: faces/s on batches of 64, the latency of one face,
and the ratio to ``model.predict``; then the greeter's warm start to its first processed
frame with each runtime (``bench_greeter.bench_warm_start``; goal <= 1.5 s with LiteRT).
It first exports LiteRT models into a temporary
folder, calibrated on ``--calibration`` LFW faces, then measures how far LiteRT moves
the embeddings of ``--evaluate`` *other* LFW faces (per face: plain L2 between its Keras
and LiteRT embedding; per pair: change of the plain-L2 distance). Faces are cropped by
:func:`fr_utils.litert_export.face_pipeline` (68-landmark alignment when available).
Goals on a 2-core machine (issue 14): int8 >= 1,200 faces/s and <= 1.5 ms per face.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fr_utils.database import list_photos
from fr_utils.litert import LiteRTEncoder, read_manifest
from fr_utils.litert_export import calibration_faces, export_litert


def _rate(call, batch: np.ndarray, seconds: float) -> tuple[float, float]:
    """``(faces/s, CPU ms per face)`` of ``call(batch)``, after one warm-up call, over
    >= ``seconds``. CPU time (all threads of this process) barely moves when other
    processes load the machine; wall-clock faces/s does."""
    call(batch)
    runs, start, cpu = 0, time.perf_counter(), time.process_time()
    while runs < 2 or time.perf_counter() - start < seconds:
        call(batch)
        runs += 1
    faces = runs * len(batch)
    return faces / (time.perf_counter() - start), 1e3 * (time.process_time() - cpu) / faces


def _shift(reference: np.ndarray, other: np.ndarray) -> str:
    per_face = np.linalg.norm(reference - other, axis=1)
    rows = np.triu_indices(len(reference), 1)
    d_ref = np.linalg.norm(reference[:, None] - reference[None], axis=2)[rows]
    d_other = np.linalg.norm(other[:, None] - other[None], axis=2)[rows]
    pair = np.abs(d_ref - d_other)
    return (
        f"per face mean {per_face.mean():.4f} p99 {np.percentile(per_face, 99):.4f} "
        f"max {per_face.max():.4f} | per pair ({len(pair)}) mean {pair.mean():.4f} "
        f"p99 {np.percentile(pair, 99):.4f} max {pair.max():.4f}"
    )


def _int8_input_variant(model, faces: np.ndarray, threads: int):
    """The int8 model with an int8 *input* tensor (quantised here with numpy): compare."""
    from ai_edge_litert.interpreter import Interpreter

    from fr_utils._tf import tf

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: ([f[None]] for f in faces)
        converter.inference_input_type = tf.int8
        blob = converter.convert()
    interpreter = Interpreter(model_content=blob, num_threads=threads)
    detail = interpreter.get_input_details()[0]
    scale, zero = detail["quantization"]
    output = interpreter.get_output_details()[0]["index"]
    state = {"n": None}

    def run(batch):
        x = np.clip(np.round(batch / scale + zero), -128, 127).astype(np.int8)
        if state["n"] != len(x):
            interpreter.resize_tensor_input(detail["index"], x.shape)
            interpreter.allocate_tensors()
            state["n"] = len(x)
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None, help="default: $FACENET_WEIGHTS")
    shared = os.environ.get("FACENET_SHARED", "../shared")
    parser.add_argument("--lfw", default=f"{shared}/data/lfw/images", help="LFW images folder")
    parser.add_argument("--calibration", type=int, default=300, help="calibration faces")
    parser.add_argument("--evaluate", type=int, default=500, help="other faces to compare on")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--out", default=None, help="keep the export here (default: temporary)")
    parser.add_argument(
        "--litert",
        default=None,
        help="reuse this export (no calibration crop, no export); with --evaluate 0 only "
        "the speeds are measured",
    )
    parser.add_argument(
        "--warm-starts",
        type=int,
        default=2,
        help="measured greeter warm starts per runtime (0: none)",
    )
    args = parser.parse_args()

    from fr_utils._tf import keras, tf
    from fr_utils.encoding import encode_batch
    from fr_utils.model import load_model
    from fr_utils.weights import weights_fingerprint

    model, weights = load_model(args.weights)
    fingerprint = weights_fingerprint(weights)
    photos = [path for _, path in list_photos(args.lfw, recursive=True)]
    photos = [photos[i] for i in np.random.default_rng(0).permutation(len(photos))]
    start = time.perf_counter()
    n_cal = 0 if args.litert else args.calibration
    wanted = n_cal + args.evaluate
    cropped = calibration_faces(photos[: int(wanted * 1.1) + 20], limit=max(wanted, 1))
    calibration, evaluation = cropped.faces[:n_cal], cropped.faces[n_cal:wanted]
    print(
        f"cropped {len(cropped.faces)} LFW faces ({cropped.aligner}, "
        f"{len(cropped.skipped)} photos skipped) in {time.perf_counter() - start:.0f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.litert or args.out or tmp)
        if not args.litert:
            start = time.perf_counter()
            manifest = export_litert(model, out, calibration, fingerprint, cropped.aligner)
            print(f"exported to {out} in {time.perf_counter() - start:.0f} s")
        else:
            manifest = read_manifest(out)
        for name, entry in manifest["models"].items():
            a = entry["agreement_with_keras"]
            print(
                f"  {name}: {entry['bytes'] / 1e6:.1f} MB; on its {a['faces']} calibration "
                f"faces: mean {a['mean']:.4f} p99 {a['p99']:.4f} max {a['max']:.4f}"
            )
        float32 = LiteRTEncoder(out, "float32", args.threads, fingerprint)
        int8 = LiteRTEncoder(out, "int8", args.threads, fingerprint)

        if len(evaluation):
            reference = encode_batch(evaluation, model)
            print(f"\nagreement with Keras on {len(evaluation)} other LFW faces (plain L2):")
            print(f"  float32: {_shift(reference, float32.encode_batch(evaluation))}")
            print(f"  int8:    {_shift(reference, int8.encode_batch(evaluation))}")

        faces = cropped.faces
        batch = np.resize(faces, (64, *faces.shape[1:])) if len(faces) else None
        if batch is None:
            batch = np.random.default_rng(0).random((64, 3, 96, 96), np.float32)
        one = batch[:1]
        runtimes = {
            "Keras model.predict": lambda x: model.predict(x, batch_size=64, verbose=0),
            "TensorFlow tf.function (encode_batch)": lambda x: encode_batch(x, model),
            "LiteRT float32": float32.encode_batch,
            "LiteRT int8 (LiteRTEncoder)": int8.encode_batch,
            "LiteRT int8, int8 input (variant)": _int8_input_variant(model, batch, args.threads),
        }
        print(
            f"\nspeed ({args.threads} threads, TF {tf.__version__}, Keras {keras.__version__}, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at start):"
        )
        print(
            f"  {'runtime':38s} {'faces/s (64)':>12s} {'CPU ms/face':>11s} {'one face':>9s} "
            f"{'CPU ms':>7s} {'ratio':>6s}"
        )
        base = None
        for name, call in runtimes.items():
            rate, cpu = _rate(call, batch, args.seconds)
            one_rate, one_cpu = _rate(call, one, args.seconds)
            base = base or rate
            print(
                f"  {name:38s} {rate:12.0f} {cpu:11.2f} {1e3 / one_rate:6.2f} ms {one_cpu:7.2f} "
                f"{rate / base:5.1f}x"
            )
        print("goals: LiteRT int8 >= 1,200 faces/s and <= 1.5 ms per face")
        if args.warm_starts:
            from bench_greeter import bench_warm_start, warm_start_inputs  # bench/ is on sys.path

            print(
                "\ngreeter warm start (python -m greeter, store filled, one-frame video), "
                "first frame / process total:"
            )
            images, video = warm_start_inputs(Path(args.lfw), Path(tmp))
            bench_warm_start(out, weights, images, video, Path(tmp), args.warm_starts)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
