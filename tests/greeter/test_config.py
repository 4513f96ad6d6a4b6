"""greeter.config: one settings table -> flags, --help, file keys and up-front checks; the
config file's lookup and precedence (flag > file > default).

Every bad setting must stop the greeter with exit status 2 and a message naming the key,
the value and where it came from, *before* any model or photo is loaded.
"""

import contextlib
import importlib
import json
import math
import os
import time
from pathlib import Path

import pytest

import fr_utils._files as files
from fr_utils.cli import tune
from greeter import __main__ as cli
from greeter import config as greeter_config
from greeter.config import (
    CONFIG_FILE,
    GREETER_THRESHOLD,
    SETTINGS,
    ConfigError,
    Settings,
    encoder_settings,
    find_config,
    load_config,
    read_config_file,
    resolve_settings,
    validate,
)
from greeter.library import cli as library_cli
from tests.helpers import REPO
from tests.helpers.fakes import forbid
from tests.helpers.processes import run_python

OLD_FLAGS = [
    "--config",
    "--images",
    "--camera",
    "--video",
    "--loop",
    "--threshold",
    "--cooldown",
    "--confirm-frames",
    "--no-speech",
    "--speech-to",
    "--headless",
    "--record",
    "--log",
    "--weights",
    "--cache",
    "--detect-width",
    "--min-face",
    "--scale-factor",
    "--min-neighbors",
    "--crop-scale",
    "--crop-dx",
    "--crop-dy",
    "--watch-interval",
]
NEW_FLAGS = "--db --kiosk --runtime --litert --keep-visitor-faces --detector --flip --no-flip"


@pytest.fixture
def no_model(monkeypatch, tmp_path):
    """Any attempt to load the model (or run the greeter) fails the test."""

    forbid(monkeypatch, cli, ("_make_encoder", "build"),
           "the model was loaded before the settings were checked")  # fmt: skip
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def test_help_is_generated_from_the_table_and_every_flag_still_works():
    text = cli._parser().format_help()
    for flag in OLD_FLAGS + NEW_FLAGS.split():
        assert flag in text, flag
    flat = " ".join(text.split())
    for name, spec in SETTINGS.items():
        if spec.default is not None and spec.metadata["kind"] is not bool:
            shown = spec.metadata.get("shown", spec.default)
            assert f"(default: {shown})" in flat, name
    assert "(default: chosen for the gallery's size)" in flat  # the open-set threshold
    flags = vars(
        cli._parser().parse_args(
            [
                "--images",
                "i",
                "--video",
                "v.mp4",
                "--loop",
                "--threshold",
                "0.7",
                "--cooldown",
                "5",
                "--confirm-frames",
                "2",
                "--no-speech",
                "--speech-to",
                "w",
                "--headless",
                "--record",
                "r.mp4",
                "--log",
                "l",
                "--weights",
                "x",
                "--cache",
                "c",
                "--detect-width",
                "64",
                "--min-face",
                "20",
                "--scale-factor",
                "1.2",
                "--min-neighbors",
                "3",
                "--crop-scale",
                "0.9",
                "--crop-dx",
                "0.1",
                "--crop-dy",
                "0.2",
                "--watch-interval",
                "1",
                "--db",
                "sqlite:///a.db",
                "--kiosk",
                "door-1",
                "--runtime",
                "litert",
                "--litert",
                "m",
                "--keep-visitor-faces",
                "7",
                "--detector",
                "haar",
                "--no-flip",
            ]
        )
    )
    assert flags.pop("config") is None
    assert set(flags) == set(SETTINGS)
    assert flags["flip"] is False and flags["loop"] is True and flags["keep_visitor_faces"] == 7.0
    assert cli._parser().parse_args([]).flip is None  # not given: the file or default decides


def test_new_settings_defaults():
    s = Settings()
    assert (s.db, s.kiosk, s.runtime, s.litert, s.keep_visitor_faces, s.detector, s.flip) == (
        None,
        None,
        "auto",
        None,
        None,
        "dlib",
        True,
    )
    assert (s.encoder, s.threshold, s.fpir, s.margin) == ("dlib-resnet", None, 0.01, 0.85)
    assert (s.confirm_frames, s.visit_frames, s.detect_width, s.min_face) == (5, 16, None, 60)
    assert (s.min_sharpness, s.max_yaw, s.keep_recognitions) == (0.02, 45.0, 7.0)
    assert GREETER_THRESHOLD == 0.52 and CONFIG_FILE == "greeter.json"
    validate(s)  # the defaults are valid


