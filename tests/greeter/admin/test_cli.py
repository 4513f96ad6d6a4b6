"""greeter-admin's command line: no password refuses a non-loopback address before the library
is touched; set-password writes a hash the app then uses."""

import io

from greeter.admin import cli as admin_cli


def test_refuses_a_non_loopback_host_without_a_password(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GREETER_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'lib.db'}"
    assert admin_cli.main(["--host", "0.0.0.0", "--db", db]) == 2
    assert "no password is set" in capsys.readouterr().err
    assert not (tmp_path / "lib.db").exists()  # refused before touching the library


def test_set_password_then_the_app_uses_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GREETER_ADMIN_PASSWORD", raising=False)
    config = tmp_path / "greeter.json"
    config.write_text('{"threshold": 0.6}')
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert admin_cli.main(["set-password", "--config", str(config)]) == 0
    assert "a long password" not in config.read_text()
    args = admin_cli._parser().parse_args(
        [
            "--host",
            "0.0.0.0",
            "--allowed-host",
            "door.example",
            "--allow-plain-http",
            "--config",
            str(config),
            "--db",
            f"sqlite:///{tmp_path / 'l.db'}",
        ]
    )
    app, server = admin_cli.build_from_args(args)
    assert server["host"] == "0.0.0.0" and app.state.admin.password_hash.startswith("$argon2")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert admin_cli.main(["set-password", "--config", str(config)]) == 2
    assert "at least 8" in capsys.readouterr().err
