"""``facenet-tune``: from a folder of your own photos to the threshold the greeter uses.

    facenet-tune DATASET [--far 0.01] [--out DIR] [--write-config [FILE]]
    facenet-tune --lfw ../shared/data/lfw          # the LFW View 2 benchmark
    facenet-tune DATASET --open-set [--write-config FILE]   # how many people can be enrolled
    facenet-tune --lfw ../shared/data/lfw --open-set        # the same on LFW folds 6-10

DATASET holds ``<name>/*.jpg`` folders (or flat ``<name>_<n>.jpg`` files); see
:func:`fr_utils.evaluation.report.tune_dataset`,
:func:`fr_utils.evaluation.lfw.run_benchmark` and
:func:`fr_utils.evaluation.open_set_report.tune_open_set`.
"""

import argparse
import shlex
import sys
from pathlib import Path

from fr_utils._files import (
    CACHE_SOURCES,
    GREETER_CONFIG_NAME,
    GREETER_CONFIG_SOURCES,
    default_cache_dir,
    find_greeter_config,
)
from fr_utils.cli import default_help, run, sources_text
from fr_utils.encoding import DEFAULT_ENCODER, ENCODERS, RUNTIMES, make_encoder
from fr_utils.evaluation import lfw, metrics
from fr_utils.evaluation import open_set as osi
from fr_utils.evaluation.datasets import PAIRS_FILE, load_dataset
from fr_utils.evaluation.open_set_report import CONFIG_KEY, open_set_people, tune_open_set
from fr_utils.evaluation.report import REPORT_DIR_NAME, tune_dataset
from fr_utils.weights import DEFAULT_SOURCES, resolve_weights

GREETERS_CONFIG = object()  # --write-config without FILE


def config_target(write_config):
    """The file ``--write-config`` writes: the one given, or the greeter's own config file
    (:func:`fr_utils._files.find_greeter_config`; ``./greeter.json`` when there is none)."""
    if write_config is not GREETERS_CONFIG:
        return write_config
    path, _ = find_greeter_config()
    return path if path is not None else Path(GREETER_CONFIG_NAME)


