"""facenet-tune end to end: a data set of people (an LFW subset) and the LFW benchmark (a tiny
pairs file): reports, plots, a config the greeter reads; bad input and an unwritable config are
messages, not tracebacks."""

import json
import shutil

import cv2
import numpy as np
import pytest

from fr_utils.cli import tune as cli_tune
from fr_utils.evaluation import datasets
from fr_utils.evaluation.report import REPORT_DIR_NAME, default_report_dir
from fr_utils.weight_files import provenance
from tests.helpers.images import assert_png, touch_photos


def test_write_config_to_an_unwritable_place_is_a_message_not_a_traceback(tmp_path, capsys):
    from fr_utils.cli import run
    from fr_utils.evaluation.report import write_config

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    target = blocker / "greeter.json"  # its folder cannot exist
    assert run("facenet-tune", lambda: write_config(target, 0.8, {})) == 2
    err = capsys.readouterr().err
    assert err.startswith("facenet-tune: error: ") and "a-file" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_benchmark_end_to_end_on_a_tiny_pairs_file(lfw_dir, weights_path, tmp_path):
    """10 folds x (2 matched + 2 mismatched) real LFW pairs, plus one photo with no face."""
    real = datasets.read_pairs(lfw_dir / datasets.PAIRS_FILE)
    root = tmp_path / "lfw"
    lines = ["10\t2"]
    for fold in range(10):
        rows = np.flatnonzero(real.fold == fold)
        for i in [*rows[:2], *rows[300:302]]:
            for rel in (real.first[i], real.second[i]):
                (root / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
                if not (root / "images" / rel).exists():
                    (root / "images" / rel).symlink_to(datasets.images_dir(lfw_dir) / rel)
            a, b = (p.split("/")[1][:-4] for p in (real.first[i], real.second[i]))
            name_a, n_a = a.rsplit("_", 1)
            name_b, n_b = b.rsplit("_", 1)
            lines.append(
                f"{name_a}\t{int(n_a)}\t{int(n_b)}"
                if real.same[i]
                else f"{name_a}\t{int(n_a)}\t{name_b}\t{int(n_b)}"
            )
    # the last mismatched pair's second photo becomes a blank wall: no face is found
    blank = root / "images" / real.second[np.flatnonzero(real.fold == 9)[301]]
    blank.unlink()
    cv2.imwrite(str(blank), np.full((250, 250, 3), 200, np.uint8))
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    config = tmp_path / "greeter.json"
    code = cli_tune.main(
        [
            "--lfw",
            str(root),
            "--weights",
            str(weights_path),
            "--quiet",
            "--cache",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "out"),
            "--write-config",
            str(config),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "out" / "lfw_report.json").read_text())
    assert report["folds_1_10"]["folds"] == 10 and report["folds_6_10"]["folds"] == 5
    # the blank wall, and at most a couple of real photos dlib's frontal detector misses
    assert str(blank) in report["centre_box_fallback"]
    assert len(report["centre_box_fallback"]) <= 3
    assert 0.5 < report["folds_1_10"]["accuracy_mean"] <= 1.0
    assert 0.5 < report["auc_1_10"] <= 1.0
    for name in ("lfw_histograms.png", "lfw_roc.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert cv2.imread(str(tmp_path / "out" / name)) is not None
    assert json.loads(config.read_text())["threshold"] == pytest.approx(
        report["threshold_far_6_10"], abs=1e-4
    )
    # the table names the weights actually loaded, from their hashes
    table = (tmp_path / "out" / "lfw_report.md").read_text()
    label = f"{provenance(weights_path).label()}, aligned, flip-average, tensorflow"
    assert f"{label}, folds 1-10" in table  # no LiteRT export in this cache: TensorFlow


@pytest.mark.slow
def test_main_end_to_end_on_lfw_subset(first_run, lfw_subset):
    assert first_run["code"] == 0
    out = first_run["work"] / "out"
    assert_png(out / "histograms.png")
    assert_png(out / "roc.png")
    report = json.loads((out / "report.json").read_text())
    assert report["people"] == 11 and report["encoded_now"] >= 100
    assert report["people_with_one_photo"] == [lfw_subset["solo"]]
    assert str(lfw_subset["blank"]) in report["skipped_photos"]
    assert "no face" in report["skipped_photos"][str(lfw_subset["blank"])]
    assert report["genuine_pairs"] == report["genuine_pairs_total"]  # < 2000: all kept
    assert report["impostor_pairs"] == 2000 < report["impostor_pairs_total"]
    assert 0.85 < report["auc"] <= 1.0  # LFW-like faces: far from chance
    assert report["cv_far"]["folds"] == 5
    assert 0.3 < report["recommended_threshold"] < 1.3
    assert "RECOMMENDED" in (out / "report.md").read_text()


@pytest.mark.slow
def test_main_writes_a_config_the_greeter_reads(first_run):
    config = json.loads(first_run["config"].read_text())
    report = json.loads((first_run["work"] / "out" / "report.json").read_text())
    assert config["camera"] == 1 and config["cooldown"] == 60  # kept
    assert config["threshold"] == pytest.approx(report["recommended_threshold"], abs=1e-4)
    assert config["tuning"]["far_target"] == 0.01
    assert config["tuning"]["cv"]["folds"] == 5
    assert config["tuning"]["weights_fingerprint"] == report["weights_fingerprint"]


@pytest.mark.slow
def test_greeter_loads_the_tuned_threshold_through_its_loader(first_run):
    from greeter.config import load_config, resolve_settings

    values = load_config(first_run["config"])  # "tuning" is ignored, the rest checked
    settings, sources = resolve_settings({}, values, first_run["config"])
    written = json.loads(first_run["config"].read_text())["threshold"]
    assert settings.threshold == pytest.approx(written)
    assert sources["threshold"] == str(first_run["config"])
    assert settings.camera == 1


def test_main_reports_bad_input_without_a_traceback(tmp_path, capsys, weights_path):
    touch_photos(tmp_path / "data", ["ann/1.jpg", "ann/2.jpg"])
    code = cli_tune.main(
        [
            str(tmp_path / "data"),
            "--weights",
            str(weights_path),
            "--quiet",
            "--no-cache",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert "at least two" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---- where the reports go: outside the repository unless --out


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
