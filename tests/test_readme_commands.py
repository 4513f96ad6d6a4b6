"""README.md's commands run the project's tools one way: through ``.venv/bin/``, the environment
``scripts/bootstrap.sh`` (the quick start) creates, so a reader can copy any of them."""

import re
import shlex
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = {*tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"], "python"}
TOOLS |= {"pip", "jupyter"}


def _bash_lines(text):
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command and not command.startswith("#"):
                yield line, command


def test_readme_runs_every_tool_through_the_venv():
    loose = []
    for line, command in _bash_lines((REPO / "README.md").read_text()):
        words = [w for w in shlex.split(command) if not re.fullmatch(r"[A-Z_]+=\S*", w)]
        if words and words[0] in TOOLS:
            loose.append(line)
    assert not loose, "write these as .venv/bin/<tool>: " + "; ".join(loose)


def test_the_check_sees_the_commands():
    lines = [c for _, c in _bash_lines((REPO / "README.md").read_text())]
    assert any(c.startswith(".venv/bin/greeter-library add") for c in lines)
    assert any(c.startswith(".venv/bin/facenet-tune") for c in lines)
