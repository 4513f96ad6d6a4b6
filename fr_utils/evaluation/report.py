"""Reports of a measurement: plots, tables, report files, and the threshold written to a config.

:func:`tune_dataset` is the whole ``facenet-tune DATASET`` run: encode a folder of
your own photos (:mod:`fr_utils.evaluation.datasets`), measure
(:mod:`fr_utils.evaluation.metrics`), write ``report.json``, ``report.md`` and two
plots, and optionally the recommended threshold into the greeter's JSON config.
Figures use matplotlib's ``Figure`` (no pyplot), so they work without a display.
"""

import datetime
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fr_utils._files import atomic_path, default_cache_dir, update_json_object
from fr_utils.encoding import as_encoder
from fr_utils.evaluation import metrics
from fr_utils.evaluation.datasets import Dataset, encode_dataset, load_dataset
from fr_utils.weights import weights_fingerprint

REPORT_DIR_NAME = "tuning-report"


def default_report_dir() -> Path:
    """Where reports go when no ``out`` is given: ``tuning-report/`` in the encoding cache
    folder (``$FACENET_CACHE``, else ``~/.cache/facenet``), never the current folder, so a
    run from a repository leaves it clean. The run prints where it wrote."""
    return default_cache_dir() / REPORT_DIR_NAME


TABLE_THRESHOLDS = np.round(np.arange(0.40, 1.41, 0.10), 2)


# ----------------------------------------------------------------------------- plots


def _figure(figsize=(7.0, 4.2)):
    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def plot_histograms(genuine, impostor, thresholds=None, title=""):
    """Genuine vs impostor distance histograms with thresholds marked -> ``Figure``.

    Args:
        thresholds: ``{label: value}`` drawn as vertical lines.
    """
    fig, ax = _figure()
    bins = np.linspace(0.0, max(2.0, float(np.max(impostor))), 81)
    ax.hist(
        impostor,
        bins=bins,
        density=True,
        alpha=0.55,
        color="tab:red",
        label=f"different people ({len(impostor):,} pairs)",
    )
    ax.hist(
        genuine,
        bins=bins,
        density=True,
        alpha=0.55,
        color="tab:green",
        label=f"same person ({len(genuine):,} pairs)",
    )
    for (label, value), style in zip((thresholds or {}).items(), ("-", "--", ":", "-.")):
        ax.axvline(value, color="black", linestyle=style, label=f"{label}: {value:.3f}")
    ax.set_xlabel("plain L2 distance between encodings (lower = more alike)")
    ax.set_ylabel("density")
    ax.set_title(title or "Distances of same-person and different-person pairs")
    ax.legend(fontsize=8)
    return fig


