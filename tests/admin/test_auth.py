"""The admin page's password, lock-out and CSRF helpers (no web server, no store)."""

import json
import os
import stat

import pytest

from greeter.admin import auth


def test_hash_and_check_password():
    encoded = auth.hash_password("correct horse")
    assert encoded.startswith("$argon2id$")
    assert "correct horse" not in encoded
    assert auth.check_password("correct horse", encoded)
    assert not auth.check_password("correct hors", encoded)
    assert not auth.check_password("correct horse", "not a hash")


def test_short_password_refused():
    with pytest.raises(auth.PasswordError, match="at least 8"):
        auth.hash_password("short")


def test_password_from_env_wins_over_config():
    config = {auth.HASH_KEY: auth.hash_password("from the config")}
    encoded = auth.password_hash(config, {auth.PASSWORD_ENV: "from the env"})
    assert auth.check_password("from the env", encoded)
    assert auth.password_hash(config, {}) == config[auth.HASH_KEY]
    assert auth.password_hash({}, {}) is None


def test_plain_text_in_config_refused():
    with pytest.raises(auth.PasswordError, match="set-password"):
        auth.password_hash({auth.HASH_KEY: "hunter22"}, {})


def test_write_password_hash_keeps_other_keys_and_mode(tmp_path):
    path = tmp_path / "greeter.json"
    path.write_text(json.dumps({"threshold": 0.6, "db": "sqlite:///x.db"}))
    os.chmod(path, 0o600)
    auth.write_password_hash(path, "a good password")
    config = json.loads(path.read_text())
    assert config["threshold"] == 0.6 and config["db"] == "sqlite:///x.db"
    assert auth.check_password("a good password", config[auth.HASH_KEY])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["greeter.json"]  # no temporary left


def test_write_password_hash_creates_file(tmp_path):
    path = tmp_path / "new.json"
    auth.write_password_hash(path, "a good password")
    assert auth.HASH_KEY in json.loads(path.read_text())


def test_throttle_locks_out_after_max_failures_then_recovers():
    now = [1000.0]
    throttle = auth.LoginThrottle(max_failures=5, window=300, lockout=60, clock=lambda: now[0])
    for _ in range(4):
        throttle.attempt("10.0.0.1")
        now[0] += 10
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.attempt("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == pytest.approx(60)
    assert throttle.retry_after("10.0.0.2") == 0  # other addresses unaffected
    now[0] += 61
    assert throttle.retry_after("10.0.0.1") == 0


def test_throttle_forgets_old_failures_and_successes():
    now = [0.0]
    throttle = auth.LoginThrottle(max_failures=3, window=100, lockout=60, clock=lambda: now[0])
    throttle.attempt("a")
    throttle.attempt("a")
    now[0] += 101  # outside the window
    throttle.attempt("a")
    assert throttle.retry_after("a") == 0
    throttle.attempt("a")
    throttle.succeeded("a")
    throttle.attempt("a")
    assert throttle.retry_after("a") == 0


def test_csrf_token_is_per_session_and_checked():
    session = {}
    token = auth.csrf_token(session)
    assert len(token) >= 40 and auth.csrf_token(session) == token
    assert auth.csrf_ok(session, token)
    assert not auth.csrf_ok(session, token[:-1] + "x")
    assert not auth.csrf_ok(session, None)
    assert not auth.csrf_ok({}, token)
    assert auth.csrf_token({}) != token


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    assert auth.is_loopback(host) is loopback