def _parser():
    p = argparse.ArgumentParser(
        prog="facenet-tune",
        description="Choose a face-match threshold (plain L2, lower is "
        "stricter) from a folder of your own photos, and/or run the LFW View 2 benchmark.",
    )
    p.add_argument(
        "dataset",
        nargs="?",
        type=Path,
        help="folder of <name>/*.jpg person folders or flat <name>_<n>.jpg files",
    )
    p.add_argument(
        "--encoder",
        choices=ENCODERS,
        default=DEFAULT_ENCODER,
        help="the face encoder to measure, as the greeter uses it: dlib's ResNet (the greeter's "
        "default) or FaceNet nn4.small2 (--encoder facenet; the course's model, with --weights, "
        f"--runtime and --flip) {default_help(DEFAULT_ENCODER)}",
    )
    p.add_argument(
        "--weights",
        type=Path,
        help=f"FaceNet weights file or folder {default_help(*DEFAULT_SOURCES)}",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"encoding cache folder {default_help(*CACHE_SOURCES)}",
    )
    p.add_argument("--no-cache", action="store_true", help="encode everything, cache nothing")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for reports and plots "
        + default_help(f"{REPORT_DIR_NAME}/ in the cache folder (--cache); the run prints it"),
    )
    p.add_argument(
        "--max-pairs",
        type=int,
        default=metrics.DEFAULT_MAX_PAIRS,
        help="cap on genuine and on impostor pairs; more are sampled evenly "
        f"(default: {metrics.DEFAULT_MAX_PAIRS})",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed for pair sampling and folds (default: 0)"
    )
    p.add_argument(
        "--far",
        type=float,
        default=metrics.DEFAULT_FAR,
        help=f"target false-accept rate (default: {metrics.DEFAULT_FAR})",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=metrics.DEFAULT_CV_FOLDS,
        help=f"identity folds for cross-validation (default: {metrics.DEFAULT_CV_FOLDS})",
    )
    p.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="encode with LiteRT (an exported model, see `facenet-weights export-litert`) or "
        "TensorFlow; use the greeter's, so the threshold holds there (default: auto = LiteRT "
        "when exported for these weights)",
    )
    p.add_argument("--litert", type=Path, metavar="DIR", help="folder of exported LiteRT models")
    p.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="flip-average encodings, as the greeter does by default (default: on)",
    )
    p.add_argument(
        "--write-config",
        type=Path,
        nargs="?",
        const=GREETERS_CONFIG,
        default=None,
        metavar="FILE",
        help="write the recommended (target-FAR) threshold into the greeter's JSON "
        "config FILE, keeping its other settings; without FILE, the file the greeter reads "
        f"({sources_text(*GREETER_CONFIG_SOURCES)}; else ./{GREETER_CONFIG_NAME}, created); "
        f"with --open-set, set {CONFIG_KEY!r} to the impostor curve's path",
    )
    p.add_argument(
        "--open-set",
        action="store_true",
        help="instead of a pair threshold: simulate galleries of "
        f"{', '.join(f'{n:,}' for n in osi.SIZES)} people (1 and 3 photos each) from DATASET "
        "(or LFW folds 6-10 with --lfw DIR, or DATASET being an LFW folder), report the share "
        "of enrolled visitors missed (FNIR) at 1 %% and 0.1 %% of strangers greeted (FPIR) "
        f"per gallery size, and write the impostor curve the greeter sets its threshold from "
        f"(OPEN_SET.json in --out). Needs photos of {osi.MIN_STRANGERS + osi.MIN_MATED} or more "
        "people (other people's faces, e.g. LFW's, can serve as strangers), many with 2 or "
        "more photos and some with 3; it says what is missing",
    )
    p.add_argument(
        "--draws",
        type=int,
        default=osi.DRAWS,
        help="with --open-set: random galleries per size, for mean ± std "
        + default_help(str(osi.DRAWS)),
    )
    p.add_argument(
        "--lfw",
        type=Path,
        metavar="DIR",
        help="run the LFW View 2 benchmark on DIR (holding pairs.txt and images/)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _is_lfw(folder: Path) -> bool:
    return (folder / PAIRS_FILE).is_file() and (folder / "images").is_dir()


def tune(args, command: str = "") -> None:
    """The run the flags ask for: a personal dataset, the LFW benchmark, or both; or with
    ``--open-set`` the open-set simulation of one of them."""
    cache_dir = None if args.no_cache else (args.cache or default_cache_dir())
    out = args.out or (args.cache or default_cache_dir()) / REPORT_DIR_NAME
    weights_path = resolve_weights(args.weights) if args.encoder == "facenet" else None
    if args.open_set:
        lfw_protocol = args.lfw is not None or _is_lfw(args.dataset)
        people, data = open_set_people(args.lfw or args.dataset, lfw_protocol)
        osi.check_counts([len(photos) for photos in people.values()])  # before any model loads
        encoder = make_encoder(
            weights_path, args.runtime, args.litert, args.flip, cache_dir, kind=args.encoder
        )
        tune_open_set(
            people, encoder, lfw_protocol, data, cache_dir=cache_dir, out=out,
            draws=args.draws, seed=args.seed, write_config_to=args.write_config,
            command=command, progress=not args.quiet,
        )  # fmt: skip
        return
    dataset = load_dataset(args.dataset) if args.dataset is not None else None
    encoder = make_encoder(
        weights_path, args.runtime, args.litert, args.flip, cache_dir, kind=args.encoder
    )
    if dataset is not None:
        tune_dataset(
            dataset, encoder, weights_path, cache_dir=cache_dir, out=out,
            max_pairs=args.max_pairs, seed=args.seed, far=args.far, folds=args.folds,
            write_config_to=args.write_config, progress=not args.quiet,
        )  # fmt: skip
    if args.lfw is not None:
        lfw.run_benchmark(
            args.lfw, encoder, weights_path, cache_dir=cache_dir, out=out, far=args.far,
            progress=not args.quiet,
            write_config_to=args.write_config if dataset is None else None,
        )  # fmt: skip


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.write_config = config_target(args.write_config)
    if args.dataset is None and args.lfw is None:
        parser.error("give a DATASET folder, --lfw DIR, or both")
    if not 0.0 <= args.far < 1.0:
        parser.error(f"--far must be in [0, 1). Received: {args.far}")
    if args.max_pairs < 1:
        parser.error(f"--max-pairs must be positive. Received: {args.max_pairs}")
    if args.open_set and args.dataset is not None and args.lfw is not None:
        parser.error("--open-set measures one set of people: give DATASET or --lfw DIR, not both")
    if args.draws < 1:
        parser.error(f"--draws must be positive. Received: {args.draws}")
    command = shlex.join(["facenet-tune", *(sys.argv[1:] if argv is None else argv)])
    return run("facenet-tune", lambda: tune(args, command))


if __name__ == "__main__":
    sys.exit(main())
