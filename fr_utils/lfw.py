"""The LFW View 2 verification benchmark: 10 identity-disjoint folds x 600 pairs (pairs.txt).

For each fold a threshold is chosen on the other nine (best accuracy) and
tested on it; we print mean ± std accuracy, the pooled AUC and the threshold,
as OpenFace reports nn4.small2.v1 (0.9292 ± 0.0134, AUC 0.973, dlib alignment).

Faces are cropped by the greeter's code (Haar and the same crop), taking the face
nearest the centre where there are several: deep-funneled LFW photos are centred on
the labelled person, who is not always the largest face. Deep-funneled
LFW photos are centred on the labelled person, so a photo where Haar finds no
face falls back to the box Haar finds on a typical LFW photo
(:data:`LFW_CENTRE_BOX`), and the report counts how many did.

The shared weights had 5 tensors re-learned on people of folds 1-5 (or in no
pair), so folds 6-10 alone are reported too: only they are unseen people.
"""

import datetime
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fr_utils import tuning
from fr_utils.faces import DEFAULT_CROP, HaarDetector

PAIRS_FILE = "pairs.txt"
# The median Haar box (x, y, w, h) on 400 random deep-funneled LFW photos (250x250):
# the photos were made by enlarging a Haar box 2.2x, so the face sits here.
LFW_CENTRE_BOX = (68, 67, 115, 115)
UNSEEN_FOLDS = tuple(range(5, 10))   # View-2 folds 6-10, 0-based: people never trained on
OPENFACE = {"model": "OpenFace nn4.small2.v1 (published, dlib alignment, folds 1-10)",
            "accuracy_mean": 0.9292, "accuracy_std": 0.0134, "auc": 0.973}
SHARED_README = {"model": "shared weights README (folds 6-10)", "accuracy_mean": 0.894,
                 "accuracy_std": 0.008, "auc": 0.957}


@dataclass(frozen=True)
class LfwPairs:
    """pairs.txt as arrays: ``fold (P,)`` (0-based), ``same (P,)``, and each side's file."""

    fold: np.ndarray
    same: np.ndarray
    first: list     # relative paths "<Name>/<Name>_NNNN.jpg"
    second: list


def _photo(name, number):
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path):
    """Parse LFW's ``pairs.txt``: a ``<folds> <n>`` header, then per fold n matched
    (``name n1 n2``) and n mismatched (``name1 n1 name2 n2``) lines."""
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except OSError as err:
        raise ValueError(f"{path}: cannot read LFW pairs ({err.strerror}). Pass the LFW "
                         "folder that holds pairs.txt and images/.") from None
    try:
        n_folds, per_fold = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise ValueError(f"{path}: first line should be '<folds> <pairs per fold>', "
                         f"got {' '.join(lines[0]) if lines else 'an empty file'}") from None
    if len(lines) - 1 != n_folds * 2 * per_fold:
        raise ValueError(f"{path}: expected {n_folds * 2 * per_fold} pair lines for "
                         f"{n_folds} folds x {2 * per_fold}, found {len(lines) - 1}")
    fold, same, first, second = [], [], [], []
    for i, fields in enumerate(lines[1:]):
        k, matched = i // (2 * per_fold), i % (2 * per_fold) < per_fold
        if matched and len(fields) == 3:
            a, b = _photo(fields[0], fields[1]), _photo(fields[0], fields[2])
        elif not matched and len(fields) == 4:
            a, b = _photo(fields[0], fields[1]), _photo(fields[2], fields[3])
        else:
            raise ValueError(f"{path}: line {i + 2} should have {3 if matched else 4} "
                             f"fields: {' '.join(fields)}")
        fold.append(k), same.append(matched), first.append(a), second.append(b)
    return LfwPairs(np.array(fold), np.array(same), first, second)


def images_dir(lfw_dir):
    """``lfw_dir/images`` if it exists (the shared layout), else ``lfw_dir`` itself."""
    lfw_dir = Path(lfw_dir)
    return lfw_dir / "images" if (lfw_dir / "images").is_dir() else lfw_dir


