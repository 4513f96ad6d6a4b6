"""Checks for the notebooks' exercises, and the data check of their first cell.

Each ``check_*`` function runs your function on small inputs whose answers are known, then
on real ones against the library's answer (``fr_utils``), and raises an ``AssertionError``
that says *what* is wrong (shape, sign, squared against plain distance, margin, ...) rather
than only "wrong". It prints one line when everything matches.

Nothing here runs at import: the notebooks call these functions from their check cells.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import numpy as np

COURSE_ALPHA = 0.2
# The course's numbers come from its TF1 version, run with the official OpenFace weights.
COURSE_TF1 = {"triplet_loss": 528.143, "camera_0/younes": 0.659393, "camera_2/kian": 0.862240}
# Course photos fed whole, single crop, with shared/weights-aligned (its README), by fingerprint.
EXPECTED_BY_WEIGHTS = {
    "nn4.small2.v1 with 5 re-learned tensors (aligned)": {
        "camera_0/younes": 0.566,
        "camera_2/kian": 0.951,
    },
}
DISTANCE_TOLERANCE = 2e-3  # the stored values have 3 decimals; BLAS differs in the 5th


def _not_written(name: str, error: NotImplementedError) -> AssertionError:
    return AssertionError(
        f"{name} is not written yet: replace `raise NotImplementedError()` in its cell with "
        f"your code, run that cell, then this one. ({error!r})"
    )


def _call(name, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        raise _not_written(name, error) from None


def _as_float(name: str, value) -> float:
    array = np.asarray(value)
    if array.shape != ():
        raise AssertionError(
            f"shape: {name} must return one number (a scalar), got shape {array.shape}. "
            "Sum the per-triplet losses over the batch (tf.reduce_sum)."
        )
    return float(array)


# ---------------------------------------------------------------------------------- 01


def _triplet_variants(a, p, n, alpha):
    """What common mistakes give, in numpy, on ``(m, d)`` anchors/positives/negatives."""
    pos_sq = np.sum((a - p) ** 2, axis=-1)
    neg_sq = np.sum((a - n) ** 2, axis=-1)
    pos, neg = np.sqrt(pos_sq), np.sqrt(neg_sq)
    return {
        "right": np.sum(np.maximum(pos_sq - neg_sq + alpha, 0)),
        "plain (not squared) distances: use the squared L2 distance, "
        "tf.reduce_sum(tf.square(anchor - positive), axis=-1)": np.sum(
            np.maximum(pos - neg + alpha, 0)
        ),
        "sign: the loss is d(A,P) - d(A,N) + alpha (positive minus negative), "
        "you have the negative minus the positive": np.sum(np.maximum(neg_sq - pos_sq + alpha, 0)),
        "margin: alpha must be added inside the max, d(A,P) - d(A,N) + alpha": np.sum(
            np.maximum(pos_sq - neg_sq, 0)
        ),
        "margin: alpha is subtracted; the formula adds it, d(A,P) - d(A,N) + alpha": np.sum(
            np.maximum(pos_sq - neg_sq - alpha, 0)
        ),
        "max(., 0) missing: a satisfied triplet must add 0, not a negative number": np.sum(
            pos_sq - neg_sq + alpha
        ),
        "mean instead of sum: the course's loss sums over the triplets": np.mean(
            np.maximum(pos_sq - neg_sq + alpha, 0)
        ),
        "axis: sum the squared differences over the 128 numbers of each encoding (axis=-1), "
        "not over the whole batch": np.maximum(np.sum(pos_sq) - np.sum(neg_sq) + alpha, 0),
    }


def _diagnose(name, got, variants, tolerance=1e-3):
    right = variants.pop("right")
    if abs(got - right) <= tolerance * max(1.0, abs(right)):
        return
    for mistake, value in variants.items():
        if abs(got - value) <= tolerance * max(1.0, abs(value)):
            raise AssertionError(f"{name} gives {got:.4f}, expected {right:.4f}. {mistake}.")
    raise AssertionError(
        f"{name} gives {got:.4f}, expected {right:.4f}: none of the usual mistakes (squared vs "
        "plain distance, sign, margin, max, sum vs mean) explains it; compare it term by "
        "term with the formula above."
    )


def check_triplet_loss(triplet_loss) -> float:
    """Check ``triplet_loss(y_true, y_pred, alpha=0.2)`` -> scalar; returns the course's loss."""
    import tensorflow as tf

    from fr_utils import triplet_loss as library_triplet_loss

    # 1. Two hand-made triplets in 2-D: one violates the margin, one is satisfied.
    a = np.array([[0.0, 0.0], [0.0, 0.0]], np.float32)
    p = np.array([[1.0, 0.0], [0.1, 0.0]], np.float32)
    n = np.array([[0.0, 0.5], [2.0, 0.0]], np.float32)
    for alpha in (0.2, 0.5):
        got = _as_float(
            "triplet_loss",
            _call(
                "triplet_loss",
                triplet_loss,
                None,
                (tf.constant(a), tf.constant(p), tf.constant(n)),
                alpha=alpha,
            ),
        )
        _diagnose(
            f"triplet_loss on the hand-made triplets (alpha={alpha})",
            got,
            _triplet_variants(a, p, n, alpha),
        )

    # 2. Random unit "encodings" against the library's triplet_loss.
    rng = np.random.default_rng(0)
    a, p, n = (rng.normal(size=(16, 128)).astype(np.float32) for _ in range(3))
    a, p, n = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (a, p, n))
    y_pred = (tf.constant(a), tf.constant(p), tf.constant(n))
    got = _as_float("triplet_loss", triplet_loss(None, y_pred))
    expected = float(library_triplet_loss(None, y_pred))
    variants = _triplet_variants(a, p, n, COURSE_ALPHA)
    assert abs(variants["right"] - expected) < 1e-3  # the library is the formula
    _diagnose("triplet_loss on 16 random unit encodings (the library's answer)", got, variants)

    # 3. The course's own test, same seeds: 528.143 in its TF1 version.
    tf.random.set_seed(1)

    @tf.function
    def course_check():
        y_pred = (
            tf.random.normal([3, 128], mean=6, stddev=0.1, seed=1),
            tf.random.normal([3, 128], mean=1, stddev=1, seed=1),
            tf.random.normal([3, 128], mean=3, stddev=4, seed=1),
        )
        return triplet_loss(None, y_pred)

    loss = float(course_check())
    if abs(loss - COURSE_TF1["triplet_loss"]) > 0.01:
        raise AssertionError(
            f"the course's test gives {loss:.3f}, expected {COURSE_TF1['triplet_loss']}; the "
            "other tests pass, so check that the margin is a keyword argument `alpha=0.2`."
        )
    print("loss =", f"{loss:.3f}")
    print("triplet_loss: all checks passed (hand-made triplets, the library, the course's test)")
    return loss


