"""facenet-tune end to end: a data set of people (an LFW subset) and the LFW benchmark (a tiny
pairs file): reports, plots, a config the greeter reads; bad input and an unwritable config are
messages, not tracebacks."""

import contextlib
import io
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fr_utils.cli import tune as cli_tune
from fr_utils.evaluation import datasets, open_set_report
from fr_utils.evaluation import open_set as osi
from fr_utils.evaluation.report import REPORT_DIR_NAME, default_report_dir, save_figure
from fr_utils.open_set import FILE_NAME, ImpostorCurve, find_curve
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
            "--encoder",
            "facenet",
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


# ---- facenet-tune --open-set: how many people can be enrolled, and the impostor curve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _synthetic(n_people=300, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.choice([1, 1, 2, 3, 4, 6], size=n_people)
    centres = rng.normal(size=(n_people, 16))
    rows = [c + 0.3 * rng.normal(size=(n, 16)) for c, n in zip(centres, counts)]
    e = np.pad(np.concatenate(rows), ((0, 0), (0, 112)))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    return osi.Population(tuple(f"p{i}" for i in range(n_people)), e, counts)


def test_tables_and_plot_say_what_the_data_could_not_show(tmp_path):
    result = osi.run(_synthetic(), draws=2)  # 150 strangers: FPIR 0.1 % is not resolved
    assert result.sizes == (10, 50, 150) and set(result.skipped) == {200, 1000}
    tables = open_set_report.format_tables(result)
    assert tables.count("FNIR % at FPIR") == 4  # 1 and 3 photos x 1 % and 0.1 %
    assert "| one frame vs nearest photo (the frame-by-frame rule) |" in tables
    assert "visit mean vs each person's mean + d1/d2 <= 0.85 (the greeter's rule)" in tables
    assert "| N = 10 | N = 50 | N = 150 |" in tables
    assert "– (needs 1,000 strangers)" in tables  # visits at 0.1 %: not a rate
    counts = open_set_report.format_counts(result)
    assert "150 strangers per draw" in counts and "Gallery of 1,000 not measured" in counts
    curve = osi.measure_curve(_synthetic(), "m")
    text = open_set_report.format_curve(curve)
    assert f"{curve.comparisons:,} comparisons" in text and "| 1 % |" in text
    path = save_figure(open_set_report.plot_fnir(result, "synthetic"), tmp_path / "f.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def _touch(folder, people, photos=1):
    for i in range(people):
        (folder / f"person{i:03d}").mkdir(parents=True)
        for j in range(photos):
            (folder / f"person{i:03d}" / f"{j}.jpg").write_bytes(b"not decoded before the check")


def test_too_few_people_are_refused_before_any_model_loads(tmp_path, capsys):
    _touch(tmp_path / "office", 30, photos=3)
    out = tmp_path / "out"
    code = cli_tune.main(
        [str(tmp_path / "office"), "--open-set", "--encoder", "dlib-resnet", "--out", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "30 people" in err and "at least 100 strangers" in err
    assert not out.exists()


def test_an_lfw_folder_given_as_dataset_runs_the_lfw_protocol(tmp_path, capsys):
    """Only the people of pairs.txt folds 6-10 are taken (here 5 of 10), so it is refused."""
    lines = ["10\t1"] + [f"P{f}\t1\t2\nP{f}\t1\tQ{f}\t1" for f in range(10)]
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    for f in range(10):
        for name, photos in ((f"P{f}", 2), (f"Q{f}", 1)):
            (tmp_path / "images" / name).mkdir(parents=True)
            for i in range(1, photos + 1):
                (tmp_path / "images" / name / f"{name}_{i:04d}.jpg").write_bytes(b"")
    assert cli_tune.main([str(tmp_path), "--open-set", "--out", str(tmp_path / "o")]) == 2
    assert "10 people" in capsys.readouterr().err  # P5-P9 and Q5-Q9 only


def test_open_set_measures_one_set_of_people(tmp_path):
    with pytest.raises(SystemExit) as stop:
        cli_tune.main([str(tmp_path), "--lfw", str(tmp_path), "--open-set"])
    assert stop.value.code == 2


# ----------------------------------------------------------------------------- end to end

SINGLES, MULTI, PHOTOS = 180, 20, 4  # 200 people: 100 strangers, galleries of 10, 50, 100


@pytest.fixture(scope="module")
def lfw_office(lfw_dir, tmp_path_factory):
    """200 LFW people as <name>/*.jpg links: 180 with one photo, 20 with 4 (260 photos)."""
    images = lfw_dir / "images"
    people = sorted(p for p in images.iterdir() if p.is_dir())
    sizes = {p: len(list(p.glob("*.jpg"))) for p in people}
    singles = [p for p in people if sizes[p] == 1][:SINGLES]
    multi = [p for p in people if sizes[p] >= PHOTOS + 2][:MULTI]
    folder = tmp_path_factory.mktemp("office")
    for person in singles + multi:
        (folder / person.name).mkdir()
        for photo in sorted(person.glob("*.jpg"))[:PHOTOS]:
            (folder / person.name / photo.name).symlink_to(photo)
    return folder


@pytest.fixture(scope="module")
def open_set_run(lfw_office, weights_path, tmp_path_factory):
    work = tmp_path_factory.mktemp("open_set")
    config = work / "greeter.json"
    config.write_text(json.dumps({"camera": 1, "threshold": 0.8}))
    argv = [
        str(lfw_office), "--open-set", "--encoder", "facenet", "--weights", str(weights_path),
        "--runtime", "tensorflow", "--cache", str(work / "cache"), "--out", str(work / "out"),
        "--write-config", str(config), "--draws", "3", "--quiet",
    ]  # fmt: skip
    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        code = cli_tune.main(argv)
    seconds = time.perf_counter() - start
    return {"code": code, "work": work, "config": config, "seconds": seconds, "printed": printed}


@pytest.mark.shared
@pytest.mark.slow
def test_open_set_end_to_end_on_lfw_photos(open_set_run):
    assert open_set_run["code"] == 0, open_set_run["printed"].getvalue()
    out = open_set_run["work"] / "out"
    report = json.loads((out / "report.json").read_text())
    assert report["model"].startswith("facenet-") and report["model"].endswith("-flip")
    assert report["strangers_per_draw"] == 100 and report["sizes"] == [10, 50, 100]
    assert set(report["skipped_sizes"]) == {"200", "1000"}
    assert report["encoded_now"] >= 250 and report["draws"] == 3
    assert report["command"].startswith("facenet-tune ") and "--open-set" in report["command"]
    cell = next(
        c for c in report["cells"]
        if (c["rule"], c["n_gallery"], c["enrolled_photos"], c["fpir_target"])
        == ("visit+ratio", 10, 1, 0.01)
    )  # fmt: skip
    assert 0.0 <= cell["fnir_mean"] <= 1.0 and cell["fpir_mean"] <= 0.01
    assert len(cell["draws"]) == 3 and cell["draws"][0]["mated"] == 10
    text = (out / "report.md").read_text()
    assert "FNIR % at FPIR 1 %" in text and "Gallery of 200 not measured" in text
    assert (out / "fnir_vs_gallery.png").read_bytes()[:8] == PNG_SIGNATURE
    printed = open_set_run["printed"].getvalue()
    assert "N = 100" in printed and "Impostor curve" in printed


@pytest.mark.shared
@pytest.mark.slow
def test_the_curve_written_is_one_the_greeter_can_load(open_set_run):
    path = open_set_run["work"] / "out" / FILE_NAME
    curve = ImpostorCurve.from_json(path)
    report = json.loads((open_set_run["work"] / "out" / "report.json").read_text())
    assert curve.model == report["model"]
    assert find_curve(report["model"], explicit=path).comparisons == curve.comparisons
    assert curve.comparisons == MULTI * (SINGLES + MULTI - 1)  # 20 visits x 199 others
    assert curve.probe.startswith("mean of 3 photos")
    assert curve.notes["command"] == report["command"]
    assert "20 with >= 3" in curve.notes["people"]
    small, large = curve.threshold_for(10), curve.threshold_for(100)
    assert 0.2 < large < small < 1.4  # FaceNet's scale; more people: stricter
    config = json.loads(open_set_run["config"].read_text())
    assert config["open_set"] == str(path.resolve())
    assert config["camera"] == 1 and config["threshold"] == 0.8  # kept, and said to win
    assert "also sets threshold 0.8, which wins" in open_set_run["printed"].getvalue()


@pytest.mark.shared
@pytest.mark.slow
def test_a_second_run_is_served_from_the_cache(open_set_run, lfw_office, weights_path, tmp_path):
    """The same photos again: nothing is detected or encoded (an encoder that cannot encode
    proves it), in seconds, with the same figures."""

    class CachedOnly:
        """The first run's encoder as far as the cache can tell, unable to encode."""

        name, runtime, flip = "facenet", "tensorflow", True

        def __init__(self, model_id, cache_key):
            self.model_id, self._key = model_id, cache_key

        def cache_key(self):
            return self._key

        def make_aligner(self):
            from fr_utils.align import FaceAligner

            return FaceAligner()

        def __call__(self, faces):
            raise AssertionError(f"encoded {len(faces)} faces; all should come from the cache")

    from fr_utils.weights import weights_fingerprint

    fingerprint = weights_fingerprint(weights_path)
    encoder = CachedOnly(f"facenet-{fingerprint}-flip", f"tensorflow-{fingerprint}-flip")
    people, data = open_set_report.open_set_people(lfw_office)
    start = time.perf_counter()
    report = open_set_report.tune_open_set(
        people, encoder, False, data, cache_dir=open_set_run["work"] / "cache", out=tmp_path,
        draws=3, progress=False, echo=lambda *a: None,
    )  # fmt: skip
    assert time.perf_counter() - start < 10
    assert report["encoded_now"] == 0
    first = json.loads((open_set_run["work"] / "out" / "report.json").read_text())
    assert report["cells"] == first["cells"]
    assert Path(report["curve"]["file"]).is_file()
