"""``facenet-tune --open-set``: the tables and plot, refusals of data that cannot support a
result, and one run end to end on real LFW photos that writes an impostor curve the greeter
can load."""

import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

from fr_utils.cli import tune as cli_tune
from fr_utils.evaluation import open_set as osi
from fr_utils.evaluation import open_set_report
from fr_utils.evaluation.report import save_figure
from fr_utils.open_set import FILE_NAME, ImpostorCurve, find_curve

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
    assert "| one frame vs nearest photo (today) |" in tables
    assert "visit mean + d1/d2 <= 0.85 (the greeter's rule)" in tables
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
def first_run(lfw_office, weights_path, tmp_path_factory):
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
def test_open_set_end_to_end_on_lfw_photos(first_run):
    assert first_run["code"] == 0, first_run["printed"].getvalue()
    out = first_run["work"] / "out"
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
    printed = first_run["printed"].getvalue()
    assert "N = 100" in printed and "Impostor curve" in printed


@pytest.mark.shared
@pytest.mark.slow
def test_the_curve_written_is_one_the_greeter_can_load(first_run):
    path = first_run["work"] / "out" / FILE_NAME
    curve = ImpostorCurve.from_json(path)
    report = json.loads((first_run["work"] / "out" / "report.json").read_text())
    assert curve.model == report["model"]
    assert find_curve(report["model"], explicit=path).comparisons == curve.comparisons
    assert curve.comparisons == MULTI * (SINGLES + MULTI - 1)  # 20 visits x 199 others
    assert curve.probe.startswith("mean of 3 photos")
    assert curve.notes["command"] == report["command"]
    assert "20 with >= 3" in curve.notes["people"]
    small, large = curve.threshold_for(10), curve.threshold_for(100)
    assert 0.2 < large < small < 1.4  # FaceNet's scale; more people: stricter
    config = json.loads(first_run["config"].read_text())
    assert config["open_set"] == str(path.resolve())
    assert config["camera"] == 1 and config["threshold"] == 0.8  # kept, and said to win
    assert "also sets threshold 0.8, which wins" in first_run["printed"].getvalue()


@pytest.mark.shared
@pytest.mark.slow
def test_a_second_run_is_served_from_the_cache(first_run, lfw_office, weights_path, tmp_path):
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
        people, encoder, False, data, cache_dir=first_run["work"] / "cache", out=tmp_path,
        draws=3, progress=False, echo=lambda *a: None,
    )  # fmt: skip
    assert time.perf_counter() - start < 10
    assert report["encoded_now"] == 0
    first = json.loads((first_run["work"] / "out" / "report.json").read_text())
    assert report["cells"] == first["cells"]
    assert Path(report["curve"]["file"]).is_file()