def plot_roc(genuine, impostor, thresholds=None, title=""):
    """ROC curve, TAR against FAR on a log scale, with thresholds marked -> ``Figure``."""
    far, tar, _ = metrics.roc_curve(genuine, impostor)
    floor = 0.5 / len(impostor)  # FAR 0 cannot sit on a log axis
    fig, ax = _figure()
    ax.step(
        np.maximum(far, floor),
        tar,
        where="post",
        color="tab:blue",
        label=f"AUC {metrics.auc(genuine, impostor):.3f}",
    )
    for (label, value), marker in zip((thresholds or {}).items(), "osD^"):
        point = metrics.sweep(genuine, impostor, [value])
        ax.plot(
            max(point.far[0], floor),
            point.tar[0],
            marker,
            markersize=7,
            label=f"{label} {value:.3f}: TAR {point.tar[0]:.3f}, FAR {point.far[0]:.4f}",
        )
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

    The file is read and written the way every greeter tool reads it
    (:func:`fr_utils._files.update_json_object`: a byte-order mark is fine, the file is
    replaced atomically keeping its mode and owner); a file that is not a JSON object is
    left alone and reported (ValueError), never overwritten.
    """
    updates = {"threshold": round(float(threshold), 4), "tuning": tuning_info}
    return update_json_object(path, updates, "config file")


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def format_table(genuine, impostor, thresholds=None):
    """The sweep as an aligned text table (for the terminal and Markdown)."""
    thresholds = TABLE_THRESHOLDS if thresholds is None else np.sort(thresholds)
    rows = metrics.sweep(genuine, impostor, thresholds).rows()
    lines = [
        "| threshold | TAR (recall) | FAR | precision | F1 | accuracy | balanced acc. |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        precision = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        lines.append(
            f"| {r['threshold']:.3f} | {r['tar']:.3f} | {r['far']:.4f} | "
            f"{precision} | {r['f1']:.3f} | {r['accuracy']:.3f} | "
            f"{r['balanced_accuracy']:.3f} |"
        )
    return "\n".join(lines)


def _cv_line(name, cv):
    if cv is None:
        return f"{name}: no cross-validation (needs 4+ people with genuine pairs per fold)"
    s = cv.summary()
    return (
        f"{name}: threshold {s['threshold_mean']:.3f} ± {s['threshold_std']:.3f}, "
        f"accuracy {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}, "
        f"TAR {s['tar_mean']:.3f} ± {s['tar_std']:.3f}, "
        f"FAR {s['far_mean']:.4f} ± {s['far_std']:.4f}  ({s['folds']} identity folds)"
    )


def _summary_text(result, dataset_name):
    s = result.summary()
    lines = [
        f"{dataset_name}: {s['people']} people, {s['photos']} photos with a face; "
        f"{s['genuine_pairs']:,} of {s['genuine_pairs_total']:,} genuine pairs, "
        f"{s['impostor_pairs']:,} of {s['impostor_pairs_total']:,} impostor pairs",
        f"AUC {s['auc']:.4f}, EER {s['eer']:.4f} at {s['eer_threshold']:.3f}; "
        f"median distance same {s['median_genuine']:.3f} / different "
        f"{s['median_impostor']:.3f}",
        _cv_line("cross-validated, best accuracy", result.cv_accuracy),
        _cv_line(f"cross-validated, FAR <= {result.far_target:g}", result.cv_far),
        f"threshold for best accuracy (all pairs): {result.threshold_accuracy:.3f}",
        f"RECOMMENDED threshold for FAR <= {result.far_target:g} (all pairs): "
        f"{result.threshold_far:.3f}",
    ]
    return "\n".join(lines)


MIN_AUC = 0.8  # below this the photos hardly tell people apart (0.5 = chance)
MIN_GENUINE_PAIRS = 10  # fewer same-person pairs cannot place a threshold
MIN_THRESHOLD = 0.1  # plain L2; a "recommendation" below it would greet nobody


def recommendation_problem(result, skipped=0):
    """Why ``result`` (a :class:`metrics.Tuning`) cannot support a threshold, or ``None``.

    ``skipped``: photos that could not be used (named in the message, as a likely cause).
    """
    because = f" ({skipped} photos could not be used: see 'skipped' above)" if skipped else ""
    if len(result.genuine) < MIN_GENUINE_PAIRS:
        return (
            f"only {len(result.genuine)} same-person pairs of photos{because}; add photos "
            f"(at least 3 of each person, for several people)"
        )
    if not result.auc >= MIN_AUC:
        return (
            f"AUC {result.auc:.3f} is too close to 0.5 (chance): these photos do not tell "
            f"people apart{because}; check that each folder holds one person's face photos"
        )
    if not result.threshold_far >= MIN_THRESHOLD:
        return (
            f"the threshold for the FAR target, {result.threshold_far:.4f}, would greet "
            f"nobody{because}; check the photos or loosen --far"
        )
    return None


def tune_dataset(
    dataset,
    encoder,
    weights_path,
    cache_dir=None,
    out=None,
    max_pairs=metrics.DEFAULT_MAX_PAIRS,
    seed=0,
    far=metrics.DEFAULT_FAR,
    folds=metrics.DEFAULT_CV_FOLDS,
    write_config_to=None,
    progress=True,
    echo=print,
):
    """Encode, measure, and write ``report.json``, ``report.md``, ``histograms.png``, ``roc.png``
    into ``out`` (default: :func:`default_report_dir`).

    ``encoder``: a :class:`fr_utils.encoding.FaceEncoder` (use the greeter's runtime and flip
    setting, so the threshold holds there), dlib's ResNet encoder (``weights_path`` ``None``),
    or a Keras model (flip-averaged).
    Returns the report dict (also written as JSON).
    """
    dataset = load_dataset(dataset) if not isinstance(dataset, Dataset) else dataset
    encoder = as_encoder(encoder, weights=weights_path)
    encoded = encode_dataset(dataset, encoder, cache_dir=cache_dir, progress=progress)
    skipped = {**encoded.photos.unreadable, **encoded.photos.no_face}
    result = metrics.tune_threshold(encoded.embeddings, encoded.labels, max_pairs, seed, far, folds)
    problem = recommendation_problem(result, len(skipped))
    chosen = {
        "best accuracy": result.threshold_accuracy,
        f"FAR <= {far:g} (recommended)": result.threshold_far,
    }
    report = {
        "dataset": str(dataset.folder),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "model": encoder.model_id,
        "weights": None if weights_path is None else str(weights_path),
        "weights_fingerprint": None if weights_path is None else weights_fingerprint(weights_path),
        "encoding": {
            "aligner": "dlib 68 landmarks",
            "flip": encoder.flip,
            "runtime": encoder.runtime,
        },
        "seed": seed,
        "max_pairs": max_pairs,
        "encoded_now": encoded.photos.encoded,
        "skipped_photos": {str(p): reason for p, reason in skipped.items()},
        "several_faces": [str(p) for p in encoded.photos.several_faces],
        **result.summary(),
        "recommended_threshold": None if problem else round(result.threshold_far, 6),
        "not_recommended_because": problem,
        "sweep": result.sweep.rows(),
    }
    name = dataset.folder.name or str(dataset.folder)
    text = _summary_text(result, name)
    table = format_table(
        result.genuine, result.impostor, np.concatenate([TABLE_THRESHOLDS, list(chosen.values())])
    )
    for person in result.one_photo:
        echo(f"note: {person} has one photo: no genuine pairs, used in impostor pairs only")
    for reason in skipped.values():
        echo(f"skipped: {reason}")
    echo(table)
    echo(text)
    out = default_report_dir() if out is None else Path(out)
    save_figure(
        plot_histograms(result.genuine, result.impostor, chosen, f"{name}: distances (plain L2)"),
        out / "histograms.png",
    )
    save_figure(plot_roc(result.genuine, result.impostor, chosen, f"{name}: ROC"), out / "roc.png")
    write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text(
        out / "report.md",
        f"# Threshold tuning: {name}\n\n```\n{text}\n```\n\n"
        f"{table}\n\nSkipped photos: {len(skipped)}\n"
        + "".join(f"- {reason}\n" for reason in skipped.values())
        + "\n![histograms](histograms.png)\n\n![ROC](roc.png)\n",
    )
    echo(f"wrote {out}/report.json, report.md, histograms.png, roc.png")
    if problem:
        echo(f"warning: no threshold recommended: {problem}.")
        if write_config_to is not None:
            raise ValueError(f"not writing a threshold to {write_config_to}: {problem}.")
    if write_config_to is not None:
        cv = result.cv_far.summary() if result.cv_far is not None else None
        info = {
            "dataset": str(dataset.folder),
            "far_target": far,
            "cv": cv,
            "threshold_accuracy": round(result.threshold_accuracy, 6),
            "date": report["date"],
            "weights": report["weights"],
            "weights_fingerprint": report["weights_fingerprint"],
            "model": report["model"],
            "encoding": report["encoding"],
            "metric": "plain L2",
            "people": result.n_people,
            "photos": result.n_photos,
        }
        path = write_config(write_config_to, result.threshold_far, info)
        echo(f"wrote threshold {result.threshold_far:.4f} to {path}")
    return report
