"""facenet-lfw-download (and ``python -m fr_utils.evaluation.lfw_download``): flags, exit codes.

The download itself is tested in tests/evaluation/test_lfw_download.py."""

import subprocess
import sys
from pathlib import Path

from fr_utils.cli.lfw_download import main

REPO = Path(__file__).resolve().parents[2]


def test_main_reports_errors_with_exit_code_1(tmp_path, capsys):
    assert main([str(tmp_path / "lfw"), "--base-url", "http://127.0.0.1:9/", "--timeout", "2"]) == 1
    assert "could not download" in capsys.readouterr().err


def test_both_forms_of_the_command_show_the_same_flags():
    for module, prog in (
        ("fr_utils.cli.lfw_download", "facenet-lfw-download"),
        ("fr_utils.evaluation.lfw_download", "python -m fr_utils.evaluation.lfw_download"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: {prog} ") and "--base-url" in done.stdout