def expected_course_distances(weights_label: str) -> dict | None:
    """The stored course distances for these weights (by their label), or None if unknown."""
    if weights_label.startswith("the official"):
        return {k: v for k, v in COURSE_TF1.items() if "/" in k}
    return EXPECTED_BY_WEIGHTS.get(weights_label)


def _check_pair(name, got, library, expected_value, expected_label):
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError(f"{name} must return a pair (distance, verdict); got {got!r}")
    dist = float(np.asarray(got[0]).squeeze())
    if abs(dist - library) > 1e-4:
        if abs(dist - library**2) < 1e-4:
            raise AssertionError(
                f"{name}: distance {dist:.4f} is the squared distance; the course compares the "
                f"plain L2 distance np.linalg.norm(encoding - database[identity]) = {library:.4f}"
            )
        if abs(dist - 2.0 * library) < 1e-3 or dist > 2.0:
            raise AssertionError(
                f"{name}: distance {dist:.4f} is not a distance between two "
                f"unit encodings (0..2); the library gives {library:.4f}"
            )
        raise AssertionError(
            f"{name}: distance {dist:.4f}, the library gives {library:.4f}. Did "
            "you encode the photo with img_to_encoding(image_path, model)?"
        )
    if expected_value is not None and abs(dist - expected_value) > DISTANCE_TOLERANCE:
        raise AssertionError(
            f"{name}: distance {dist:.4f}, expected {expected_value} for "
            f"{expected_label} (the stored value)"
        )
    return dist


