"""What 68-landmark alignment costs per frame, and what a Haar box does to it.

(a) Per-stage times on a 640x480 frame with one face (a frame of the Hamilton clip,
    letterboxed): dlib HOG detection (upsample 0 and 1), the greeter's Haar detection on
    a 320-wide copy, landmarks + warp per face, encoding one crop and a flip pair.
(b) On ~200 LFW photos: the shape predictor run inside the Haar box instead of dlib's
    box. How far landmarks 36/45/33 move (pixels of the 96x96 aligned crop) and how far
    the encodings move (plain L2), beside the old Haar-offset crop (the naive way) and
    a Haar box corrected towards dlib's framing (fitted on half the photos, measured on
    the other half).

    FACENET_SHARED=../shared FACENET_WEIGHTS=../shared/weights-aligned/nn4.small2.v1.h5 \\
        .venv/bin/python bench/bench_align.py [--photos 200]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from fr_utils.align import TEMPLATE, DlibDetector, FaceAligner, alignment_matrix
from fr_utils.faces import OPENFACE_HAAR_CROP, HaarDetector, crop_face
from greeter.detector import FrameDetector


def _median_ms(fn, repeat):
    fn()  # warm (loads models, traces)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _frame(video):
    """A 640x480 frame with exactly one face dlib can find (Hamilton clip, medium shot)."""
    capture = cv2.VideoCapture(str(video))
    detector = DlibDetector()
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, 120)
        for _ in range(90):
            ok, frame = capture.read()
            if not ok:
                break
            top = (480 - frame.shape[0]) // 2
            framed = cv2.copyMakeBorder(
                frame, top, 480 - frame.shape[0] - top, 0, 0, cv2.BORDER_CONSTANT
            )
            if framed.shape[:2] == (480, 640) and len(detector(framed)) == 1:
                return framed
    finally:
        capture.release()
    raise SystemExit(f"{video}: no frame with exactly one face found")


def _iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _corrected(box, fit):
    x, y, w, _ = box
    dx, dy, scale = fit
    return np.array([x + dx * w, y + dy * w, scale * w, scale * w])


def stage_times(shared, model, repeat):
    from fr_utils.encoding import encode_faces

    frame = _frame(shared / "data" / "video" / "short_hamilton_clip.mp4")
    aligner = FaceAligner()
    dlib0, dlib1, haar = DlibDetector(upsample=0), DlibDetector(upsample=1), FrameDetector(320)
    box = dlib0(frame)[0]
    crop = aligner.align(frame, box)
    rows = {
        "dlib HOG detect, upsample 0 (640x480)": _median_ms(lambda: dlib0(frame), repeat),
        "dlib HOG detect, upsample 1 (640x480)": _median_ms(lambda: dlib1(frame), repeat),
        "Haar detect on a 320-wide copy (greeter)": _median_ms(lambda: haar(frame), repeat),
        "landmarks + warp, one face": _median_ms(lambda: aligner.align(frame, box), repeat),
        "Haar-offset crop, one face (old)": _median_ms(
            lambda: crop_face(frame, box, OPENFACE_HAAR_CROP), repeat
        ),
        "encode one crop": _median_ms(lambda: encode_faces([crop], model), repeat),
        "encode crop + mirror (flip-average)": _median_ms(
            lambda: encode_faces([crop, crop[:, ::-1]], model), repeat
        ),
    }
    print(f"(a) per-stage times, median of {repeat}, 640x480 frame, face {box[2]}x{box[3]} px")
    for name, ms in rows.items():
        print(f"    {name:<42} {ms:7.1f} ms")
    align, enc1, enc2 = (
        rows["landmarks + warp, one face"],
        rows["encode one crop"],
        rows["encode crop + mirror (flip-average)"],
    )
    print("    whole frame (detect + align + encode), frames/s:   single   flip-average")
    for name in list(rows)[:3]:
        single, flip = rows[name] + align + enc1, rows[name] + align + enc2
        print(f"    {name[:40]:<42} {1000 / single:6.1f}   {1000 / flip:6.1f}")
    ratio = rows["dlib HOG detect, upsample 0 (640x480)"] / rows[list(rows)[2]]
    print(f"    dlib (upsample 0) detection costs {ratio:.1f}x the greeter's Haar detection")
    return rows


def haar_vs_dlib(lfw, model, count):
    from fr_utils.encoding import encode_faces

    paths = sorted(lfw.glob("*/*.jpg"))
    paths = paths[:: max(1, len(paths) // count)][:count]
    dlib_detect, haar_detect = DlibDetector(order="centre"), HaarDetector(order="centre")
    aligner = FaceAligner()
    cases = []
    for path in paths:
        image = cv2.imread(str(path))
        dboxes, hboxes = dlib_detect(image), haar_detect(image)
        if len(dboxes) and len(hboxes) and _iou(dboxes[0], hboxes[0]) > 0.3:
            cases.append((image, dboxes[0], hboxes[0]))
    print(f"(b) Haar box vs dlib box: {len(cases)} of {len(paths)} LFW photos with both faces")
    # Haar -> dlib framing, fitted on the even photos: offsets and size relative to Haar's w
    fit_cases = cases[::2]
    fit = tuple(
        float(np.median([f(d, h) for _, d, h in fit_cases]))
        for f in (
            lambda d, h: (d[0] - h[0]) / h[2],
            lambda d, h: (d[1] - h[1]) / h[2],
            lambda d, h: d[2] / h[2],
        )
    )
    target = 96 * TEMPLATE
    moved = {"haar": [], "haar-corrected": []}
    crops = {"dlib": [], "haar": [], "haar-corrected": [], "haar-offset crop (old)": []}
    for index, (image, dbox, hbox) in enumerate(cases):
        reference = aligner.landmarks(image, dbox)
        matrix = alignment_matrix(reference, 96)
        crops["dlib"].append(aligner.align_landmarks(image, reference))
        crops["haar-offset crop (old)"].append(crop_face(image, hbox, OPENFACE_HAAR_CROP))
        for name, box in (("haar", hbox), ("haar-corrected", _corrected(hbox, fit))):
            points = aligner.landmarks(image, box)
            crops[name].append(aligner.align_landmarks(image, points))
            if name == "haar" or index % 2:  # corrected: only photos the fit did not see
                mapped = points[[36, 45, 33]] @ matrix[:, :2].T + matrix[:, 2]
                moved[name].append(np.linalg.norm(mapped - target, axis=1))
    print(
        f"    Haar->dlib framing fitted on {len(fit_cases)} photos: x += {fit[0]:+.3f} w, "
        f"y += {fit[1]:+.3f} w, side = {fit[2]:.3f} w"
    )
    print("    landmarks 36/45/33 moved, px in the 96x96 crop:   mean   median   95 %   max")
    for name, values in moved.items():
        values = np.concatenate(values)
        print(
            f"      {name:<44} {values.mean():5.2f}  {np.median(values):6.2f}  "
            f"{np.percentile(values, 95):5.2f}  {values.max():5.2f}"
        )
    encodings = {name: encode_faces(faces, model) for name, faces in crops.items()}
    odd = np.arange(len(cases)) % 2 == 1
    print("    encoding moved from the dlib-box crop, plain L2:  median   95 %    max  (n)")
    for name in ("haar", "haar-corrected", "haar-offset crop (old)"):
        distances = np.linalg.norm(encodings[name] - encodings["dlib"], axis=1)
        if name == "haar-corrected":
            distances = distances[odd]
        print(
            f"      {name:<44} {np.median(distances):6.3f}  {np.percentile(distances, 95):6.3f} "
            f"{distances.max():6.3f}  ({len(distances)})"
        )
    print(
        "    for scale: same-person median distance 0.74, greeter threshold 0.84 / 0.81 "
        "(weights-aligned README)"
    )
    return fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200, help="LFW photos for (b)")
    parser.add_argument("--repeat", type=int, default=30, help="timing repeats for (a)")
    parser.add_argument("--weights", default=os.environ.get("FACENET_WEIGHTS"))
    parser.add_argument("--shared", default=os.environ.get("FACENET_SHARED"))
    args = parser.parse_args(argv)
    if not args.weights or not args.shared:
        parser.error("set FACENET_WEIGHTS and FACENET_SHARED (or pass --weights/--shared)")
    from fr_utils.model import load_model

    model, path = load_model(args.weights)
    print(f"weights: {path}; CPU threads available: {os.cpu_count()}")
    shared = Path(args.shared)
    stage_times(shared, model, args.repeat)
    haar_vs_dlib(shared / "data" / "lfw" / "images", model, args.photos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
