"""One config file for every tool: after --config, $GREETER_CONFIG and ./greeter.json, the kiosk
install's /etc/greeter/greeter.json. greeter, greeter-library, greeter-admin and
facenet-tune --write-config all find it; tools that enrol encode as the kiosk does."""

import contextlib
import importlib
import json
from pathlib import Path

import pytest

import fr_utils._files as files
from fr_utils.cli import tune
from greeter import config as greeter_config
from greeter.config import encoder_settings, find_config, read_config_file
from greeter.library import cli as library_cli


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