def check_verify(verify, database, model, course_dir, weights_label: str) -> None:
    """Check ``verify(image_path, identity, database, model) -> (dist, door_open)``."""
    from fr_utils import img_to_encoding

    expected = expected_course_distances(weights_label) or {}
    cases = [("camera_0", "younes"), ("camera_2", "kian")]
    for photo, identity in cases:
        path = Path(course_dir) / f"{photo}.jpg"
        got = _call("verify", verify, path, identity, database, model)
        library = float(
            np.linalg.norm(database[identity] - img_to_encoding(path, model), axis=1).min()
        )
        key = f"{photo}/{identity}"
        _check_pair(
            f"verify({photo}, {identity!r})", got, library, expected.get(key), weights_label
        )
        door_open = got[1]
        if not isinstance(door_open, (bool, np.bool_)):
            raise AssertionError(
                f"verify({photo}): door_open must be True or False, got {door_open!r}"
            )
        if bool(door_open) != (library < 0.7):
            raise AssertionError(
                f"verify({photo}, {identity!r}): distance {library:.3f} with threshold 0.7 "
                f"should give door_open={library < 0.7}; you return {door_open}. "
                "The door opens when the distance is *below* the threshold."
            )
    print(
        "verify: all checks passed"
        + (
            f" (distances match the stored values for {weights_label})"
            if expected
            else " (no stored values for these weights; compared with the library only)"
        )
    )


def check_who_is_it(who_is_it, database, model, course_dir) -> None:
    """Check ``who_is_it(image_path, database, model) -> (min_dist, identity)``."""
    from fr_utils import img_to_encoding

    for i in range(6):
        path = Path(course_dir) / f"camera_{i}.jpg"
        got = _call("who_is_it", who_is_it, path, database, model)
        if not isinstance(got, tuple) or len(got) != 2:
            raise AssertionError(f"who_is_it must return (min_dist, identity); got {got!r}")
        if isinstance(got[0], str):
            raise AssertionError(
                "who_is_it returns (identity, min_dist); the course returns (min_dist, identity)"
            )
        encoding = img_to_encoding(path, model)
        per_person = {
            name: float(np.linalg.norm(database[name] - encoding, axis=1).min())
            for name in database
        }
        nearest = min(per_person, key=per_person.get)
        farthest = max(per_person, key=per_person.get)
        if got[1] != nearest:
            hint = (
                " That is the *farthest* person: keep the smallest distance."
                if got[1] == farthest
                else ""
            )
            raise AssertionError(
                f"who_is_it(camera_{i}): identity {got[1]!r}, the nearest "
                f"person is {nearest!r} at {per_person[nearest]:.3f}.{hint}"
            )
        _check_pair(f"who_is_it(camera_{i})", got, per_person[nearest], None, "")
    print("who_is_it: all checks passed (the nearest person and distance for camera_0..5)")


# ---------------------------------------------------------------------------------- 02


def _rates(genuine, impostor, threshold):
    """TAR and FAR when a pair is accepted at distance < threshold."""
    return float(np.mean(genuine < threshold)), float(np.mean(impostor < threshold))


