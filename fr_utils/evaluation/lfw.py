"""The LFW View 2 verification benchmark: 10 identity-disjoint folds x 600 pairs (pairs.txt).

For each fold a threshold is chosen on the other nine (best accuracy) and
tested on it; we print mean ± std accuracy, the pooled AUC and the threshold,
as OpenFace reports nn4.small2.v1 (0.9292 ± 0.0134, AUC 0.973, dlib alignment).

Faces go through the greeter's own pipeline (:func:`fr_utils.photos.encode_photos`:
dlib's HOG detector, 68 landmarks, alignment, the same encoder and flip setting),
taking the face nearest the centre where there are several: deep-funneled LFW photos
are centred on the labelled person, who is not always the largest face. A photo where
no face is found falls back to the box a detector finds on a typical LFW photo
(:data:`LFW_CENTRE_BOX`), still landmark-aligned, and the report counts how many did.

Weights re-learned on LFW people of folds 1-5 (as the shared sets were) have seen
those people, so folds 6-10 alone are reported too: only they are unseen people.
The table is labelled from the provenance of the weights actually loaded.
"""

import datetime
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from fr_utils.align import DlibDetector, dlib_like_box
from fr_utils.encoding import as_encoder
from fr_utils.evaluation import metrics
from fr_utils.evaluation.datasets import PAIRS_FILE, LfwPairs, images_dir, read_pairs
from fr_utils.evaluation.report import (
    default_report_dir,
    plot_histograms,
    plot_roc,
    save_figure,
    write_config,
    write_text,
)
from fr_utils.photos import encode_photos
from fr_utils.weight_files import provenance
from fr_utils.weights import weights_fingerprint

# The median Haar box (x, y, w, h) on 400 random deep-funneled LFW photos (250x250):
# the photos were made by enlarging a Haar box 2.2x, so the face sits here.
LFW_CENTRE_BOX = (68, 67, 115, 115)
UNSEEN_FOLDS = tuple(range(5, 10))  # View-2 folds 6-10, 0-based: people never trained on
OPENFACE = {
    "model": "OpenFace nn4.small2.v1 (published, dlib alignment, folds 1-10)",
    "accuracy_mean": 0.9292,
    "accuracy_std": 0.0134,
    "auc": 0.973,
}
SHARED_README = {
    "model": "weights-aligned README, flip-average (folds 6-10)",
    "accuracy_mean": 0.931,
    "accuracy_std": 0.009,
    "auc": 0.983,
}


@dataclass(frozen=True)
class CentreBox:
    """A 'detector' that always returns one box, :data:`LFW_CENTRE_BOX` scaled to the image
    (a 250x250 LFW photo may arrive enlarged) and reframed as dlib frames a face
    (:func:`fr_utils.align.dlib_like_box`): the fallback for LFW photos."""

    box: tuple = LFW_CENTRE_BOX

    thread_safe: ClassVar[bool] = True

    def cache_key(self) -> str:
        return json.dumps({"centre_box": list(self.box), "of": 250, "reframed": "dlib"})

    def __call__(self, image):
        scale = np.asarray(image).shape[1] / 250
        return dlib_like_box(np.asarray(self.box) * scale)[None]


@dataclass(frozen=True)
class LfwResult:
    """Distances of every View-2 pair and the cross-validated figures."""

    pairs: LfwPairs
    distances: np.ndarray
    all_folds: metrics.CrossValidation  # best accuracy, 10 folds
    unseen_folds: metrics.CrossValidation  # best accuracy, folds 6-10 only
    far_unseen: metrics.CrossValidation  # target FAR, folds 6-10 only
    auc_all: float
    auc_unseen: float
    photos: int
    fallback: tuple  # photos cropped at LFW_CENTRE_BOX
    several_faces: int
    encode_seconds: float
    encoded_now: int

    def unseen(self):
        """``(genuine, impostor)`` distances of folds 6-10."""
        mask = np.isin(self.pairs.fold, UNSEEN_FOLDS)
        return (self.distances[mask & self.pairs.same], self.distances[mask & ~self.pairs.same])


def encode_lfw_photos(paths, encoder, cache_dir=None, progress=True, aligner=None):
    """Encode LFW photos as the benchmark does -> ``(found, fallback)``, two
    :class:`fr_utils.photos.PhotoEncodings`: the face nearest the centre where dlib's
    detector finds one, else :class:`CentreBox` (``fallback``, still landmark-aligned).
    Every readable photo gets an encoding; cached in ``cache_dir``."""
    encoder = as_encoder(encoder)
    aligner = encoder.make_aligner() if aligner is None else aligner
    found = encode_photos(
        paths, encoder, DlibDetector(order="centre"), aligner, cache_dir, progress
    )
    fallback = encode_photos(
        sorted(found.no_face), encoder, CentreBox(), aligner, cache_dir, progress
    )
    return found, fallback


