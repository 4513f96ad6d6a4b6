"""``facenet-weights``: download, check and convert the FaceNet weights.

    facenet-weights download --dest weights/      # the 226 public CSV files
    facenet-weights check [weights/]              # where, how many, where they come from
    facenet-weights convert weights/ weights/nn4.small2.v1.h5
    facenet-weights export-litert --calibrate faces/   # LiteRT float32 + int8 for a kiosk

``check`` says how many tensors match the public OpenFace files by sha256 and
how many are re-learned or unverified; it calls a set the complete public one only
when every tensor's hash is a known public one (the public hashes of the five largest
kernels are not known here, so it says "5 tensors could not be verified").
"""

import argparse
import sys
from pathlib import Path

from fr_utils._files import CACHE_SOURCES
from fr_utils.cli import default_help, run, summary
from fr_utils.litert import ENV_VAR as LITERT_ENV_VAR
from fr_utils.litert import MANIFEST_NAME, default_litert_dir
from fr_utils.litert_export import (
    MIN_CALIBRATION_FACES,
    RECOMMENDED_CALIBRATION_FACES,
    calibration_faces,
    export_litert,
    import_tensorflow,
)
from fr_utils.weight_files import (
    DEFAULT_BASE_URL,
    UNHASHED_SHAPES,
    convert_csv_to_hdf5,
    download,
    known_hashes,
    provenance,
)
from fr_utils.weights import (
    DEFAULT_SOURCES,
    read_weights,
    resolve_weights,
    tensor_shapes,
    weights_fingerprint,
)


def _shapes():
    # Imported here: only convert and check need the model (and TensorFlow); download does not.
    from fr_utils.model import faceRecoModel

    return tensor_shapes(faceRecoModel())


def _convert(args):
    out = convert_csv_to_hdf5(args.csv_dir, args.out, _shapes())
    print(f"wrote {out}")
    _print_provenance(provenance(out))


def _print_provenance(prov):
    n_known = len(known_hashes())
    print(
        f"public hashes: {len(prov.official)} of the {n_known} tensors with a known public "
        "sha256 match the OpenFace nn4.small2.v1 files"
    )
    print(
        f"re-learned: {len(prov.relearned)}"
        + (f" ({', '.join(prov.relearned)})" if prov.relearned else "")
    )
    print(f"unverified: {len(prov.unverified)} (no known public hash, or it differs)")
    for line in verdict(prov):
        print(line)


def verdict(prov) -> list[str]:
    """The verdict line, then one indented line per reason: never "public" without proof."""
    if prov.is_complete_official:
        return ["verdict: the complete public nn4.small2.v1 set (every tensor's sha256 matches)"]
    unknown = [stem for stem in prov.unverified if stem in UNHASHED_SHAPES]
    differs = [stem for stem in prov.unverified if stem not in UNHASHED_SHAPES]
    lines = [
        f"verdict: {len(prov.not_verified)} tensors could not be verified: "
        "NOT the complete public nn4.small2.v1 set"
    ]
    if prov.relearned:
        lines.append(f"  {len(prov.relearned)} re-learned (marked so beside the weights)")
    if differs:
        lines.append(
            f"  {len(differs)} differ from the public files or carry no hash to compare"
            + (f": {', '.join(differs)}" if len(differs) <= 10 else "")
        )
    if unknown:
        lines.append(
            f"  {len(unknown)} have no known public sha256 ({', '.join(unknown)}): only their "
            "behaviour can tell; with the complete public set notebook 01 gives the course's "
            "distances 0.659 / 0.862"
        )
    return lines


def _check(args):
    path = resolve_weights(args.path)
    shapes = _shapes()
    read_weights(path, shapes)  # raises listing every missing/misshaped tensor or bad hash
    prov = provenance(path)
    total = len(prov.official) + len(prov.relearned) + len(prov.unverified)
    print(f"weights: {path}")
    print(f"tensors: {total} (all {len(shapes)} the model needs are there, with the right sizes)")
    _print_provenance(prov)