def check_threshold_at_far(threshold_at_far, genuine=None, impostor=None) -> None:
    """Check ``threshold_at_far(genuine, impostor, far) -> threshold`` (plain L2, accept ``<``)."""
    from fr_utils.evaluation.metrics import choose_threshold

    # 1. Hand-made: 100 impostor distances 0.50, 0.51, ..., 1.49; at far=0.01 one may be accepted,
    #    so any threshold in (0.50, 0.51] is right.
    g = np.array([0.2, 0.4, 0.5, 0.505, 0.6, 0.8])
    imp = np.round(np.arange(100) * 0.01 + 0.5, 2)
    cases = [(g, imp, 0.01, "the hand-made distances")]
    if genuine is not None and impostor is not None:
        cases.append((np.asarray(genuine), np.asarray(impostor), 0.01, "your dataset's pairs"))
        cases.append((np.asarray(genuine), np.asarray(impostor), 0.05, "your dataset's pairs"))
    for gen, imp_, far, where in cases:
        got = _call("threshold_at_far", threshold_at_far, gen, imp_, far)
        shape = np.shape(got)
        if shape != ():
            raise AssertionError(
                f"shape: threshold_at_far must return one number, got shape {shape}"
            )
        t = float(got)
        tar, far_got = _rates(gen, imp_, t)
        library = choose_threshold(gen, imp_, goal="far", far=far)
        lib_tar, lib_far = _rates(gen, imp_, library)
        label = f"on {where} with far={far}"
        if t <= far + 1e-12 and library > 0.2:
            raise AssertionError(
                f"{label}: you return {t:.4f}, which looks like a rate; return "
                "the *distance* threshold (a pair is accepted when its distance "
                "is below it)"
            )
        if far_got > far + 1e-12:
            raise AssertionError(
                f"{label}: threshold {t:.4f} accepts {far_got:.2%} of the impostor pairs, more "
                f"than the target {far:.2%}: too lenient. Pairs are accepted when distance < "
                f"threshold; count how many impostor distances fall below yours."
            )
        if tar < lib_tar - 1e-12:
            raise AssertionError(
                f"{label}: threshold {t:.4f} accepts {tar:.1%} of the genuine pairs; "
                f"{library:.4f} (the library's) accepts {lib_tar:.1%} within the same FAR "
                f"({lib_far:.2%}): too strict. Take the largest threshold whose FAR is still "
                f"<= far."
            )
    print(
        "threshold_at_far: all checks passed (hand-made distances"
        + (" and your dataset, far = 1 % and 5 %" if genuine is not None else "")
        + ")"
    )


# ---------------------------------------------------------------------------------- 03


def _expected_negatives(dist, labels, anchor, positive):
    d_ap = dist[anchor, positive]
    d_an = dist[anchor]
    is_negative = labels[None, :] != labels[anchor][:, None]
    outside = is_negative & (d_an > d_ap[:, None])
    semi = np.argmin(np.where(outside, d_an, np.inf), axis=1)
    fallback = np.argmax(np.where(is_negative, d_an, -np.inf), axis=1)
    return np.where(outside.any(axis=1), semi, fallback)


