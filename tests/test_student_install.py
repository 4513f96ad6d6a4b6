"""The student install: what notebooks/README.md says gives everything the notebooks need.

* fast: every module the notebooks (and ``checks.py``) import is in ``checks.NOTEBOOK_MODULES``,
  the list the data check imports, and the ``notebooks`` extra installs each of them; the check
  names a module that cannot be imported and the install line that fixes it; the weights layout
  ``facenet-weights download --dest weights/`` writes (CSV files straight in ``weights/``) is the
  one every instruction and fix names, and the check accepts it;
* slow (``slow``, ``shared``): the install line of notebooks/README.md, run in a fresh virtual
  environment under /tmp, then ``scripts/execute_notebooks.py`` runs notebook 01 in it. The
  environment is made once and reused while pyproject.toml and the line are unchanged
  (``$FACENET_STUDENT_VENV`` moves it); it prints the time and size of the install and the
  notebook's run time.
"""

import ast
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from fr_utils.weights import resolve_weights

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SOLVED = sorted(NOTEBOOKS.glob("0*.ipynb"))
PROJECT = "keras-facenet-greeter"


@pytest.fixture(scope="module")
def checks():
    spec = importlib.util.spec_from_file_location("notebook_checks", NOTEBOOKS / "checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------- fast: the imports and the extra


def _top_level_imports(source):
    """Top-level package names imported by ``source`` (IPython magics and shell lines skipped)."""
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


def _notebook_imports():
    found = {}
    sources = [(NOTEBOOKS / "checks.py", (NOTEBOOKS / "checks.py").read_text())]
    for path in SOLVED:
        nb = nbformat.read(path, as_version=4)
        sources += [(path, cell.source) for cell in nb.cells if cell.cell_type == "code"]
    for path, source in sources:
        for name in _top_level_imports(source):
            if name not in sys.stdlib_module_names and name not in ("__future__", "checks"):
                found.setdefault(name, path.name)
    return found


def test_the_package_check_covers_every_notebook_import(checks):
    imports = _notebook_imports()
    assert {"fr_utils", "tensorflow", "matplotlib", "sklearn"} <= set(imports)  # the parser works
    unchecked = {
        name: where for name, where in imports.items() if name not in checks.NOTEBOOK_MODULES
    }
    assert not unchecked, f"add these to NOTEBOOK_MODULES in notebooks/checks.py: {unchecked}"


def _extra_requirements(extra):
    """The project's requirements with ``extra``, self-references (``project[keras]``) expanded."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    optional, done = project["optional-dependencies"], set()
    requirements, todo = list(project["dependencies"]), [extra]
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        for text in optional[name]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == PROJECT:
                todo.extend(requirement.extras)
            else:
                requirements.append(text)
    return [Requirement(text) for text in requirements]


def _closure(requirements):
    """Canonical names of the distributions these requirements pull in, here (markers
    evaluated for this machine; transitive requirements from the installed metadata)."""
    seen, todo = set(), [(r, "") for r in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras)
        if (name, tuple(extras)) in seen:
            continue
        seen.add((name, tuple(extras)))
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            for wanted in ["", *extras]:
                todo.append((Requirement(text), wanted))
    return {name for name, _ in seen}


def _providers(module):
    """Canonical names of the installed distributions that hold ``module``: by their
    top-level names, else by their file lists (dlib-bin's top_level.txt omits ``dlib``)."""
    named = metadata.packages_distributions().get(module)
    if named:
        return {canonicalize_name(d) for d in named}
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return set()
    origin = Path(spec.origin).resolve()
    return {
        canonicalize_name(dist.metadata["Name"])
        for dist in metadata.distributions()
        if any(Path(dist.locate_file(f)).resolve() == origin for f in dist.files or [])
    }


def test_the_notebooks_extra_installs_every_checked_module(checks):
    pulled_in = _closure(_extra_requirements("notebooks"))
    missing = {}
    for module in checks.NOTEBOOK_MODULES:
        if module == "fr_utils":
            continue
        dists = _providers(module)
        if not dists:
            pytest.fail(f"{module} is not installed here: install the project with .[all]")
        if not dists & pulled_in:
            missing[module] = sorted(dists)
    assert not missing, f'pip install -e ".[notebooks]" does not install {missing}'


def test_the_package_check_names_a_missing_module_and_the_fix(checks, monkeypatch, capsys):
    monkeypatch.setattr(checks, "NOTEBOOK_MODULES", ("numpy", "matplotlib", "no_such_module_x"))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "fr_utils.model", None)  # keep TensorFlow out of a fast test
    with pytest.raises(RuntimeError) as error:
        checks.check_data(needs=("package",))
    message = str(error.value)
    assert "package: cannot import matplotlib (ModuleNotFoundError" in message
    assert "no_such_module_x (ModuleNotFoundError" in message and "numpy" not in message
    assert f'{sys.executable} -m pip install -e ".[notebooks]"' in message
    assert capsys.readouterr().out.startswith("MISSING package  cannot import matplotlib")


# ------------------------------------------------------------------- fast: the weights layout

TEXTS = [
    REPO / "README.md",
    NOTEBOOKS / "README.md",
    REPO / "weights" / "README.md",
    NOTEBOOKS / "checks.py",
    *SOLVED,
    *sorted((REPO / "docs").glob("*.md")),
    *sorted((REPO / "fr_utils").rglob("*.py")),
    *sorted((REPO / "scripts").glob("*")),
]


def test_every_text_names_the_folder_the_download_fills():
    """``facenet-weights download --dest weights/`` writes the CSV files straight into weights/:
    a FACENET_WEIGHTS value is that folder (``.../weights``) or an HDF5 file, never a
    ``weights/nn4.small2.v1`` folder nobody made."""
    wrong = []
    for path in TEXTS:
        if not path.is_file():
            continue
        for value in re.findall(r"FACENET_WEIGHTS=([^\s)`\"',;\\]+)", path.read_text()):
            if value != "..." and not value.endswith((".h5", "/weights")):
                wrong.append(f"{path.relative_to(REPO)}: FACENET_WEIGHTS={value}")
    assert not wrong


def test_the_weights_check_accepts_the_download_layout(checks, tmp_path, monkeypatch):
    weights = tmp_path / "repo" / "weights"  # as the download leaves it (one file is enough)
    weights.mkdir(parents=True)
    (weights / "conv1_w.csv").write_text("0.5\n")
    assert resolve_weights(weights) == weights
    monkeypatch.setenv("FACENET_WEIGHTS", str(weights))
    assert checks.check_data(needs=("weights",))["weights"] == weights

    monkeypatch.setenv("FACENET_WEIGHTS", str(weights / "nn4.small2.v1"))  # the old, wrong fix
    with pytest.raises(RuntimeError) as error:
        checks.check_data(needs=("weights",))
    message = str(error.value)
    assert f"no weights at {weights / 'nn4.small2.v1'}" in message
    assert "facenet-weights download --dest weights/" in message
    assert "FACENET_WEIGHTS=$PWD/weights " in message
    assert "%env FACENET_WEIGHTS=" in message and "run this cell again" in message

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("FACENET_WEIGHTS", str(empty))
    with pytest.raises(RuntimeError, match="holds no weights"):
        checks.check_data(needs=("weights",))


# ------------------------------------------------------- slow: a fresh install runs notebook 01

VENV = Path(os.environ.get("FACENET_STUDENT_VENV", "/tmp/facenet-student-venv"))
STAMP = ".facenet-student-install.json"
INSTALL_TIMEOUT = 3600
RUN_TIMEOUT = 1200
NOTEBOOK = "01_face_recognition.ipynb"
EXPECTED_01 = [
    "ok      package  fr_utils, numpy, cv2, dlib, tensorflow, keras, matplotlib, sklearn, IPython",
    "Total Params: 3,743,280",
    "It's younes, welcome home!",
    "triplet_loss: all checks passed",
    "who_is_it: all checks passed",
]


def _install_line():
    """The one install line of notebooks/README.md, as argv run from the repository's folder."""
    lines = [
        line.split("  #")[0].strip()
        for line in (NOTEBOOKS / "README.md").read_text().splitlines()
        if line.startswith(".venv/bin/pip install") and ".[notebooks]" in line
    ]
    assert len(lines) == 1, f"notebooks/README.md: one install line expected, found {lines}"
    argv = shlex.split(lines[0])
    return lines[0], [str(VENV / "bin" / "pip"), *argv[1:]]


def _clean_env(**extra):
    """This process's environment without what would leak another environment into the venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("JUPYTER")
    }
    env.update(PYTHONNOUSERSITE="1", PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    env.update(extra)
    return env


def _size_mb(folder):
    return (
        sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    )


def _fresh_venv():
    """Create VENV and run the README's install line in it, once per pyproject.toml/line/repo;
    returns the stamp: key, seconds, size."""
    line, argv = _install_line()
    key = hashlib.sha256(
        "\n".join([(REPO / "pyproject.toml").read_text(), line, str(REPO), sys.version]).encode()
    ).hexdigest()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{VENV}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time, whoever runs this test
        stamp_path = VENV / STAMP
        if stamp_path.is_file():
            stamp = json.loads(stamp_path.read_text())
            if stamp.get("key") == key:
                return {**stamp, "reused": True}
        shutil.rmtree(VENV, ignore_errors=True)
        start = time.perf_counter()
        base = getattr(sys, "_base_executable", sys.executable)
        steps = [[base, "-m", "venv", str(VENV)], argv]
        for step in steps:
            done = subprocess.run(
                step,
                cwd=REPO,
                env=_clean_env(),
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
            )
            if done.returncode != 0:
                shutil.rmtree(VENV, ignore_errors=True)
                pytest.fail(
                    f"{' '.join(step)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                    f"{done.stderr[-3000:]}"
                )
        stamp = {
            "key": key,
            "line": line,
            "install_seconds": round(time.perf_counter() - start, 1),
            "size_mb": round(_size_mb(VENV)),
        }
        stamp_path.write_text(json.dumps(stamp, indent=1))
        return {**stamp, "reused": False}


@pytest.mark.slow
@pytest.mark.shared
def test_fresh_install_runs_notebook_01(shared_dir, weights_path, course_dir, lfw_dir, tmp_path):
    stamp = _fresh_venv()
    print(
        f"\nfresh venv {VENV}: `{stamp['line']}` took {stamp['install_seconds']} s, "
        f"{stamp['size_mb']} MB" + (" (made earlier, reused)" if stamp["reused"] else "")
    )

    folder = tmp_path / "notebooks"  # a copy: execute_notebooks.py saves the notebook it runs
    folder.mkdir()
    shutil.copy(NOTEBOOKS / "checks.py", folder / "checks.py")
    nb = nbformat.read(NOTEBOOKS / NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('import sys\nprint("kernel prefix:", sys.prefix)'))
    nbformat.write(nb, folder / NOTEBOOK)
    env = _clean_env(
        FACENET_SHARED=str(shared_dir),
        FACENET_WEIGHTS=str(weights_path),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),  # no user kernelspec can step in
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        MPLCONFIGDIR=str(tmp_path / "matplotlib"),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [
            str(VENV / "bin" / "python"),
            str(REPO / "scripts" / "execute_notebooks.py"),
            str(folder / NOTEBOOK),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    print(f"notebook 01 in the fresh venv: {seconds:.1f} s ({done.stdout.strip()})")

    ran = nbformat.read(folder / NOTEBOOK, as_version=4)
    text = "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for cell in ran.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert f"kernel prefix: {VENV}" in text  # the fresh environment ran it, not this one
    missing = [line for line in EXPECTED_01 if line not in text]
    assert not missing, f"notebook 01 in the fresh venv did not print {missing}"
    errors = [
        o for c in ran.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors


def test_the_license_is_an_spdx_string():
    """``license = { text = ... }`` makes setuptools >= 77 print a deprecation warning."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["build-system"]["requires"] == ["setuptools>=77"]


@pytest.mark.slow
def test_the_build_prints_no_setuptools_deprecation():
    """pip hides the build backend's warnings unless -v: build the project verbosely in the
    fresh environment (no dependencies) and look (``project.license`` is an SPDX string)."""
    _fresh_venv()
    done = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-v", "--no-deps", "-e", "."],
        cwd=REPO,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [
        line for line in (done.stdout + done.stderr).splitlines() if "DeprecationWarning" in line
    ]
    assert not warnings
