"""``facenet-align``: write the aligned 96x96 face crop of each photo, as the weights expect.

    facenet-align photos/ extra.jpg --out aligned/              # one face per photo
    facenet-align group.jpg --out aligned/ --all-faces          # group_0.png, group_1.png, ...
    facenet-align photos/ --out aligned/ --detector haar --size 128

Like OpenFace's ``align-dlib.py``: face box -> 68 landmarks -> affine warp of the outer eye
corners and the nose tip onto OpenFace's template (:mod:`fr_utils.align`). A photo file
gives ``OUT/<stem>.png``; a folder is searched recursively and its sub-folders are kept
(``OUT/<sub/folder>/<stem>.png``). With ``--all-faces`` every face is written, as
``<stem>_<k>.png`` (``k`` from 0, largest face first). Each file is written atomically.

Exit codes: 0 when every input was processed (a photo without a face is reported on
stderr, not an error); 1 when some photo could not be read or its crop not written
(the others are still done); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from fr_utils._files import atomic_path
from fr_utils.cli import USER_ERROR
from fr_utils.database import list_photos
from fr_utils.preprocess import ImageError

PROG = "facenet-align"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write the 68-landmark-aligned face crop of each photo (PNG, BGR as read).",
        epilog="Exit codes: 0 every input processed (photos without a face are reported), "
        "1 some photo unreadable or not written, 2 bad arguments.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders")
    parser.add_argument("--out", required=True, type=Path, help="folder for the aligned PNGs")
    parser.add_argument(
        "--detector",
        choices=("dlib", "haar"),
        default="dlib",
        help="face boxes from dlib's HOG detector (what the landmark model was trained on) or "
        "OpenCV's Haar cascade (landmarks move a little) (default: dlib)",
    )
    parser.add_argument(
        "--size", type=int, default=96, help="side of the crop, pixels (default: 96)"
    )
    parser.add_argument(
        "--upsample",
        type=int,
        default=0,
        choices=(0, 1, 2),
        help="dlib: times the image is doubled before detection (finds smaller faces, slower) "
        "(default: 0)",
    )
    parser.add_argument(
        "--all-faces", action="store_true", help="write every face, as <stem>_<k>.png"
    )
    parser.add_argument(
        "--no-upscale",
        action="store_true",
        help="do not enlarge photos whose shorter side is below 320 px before detection",
    )
    return parser


def _photos(inputs: list[str], out: Path) -> list[tuple[Path, Path]]:
    """``(photo, output path without suffix)`` for every input; ``ValueError`` for a missing one."""
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            for _, photo in list_photos(item, recursive=True):
                found.append((photo, out / photo.relative_to(item).parent / photo.stem))
        elif item.is_file():
            found.append((item, out / item.stem))
        else:
            raise ValueError(f"{item}: no such file or folder. Check the path.")
    return found


def _write_png(path: Path, crop) -> None:
    ok, data = cv2.imencode(".png", crop)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise OSError(f"{path}: OpenCV could not encode the crop as PNG")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def main(argv: list[str] | None = None) -> int:
    """Run ``facenet-align`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse: --help (0) or bad flags (2)
        return int(stop.code or 0)
    if args.size < 16:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: --size must be at least 16. Received: {args.size}", file=sys.stderr)
        return USER_ERROR
    if args.out.exists() and not args.out.is_dir():
        print(f"{PROG}: error: --out {args.out} exists and is not a folder.", file=sys.stderr)
        return USER_ERROR
    try:
        photos = _photos(args.inputs, args.out)
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return USER_ERROR
    if not photos:
        print(f"{PROG}: no photos found in {', '.join(args.inputs)}", file=sys.stderr)
        return 0

    from fr_utils.align import UPSCALE_TO, DlibDetector, FaceAligner, align_faces, dlib_like_box
    from fr_utils.faces import HaarDetector, NoFaceFound

    if args.detector == "dlib":
        detector = DlibDetector(upsample=args.upsample)
    else:
        haar = HaarDetector()

        def detector(image):  # Haar boxes reframed as dlib frames faces (the predictor's input)
            return np.array([dlib_like_box(box) for box in haar(image)], dtype=int).reshape(-1, 4)

    aligner = FaceAligner(size=args.size)
    upscale_to = 1 if args.no_upscale else UPSCALE_TO  # 1: never enlarge, still refuse tiny
    written, no_face, failed, claimed = 0, 0, 0, {}
    for photo, stem in photos:
        try:
            faces = align_faces(photo, detector, aligner, upscale_to=upscale_to)
            if not faces:
                raise NoFaceFound(
                    f"{photo}: no face found. Use a frontal, well-lit photo "
                    "(or --upsample 1 for small faces)."
                )
            if not args.all_faces:
                targets = [(stem.with_name(stem.name + ".png"), faces[0][1])]
            else:
                targets = [
                    (stem.with_name(f"{stem.name}_{k}.png"), crop)
                    for k, (_, crop) in enumerate(faces)
                ]
            for target, crop in targets:
                if target in claimed:
                    raise ValueError(
                        f"{photo}: its output {target} is already written for {claimed[target]}; "
                        "rename one of them or align them into different folders."
                    )
                claimed[target] = photo
                _write_png(target, crop)
                written += 1
        except NoFaceFound as err:  # FaceTooSmall included
            no_face += 1
            print(f"{PROG}: {err}", file=sys.stderr)
        except (ImageError, ValueError, OSError) as err:
            failed += 1
            print(f"{PROG}: skipped {err}", file=sys.stderr)
    print(
        f"{PROG}: {written} aligned face(s) from {len(photos)} photo(s) written to {args.out}; "
        f"{no_face} without a face, {failed} failed."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
