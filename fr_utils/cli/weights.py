"""``facenet-weights``: download, check and convert the FaceNet weights.

    facenet-weights download --dest weights/      # the 226 public CSV files
    facenet-weights check [weights/]              # where, how many, where they come from
    facenet-weights convert weights/ weights/nn4.small2.v1.h5

``check`` says how many tensors match the public OpenFace files by sha256 and
how many are re-learned or unverified; it never calls a set the public one
unless every known hash matches and nothing is marked re-learned.
"""

import argparse
import sys

from fr_utils.cli import run
from fr_utils.litert import add_export_arguments
from fr_utils.weight_files import (
    DEFAULT_BASE_URL,
    convert_csv_to_hdf5,
    download,
    known_hashes,
    provenance,
)
from fr_utils.weights import read_weights, resolve_weights, tensor_shapes


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
    if prov.is_complete_official:
        print("verdict: the complete public nn4.small2.v1 set")
    else:
        reasons = (["some tensors are re-learned"] if prov.relearned else []) + (
            [
                "an HDF5 file without per-tensor sha256: convert it from the CSV folder to "
                "record them"
            ]
            if not prov.official and prov.unverified
            else []
        )
        print(
            "verdict: NOT the complete public nn4.small2.v1 set"
            + (f" ({'; '.join(reasons)})" if reasons else "")
        )


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="facenet-weights", description=__doc__.split("\n")[0])
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
        help="CSV folder or HDF5 file (default: $FACENET_WEIGHTS, then ./weights)",
    )
    p.set_defaults(run=_check)

    p = sub.add_parser("download", help="fetch the 226 public CSV files, checking each")
    p.add_argument("--dest", required=True, help="folder to fill, e.g. weights/")
    p.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"where the CSV files are (default: {DEFAULT_BASE_URL})",
    )
    p.add_argument("--timeout", type=float, default=60, help="seconds per server response")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(run=_download)

    p = sub.add_parser(
        "export-litert",
        help="export the model with these weights to LiteRT float32 + int8, for the kiosk "
        "(needs TensorFlow; calibrates int8 on aligned faces of a photo folder)",
    )
    add_export_arguments(p)

    args = parser.parse_args(argv)
    return run(f"facenet-weights {args.command}", lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
