"""facenet-tune: from a folder of your own photos to the threshold the greeter uses.

    python -m fr_utils.tune DATASET [--far 0.01] [--out tuning-report] [--write-config greeter.json]
    python -m fr_utils.tune --lfw ../shared/data/lfw          # the LFW View 2 benchmark

DATASET holds ``<name>/*.jpg`` folders (or flat ``<name>_<n>.jpg`` files).
Faces are found and cropped by :func:`fr_utils.photos.encode_photos`, the
greeter's own code, and cached, so a second run encodes nothing.
"""

import argparse
import datetime
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fr_utils import tuning
from fr_utils.cache import default_cache_dir
from fr_utils.database import list_photos
from fr_utils.faces import DEFAULT_CROP, HAAR_BOX_CROP, HaarDetector
from fr_utils.weights import atomic_path

CROPS = {"openface": DEFAULT_CROP, "box": HAAR_BOX_CROP}
DEFAULT_OUT = Path("tuning-report")
DEFAULT_CONFIG = Path("greeter.json")   # where the greeter reads its settings
TABLE_THRESHOLDS = np.round(np.arange(0.40, 1.41, 0.10), 2)
_FLAT_NAME = re.compile(r"^(?P<name>.+?)_(?P<n>\d+)$")


# ----------------------------------------------------------------------------- data

@dataclass(frozen=True)
class Dataset:
    """Photos and who is in each: ``labels[i]`` is the person in ``paths[i]``."""

    folder: Path
    labels: list
    paths: list

    @property
    def people(self):
        return sorted(set(self.labels))


def load_dataset(folder):
    """List ``folder/<name>/*.jpg`` (and flat ``folder/<name>_<n>.jpg``) as a :class:`Dataset`.

    Raises:
        ValueError: ``folder`` is not a folder, or holds photos of fewer than
            two people (a threshold separates people; one person cannot show it).
    """
    folder = Path(folder)
    labels, paths = [], []
    for name, path in list_photos(folder):     # raises ValueError for a missing folder
        if path.parent == folder:               # flat file: <name>_<n>.jpg or <name>.jpg
            match = _FLAT_NAME.match(path.stem)
            name = match["name"] if match else path.stem
        labels.append(name)
        paths.append(path)
    people = sorted(set(labels))
    if len(people) < 2:
        raise ValueError(f"{folder}: found photos of {len(people)} person(s) "
                         f"({', '.join(people) or 'none'}); a threshold needs at least two "
                         "people. Use <name>/*.jpg folders or <name>_<n>.jpg files.")
    return Dataset(folder, labels, paths)


@dataclass(frozen=True)
class Encoded:
    """The photos in which a face was found, with their encodings."""

    embeddings: np.ndarray   # (N, 128)
    labels: list
    paths: list
    photos: object           # the fr_utils.photos.PhotoEncodings (skipped photos and why)


def encode_dataset(dataset, model, detector=None, crop=DEFAULT_CROP, cache_dir=None,
                   progress=True):
    """Encode a :class:`Dataset` through :func:`fr_utils.photos.encode_photos`.

    Photos without a face (or unreadable) are left out and listed in
    ``.photos.no_face`` / ``.photos.unreadable``.

    Raises:
        ValueError: fewer than two people still have a face after that.
    """
    from fr_utils.photos import encode_photos   # imports TensorFlow
    detector = HaarDetector() if detector is None else detector
    photos = encode_photos(dataset.paths, model, detector, crop, cache_dir, progress)
    kept = [(label, path) for label, path in zip(dataset.labels, dataset.paths)
            if path in photos.encodings]
    if len({label for label, _ in kept}) < 2:
        raise ValueError(f"{dataset.folder}: faces were found for fewer than two people "
                         f"({len(photos.no_face)} photo(s) without a face, "
                         f"{len(photos.unreadable)} unreadable). Add clear frontal photos.")
    embeddings = np.stack([photos.encodings[path] for _, path in kept])
    return Encoded(embeddings, [label for label, _ in kept], [path for _, path in kept], photos)


# ----------------------------------------------------------------------------- plots

