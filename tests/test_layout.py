"""The tests' own layout: tests/ mirrors the packages (``tests/greeter/library/test_store.py``
tests ``greeter/library/store.py``; ``test_e2e_*.py`` run a whole program), cross-cutting checks
stay at the top, and the test folders named like the packages never shadow them."""

import sys
from pathlib import Path

import fr_utils
import greeter
from tests.helpers import REPO

TESTS = REPO / "tests"
CROSS_CUTTING = {  # checks that span the packages, the scripts and the docs
    "test_course.py",
    "test_help_texts.py",
    "test_imports.py",
    "test_layout.py",
    "test_notebooks.py",
    "test_readme_commands.py",
    "test_student_install.py",
}


def test_the_packages_under_test_are_the_real_ones():
    for package in (fr_utils, greeter):
        assert Path(package.__file__).resolve() == REPO / package.__name__ / "__init__.py"
    assert str(TESTS) not in [str(Path(entry).resolve()) for entry in sys.path if entry]
    import tests.fr_utils
    import tests.greeter

    assert Path(tests.fr_utils.__file__).parent == TESTS / "fr_utils"
    assert Path(tests.greeter.__file__).parent == TESTS / "greeter"


def _module_under_test(test_file: Path) -> list[Path]:
    """Where the module a ``tests/<package>/.../test_<module>.py`` file tests may live."""
    relative = test_file.relative_to(TESTS)
    folder, name = REPO / relative.parent, relative.stem.removeprefix("test_")
    candidates = [folder / f"{name}.py", folder / f"_{name}.py", folder / name / "__init__.py"]
    if name == "main":
        candidates.append(folder / "__main__.py")
    return candidates


def test_every_test_file_mirrors_a_module():
    wrong = []
    for path in sorted(TESTS.rglob("test_*.py")):
        relative = path.relative_to(TESTS)
        if len(relative.parts) == 1:
            fits = relative.name in CROSS_CUTTING
        elif relative.parts[0] == "helpers":
            fits = False
        elif relative.stem.startswith("test_e2e_"):
            fits = any((REPO / relative.parent).glob("*.py"))  # a folder of the packages
        else:
            fits = any(candidate.is_file() for candidate in _module_under_test(path))
        if not fits:
            wrong.append(str(relative))
    assert not wrong, "test files that mirror no module (tests/<package>/test_<module>.py):\n" + (
        "\n".join(wrong)
    )


def test_every_test_folder_is_a_package():
    folders = {path.parent for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts}
    missing = sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"folders without __init__.py (imported as tests.<...>): {missing}"
