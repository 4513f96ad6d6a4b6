"""Every console script's ``--help``: plain text, one way of naming defaults, the same default
written the same way in every tool, and no figures that belong to the README's measurements."""

import importlib
import re
import tomllib
from pathlib import Path

from fr_utils._files import CACHE_ENV_VAR, CACHE_SOURCES, default_cache_dir
from fr_utils.cli import default_help, summary
from fr_utils.weights import DEFAULT_SOURCES as WEIGHTS_DEFAULT_SOURCES
from greeter import config
from greeter.library import url

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
SUBCOMMANDS = {
    "facenet-weights": ["convert", "check", "download", "export-litert"],
    "greeter-library": [
        "add",
        "remove",
        "rename",
        "list",
        "import",
        "export",
        "events",
        "purge",
        "retention",
        "backup",
    ],
    "greeter-admin": ["set-password"],
    "greeter": ["doctor"],
}


def _help(script, argv, capsys):
    module, _, function = SCRIPTS[script].partition(":")
    main = getattr(importlib.import_module(module), function)
    try:
        code = main([*argv, "--help"])
    except SystemExit as stopped:  # argparse's exit; greeter-library returns its code instead
        code = stopped.code
    assert code == 0, f"{script} {argv} --help"
    return " ".join(capsys.readouterr().out.split())  # argparse's line wrapping undone


def _all_helps(capsys):
    """``{"prog [sub]": help text}`` for every script and subcommand."""
    texts = {}
    for script in SCRIPTS:
        texts[script] = _help(script, [], capsys)
        for sub in SUBCOMMANDS.get(script, []):
            texts[f"{script} {sub}"] = _help(script, [sub], capsys)
    return texts


def _defaults(text):
    """The insides of every ``(default...)`` parenthesis, nested parentheses included."""
    found = []
    for match in re.finditer(r"\(default", text):
        depth, end = 0, match.start()
        for end in range(match.start(), len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        found.append(text[match.start() + 1 : end])
    return found


def test_help_texts_are_plain_and_name_defaults_one_way(capsys):
    texts = _all_helps(capsys)
    assert len(texts) == len(SCRIPTS) + sum(len(s) for s in SUBCOMMANDS.values())
    for prog, text in texts.items():
        assert "``" not in text and not re.search(r":(func|mod|class):", text), prog
        for inside in _defaults(text):
            assert inside.startswith("default: "), f"{prog}: ({inside})"
            assert " then " not in inside, f"{prog}: ({inside}): sources are joined by ', else '"
            assert not re.search(r" or [$./~]", inside), f"{prog}: ({inside})"
        assert not re.search(r"\bdefault [$./~]", text), prog


def test_the_same_default_reads_the_same_everywhere(capsys):
    texts = _all_helps(capsys)
    weights = ", else ".join(WEIGHTS_DEFAULT_SOURCES)
    users = ["greeter", "greeter-library add", "greeter-library import", "greeter-admin"]
    users += ["facenet-tune", "facenet-weights check", "facenet-weights export-litert"]
    for prog in users:
        assert weights in texts[prog], prog
    cache = default_help(*CACHE_SOURCES)
    for prog in ("greeter", "facenet-tune"):
        assert cache in texts[prog], prog
    db = ", else ".join(config.DB_SOURCES)
    for prog in ("greeter", "greeter-library list", "greeter-admin"):
        assert db in texts[prog], prog
    config_file = default_help(*config.CONFIG_SOURCES)
    for prog in ("greeter", "greeter-library list", "greeter-admin", "greeter-admin set-password"):
        assert config_file in texts[prog], prog


def test_greeter_help_quotes_no_speeds(capsys):
    """Frames per second are measured figures: the README has them with their command."""
    text = _help("greeter", [], capsys)
    assert "fps" not in text and "frames/s: README" in text


def test_the_sources_match_what_the_code_reads(tmp_path, monkeypatch):
    assert config.WEIGHTS_SOURCES == WEIGHTS_DEFAULT_SOURCES
    assert config.DB_SOURCES[0] == f"${url.ENV_VAR}"
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert url.default_db_url() == f"sqlite:///{tmp_path}/" + config.DB_SOURCES[1][2:]
    assert default_cache_dir() == tmp_path / CACHE_SOURCES[-1][2:]
    assert CACHE_SOURCES[0] == f"${CACHE_ENV_VAR}"


def test_the_state_folder_sources_match_what_the_kiosk_reads(tmp_path, monkeypatch):
    from greeter.library.kiosk import default_state_dir

    systemd, xdg, home = config.STATE_SOURCES
    monkeypatch.setenv(systemd.split()[0][1:], str(tmp_path / "systemd"))
    assert default_state_dir() == tmp_path / "systemd"
    monkeypatch.delenv(systemd.split()[0][1:])
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert xdg == "$XDG_STATE_HOME/greeter" and default_state_dir() == tmp_path / "xdg/greeter"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / home[2:]


def test_summary_and_default_help():
    doc = "``greeter-library``: manage the shared face library from a terminal.\n\nMore."
    assert summary(doc) == "Manage the shared face library from a terminal."
    assert (
        summary("Encode with :func:`fr_utils.encode` and ``x``.")
        == "Encode with fr_utils.encode and x."
    )
    assert default_help("$A", "./b") == "(default: $A, else ./b)"