def check_semi_hard_negatives(semi_hard_negatives) -> None:
    """Check ``semi_hard_negatives(dist, labels, anchor, positive) -> negative`` (int ``(T,)``)."""
    import tensorflow as tf

    from fr_utils.evaluation.training import pairwise_squared_distances, semi_hard_triplets

    # 1. Hand-made, on a line: person 0 at 0.0 and 0.3; person 1 at 0.1 (hardest: closer than
    #    the positive), 0.5 (semi-hard), 2.0 (easy).
    x = np.array([[0.0], [0.3], [0.1], [0.5], [2.0]])
    labels = np.array([0, 0, 1, 1, 1])
    dist = (x - x.T) ** 2
    anchor, positive = np.array([0]), np.array([1])
    cases = [(dist, labels, anchor, positive, np.array([3]), "the hand-made line")]
    # 2. A random batch (16 people x 4 photos) against the library's semi_hard_triplets.
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(64, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = np.repeat(np.arange(16), 4)
    lib_a, lib_p, lib_n = (t.numpy() for t in semi_hard_triplets(labels, tf.constant(emb)))
    dist = pairwise_squared_distances(tf.constant(emb)).numpy()
    cases.append((dist, labels, lib_a, lib_p, lib_n, "a random batch (the library's answer)"))
    for dist, labels, anchor, positive, expected, where in cases:
        got = np.asarray(
            _call("semi_hard_negatives", semi_hard_negatives, dist, labels, anchor, positive)
        )
        if got.shape != expected.shape:
            raise AssertionError(
                f"shape: on {where} return one negative index per "
                f"anchor-positive pair, shape {expected.shape}; got {got.shape}"
            )
        wrong = np.flatnonzero(got != expected)
        if not len(wrong):
            continue
        i = wrong[0]
        a, p, n = anchor[i], positive[i], int(got[i])
        d_ap, d_an = dist[a, p], dist[a, n]
        if not 0 <= n < len(labels):
            raise AssertionError(
                f"on {where}: triplet {i} gets negative {n}, not a row of the batch"
            )
        if labels[n] == labels[a]:
            raise AssertionError(
                f"on {where}: triplet {i} (anchor {a}) gets negative {n}, the "
                "same person as the anchor: a negative must have another label"
            )
        if d_an <= d_ap:
            raise AssertionError(
                f"on {where}: triplet {i} gets negative {n} with d(a,n)={d_an:.3f} <= "
                f"d(a,p)={d_ap:.3f}: that is a *hard* negative. Semi-hard means the closest "
                "negative that is still further than the positive, d(a,n) > d(a,p)."
            )
        e = int(expected[i])
        raise AssertionError(
            f"on {where}: triplet {i} gets negative {n} at d(a,n)={d_an:.3f}; negative {e} at "
            f"{dist[a, e]:.3f} is closer and still further than the positive ({d_ap:.3f}). "
            "Take the *closest* such negative (and the furthest negative when none is further "
            "than the positive)."
        )
    print("semi_hard_negatives: all checks passed (hand-made line, the library on a random batch)")


# ---------------------------------------------------------------------------------- data


def data_paths() -> dict[str, Path | None]:
    """Where the notebooks look for their data: ``FACENET_SHARED`` and ``FACENET_WEIGHTS``."""
    shared = os.environ.get("FACENET_SHARED")
    shared = Path(shared).expanduser() if shared else None
    weights = os.environ.get("FACENET_WEIGHTS")
    if weights:
        weights = Path(weights).expanduser()
    elif shared is not None:
        weights = shared / "weights-aligned" / "nn4.small2.v1.h5"
    return {
        "shared": shared,
        "weights": weights,
        "course": shared / "data" / "course" if shared else None,
        "lfw": shared / "data" / "lfw" if shared else None,
    }


COURSE_FILES = [
    f"{n}.jpg"
    for n in (
        "andrew",
        "arnaud",
        "benoit",
        "bertrand",
        "dan",
        "felix",
        "kevin",
        "kian",
        "sebastiano",
        "tian",
        "younes",
    )
]
COURSE_FILES += ["danielle.png"] + [f"camera_{i}.jpg" for i in range(6)]
# Every module a notebook (or this file) imports beyond the standard library, in the order they
# are checked; `pip install -e ".[notebooks]"` installs them all (a test keeps the three in step).
NOTEBOOK_MODULES = (
    "fr_utils",
    "numpy",
    "cv2",
    "dlib",
    "tensorflow",
    "keras",
    "matplotlib",
    "sklearn",
    "IPython",
)
INSTALL = 'pip install -e ".[notebooks]"'
WEIGHTS_FIX = (
    "from the repository's folder: facenet-weights download --dest weights/   (the 226 CSV "
    "files go straight into weights/), then export FACENET_WEIGHTS=$PWD/weights before starting "
    "Jupyter (in a running notebook: %env FACENET_WEIGHTS=/path/to/the/repository/weights), "
    "and run this cell again"
)
FIXES = {
    "package": f"{sys.executable} -m {INSTALL}   (from the repository's folder; "
    "scripts/bootstrap.sh does it), then restart the kernel",
    "shared": "export FACENET_SHARED=/path/to/shared   (the folder that holds data/) before "
    "starting Jupyter (in a running notebook: %env FACENET_SHARED=/path/to/shared), and run "
    "this cell again",
    "weights": WEIGHTS_FIX,
    "course": "copy the course's images/ folder (C4W4 'Face Recognition': the 12 database "
    "photos and camera_0..5.jpg) to $FACENET_SHARED/data/course/",
    "lfw": "python -m fr_utils.evaluation.lfw_download $FACENET_SHARED/data/lfw",
}


def _import_problems() -> list[str]:
    """Import every module of :data:`NOTEBOOK_MODULES`; one line per module that fails."""
    problems = []
    try:  # first: it imports TensorFlow and Keras with their start-up lines silenced
        importlib.import_module("fr_utils.model")
        model_error = None
    except Exception as error:  # a broken install raises more than ImportError
        model_error = f"fr_utils.model ({type(error).__name__}: {error})"
    for name in NOTEBOOK_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:
            problems.append(f"{name} ({type(error).__name__}: {error})")
    if model_error and not problems:  # the modules import, yet the model module does not
        problems.append(model_error)
    return problems


def _weights_problem(path: Path) -> str | None:
    """None when ``path`` resolves to weights (``fr_utils.weights.resolve_weights``)."""
    if not path.exists():
        return f"no weights at {path}"
    try:
        from fr_utils.weights import WeightsError, resolve_weights
    except ImportError:  # the package check names that
        return None
    try:
        resolved = resolve_weights(path)
    except WeightsError:
        return f"no weights at {path}"
    if resolved.is_dir() and not any(resolved.glob("*.csv")):
        return f"{path} holds no weights (no CSV files, no nn4.small2.v1.h5)"
    return None


def _missing(what: str, paths: dict) -> str | None:
    """None when ``what`` is in place, else a sentence naming what is missing."""
    if what == "package":
        missing = _import_problems()
        return f"cannot import {'; '.join(missing)}" if missing else None
    if paths["shared"] is None and what != "weights":
        return "FACENET_SHARED is not set"
    path = paths[what if what != "shared" else "shared"]
    if what == "weights":
        if path is None:
            return "neither FACENET_WEIGHTS nor FACENET_SHARED is set"
        return _weights_problem(path)
    if what == "course":
        absent = [f for f in COURSE_FILES if not (path / f).is_file()]
        return f"{path}: missing {', '.join(absent)}" if absent else None
    if what == "lfw":
        absent = [f for f in ("pairs.txt", "people.txt") if not (path / f).is_file()]
        if not (path / "images").is_dir():
            absent.insert(0, "images/")
        return f"{path}: missing {', '.join(absent)}" if absent else None
    raise ValueError(f"unknown data piece {what!r}; choose from {sorted(FIXES)}")


def check_data(needs=("package", "weights", "course", "lfw")) -> dict[str, Path]:
    """Check each piece a notebook needs; print one line each; raise naming what is missing."""
    paths = data_paths()
    problems = []
    for what in needs:
        problem = _missing(what, paths)
        where = paths.get(what) or ", ".join(NOTEBOOK_MODULES)
        print(f"{'ok     ' if problem is None else 'MISSING'} {what:8s} {problem or where}")
        if problem is not None:
            problems.append(f"- {what}: {problem}\n    fix: {FIXES[what]}")
    if problems:
        raise RuntimeError("This notebook needs things that are not there:\n" + "\n".join(problems))
    return paths
