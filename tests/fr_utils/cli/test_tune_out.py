"""``facenet-tune`` writes its reports outside the current folder unless ``--out`` says where:
``tuning-report/`` in the encoding cache folder, printed."""

import shutil

import pytest

from fr_utils.cli import tune as cli_tune
from fr_utils.evaluation.report import REPORT_DIR_NAME, default_report_dir


def test_default_report_dir_is_in_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FACENET_CACHE", str(tmp_path / "cache"))
    assert default_report_dir() == tmp_path / "cache" / REPORT_DIR_NAME
    monkeypatch.delenv("FACENET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_report_dir() == tmp_path / "xdg" / "facenet" / REPORT_DIR_NAME


def test_help_names_the_default(capsys):
    with pytest.raises(SystemExit):
        cli_tune.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {REPORT_DIR_NAME}/ in the cache folder (--cache); the run prints it)" in text
    assert "--out tuning-report" not in text


@pytest.mark.shared
@pytest.mark.slow
def test_reports_go_to_the_cache_folder_not_the_current_one(
    lfw_dir, weights_path, tmp_path, monkeypatch, capsys
):
    dataset = tmp_path / "photos"
    for person in ("Aaron_Peirsol", "Abdullah_Gul", "Alvaro_Uribe"):
        (dataset / person).mkdir(parents=True)
        for photo in sorted((lfw_dir / "images" / person).glob("*.jpg"))[:3]:
            shutil.copy(photo, dataset / person / photo.name)
    cwd = tmp_path / "repository"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("FACENET_CACHE", str(tmp_path / "cache"))
    argv = [str(dataset), "--weights", str(weights_path), "--runtime", "tensorflow", "--quiet"]
    assert cli_tune.main([*argv, "--no-flip"]) == 0
    reports = tmp_path / "cache" / REPORT_DIR_NAME
    assert {"report.json", "report.md", "histograms.png", "roc.png"} <= {
        p.name for p in reports.iterdir()
    }
    assert f"wrote {reports}/report.json" in capsys.readouterr().out
    assert list(cwd.iterdir()) == []  # nothing written where it ran
    assert cli_tune.main([*argv, "--out", "here"]) == 0  # --out still decides
    assert (cwd / "here" / "report.json").is_file()
    assert cli_tune.main([*argv, "--cache", str(tmp_path / "other")]) == 0  # --cache moves it
    assert (tmp_path / "other" / REPORT_DIR_NAME / "report.json").is_file()