BAD_FLAGS = [
    (["--threshold", "5"], "'threshold' = 5.0 (from --threshold): must be in (0.0, 2.0]"),
    (["--threshold", "-1"], "'threshold' = -1.0 (from --threshold): must be in (0.0, 2.0]"),
    (["--threshold", "0"], "must be in (0.0, 2.0]"),
    (["--threshold", "nan"], "'threshold' = nan (from --threshold): must be a finite number"),
    (["--threshold", "inf"], "must be a finite number"),
    (["--cooldown", "-1"], "'cooldown' = -1.0 (from --cooldown): must be >= 0"),
    (["--confirm-frames", "0"], "'confirm_frames' = 0 (from --confirm-frames): must be >= 1"),
    (["--watch-interval", "0"], "'watch_interval' = 0.0 (from --watch-interval): must be > 0"),
    (["--detect-width", "16"], "'detect_width' = 16 (from --detect-width): must be >= 32"),
    (["--scale-factor", "1.0"], "'scale_factor' = 1.0 (from --scale-factor): must be > 1"),
    (["--camera", "-1"], "'camera' = -1 (from --camera): must be >= 0"),
    (["--keep-visitor-faces", "0"], "'keep_visitor_faces' = 0.0 (from --keep-visitor-faces)"),
    (["--video", "missing.mp4"], "'video' = 'missing.mp4' (from --video): no such file"),
    (["--video", "."], "is a folder, not a video file"),
    (["--images", "afile"], "'images' = 'afile' (from --images): is a file, not a folder"),
    (["--cache", "afile"], "'cache' = 'afile' (from --cache): is a file, not a folder"),
    (["--weights", "nowhere.h5"], "'weights' = 'nowhere.h5' (from --weights): no such file"),
    (["--speech-to", "afile"], "'speech_to' = 'afile' (from --speech-to): is a file"),
    (["--log", "."], "'log' = '.' (from --log): is a folder"),
    (["--log", "afile/x.jsonl"], "cannot be created: "),
    (["--record", "afile/out.mp4"], "'record'"),
    (["--litert", "nowhere"], "'litert' = 'nowhere' (from --litert): must be an existing folder"),
    (["--db", "library.db"], "'db' = 'library.db' (from --db): must be a database URL"),
    (["--kiosk", " "], "'kiosk' = ' ' (from --kiosk): A kiosk name cannot be empty"),
    (["--kiosk", "k" * 201], "The kiosk name has 201 characters; use at most 200"),
    (["--kiosk", "door\x1b[2J"], "holds a control or invisible formatting character"),
]


