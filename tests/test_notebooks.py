"""The notebooks: solved ones run top to bottom; student ones are generated, and their checks fail.

* The solved notebooks (``notebooks/*.ipynb``) are the source, executed with outputs committed.
* ``notebooks/student/`` is generated from them by ``scripts/make_student_notebooks.py``
  (nbgrader's ClearSolutions + ClearOutput); a test says when it is out of date.
* Executing a student notebook, every check cell (tagged ``check``) must fail with an
  ``AssertionError`` naming its exercise, and every other cell must still run.
* ``notebooks/checks.py`` must catch the usual mistakes and say which one it is.

Notebooks run in a kernel of the interpreter running the tests (``python3``), with the notebooks
folder as working directory, in memory: the committed outputs are never rewritten.
"""

import importlib.util
import os
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
STUDENT = NOTEBOOKS / "student"
CELL_TIMEOUT = 600  # seconds per cell

# Lines each solved notebook must print, and the exercises (function names) of each.
EXPECTED = {
    "01_face_recognition.ipynb": [
        "Total Params: 3,743,280",
        "loss = 528.143",
        "It's younes, welcome home!",
        "It's not kian, please go away",
        "it's younes, the distance is",
        "triplet_loss: all checks passed",
        "verify: all checks passed",
        "who_is_it: all checks passed",
    ],
    "02_threshold_tuning.ipynb": [
        "RECOMMENDED threshold",
        '"threshold"',
        "threshold_at_far: all checks passed",
    ],
    "03_triplet_training.ipynb": [
        "AUC before: held-out",
        "trunk features:",
        "semi_hard_negatives: all checks passed",
    ],
}
EXERCISES = {
    "01_face_recognition.ipynb": ["triplet_loss", "verify", "who_is_it"],
    "02_threshold_tuning.ipynb": ["threshold_at_far"],
    "03_triplet_training.ipynb": ["semi_hard_negatives"],
}
MIN_IMAGES = {
    "01_face_recognition.ipynb": 5,
    "02_threshold_tuning.ipynb": 5,
    "03_triplet_training.ipynb": 6,
}
NOISE = re.compile(
    r"I0000|absl::InitializeLog|cuda drivers|oneDNN|several faces found|"
    r"Warning:|WARNING"
)


def _module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checks():
    return _module("checks", NOTEBOOKS / "checks.py")


@pytest.fixture(scope="module")
def maker():
    return _module("make_student_notebooks", REPO / "scripts" / "make_student_notebooks.py")


def _text_outputs(nb):
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
                parts.append(output["data"].get("text/markdown", ""))
    return "\n".join(parts)


def _check_cells(nb):
    return [cell for cell in nb.cells if "check" in cell.metadata.get("tags", [])]