@dataclass(frozen=True)
class CentreBox:
    """A 'detector' that always returns one fixed box: the fallback for LFW photos."""

    x: int = LFW_CENTRE_BOX[0]
    y: int = LFW_CENTRE_BOX[1]
    w: int = LFW_CENTRE_BOX[2]
    h: int = LFW_CENTRE_BOX[3]

    def __call__(self, image):
        return np.array([[self.x, self.y, self.w, self.h]])


@dataclass(frozen=True)
class LfwResult:
    """Distances of every View-2 pair and the cross-validated figures."""

    pairs: LfwPairs
    distances: np.ndarray
    all_folds: tuning.CrossValidation        # best accuracy, 10 folds
    unseen_folds: tuning.CrossValidation     # best accuracy, folds 6-10 only
    far_unseen: tuning.CrossValidation       # target FAR, folds 6-10 only
    auc_all: float
    auc_unseen: float
    photos: int
    fallback: tuple                          # photos cropped at LFW_CENTRE_BOX
    several_faces: int
    encode_seconds: float
    encoded_now: int

    @property
    def genuine(self):
        return self.distances[self.pairs.same]

    @property
    def impostor(self):
        return self.distances[~self.pairs.same]

    def unseen(self):
        """``(genuine, impostor)`` distances of folds 6-10."""
        mask = np.isin(self.pairs.fold, UNSEEN_FOLDS)
        return (self.distances[mask & self.pairs.same], self.distances[mask & ~self.pairs.same])


def benchmark(lfw_dir, model, cache_dir=None, crop=DEFAULT_CROP, far=tuning.DEFAULT_FAR,
              progress=True):
    """Encode the View-2 photos (cached) and cross-validate -> :class:`LfwResult`."""
    from fr_utils.photos import encode_photos   # imports TensorFlow
    lfw_dir = Path(lfw_dir)
    pairs = read_pairs(lfw_dir / PAIRS_FILE)
    root = images_dir(lfw_dir)
    unique = sorted(set(pairs.first) | set(pairs.second))
    paths = [root / name for name in unique]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"{root}: {len(missing)} LFW photo(s) named in pairs.txt are "
                         f"missing, e.g. {missing[0]}. Use the full deep-funneled LFW.")
    start = time.perf_counter()
    found = encode_photos(paths, model, HaarDetector(order="centre"), crop, cache_dir, progress)
    fallback = encode_photos(sorted(found.no_face), model, CentreBox(), crop, cache_dir,
                             progress)
    seconds = time.perf_counter() - start
    encodings = {**found.encodings, **fallback.encodings}
    index = {name: i for i, name in enumerate(unique)}
    embeddings = np.stack([encodings[p] for p in paths])
    pair_index = np.array([[index[a], index[b]] for a, b in zip(pairs.first, pairs.second)])
    distances = tuning.pair_distances(embeddings, pair_index)
    unseen = np.isin(pairs.fold, UNSEEN_FOLDS)
    cv = [tuning.cross_validate(distances[m], pairs.same[m], pairs.fold[m], goal, far)
          for m, goal in ((slice(None), "accuracy"), (unseen, "accuracy"), (unseen, "far"))]
    auc_all = tuning.auc(distances[pairs.same], distances[~pairs.same])
    auc_unseen = tuning.auc(distances[unseen & pairs.same], distances[unseen & ~pairs.same])
    return LfwResult(pairs, distances, *cv, auc_all, auc_unseen, len(paths),
                     tuple(str(p) for p in sorted(found.no_face)), len(found.several_faces),
                     seconds, found.encoded + fallback.encoded)


def _row(model, s, auc, threshold=""):
    return (f"| {model} | {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f} | {auc:.3f} | "
            f"{threshold} |")