@pytest.mark.parametrize("argv, message", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_each_bad_flag_exits_2_before_the_model_loads(no_model, capsys, tmp_path, argv, message):
    (tmp_path / "afile").write_text("x")
    assert cli.main(["--headless", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err  # one line, no traceback


@pytest.mark.parametrize(
    "flag, choices", [("--runtime", "auto,litert,tensorflow"), ("--detector", "dlib,haar")]
)
def test_bad_choice_is_refused_by_the_parser(no_model, capsys, flag, choices):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--headless", flag, "nope"])
    assert stop.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "values, message",
    [
        ({"threshold": 5}, "'threshold' = 5.0 (from config file {path}): must be in (0.0, 2.0]"),
        ({"threshold": math.nan}, "'threshold' = nan (from config file {path}): must be a finite"),
        ({"cooldown": -3}, "'cooldown' = -3.0 (from config file {path}): must be >= 0"),
        ({"confirm_frames": 0}, "'confirm_frames' = 0 (from config file {path})"),
        (
            {"runtime": "cuda"},
            "'runtime' = 'cuda' (from config file {path}): must be one of auto, litert, tensorflow",
        ),
        ({"detector": "mtcnn"}, "must be one of dlib, haar"),
        ({"flip": "yes"}, "{path}: setting 'flip' must be a bool. Received: 'yes'"),
        ({"confirm_frames": 2.5}, "{path}: setting 'confirm_frames' must be a int"),
        ({"keep_visitor_faces": None, "threshold": 3}, "(from config file {path})"),
    ],
)
def test_bad_config_values_name_the_file(no_model, capsys, tmp_path, values, message):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps(values))
    assert cli.main(["--headless", "--config", str(path)]) == 2
    assert message.format(path=path) in capsys.readouterr().err


def test_non_utf8_config_is_a_clear_message(no_model, capsys, tmp_path):
    path = tmp_path / "greeter.json"
    path.write_bytes('{"kiosk": "Caf\u00e9"}'.encode("latin-1"))
    assert cli.main(["--headless", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: the config file is not UTF-8 text" in err and "Traceback" not in err
    path.write_bytes(b"\xef\xbb\xbf" + '{"kiosk": "Caf\u00e9"}'.encode())  # a BOM is fine
    assert load_config(path) == {"kiosk": "Caf\u00e9"}


def test_a_default_that_became_bad_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").write_text("not a folder")
    settings, sources = resolve_settings({}, None)
    with pytest.raises(ConfigError, match=r"'images' = 'images' \(from the built-in default\)"):
        validate(settings, sources)


def test_good_paths_are_accepted(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"")
    (tmp_path / "m").mkdir()
    settings, sources = resolve_settings(
        {
            "video": str(tmp_path / "v.mp4"),
            "log": str(tmp_path / "new" / "deeper" / "e.jsonl"),
            "speech_to": str(tmp_path / "wavs"),
            "record": str(tmp_path / "out.mp4"),
            "images": str(tmp_path / "not-yet"),
            "litert": str(tmp_path / "m"),
            "db": "postgresql://kiosk@db/greeter",
            "keep_visitor_faces": 0.5,
        },
        None,
    )
    validate(settings, sources)
    settings.video = "rtsp://10.0.0.5/stream1"  # a URL is not checked on disk
    validate(settings, sources)


def test_bad_setting_exits_2_fast_and_imports_no_tensorflow(tmp_path):
    """The real command: refused in well under the time TensorFlow takes to import."""
    env = {**os.environ, "GREETER_CONFIG": "", "PYTHONPATH": str(REPO)}  # TF's log level unset
    start = time.perf_counter()
    done = run_python("-m", "greeter", "--headless", "--threshold", "5", cwd=tmp_path, env=env,
                      timeout=60)  # fmt: skip
    elapsed = time.perf_counter() - start
    assert done.returncode == 2, done.stderr
    assert "'threshold' = 5.0 (from --threshold)" in done.stderr
    assert "weights" not in done.stderr.lower() and "tensorflow" not in done.stderr.lower()
    assert elapsed < 3.0
    probe = (
        "import sys; from greeter.__main__ import main; code = main(['--headless', "
        "'--cooldown', '-1']); assert 'tensorflow' not in sys.modules; sys.exit(code)"
    )
    done = run_python("-c", probe, cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 2, done.stderr


def test_deprecated_crop_settings_are_accepted_with_one_warning(no_model, tmp_path, caplog):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps({"crop_dy": 0.3, "admin_password_hash": "x", "tuning": {}}))
    with caplog.at_level("WARNING", logger="greeter"):
        settings, _, _ = cli.settings_from_args(["--config", str(path), "--crop-scale", "0.9"])
    assert (settings.crop_scale, settings.crop_dy) == (0.9, 0.3)
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 2 and all("deprecated and ignored" in n for n in notes)
    assert "(from --crop-scale)" in notes[0] and f"(from config file {path})" in notes[1]
    assert load_config(path) == {"crop_dy": 0.3}  # admin_password_hash and tuning: ignored


def test_config_precedence_flag_over_file_over_default(tmp_path):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps({"threshold": 0.8, "cooldown": 10, "tuning": {"far": 0.01}}))
    config = load_config(path)
    assert config == {"threshold": 0.8, "cooldown": 10.0}  # "tuning" accepted and ignored
    settings, sources = resolve_settings({"threshold": 0.7, "cooldown": None}, config, path)
    assert (settings.threshold, sources["threshold"]) == (0.7, "flag")
    assert (settings.cooldown, sources["cooldown"]) == (10.0, str(path))
    assert (settings.confirm_frames, sources["confirm_frames"]) == (5, "default")
    settings, _ = resolve_settings({}, None)
    assert settings.threshold is None  # unset: chosen for the gallery's size


def test_config_unknown_key_and_bad_type_are_named(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"threshold": 0.8, "treshold": 0.7}))
    with pytest.raises(ConfigError, match=r"g\.json.*unknown setting 'treshold'"):
        load_config(path)
    path.write_text(json.dumps({"threshold": "high"}))
    with pytest.raises(ConfigError, match="'threshold' must be a float"):
        load_config(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(path)


def test_config_file_lookup(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    assert find_config() == (None, None)
    (tmp_path / "greeter.json").write_text("{}")
    assert find_config()[0] == Path("greeter.json")
    monkeypatch.setenv("GREETER_CONFIG", str(tmp_path / "elsewhere.json"))
    assert find_config()[0] == tmp_path / "elsewhere.json"
    assert find_config("x.json")[0] == Path("x.json")


# ---- one config file for every tool, the system one last


@pytest.fixture
def system_config(tmp_path, monkeypatch):
    """A system config file (in place of /etc/greeter/greeter.json) naming its own library;
    the current folder holds no greeter.json and $GREETER_CONFIG is unset."""
    path = tmp_path / "etc" / "greeter.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"db": f"sqlite:///{tmp_path}/kiosk.db", "litert": "/x/litert"}))
    monkeypatch.setattr(files, "SYSTEM_GREETER_CONFIG", path)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return path


def test_the_system_config_is_the_last_place_looked(system_config, tmp_path, monkeypatch):
    assert find_config() == (system_config, "the system config")
    Path("greeter.json").write_text("{}")
    assert find_config() == (Path("greeter.json"), "./greeter.json")
    monkeypatch.setenv("GREETER_CONFIG", str(tmp_path / "env.json"))
    assert find_config() == (tmp_path / "env.json", "$GREETER_CONFIG")
    assert find_config("x.json") == (Path("x.json"), "--config")
    system_config.unlink()
    monkeypatch.delenv("GREETER_CONFIG")
    Path("greeter.json").unlink()
    assert find_config() == (None, None)


def test_greeter_library_reaches_the_kiosks_library_without_flags(system_config, tmp_path, capsys):
    # $GREETER_DB is set for every test (conftest.py): the config file's db comes first.
    assert library_cli.main(["list"]) == 0
    assert f"(sqlite:///{tmp_path}/kiosk.db)" in capsys.readouterr().out
    assert (tmp_path / "kiosk.db").is_file()


def test_facenet_tune_writes_the_config_the_greeter_reads(system_config):
    assert tune.config_target(Path("mine.json")) == Path("mine.json")
    assert tune.config_target(tune.GREETERS_CONFIG) == system_config  # --write-config alone
    system_config.unlink()
    assert tune.config_target(tune.GREETERS_CONFIG) == Path("greeter.json")  # created there


@pytest.mark.parametrize(
    "main, argv",
    [
        ("greeter.__main__", ["--help"]),
        ("greeter.library.cli", ["list", "--help"]),
        ("greeter.admin.cli", ["--help"]),
        ("fr_utils.cli.tune", ["--help"]),
    ],
)
def test_every_tools_help_names_the_system_config(main, argv, capsys):
    with contextlib.suppress(SystemExit):
        importlib.import_module(main).main(argv)
    assert "/etc/greeter/greeter.json" in " ".join(capsys.readouterr().out.split())


def test_an_unreadable_system_config_says_who_may_read_it(system_config, monkeypatch):
    real_read_text = Path.read_text

    def denied(self, *args, **kwargs):
        if self == system_config:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(greeter_config.ConfigError, match="Permission denied") as err:
        read_config_file(system_config)
    assert "run as root (sudo) or as a member of group" in str(err.value)


def test_tools_that_enrol_encode_as_the_kiosk_does():
    assert encoder_settings(None) == {
        "runtime": "auto",
        "litert": None,
        "flip": True,
        "cache_dir": None,
    }
    kiosk = {"litert": "/var/cache/greeter/litert", "cache": "/var/cache/greeter", "flip": False}
    assert encoder_settings(kiosk) == {
        "runtime": "auto",
        "litert": "/var/cache/greeter/litert",
        "flip": False,
        "cache_dir": "/var/cache/greeter",
    }


def test_the_audio_device_is_a_setting(tmp_path):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps({"audio_device": "plughw:1,0"}))
    assert greeter_config.load_config(path) == {"audio_device": "plughw:1,0"}


def test_the_encoder_choices_are_fr_utils_own():
    from fr_utils import encoding
    from greeter import config as greeter_config

    assert set(greeter_config.ENCODERS) == set(encoding.ENCODERS)
    assert greeter_config.DEFAULT_ENCODER == encoding.DEFAULT_ENCODER
    assert SETTINGS["encoder"].default == encoding.DEFAULT_ENCODER