# ------------------------------------------------------------------ fast: structure


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)
    assert sorted(p.name for p in STUDENT.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_student_notebook_is_up_to_date(name, maker):
    assert (STUDENT / name).read_text() == maker.render(NOTEBOOKS / name), (
        f"notebooks/student/{name} is out of date: run "
        ".venv/bin/python scripts/make_student_notebooks.py"
    )


def test_student_checks_are_up_to_date(maker):
    assert maker.main(["--check"]) == 0
    assert (STUDENT / "checks.py").read_text() == (NOTEBOOKS / "checks.py").read_text()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_student_notebook_has_stubs_and_no_answers(name):
    solved = nbformat.read(NOTEBOOKS / name, as_version=4)
    student = nbformat.read(STUDENT / name, as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert not any(cell.get("outputs") for cell in student.cells if cell.cell_type == "code")
    stubs = [cell for cell in student.cells if "raise NotImplementedError()" in cell.source]
    defined = [re.search(r"^def (\w+)", cell.source, re.M).group(1) for cell in stubs]
    assert defined == EXERCISES[name]
    # the next code cell after each exercise is its check, in the solved and the student notebook
    for nb in (solved, student):
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        after = [
            code[i + 1]
            for i, cell in enumerate(code)
            if "BEGIN SOLUTION" in cell.source or "NotImplementedError()" in cell.source
        ]
        assert len(after) == len(EXERCISES[name]) == len(_check_cells(nb)), name
        assert all("check" in cell.metadata.get("tags", []) for cell in after), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_outputs_are_tidy_and_have_pictures(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"], f"{name} has a saved error"
    noise = [
        line
        for o in outputs
        if o.output_type == "stream"
        for line in o.text.splitlines()
        if NOISE.search(line)
    ]
    assert not noise, f"{name}: log or warning lines in the saved outputs: {noise[:3]}"
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert images >= MIN_IMAGES[name], f"{name}: {images} inline images"
    missing = [line for line in EXPECTED[name] if line not in _text_outputs(nb)]
    assert not missing, f"{name}: the saved outputs do not show {missing}"
    first_code = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert 'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")' in first_code.source
    assert "check_data" in first_code.source
    assert "max_pooling2d" not in "\n".join(cell.source for cell in nb.cells)


# ------------------------------------------------------------------ fast: the checks


def test_data_check_names_each_missing_piece_and_its_fix(checks, tmp_path, monkeypatch):
    monkeypatch.setenv("FACENET_SHARED", str(tmp_path))
    monkeypatch.setenv("FACENET_WEIGHTS", str(tmp_path / "nope.h5"))
    (tmp_path / "data" / "lfw" / "images").mkdir(parents=True)
    (tmp_path / "data" / "lfw" / "pairs.txt").write_text("10\t300\n")
    with pytest.raises(RuntimeError) as error:
        checks.check_data(needs=("weights", "course", "lfw"))
    message = str(error.value)
    assert "weights: no weights at" in message and "facenet-weights download" in message
    assert "course:" in message and "camera_5.jpg" in message
    assert "lfw:" in message and "people.txt" in message and "pairs.txt," not in message
    assert "lfw_download" in message
    monkeypatch.delenv("FACENET_SHARED")
    monkeypatch.delenv("FACENET_WEIGHTS")
    with pytest.raises(RuntimeError, match="FACENET_SHARED is not set"):
        checks.check_data(needs=("lfw",))


def _tf_loss(kind):
    import tensorflow as tf

    def loss(y_true, y_pred, alpha=0.2):
        a, p, n = y_pred[0], y_pred[1], y_pred[2]
        pos = tf.reduce_sum(tf.square(a - p), axis=-1)
        neg = tf.reduce_sum(tf.square(a - n), axis=-1)
        if kind == "plain":
            pos, neg = tf.sqrt(pos), tf.sqrt(neg)
        if kind == "sign":
            pos, neg = neg, pos
        basic = pos - neg + (0.0 if kind == "no margin" else alpha)
        if kind == "no max":
            return tf.reduce_sum(basic)
        if kind == "shape":
            return tf.maximum(basic, 0.0)
        if kind == "mean":
            return tf.reduce_mean(tf.maximum(basic, 0.0))
        if kind == "stub":
            raise NotImplementedError()
        return tf.reduce_sum(tf.maximum(basic, 0.0))

    return loss


@pytest.mark.model  # the check runs TensorFlow
@pytest.mark.parametrize(
    "kind, says",
    [
        ("plain", "plain (not squared)"),
        ("sign", "sign"),
        ("no margin", "margin"),
        ("no max", "max(., 0) missing"),
        ("shape", "shape"),
        ("mean", "mean instead of sum"),
        ("stub", "triplet_loss is not written yet"),
    ],
)
def test_triplet_loss_check_names_the_mistake(checks, kind, says):
    with pytest.raises(AssertionError, match=re.escape(says)):
        checks.check_triplet_loss(_tf_loss(kind))


@pytest.mark.model  # the check runs TensorFlow
def test_triplet_loss_check_passes_the_formula(checks, capsys):
    assert abs(checks.check_triplet_loss(_tf_loss("right")) - 528.143) < 0.01
    assert "loss = 528.143" in capsys.readouterr().out


def _threshold_fn(kind):
    def fn(genuine, impostor, far=0.01):
        imp = np.sort(impostor)
        allowed = int(np.floor(far * len(imp) + 1e-9))
        if kind == "stub":
            raise NotImplementedError()
        if kind == "rate":
            return far
        if kind == "lenient":
            return float(imp[allowed + 3])
        if kind == "strict":
            return float(imp[0])
        if kind == "array":
            return imp[:2]
        return float(imp[allowed])

    return fn


@pytest.mark.parametrize(
    "kind, says",
    [
        ("stub", "threshold_at_far is not written yet"),
        ("rate", "looks like a rate"),
        ("lenient", "too lenient"),
        ("strict", "too strict"),
        ("array", "shape"),
    ],
)
def test_threshold_check_names_the_mistake(checks, kind, says):
    with pytest.raises(AssertionError, match=re.escape(says)):
        checks.check_threshold_at_far(_threshold_fn(kind))


def test_threshold_check_passes_the_answer(checks):
    rng = np.random.default_rng(0)
    checks.check_threshold_at_far(
        _threshold_fn("right"), rng.normal(0.8, 0.15, 300), rng.normal(1.3, 0.15, 5000)
    )


def _negatives_fn(kind):
    def fn(dist, labels, anchor, positive):
        d_ap = dist[anchor, positive][:, None]
        d_an = dist[anchor]
        negative = labels[None, :] != labels[anchor][:, None]
        if kind == "stub":
            raise NotImplementedError()
        if kind == "hardest":
            return np.argmin(np.where(negative, d_an, np.inf), axis=1)
        if kind == "same person":
            return np.argmin(np.where(d_an > d_ap, d_an, np.inf), axis=1)
        if kind == "furthest":
            return np.argmax(np.where(negative & (d_an > d_ap), d_an, -np.inf), axis=1)
        if kind == "shape":
            return np.zeros((len(anchor), 1), int)
        further = negative & (d_an > d_ap)
        return np.where(
            further.any(axis=1),
            np.argmin(np.where(further, d_an, np.inf), axis=1),
            np.argmax(np.where(negative, d_an, -np.inf), axis=1),
        )

    return fn


@pytest.mark.model  # the check runs TensorFlow
@pytest.mark.parametrize(
    "kind, says",
    [
        ("stub", "semi_hard_negatives is not written yet"),
        ("hardest", "*hard* negative"),
        ("same person", "same person as the anchor"),
        ("furthest", "is closer and still further"),
        ("shape", "shape"),
    ],
)
def test_semi_hard_check_names_the_mistake(checks, kind, says):
    with pytest.raises(AssertionError, match=re.escape(says)):
        checks.check_semi_hard_negatives(_negatives_fn(kind))


@pytest.mark.model  # the check runs TensorFlow
def test_semi_hard_check_passes_the_answer(checks):
    checks.check_semi_hard_negatives(_negatives_fn("right"))


# ------------------------------------------------------------------ slow: execution


def _execute(path, shared_dir, weights_path, tmp_path, monkeypatch, allow_errors=False):
    """Run the notebook in memory, in its own folder (student notebooks import their checks.py)."""
    monkeypatch.setenv("FACENET_SHARED", str(shared_dir))
    monkeypatch.setenv("FACENET_WEIGHTS", str(weights_path))
    monkeypatch.setenv("FACENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACENET_LONG_RUN", "0")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # start from a blank notebook: no stale outputs can pass the checks
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_solved_notebook_runs_top_to_bottom(name, shared_dir, weights_path, tmp_path, monkeypatch):
    nb = _execute(NOTEBOOKS / name, shared_dir, weights_path, tmp_path, monkeypatch)
    text = _text_outputs(nb)
    missing = [line for line in EXPECTED[name] if line not in text]
    assert not missing, f"{name} did not print {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_student_notebook_checks_fail_and_the_rest_runs(
    name, shared_dir, weights_path, tmp_path, monkeypatch
):
    nb = _execute(
        STUDENT / name, shared_dir, weights_path, tmp_path, monkeypatch, allow_errors=True
    )
    exercises = iter(EXERCISES[name])
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "check" in cell.metadata.get("tags", []):
            exercise = next(exercises)
            assert len(errors) == 1, f"{name} cell {index}: the check of {exercise} did not fail"
            assert errors[0].ename == "AssertionError", (name, index, errors[0].ename)
            assert f"{exercise} is not written yet" in errors[0].evalue, errors[0].evalue
        else:
            assert not errors, (
                f"{name} cell {index} failed in the student version: "
                f"{errors[0].ename}: {errors[0].evalue}"
            )
    assert next(exercises, None) is None
