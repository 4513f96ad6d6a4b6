"""facenet-lfw-download (and ``python -m fr_utils.evaluation.lfw_download``): flags, exit codes.

The download itself is tested in tests/fr_utils/evaluation/test_lfw_download.py."""

from fr_utils.cli.lfw_download import main
from tests.helpers.processes import run_python


def test_main_reports_errors_with_exit_code_1(tmp_path, capsys):
    assert main([str(tmp_path / "lfw"), "--base-url", "http://127.0.0.1:9/", "--timeout", "2"]) == 1
    assert "could not download" in capsys.readouterr().err


def test_both_forms_of_the_command_show_the_same_flags():
    for module, prog in (
        ("fr_utils.cli.lfw_download", "facenet-lfw-download"),
        ("fr_utils.evaluation.lfw_download", "python -m fr_utils.evaluation.lfw_download"),
    ):
        done = run_python("-m", module, "--help", timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: {prog} ") and "--base-url" in done.stdout