def _download(args):
    result = download(
        args.dest, base_url=args.base_url, progress=args.progress, timeout=args.timeout
    )
    print(result.summary())


def _export_litert(args):
    """Load the model, crop calibration faces, export; print what was written and the
    measured agreement."""
    from fr_utils.model import load_model  # here: it imports TensorFlow

    import_tensorflow()  # fail before cropping hundreds of photos
    fingerprint = weights_fingerprint(resolve_weights(args.weights))  # checks they exist
    calibration = calibration_faces(args.calibrate, limit=args.limit)
    if len(calibration.faces) < MIN_CALIBRATION_FACES:
        raise ValueError(
            f"{args.calibrate}: faces found in {len(calibration.faces)} photos "
            f"({len(calibration.skipped)} skipped); calibration needs at least "
            f"{MIN_CALIBRATION_FACES}, {RECOMMENDED_CALIBRATION_FACES} recommended. "
            "Give a folder with more face photos."
        )
    model, weights = load_model(args.weights)
    out = Path(args.out) if args.out else default_litert_dir(fingerprint)
    manifest = export_litert(model, out, calibration.faces, fingerprint, calibration.aligner)
    print(f"weights: {weights} (fingerprint {fingerprint})")
    print(
        f"calibration: {len(calibration.faces)} faces from {args.calibrate} "
        f"({len(calibration.skipped)} photos skipped), crop {calibration.aligner}"
    )
    for quantization, entry in manifest["models"].items():
        agreement = entry["agreement_with_keras"]
        print(
            f"wrote {quantization} {out / entry['file']} ({entry['bytes'] / 1e6:.1f} MB): "
            f"embedding shift vs Keras mean {agreement['mean']:.4f}, p99 {agreement['p99']:.4f}, "
            f"max {agreement['max']:.4f} (plain L2)"
        )
    print(f"wrote {out / MANIFEST_NAME}")
    if args.out:
        print(f"use it with --litert {out} or {LITERT_ENV_VAR}={out}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="facenet-weights", description=summary(__doc__))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="write a CSV folder to one HDF5 file (loads >10x faster)")
    p.add_argument("csv_dir", help="folder of the 226 CSV files")
    p.add_argument("out", help="the HDF5 file to write (replaced atomically)")
    p.set_defaults(run=_convert)

    p = sub.add_parser("check", help="check weights and say where they come from")
    p.add_argument(
        "path",
        nargs="?",
        default=None,
        help=f"CSV folder or HDF5 file {default_help(*DEFAULT_SOURCES)}",
    )
    p.set_defaults(run=_check)

    p = sub.add_parser("download", help="fetch the 226 public CSV files, checking each")
    p.add_argument("--dest", required=True, help="folder to fill, e.g. weights/")
    p.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"where the CSV files are {default_help(DEFAULT_BASE_URL)}",
    )
    p.add_argument(
        "--timeout", type=float, default=60, help="seconds per server response (default: 60)"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(run=_download)

    p = sub.add_parser(
        "export-litert",
        help="export the model with these weights to LiteRT float32 + int8, for the kiosk "
        "(needs TensorFlow; calibrates int8 on aligned faces of a photo folder)",
    )
    p.add_argument(
        "--weights",
        default=None,
        help=f"CSV folder or HDF5 file {default_help(*DEFAULT_SOURCES)}",
    )
    p.add_argument(
        "--calibrate",
        required=True,
        metavar="FOLDER",
        help="folder of face photos (searched recursively) for int8 calibration, e.g. your "
        "images/ or LFW; faces are aligned as the greeter aligns them",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=RECOMMENDED_CALIBRATION_FACES,
        help=f"calibration faces to use {default_help(str(RECOMMENDED_CALIBRATION_FACES))}",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder to write "
        + default_help(*(f"{where}/litert/<weights fingerprint>" for where in CACHE_SOURCES))
        + f", where the greeter looks; point --litert or ${LITERT_ENV_VAR} at any other folder",
    )
    p.set_defaults(run=_export_litert)

    args = parser.parse_args(argv)
    return run(f"facenet-weights {args.command}", lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