def _figure(figsize=(7.0, 4.2)):
    from matplotlib.figure import Figure     # no pyplot: no GUI backend, works headless
    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def plot_histograms(genuine, impostor, thresholds=None, title=""):
    """Genuine vs impostor distance histograms with thresholds marked -> ``Figure``.

    Args:
        thresholds: ``{label: value}`` drawn as vertical lines.
    """
    fig, ax = _figure()
    bins = np.linspace(0.0, max(2.0, float(np.max(impostor))), 81)
    ax.hist(impostor, bins=bins, density=True, alpha=0.55, color="tab:red",
            label=f"different people ({len(impostor):,} pairs)")
    ax.hist(genuine, bins=bins, density=True, alpha=0.55, color="tab:green",
            label=f"same person ({len(genuine):,} pairs)")
    for (label, value), style in zip((thresholds or {}).items(), ("-", "--", ":", "-.")):
        ax.axvline(value, color="black", linestyle=style, label=f"{label}: {value:.3f}")
    ax.set_xlabel("plain L2 distance between encodings (lower = more alike)")
    ax.set_ylabel("density")
    ax.set_title(title or "Distances of same-person and different-person pairs")
    ax.legend(fontsize=8)
    return fig


def plot_roc(genuine, impostor, thresholds=None, title=""):
    """ROC curve, TAR against FAR on a log scale, with thresholds marked -> ``Figure``."""
    far, tar, _ = tuning.roc_curve(genuine, impostor)
    floor = 0.5 / len(impostor)                 # FAR 0 cannot sit on a log axis
    fig, ax = _figure()
    ax.step(np.maximum(far, floor), tar, where="post", color="tab:blue",
            label=f"AUC {tuning.auc(genuine, impostor):.3f}")
    for (label, value), marker in zip((thresholds or {}).items(), "osD^"):
        point = tuning.sweep(genuine, impostor, [value])
        ax.plot(max(point.far[0], floor), point.tar[0], marker, markersize=7,
                label=f"{label} {value:.3f}: TAR {point.tar[0]:.3f}, FAR {point.far[0]:.4f}")
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false-accept rate (FAR, log scale)")
    ax.set_ylabel("true-accept rate (TAR)")
    ax.set_title(title or "ROC")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def save_figure(fig, path):
    """Write a figure as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


# ----------------------------------------------------------------------------- reports

def write_config(path, threshold, tuning_info):
    """Set ``"threshold"`` and ``"tuning"`` in the greeter's JSON config, keeping its other keys.

    The file is replaced atomically; a file that is not a JSON object is left
    alone and reported (ValueError), never overwritten.
    """
    path = Path(path)
    config = {}
    if path.exists():
        try:
            config = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err}); fix or move it, then "
                             "re-run with --write-config.") from None
        if not isinstance(config, dict):
            raise ValueError(f"{path}: expected a JSON object of settings, found "
                             f"{type(config).__name__}; fix or move it.")
    config["threshold"] = round(float(threshold), 4)
    config["tuning"] = tuning_info
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n")
    return path


def _write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def format_table(genuine, impostor, thresholds=None):
    """The sweep as an aligned text table (for the terminal and Markdown)."""
    thresholds = TABLE_THRESHOLDS if thresholds is None else np.sort(thresholds)
    rows = tuning.sweep(genuine, impostor, thresholds).rows()
    lines = ["| threshold | TAR (recall) | FAR | precision | F1 | accuracy | balanced acc. |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        precision = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        lines.append(f"| {r['threshold']:.3f} | {r['tar']:.3f} | {r['far']:.4f} | "
                     f"{precision} | {r['f1']:.3f} | {r['accuracy']:.3f} | "
                     f"{r['balanced_accuracy']:.3f} |")
    return "\n".join(lines)


def _cv_line(name, cv):
    if cv is None:
        return f"{name}: no cross-validation (needs 4+ people with genuine pairs per fold)"
    s = cv.summary()
    return (f"{name}: threshold {s['threshold_mean']:.3f} ± {s['threshold_std']:.3f}, "
            f"accuracy {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}, "
            f"TAR {s['tar_mean']:.3f} ± {s['tar_std']:.3f}, "
            f"FAR {s['far_mean']:.4f} ± {s['far_std']:.4f}  ({s['folds']} identity folds)")


def _summary_text(result, dataset_name):
    s = result.summary()
    lines = [f"{dataset_name}: {s['people']} people, {s['photos']} photos with a face; "
             f"{s['genuine_pairs']:,} of {s['genuine_pairs_total']:,} genuine pairs, "
             f"{s['impostor_pairs']:,} of {s['impostor_pairs_total']:,} impostor pairs",
             f"AUC {s['auc']:.4f}, EER {s['eer']:.4f} at {s['eer_threshold']:.3f}; "
             f"median distance same {s['median_genuine']:.3f} / different "
             f"{s['median_impostor']:.3f}",
             _cv_line("cross-validated, best accuracy", result.cv_accuracy),
             _cv_line(f"cross-validated, FAR <= {result.far_target:g}", result.cv_far),
             f"threshold for best accuracy (all pairs): {result.threshold_accuracy:.3f}",
             f"RECOMMENDED threshold for FAR <= {result.far_target:g} (all pairs): "
             f"{result.threshold_far:.3f}"]
    return "\n".join(lines)


def _crop_name(crop):
    return next((name for name, spec in CROPS.items() if spec == crop), "custom")


def tune_dataset(dataset, model, weights_path, cache_dir=None, out=DEFAULT_OUT,
                 max_pairs=tuning.DEFAULT_MAX_PAIRS, seed=0, far=tuning.DEFAULT_FAR,
                 folds=tuning.DEFAULT_CV_FOLDS, crop=DEFAULT_CROP, write_config_to=None,
                 progress=True, echo=print):
    """Encode, measure, and write ``report.json``, ``report.md``, ``histograms.png``, ``roc.png``.

    Returns the report dict (also written as JSON).
    """
    from fr_utils.encoding import model_fingerprint
    dataset = load_dataset(dataset) if not isinstance(dataset, Dataset) else dataset
    encoded = encode_dataset(dataset, model, crop=crop, cache_dir=cache_dir,
                             progress=progress)
    skipped = {**encoded.photos.unreadable, **encoded.photos.no_face}
    result = tuning.tune_threshold(encoded.embeddings, encoded.labels, max_pairs, seed, far,
                                   folds)
    chosen = {"best accuracy": result.threshold_accuracy,
              f"FAR <= {far:g} (recommended)": result.threshold_far}
    report = {
        "dataset": str(dataset.folder), "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "weights": str(weights_path), "weights_fingerprint": model_fingerprint(model),
        "crop": {"name": _crop_name(crop), **asdict(crop)}, "seed": seed, "max_pairs": max_pairs,
        "encoded_now": encoded.photos.encoded,
        "skipped_photos": {str(p): reason for p, reason in skipped.items()},
        "several_faces": [str(p) for p in encoded.photos.several_faces],
        **result.summary(),
        "recommended_threshold": round(result.threshold_far, 6),
        "sweep": result.sweep.rows(),
    }
    name = dataset.folder.name or str(dataset.folder)
    text = _summary_text(result, name)
    table = format_table(result.genuine, result.impostor,
                         np.concatenate([TABLE_THRESHOLDS, list(chosen.values())]))
    for person in result.one_photo:
        echo(f"note: {person} has one photo: no genuine pairs, used in impostor pairs only")
    for reason in skipped.values():
        echo(f"skipped: {reason}")
    echo(table)
    echo(text)
    out = Path(out)
    save_figure(plot_histograms(result.genuine, result.impostor, chosen,
                                f"{name}: distances (plain L2)"), out / "histograms.png")
    save_figure(plot_roc(result.genuine, result.impostor, chosen, f"{name}: ROC"),
                out / "roc.png")
    _write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    _write_text(out / "report.md", f"# Threshold tuning: {name}\n\n```\n{text}\n```\n\n"
                f"{table}\n\nSkipped photos: {len(skipped)}\n"
                + "".join(f"- {reason}\n" for reason in skipped.values())
                + "\n![histograms](histograms.png)\n\n![ROC](roc.png)\n")
    echo(f"wrote {out}/report.json, report.md, histograms.png, roc.png")
    if write_config_to is not None:
        cv = result.cv_far.summary() if result.cv_far is not None else None
        info = {"dataset": str(dataset.folder), "far_target": far, "cv": cv,
                "threshold_accuracy": round(result.threshold_accuracy, 6),
                "date": report["date"], "weights": report["weights"],
                "weights_fingerprint": report["weights_fingerprint"], "crop": report["crop"],
                "metric": "plain L2", "people": result.n_people, "photos": result.n_photos}
        path = write_config(write_config_to, result.threshold_far, info)
        echo(f"wrote threshold {result.threshold_far:.4f} to {path}")
    return report


# ----------------------------------------------------------------------------- CLI

def _load_model(weights):
    from fr_utils.model import faceRecoModel
    from fr_utils.weights import load_weights_from_FaceNet
    model = faceRecoModel()
    return model, load_weights_from_FaceNet(model, weights)  # the path it resolved


def _parser():
    p = argparse.ArgumentParser(
        prog="facenet-tune", description="Choose a face-match threshold (plain L2, lower is "
        "stricter) from a folder of your own photos, and/or run the LFW View 2 benchmark.")
    p.add_argument("dataset", nargs="?", type=Path,
                   help="folder of <name>/*.jpg person folders or flat <name>_<n>.jpg files")
    p.add_argument("--weights", type=Path, help="weights (default: $FACENET_WEIGHTS, ./weights)")
    p.add_argument("--cache", type=Path, default=None,
                   help="encoding cache folder (default: $FACENET_CACHE or ~/.cache/facenet)")
    p.add_argument("--no-cache", action="store_true", help="encode everything, cache nothing")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"folder for reports and plots (default: {DEFAULT_OUT})")
    p.add_argument("--max-pairs", type=int, default=tuning.DEFAULT_MAX_PAIRS,
                   help="cap on genuine and on impostor pairs; more are sampled evenly "
                   f"(default: {tuning.DEFAULT_MAX_PAIRS})")
    p.add_argument("--seed", type=int, default=0, help="seed for pair sampling and folds")
    p.add_argument("--far", type=float, default=tuning.DEFAULT_FAR,
                   help=f"target false-accept rate (default: {tuning.DEFAULT_FAR})")
    p.add_argument("--folds", type=int, default=tuning.DEFAULT_CV_FOLDS,
                   help="identity folds for cross-validation (default: "
                   f"{tuning.DEFAULT_CV_FOLDS})")
    p.add_argument("--crop", choices=sorted(CROPS), default="openface",
                   help="face crop; must match the weights and the greeter (default: openface)")
    p.add_argument("--write-config", type=Path, default=None, metavar="FILE",
                   help="write the recommended (target-FAR) threshold into the greeter's JSON "
                   f"config FILE (the greeter reads ./{DEFAULT_CONFIG} by default), keeping "
                   "its other settings")
    p.add_argument("--lfw", type=Path, metavar="DIR",
                   help="run the LFW View 2 benchmark on DIR (holding pairs.txt and images/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.dataset is None and args.lfw is None:
        parser.error("give a DATASET folder, --lfw DIR, or both")
    if not 0.0 <= args.far < 1.0:
        parser.error(f"--far must be in [0, 1). Received: {args.far}")
    if args.max_pairs < 1:
        parser.error(f"--max-pairs must be positive. Received: {args.max_pairs}")
    cache_dir = None if args.no_cache else (args.cache or default_cache_dir())
    crop = CROPS[args.crop]
    try:
        dataset = load_dataset(args.dataset) if args.dataset is not None else None
        model, weights_path = _load_model(args.weights)
        if dataset is not None:
            tune_dataset(dataset, model, weights_path, cache_dir, args.out, args.max_pairs,
                         args.seed, args.far, args.folds, crop, args.write_config,
                         progress=not args.quiet)
        if args.lfw is not None:
            from fr_utils import lfw
            lfw.run_benchmark(args.lfw, model, weights_path, cache_dir, args.out, args.far,
                              crop, progress=not args.quiet,
                              write_config_to=args.write_config if dataset is None else None)
    except ValueError as err:
        print(f"facenet-tune: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