def format_result(result, label="nn4.small2.v1 + 5 re-learned tensors, Haar crop"):
    """OpenFace-style table: accuracy mean ± std, AUC, threshold (plain L2)."""
    a, u, f = (cv.summary() for cv in (result.all_folds, result.unseen_folds, result.far_unseen))
    lines = ["| Model | Accuracy | AUC | threshold (plain L2) |", "|---|---|---|---|",
             _row(f"{label}, folds 1-10", a, result.auc_all,
                  f"{a['threshold_mean']:.3f} ± {a['threshold_std']:.3f}"),
             _row(f"{label}, folds 6-10 (unseen people)", u, result.auc_unseen,
                  f"{u['threshold_mean']:.3f} ± {u['threshold_std']:.3f}"),
             _row(SHARED_README["model"], SHARED_README, SHARED_README["auc"], "≈ 1.07"),
             _row(OPENFACE["model"], OPENFACE, OPENFACE["auc"], "0.99 squared ≈ 0.995"),
             "",
             f"folds 6-10, threshold for FAR <= {f['far_target']:g}: "
             f"{f['threshold_mean']:.3f} ± {f['threshold_std']:.3f} "
             f"(TAR {f['tar_mean']:.3f} ± {f['tar_std']:.3f}, "
             f"FAR {f['far_mean']:.4f} ± {f['far_std']:.4f})",
             f"{result.photos} photos; {len(result.fallback)} without a Haar face used the "
             f"centre box {LFW_CENTRE_BOX}; the face nearest the centre used where there were several "
             f"({result.several_faces} among the {result.encoded_now} encoded in this run; "
             f"cached photos are not re-counted); encoding {result.encode_seconds:.0f} s"]
    return "\n".join(lines)


def run_benchmark(lfw_dir, model, weights_path, cache_dir=None, out="tuning-report",
                  far=tuning.DEFAULT_FAR, crop=DEFAULT_CROP, progress=True,
                  write_config_to=None, echo=print):
    """:func:`benchmark`, then print the table and write ``lfw_report.json/.md`` and plots."""
    from fr_utils import tune
    from fr_utils.encoding import model_fingerprint
    result = benchmark(lfw_dir, model, cache_dir, crop, far, progress)
    table = format_result(result)
    echo(table)
    genuine, impostor = result.unseen()
    far_threshold = tuning.choose_threshold(genuine, impostor, "far", far)
    acc_threshold = tuning.choose_threshold(genuine, impostor, "accuracy")
    chosen = {"best accuracy (folds 6-10)": acc_threshold,
              f"FAR <= {far:g} (folds 6-10)": far_threshold}
    out = Path(out)
    tune.save_figure(tune.plot_histograms(genuine, impostor, chosen,
                                          "LFW View 2 folds 6-10: distances (plain L2)"),
                     out / "lfw_histograms.png")
    tune.save_figure(tune.plot_roc(genuine, impostor, chosen, "LFW View 2 folds 6-10: ROC"),
                     out / "lfw_roc.png")
    date = datetime.datetime.now().isoformat(timespec="seconds")
    report = {"lfw": str(lfw_dir), "date": date, "weights": str(weights_path),
              "weights_fingerprint": model_fingerprint(model), "crop": asdict(crop),
              "folds_1_10": result.all_folds.summary(), "auc_1_10": result.auc_all,
              "folds_6_10": result.unseen_folds.summary(), "auc_6_10": result.auc_unseen,
              "folds_6_10_far": result.far_unseen.summary(),
              "threshold_accuracy_6_10": acc_threshold, "threshold_far_6_10": far_threshold,
              "eer_6_10": tuning.eer(genuine, impostor)[0],
              "photos": result.photos, "centre_box_fallback": list(result.fallback),
              "several_faces": result.several_faces, "encode_seconds": result.encode_seconds,
              "encoded_now": result.encoded_now, "openface": OPENFACE,
              "shared_readme": SHARED_README}
    tune._write_text(out / "lfw_report.json", json.dumps(report, indent=2) + "\n")
    tune._write_text(out / "lfw_report.md", f"# LFW View 2\n\n{table}\n\n"
                     "![histograms](lfw_histograms.png)\n\n![ROC](lfw_roc.png)\n")
    echo(f"wrote {out}/lfw_report.json, lfw_report.md, lfw_histograms.png, lfw_roc.png")
    if write_config_to is not None:
        info = {"dataset": f"LFW View 2 folds 6-10 ({lfw_dir})", "far_target": far,
                "cv": result.far_unseen.summary(), "date": date, "weights": str(weights_path),
                "weights_fingerprint": report["weights_fingerprint"], "crop": asdict(crop),
                "metric": "plain L2"}
        tune.write_config(write_config_to, far_threshold, info)
        echo(f"wrote threshold {far_threshold:.4f} to {write_config_to}")
    return report
