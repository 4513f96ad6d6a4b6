"""README.md's commands run the project's tools one way: through ``.venv/bin/``, the environment
``scripts/bootstrap.sh`` (the quick start) creates, or, on an installed kiosk, as root through the
commands ``scripts/install_kiosk.sh`` puts on the PATH (``sudo greeter-library ...``), so a reader
can copy any of them."""

import re
import shlex
import tomllib

from tests.helpers import REPO

TOOLS = {*tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"], "python"}
TOOLS |= {"pip", "jupyter"}


def _bash_lines(text):
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        pending = ""
        for line in block.splitlines():
            command = pending + line.split("  #")[0].strip()
            if command.endswith("\\"):  # continued on the next line
                pending = command[:-1] + " "
                continue
            pending = ""
            if command and not command.startswith("#"):
                yield line, command


def test_readme_runs_every_tool_through_the_venv():
    loose = []
    for line, command in _bash_lines((REPO / "README.md").read_text()):
        words = [w for w in shlex.split(command) if not re.fullmatch(r"[A-Z_]+=\S*", w)]
        if words[:1] == ["sudo"]:  # an installed kiosk's commands (scripts/install_kiosk.sh)
            continue
        if words and words[0] in TOOLS:
            loose.append(line)
    assert not loose, "write these as .venv/bin/<tool>: " + "; ".join(loose)


def test_the_check_sees_the_commands():
    lines = [c for _, c in _bash_lines((REPO / "README.md").read_text())]
    assert any(c.startswith(".venv/bin/greeter-library add") for c in lines)
    assert any(c.startswith(".venv/bin/facenet-tune") for c in lines)


DOCS = ["README.md", "docs/*.md", "*/README.md", "notebooks/README.md"]
FILE_NAMED = re.compile(r"\b((?:tests|bench|scripts|deploy|docs)/[\w./-]+\.(?:py|sh|md|service))\b")


def test_every_repository_file_the_docs_name_exists():
    """A test, benchmark or script the documentation points at is there under that name (files
    move when the tree does)."""
    missing = []
    for pattern in DOCS:
        for doc in sorted(REPO.glob(pattern)):
            for name in FILE_NAMED.findall(doc.read_text()):
                if not (REPO / name).is_file() and not (doc.parent / name).is_file():
                    missing.append(f"{doc.relative_to(REPO)}: {name}")
    assert missing == []