def unseen_people(lfw_dir) -> dict:
    """``{name: [photo paths, by number]}`` for the people of View 2 folds 6-10: everyone
    named in ``pairs.txt`` folds 6-10, with all their photos. They are the people weights
    re-learned on folds 1-5 never saw (the shared sets trained on people of folds 1-5 or of
    no pair): 2,195 people and 6,311 photos in the full LFW."""
    lfw_dir = Path(lfw_dir)
    pairs = read_pairs(lfw_dir / PAIRS_FILE)
    names = set()
    for fold, first, second in zip(pairs.fold, pairs.first, pairs.second):
        if fold in UNSEEN_FOLDS:
            names |= {first.split("/")[0], second.split("/")[0]}
    root = images_dir(lfw_dir)
    people = {name: sorted((root / name).glob("*.jpg")) for name in sorted(names)}
    missing = [name for name, photos in people.items() if not photos]
    if missing:
        raise ValueError(
            f"{root}: no photos of {len(missing)} people named in pairs.txt folds 6-10, "
            f"e.g. {missing[0]}. Use the full deep-funneled LFW."
        )
    return people


def benchmark(lfw_dir, encoder, cache_dir=None, far=metrics.DEFAULT_FAR, progress=True):
    """Encode the View-2 photos (cached) and cross-validate -> :class:`LfwResult`.

    ``encoder``: a :class:`fr_utils.encoding.FaceEncoder` (its runtime and flip setting
    are what is measured), or a Keras model (flip-averaged).
    """
    encoder = as_encoder(encoder)
    aligner = encoder.make_aligner()
    lfw_dir = Path(lfw_dir)
    pairs = read_pairs(lfw_dir / PAIRS_FILE)
    root = images_dir(lfw_dir)
    unique = sorted(set(pairs.first) | set(pairs.second))
    paths = [root / name for name in unique]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(
            f"{root}: {len(missing)} LFW photo(s) named in pairs.txt are "
            f"missing, e.g. {missing[0]}. Use the full deep-funneled LFW."
        )
    start = time.perf_counter()
    found, fallback = encode_lfw_photos(paths, encoder, cache_dir, progress, aligner)
    seconds = time.perf_counter() - start
    encodings = {**found.encodings, **fallback.encodings}
    index = {name: i for i, name in enumerate(unique)}
    embeddings = np.stack([encodings[p] for p in paths])
    pair_index = np.array([[index[a], index[b]] for a, b in zip(pairs.first, pairs.second)])
    distances = metrics.pair_distances(embeddings, pair_index)
    unseen = np.isin(pairs.fold, UNSEEN_FOLDS)
    cv = [
        metrics.cross_validate(distances[m], pairs.same[m], pairs.fold[m], goal, far)
        for m, goal in ((slice(None), "accuracy"), (unseen, "accuracy"), (unseen, "far"))
    ]
    auc_all = metrics.auc(distances[pairs.same], distances[~pairs.same])
    auc_unseen = metrics.auc(distances[unseen & pairs.same], distances[unseen & ~pairs.same])
    return LfwResult(
        pairs,
        distances,
        *cv,
        auc_all,
        auc_unseen,
        len(paths),
        tuple(str(p) for p in sorted(found.no_face)),
        len(found.several_faces),
        seconds,
        found.encoded + fallback.encoded,
    )


def _row(model, s, auc, threshold=""):
    return (
        f"| {model} | {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f} | {auc:.3f} | "
        f"{threshold} |"
    )


def weights_label(weights) -> str:
    """What the weights are, from their hashes (:func:`fr_utils.weight_files.provenance`)."""
    return provenance(weights).label()


