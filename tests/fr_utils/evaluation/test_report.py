"""fr_utils.evaluation.report: the config written by facenet-tune (merged, never over a file it
cannot read, mode / owner / symlink kept), plots, the refusal to recommend from data that cannot
support a threshold, and a second tuning run that encodes nothing."""

import json
import os

import numpy as np
import pytest

from fr_utils.evaluation import datasets
from fr_utils.evaluation import report as tuning_report
from tests.helpers.images import assert_png


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
        assert_png(tuning_report.save_figure(fig, tmp_path / name))
    table = tuning_report.format_table(genuine, impostor, [0.9, 1.0])
    assert table.count("\n") == 3 and "| 0.900 |" in table


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


def _config(path):
    path.write_text(json.dumps({"camera": 1, "threshold": 0.6}))
    return path


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_write_config_keeps_mode_and_owner_of_another_users_file(tmp_path):
    import pwd

    from fr_utils.evaluation.report import write_config

    nobody = pwd.getpwnam("nobody")
    config = _config(tmp_path / "greeter.json")
    os.chmod(config, 0o644)
    os.chown(config, nobody.pw_uid, nobody.pw_gid)
    write_config(config, 0.81, {"far_target": 0.01})
    st = config.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o644, nobody.pw_uid, nobody.pw_gid)
    assert json.loads(config.read_text()) == {
        "camera": 1,
        "threshold": 0.81,
        "tuning": {"far_target": 0.01},
    }


def test_write_config_writes_through_a_symlink(tmp_path):
    from fr_utils.evaluation.report import write_config

    (tmp_path / "etc").mkdir()
    real = _config(tmp_path / "etc" / "greeter.json")
    os.chmod(real, 0o640)
    link = tmp_path / "greeter.json"
    link.symlink_to(real)
    write_config(link, 0.77, {})
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert json.loads(real.read_text())["threshold"] == 0.77
    assert real.stat().st_mode & 0o7777 == 0o640
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["greeter.json"]  # no temp


def test_tune_refuses_to_recommend_from_data_that_cannot_support_it():
    from fr_utils.evaluation import metrics
    from fr_utils.evaluation.report import recommendation_problem

    rng = np.random.default_rng(0)
    labels = np.repeat([f"p{i}" for i in range(8)], 6)
    junk = rng.normal(size=(len(labels), 128))  # photos that say nothing about the person
    junk /= np.linalg.norm(junk, axis=1, keepdims=True)
    result = metrics.tune_threshold(junk, labels, far=0.01)
    problem = recommendation_problem(result, skipped=3)
    assert problem and "AUC 0." in problem and "chance" in problem and "3 photos" in problem
    centres = rng.normal(size=(8, 128))
    good = np.repeat(centres, 6, axis=0) + 0.05 * rng.normal(size=(len(labels), 128))
    good /= np.linalg.norm(good, axis=1, keepdims=True)
    assert recommendation_problem(metrics.tune_threshold(good, labels, far=0.01)) is None
    two = metrics.tune_threshold(good[:12:6].repeat(2, axis=0), ["a", "a", "b", "b"], far=0.5)
    assert "same-person pairs" in recommendation_problem(two)
