"""``greeter-library`` prints hostile names safely, and keeps database passwords off the command
line (issue 19, item 10).

* Names, kiosk names and messages with escape sequences, C1 controls or bidi overrides come out
  of ``list``, ``events`` and the error messages escaped (:func:`greeter.names.printable`).
* A password in ``--db`` works but is warned about once (``greeter``, ``greeter-library`` and
  ``greeter-admin`` share :func:`greeter.library.url.resolve_db_url`); from ``$GREETER_DB``,
  the config file or libpq's ``~/.pgpass`` / ``$PGPASSFILE`` nothing is said. The PGPASSFILE
  test runs against a real PostgreSQL server.
"""

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import insert

from greeter.library import schema
from greeter.library.cli import main
from greeter.library.store import Store, utcnow
from greeter.library.url import password_on_command_line, resolve_db_url

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location(
    "tests_postgres_cli_safety", REPO / "tests" / "postgres.py"
)
_postgres = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_postgres)
postgres_server = _postgres.postgres_server
postgres_url = _postgres.postgres_url

HOSTILE = "Ana\x1b]0;pwned\x07\x1b[2J\u202eevil\x9b31m"  # OSC title, clear, RLO, C1 CSI
SAFE = "Ana\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil\\x9b31m"


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _raw(text: str) -> bool:
    """True when ``text`` holds a control or bidi character (it would act on the terminal)."""
    return any((ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0 or c == "\u202e"
               for c in text)  # fmt: skip


def test_list_and_events_print_hostile_names_escaped(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'library.db'}"
    with Store(url) as store:  # a name written by an older version or another tool
        with store.engine.begin() as conn:
            conn.execute(insert(schema.people).values(name=HOSTILE, created=utcnow()))
        store.write_event(HOSTILE, "greeting", names=[HOSTILE], distances=[0.4])
        store.write_event("lobby", "error", message=f"camera {HOSTILE} lost\nfake line")
    code, out, err = _run(capsys, "list", "--db", url)
    assert code == 0 and f"{SAFE}\t0 photo(s)" in out and not _raw(out), out
    code, out, err = _run(capsys, "events", "--db", url, "--since=-1h")
    assert code == 0 and not _raw(out), out
    assert f"\t{SAFE}\tgreeting\t{SAFE}\t(0.400)" in out
    assert f"camera {SAFE} lost\\x0afake line" in out
    assert len(out.splitlines()) == 3  # two events and the summary: no injected line
    code, _, err = _run(capsys, "rename", HOSTILE, "Ben", "--db", url)
    assert code == 2 and not _raw(err) and "\\x1b" in err  # the refusal, escaped


def test_a_password_on_the_command_line_is_warned_about(caplog):
    url = "postgresql://greeter:s3cret%21@db.lan/greeter"
    with caplog.at_level(logging.WARNING, logger="greeter.library.url"):
        assert resolve_db_url(url, argv=["--db", url])[0] == url
        assert resolve_db_url(url, argv=[f"--db={url}"])[0] == url  # greeter's --db=URL form
        assert resolve_db_url(None, {"db": url}, argv=["--config", "x.json"])[0] == url
        assert resolve_db_url("postgresql://greeter@db.lan/g", argv=["--db", "..."])
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # the two on the command line; the config file's: none
    for text in warnings:
        assert "s3cret" not in text and "***" in text
        assert "$GREETER_DB" in text and "'db'" in text and "PGPASSFILE" in text
    assert not password_on_command_line("postgresql://u:x@h/d", ["--kiosk", "x"])  # a short
    assert not password_on_command_line("sqlite:///a.db", ["sqlite:///a.db"])  # no password


@pytest.mark.parametrize(
    "tool", [["-m", "greeter.library.cli", "list"], ["-m", "greeter.admin.cli"]]
)
def test_each_tool_warns_once_and_never_shows_the_password(tmp_path, tool):
    url = "postgresql://greeter:s3cret@127.0.0.1:9/greeter"  # nothing listens: it fails
    env = {**os.environ, "PYTHONPATH": str(REPO), "GREETER_CONFIG": "", "GREETER_DB": ""}
    done = subprocess.run(
        [sys.executable, *tool, "--db", url], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "s3cret" not in output, output
    assert output.count("on the command line") == 1, output
    assert "PGPASSFILE" in output and "$GREETER_DB" in output
    env["GREETER_DB"] = url  # the same URL from the environment: no warning
    done = subprocess.run(
        [sys.executable, *tool], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert "on the command line" not in done.stdout + done.stderr


@pytest.mark.slow
def test_the_password_can_come_from_a_pgpass_file(postgres_url, tmp_path, monkeypatch, capsys):
    from sqlalchemy.engine import make_url

    full = make_url(postgres_url)
    passfile = tmp_path / "pgpass"
    passfile.write_text(
        f"{full.host}:{full.port}:{full.database}:{full.username}:{full.password}\n"
    )
    passfile.chmod(0o600)  # libpq ignores a password file others can read
    bare = f"postgresql://{full.username}@{full.host}:{full.port}/{full.database}"
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    code, out, err = _run(capsys, "list", "--db", bare)
    assert code == 0 and "0 people" in out, err
    assert "command line" not in err
