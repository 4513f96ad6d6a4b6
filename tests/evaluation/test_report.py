"""fr_utils.evaluation.report and datasets: datasets, config, plots, and facenet-tune end to end
on a small LFW subset."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fr_utils.cli import tune as cli_tune
from fr_utils.evaluation import datasets
from fr_utils.evaluation import report as tuning_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _touch_photos(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in (".jpg", ".png"):
            cv2.imwrite(str(path), np.full((120, 120, 3), 128, np.uint8))
        else:
            path.write_text("not a photo")


def _assert_png(path):
    path = Path(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100


# ----------------------------------------------------------------------------- datasets


def test_load_dataset_reads_person_folders_and_flat_files(tmp_path):
    _touch_photos(
        tmp_path,
        [
            "ann/1.jpg",
            "ann/2.png",
            "bob/x.jpg",
            "Carl_Lee_0001.jpg",
            "Carl_Lee_0002.jpg",
            "dee.jpg",
            ".hidden.jpg",
            "notes.txt",
        ],
    )
    data = datasets.load_dataset(tmp_path)
    assert data.people == ["Carl_Lee", "ann", "bob", "dee"]
    assert sorted(zip(data.labels, (p.name for p in data.paths))) == [
        ("Carl_Lee", "Carl_Lee_0001.jpg"),
        ("Carl_Lee", "Carl_Lee_0002.jpg"),
        ("ann", "1.jpg"),
        ("ann", "2.png"),
        ("bob", "x.jpg"),
        ("dee", "dee.jpg"),
    ]


def test_load_dataset_needs_two_people_and_names_the_folder(tmp_path):
    _touch_photos(tmp_path / "one", ["ann/1.jpg", "ann/2.jpg"])
    with pytest.raises(ValueError, match=r"one.*at least two\s+people"):
        datasets.load_dataset(tmp_path / "one")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        datasets.load_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="missing"):
        datasets.load_dataset(tmp_path / "missing")


# ----------------------------------------------------------------------------- config, plots


def test_write_config_merges_and_keeps_other_settings(tmp_path):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps({"camera": 1, "threshold": 0.52, "voice": {"rate": 150}}))
    tuning_report.write_config(path, 0.80123456, {"far_target": 0.01})
    config = json.loads(path.read_text())
    assert config == {
        "camera": 1,
        "threshold": 0.8012,
        "voice": {"rate": 150},
        "tuning": {"far_target": 0.01},
    }
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    fresh = tuning_report.write_config(tmp_path / "new" / "greeter.json", 0.7, {})
    assert json.loads(fresh.read_text()) == {"threshold": 0.7, "tuning": {}}


def test_write_config_never_overwrites_a_file_it_cannot_read(tmp_path):
    path = tmp_path / "greeter.json"
    for text in ("{not json", "[1, 2]"):
        path.write_text(text)
        with pytest.raises(ValueError, match="greeter.json"):
            tuning_report.write_config(path, 0.8, {})
        assert path.read_text() == text


def test_plots_are_figures_that_save_as_png(tmp_path):
    rng = np.random.default_rng(0)
    genuine, impostor = rng.normal(0.8, 0.15, 300), rng.normal(1.3, 0.15, 3000)
    chosen = {"best accuracy": 1.05, "FAR <= 0.01": 0.95}
    for name, fig in (
        ("h.png", tuning_report.plot_histograms(genuine, impostor, chosen)),
        ("r.png", tuning_report.plot_roc(genuine, impostor, chosen)),
    ):
        assert type(fig).__name__ == "Figure"
        _assert_png(tuning_report.save_figure(fig, tmp_path / name))
    table = tuning_report.format_table(genuine, impostor, [0.9, 1.0])
    assert table.count("\n") == 3 and "| 0.900 |" in table


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def lfw_subset(lfw_dir, tmp_path_factory):
    """10 people x 10 LFW photos, one person with one photo, and one photo with no face."""
    images = lfw_dir / "images"
    folder = tmp_path_factory.mktemp("dataset")
    people = [p for p in sorted(images.iterdir()) if len(list(p.iterdir())) >= 10][:10]
    for person in people:
        (folder / person.name).mkdir()
        for photo in sorted(person.iterdir())[:10]:
            (folder / person.name / photo.name).symlink_to(photo)
    solo = next(p for p in sorted(images.iterdir()) if len(list(p.iterdir())) == 1)
    (folder / solo.name).mkdir()
    (folder / solo.name / "only.jpg").symlink_to(next(solo.iterdir()))
    blank = folder / people[0].name / "blank_wall.jpg"
    cv2.imwrite(str(blank), np.full((250, 250, 3), 200, np.uint8))
    return {"folder": folder, "solo": solo.name, "blank": blank}


@pytest.fixture(scope="module")
def first_run(lfw_subset, weights_path, tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    config = work / "greeter.json"
    config.write_text(json.dumps({"camera": 1, "cooldown": 60}))  # the greeter's own settings
    argv = [
        str(lfw_subset["folder"]),
        "--encoder",
        "facenet",
        "--weights",
        str(weights_path),
        "--cache",
        str(work / "cache"),
        "--out",
        str(work / "out"),
        "--write-config",
        str(config),
        "--max-pairs",
        "2000",
        "--seed",
        "3",
        "--quiet",
    ]
    code = cli_tune.main(argv)
    return {"code": code, "work": work, "config": config, "argv": argv}


@pytest.mark.shared
@pytest.mark.slow
def test_main_end_to_end_on_lfw_subset(first_run, lfw_subset):
    assert first_run["code"] == 0
    out = first_run["work"] / "out"
    _assert_png(out / "histograms.png")
    _assert_png(out / "roc.png")
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


@pytest.mark.shared
@pytest.mark.slow
def test_main_writes_a_config_the_greeter_reads(first_run):
    config = json.loads(first_run["config"].read_text())
    report = json.loads((first_run["work"] / "out" / "report.json").read_text())
    assert config["camera"] == 1 and config["cooldown"] == 60  # kept
    assert config["threshold"] == pytest.approx(report["recommended_threshold"], abs=1e-4)
    assert config["tuning"]["far_target"] == 0.01
    assert config["tuning"]["cv"]["folds"] == 5
    assert config["tuning"]["weights_fingerprint"] == report["weights_fingerprint"]


@pytest.mark.shared
@pytest.mark.slow
def test_greeter_loads_the_tuned_threshold_through_its_loader(first_run):
    from greeter.config import load_config, resolve_settings

    values = load_config(first_run["config"])  # "tuning" is ignored, the rest checked
    settings, sources = resolve_settings({}, values, first_run["config"])
    written = json.loads(first_run["config"].read_text())["threshold"]
    assert settings.threshold == pytest.approx(written)
    assert sources["threshold"] == str(first_run["config"])
    assert settings.camera == 1


@pytest.mark.shared
@pytest.mark.slow
def test_second_run_encodes_nothing_and_same_seed_gives_same_pairs(first_run, model, weights_path):
    work = first_run["work"]
    data = datasets.load_dataset(first_run["argv"][0])
    again = tuning_report.tune_dataset(
        data,
        model,
        weights_path,
        work / "cache",
        work / "again",
        max_pairs=2000,
        seed=3,
        progress=False,
        echo=lambda *a: None,
    )
    first = json.loads((work / "out" / "report.json").read_text())
    assert again["encoded_now"] == 0
    assert again["sweep"] == first["sweep"] and again["auc"] == first["auc"]
    other = tuning_report.tune_dataset(
        data,
        model,
        weights_path,
        work / "cache",
        work / "other",
        max_pairs=2000,
        seed=4,
        progress=False,
        echo=lambda *a: None,
    )
    assert other["encoded_now"] == 0
    assert other["median_impostor"] != first["median_impostor"]  # another sample


@pytest.mark.shared
def test_main_reports_bad_input_without_a_traceback(tmp_path, capsys, weights_path):
    _touch_photos(tmp_path / "data", ["ann/1.jpg", "ann/2.jpg"])
    code = cli_tune.main(
        [
            str(tmp_path / "data"),
            "--encoder",
            "facenet",
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