def format_result(result, label):
    """OpenFace-style table: accuracy mean ± std, AUC, threshold (plain L2).

    ``label`` names the model in the table's rows, e.g.
    ``f"{weights_label(path)}, aligned, flip-average"``: say what was measured, from its
    hashes and the encoder.
    """
    a, u, f = (cv.summary() for cv in (result.all_folds, result.unseen_folds, result.far_unseen))
    lines = [
        "| Model | Accuracy | AUC | threshold (plain L2) |",
        "|---|---|---|---|",
        _row(
            f"{label}, folds 1-10",
            a,
            result.auc_all,
            f"{a['threshold_mean']:.3f} ± {a['threshold_std']:.3f}",
        ),
        _row(
            f"{label}, folds 6-10 (unseen people)",
            u,
            result.auc_unseen,
            f"{u['threshold_mean']:.3f} ± {u['threshold_std']:.3f}",
        ),
        _row(SHARED_README["model"], SHARED_README, SHARED_README["auc"], "≈ 1.01"),
        _row(OPENFACE["model"], OPENFACE, OPENFACE["auc"], "0.99 squared ≈ 0.995"),
        "",
        f"folds 6-10, threshold for FAR <= {f['far_target']:g}: "
        f"{f['threshold_mean']:.3f} ± {f['threshold_std']:.3f} "
        f"(TAR {f['tar_mean']:.3f} ± {f['tar_std']:.3f}, "
        f"FAR {f['far_mean']:.4f} ± {f['far_std']:.4f})",
        f"{result.photos} photos; {len(result.fallback)} without a detected face used the "
        f"centre box {LFW_CENTRE_BOX}; the face nearest the centre used where there were several "
        f"({result.several_faces} among the {result.encoded_now} encoded in this run; "
        f"cached photos are not re-counted); encoding {result.encode_seconds:.0f} s",
    ]
    return "\n".join(lines)


def encoder_label(encoder) -> str:
    """How faces were encoded, for table rows: ``"aligned, flip-average, litert-int8"``."""
    flip = "flip-average" if encoder.flip else "single crop"
    return f"aligned, {flip}, {encoder.runtime}"


def run_benchmark(
    lfw_dir,
    encoder,
    weights_path,
    cache_dir=None,
    out=None,
    far=metrics.DEFAULT_FAR,
    progress=True,
    write_config_to=None,
    echo=print,
):
    """:func:`benchmark`, then print the table and write ``lfw_report.json/.md`` and plots
    into ``out`` (default: :func:`fr_utils.evaluation.report.default_report_dir`)."""
    encoder = as_encoder(encoder, weights=weights_path)
    result = benchmark(lfw_dir, encoder, cache_dir, far, progress)
    model = encoder.model_id if weights_path is None else weights_label(weights_path)
    table = format_result(result, f"{model}, {encoder_label(encoder)}")
    echo(table)
    genuine, impostor = result.unseen()
    far_threshold = metrics.choose_threshold(genuine, impostor, "far", far)
    acc_threshold = metrics.choose_threshold(genuine, impostor, "accuracy")
    chosen = {
        "best accuracy (folds 6-10)": acc_threshold,
        f"FAR <= {far:g} (folds 6-10)": far_threshold,
    }
    out = default_report_dir() if out is None else Path(out)
    save_figure(
        plot_histograms(genuine, impostor, chosen, "LFW View 2 folds 6-10: distances (plain L2)"),
        out / "lfw_histograms.png",
    )
    save_figure(
        plot_roc(genuine, impostor, chosen, "LFW View 2 folds 6-10: ROC"), out / "lfw_roc.png"
    )
    date = datetime.datetime.now().isoformat(timespec="seconds")
    report = {
        "lfw": str(lfw_dir),
        "date": date,
        "model": encoder.model_id,
        "weights": None if weights_path is None else str(weights_path),
        "weights_fingerprint": None if weights_path is None else weights_fingerprint(weights_path),
        "encoding": encoder_label(encoder),
        "folds_1_10": result.all_folds.summary(),
        "auc_1_10": result.auc_all,
        "folds_6_10": result.unseen_folds.summary(),
        "auc_6_10": result.auc_unseen,
        "folds_6_10_far": result.far_unseen.summary(),
        "threshold_accuracy_6_10": acc_threshold,
        "threshold_far_6_10": far_threshold,
        "eer_6_10": metrics.eer(genuine, impostor)[0],
        "photos": result.photos,
        "centre_box_fallback": list(result.fallback),
        "several_faces": result.several_faces,
        "encode_seconds": result.encode_seconds,
        "encoded_now": result.encoded_now,
        "openface": OPENFACE,
        "shared_readme": SHARED_README,
    }
    write_text(out / "lfw_report.json", json.dumps(report, indent=2) + "\n")
    write_text(
        out / "lfw_report.md",
        f"# LFW View 2\n\n{table}\n\n![histograms](lfw_histograms.png)\n\n![ROC](lfw_roc.png)\n",
    )
    echo(f"wrote {out}/lfw_report.json, lfw_report.md, lfw_histograms.png, lfw_roc.png")
    if write_config_to is not None:
        info = {
            "dataset": f"LFW View 2 folds 6-10 ({lfw_dir})",
            "far_target": far,
            "cv": result.far_unseen.summary(),
            "date": date,
            "model": report["model"],
            "weights": report["weights"],
            "weights_fingerprint": report["weights_fingerprint"],
            "encoding": encoder_label(encoder),
            "metric": "plain L2",
        }
        write_config(write_config_to, far_threshold, info)
        echo(f"wrote threshold {far_threshold:.4f} to {write_config_to}")
    return report
