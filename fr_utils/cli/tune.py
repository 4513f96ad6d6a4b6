"""``facenet-tune``: from a folder of your own photos to the threshold the greeter uses.

    facenet-tune DATASET [--far 0.01] [--out DIR] [--write-config [FILE]]
    facenet-tune --lfw ../shared/data/lfw          # the LFW View 2 benchmark

DATASET holds ``<name>/*.jpg`` folders (or flat ``<name>_<n>.jpg`` files); see
:func:`fr_utils.evaluation.report.tune_dataset` and
:func:`fr_utils.evaluation.lfw.run_benchmark`.
"""

import argparse
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
from fr_utils.encoding import RUNTIMES, make_encoder
from fr_utils.evaluation import lfw, metrics
from fr_utils.evaluation.datasets import load_dataset
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
        "--weights", type=Path, help=f"weights file or folder {default_help(*DEFAULT_SOURCES)}"
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
        f"({sources_text(*GREETER_CONFIG_SOURCES)}; else ./{GREETER_CONFIG_NAME}, created)",
    )
    p.add_argument(
        "--lfw",
        type=Path,
        metavar="DIR",
        help="run the LFW View 2 benchmark on DIR (holding pairs.txt and images/)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def tune(args) -> None:
    """The run the flags ask for: a personal dataset, the LFW benchmark, or both."""
    cache_dir = None if args.no_cache else (args.cache or default_cache_dir())
    out = args.out or (args.cache or default_cache_dir()) / REPORT_DIR_NAME
    dataset = load_dataset(args.dataset) if args.dataset is not None else None
    weights_path = resolve_weights(args.weights)
    encoder = make_encoder(weights_path, args.runtime, args.litert, args.flip, cache_dir)
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
    return run("facenet-tune", lambda: tune(args))


if __name__ == "__main__":
    sys.exit(main())
