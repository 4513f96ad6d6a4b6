"""Make the student notebooks from the solved ones: notebooks/*.ipynb -> notebooks/student/.

    .venv/bin/python scripts/make_student_notebooks.py          # write notebooks/student/
    .venv/bin/python scripts/make_student_notebooks.py --check  # exit 1 if they are out of date

The solved notebooks are the source. In their exercise cells the answer sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION``; nbgrader's ``ClearSolutions`` preprocessor
(the tool nbgrader's ``generate_assignment`` uses) replaces each such region with
``# YOUR CODE HERE`` / ``raise NotImplementedError()``, and ``ClearOutput`` drops every output
(the saved outputs would show the answers). The check cells that follow each exercise then
fail with their own message until the student writes the code. ``notebooks/checks.py`` is
copied beside them, so ``notebooks/student/`` is a folder a student can take away whole.

Only the two preprocessors are used, not nbgrader's course database (``nbgrader
generate_assignment`` needs a course directory and a gradebook): exercise cells are not given
nbgrader cell metadata, so ``enforce_metadata`` is off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearOutput, ClearSolutions

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
STUDENT = NOTEBOOKS / "student"
CHECKS = NOTEBOOKS / "checks.py"  # the exercises' checks, copied beside the student notebooks


def student_version(solved: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook for ``solved``: solution regions stubbed, outputs cleared."""
    nb = nbformat.from_dict(solved)  # a copy
    resources: dict = {}
    nb, resources = ClearSolutions(enforce_metadata=False).preprocess(nb, resources)
    nb, resources = ClearOutput().preprocess(nb, resources)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def render(path: Path) -> str:
    """The text of the student version of the solved notebook at ``path``."""
    nb = student_version(nbformat.read(path, as_version=4))
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 when a student notebook is out of date",
    )
    args = parser.parse_args(argv)
    stale = []
    STUDENT.mkdir(exist_ok=True)
    sources = [(STUDENT / path.name, render(path)) for path in sorted(NOTEBOOKS.glob("*.ipynb"))]
    sources.append((STUDENT / CHECKS.name, CHECKS.read_text()))
    for target, text in sources:
        if target.exists() and target.read_text() == text:
            continue
        if args.check:
            stale.append(target)
            continue
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(target)
        print(f"wrote {target}")
    if stale:
        print(
            "out of date (run scripts/make_student_notebooks.py):",
            ", ".join(str(p) for p in stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
