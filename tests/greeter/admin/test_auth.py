"""The admin page's password, lock-out and CSRF helpers (no web server, no store)."""

import asyncio
import json
import os
import re
import stat
import threading
import time

import pytest
from argon2 import PasswordHasher

from greeter.admin import app as admin_app
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


# ---- the login's lock-out and Argon2 pool: attempts counted before they are verified

PASSWORD = "door-admin-pass"


def test_attempts_are_counted_before_verification():
    now = [0.0]
    throttle = auth.LoginThrottle(max_failures=5, window=300, lockout=60, clock=lambda: now[0])
    # Thirty attempts arrive together, none verified yet: five may be tried, the rest wait.
    waits = [throttle.attempt("10.0.0.1") for _ in range(30)]
    assert waits[:5] == [0] * 5 and all(w == pytest.approx(60) for w in waits[5:])
    assert throttle.attempt("10.0.0.2") == 0  # another address is not affected
    throttle.succeeded("10.0.0.1")  # one of the five was right: the lock stays (sent 5)
    assert throttle.retry_after("10.0.0.1") == pytest.approx(60)
    now[0] += 61
    assert throttle.attempt("10.0.0.1") == 0


def test_a_cancelled_attempt_is_not_counted():
    throttle = auth.LoginThrottle(max_failures=3, window=300, lockout=60, clock=lambda: 0.0)
    for _ in range(5):  # never verified (the pool was busy): never counted
        assert throttle.attempt("a") == 0
        throttle.cancel("a")
    assert throttle.attempt("a") == 0 and throttle.attempt("a") == 0
    assert throttle.attempt("a") == 0  # the third: checked, and it locks
    assert throttle.attempt("a") > 0


def test_all_addresses_together_are_capped():
    now = [0.0]
    throttle = auth.LoginThrottle(
        max_failures=5, window=300, lockout=60, max_total=50, clock=lambda: now[0]
    )
    for n in range(50):  # a distributed guesser: one attempt from each of 50 addresses
        assert throttle.attempt(f"198.51.100.{n}") == 0
        now[0] += 1
    assert throttle.attempt("192.0.2.7") == pytest.approx(250)  # until the oldest leaves
    now[0] += 251
    assert throttle.attempt("192.0.2.7") == 0
    assert len(throttle._attempts) <= 50  # old entries are forgotten


@pytest.mark.parametrize(
    "address, key",
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("testclient", "testclient"),
    ],
)
def test_client_key(address, key):
    assert auth.client_key(address) == key


def test_the_verifier_pool_is_bounded(monkeypatch):
    running, peak, gate = [0], [0], threading.Event()
    lock = threading.Lock()

    def slow_check(password, encoded):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(10)
        with lock:
            running[0] -= 1
        return password == encoded

    monkeypatch.setattr(auth, "check_password", slow_check)
    verifier = auth.Verifier(workers=2, queue=2)

    async def burst():
        tasks = [asyncio.create_task(verifier.check("x", "x")) for _ in range(10)]
        await asyncio.sleep(0.2)
        done = [t for t in tasks if t.done()]
        assert len(done) == 6 and all(t.result() is None for t in done)  # answered at once
        gate.set()
        return await asyncio.gather(*tasks)

    try:
        results = asyncio.run(burst())
    finally:
        verifier.close()
    assert results.count(True) == 4 and results.count(None) == 6
    assert peak[0] == 2  # never more than two verifications (x 64 MiB) at a time
    assert verifier._free == verifier.slots  # every slot came back


def test_the_verifier_really_verifies():
    encoded = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    verifier = auth.Verifier(workers=1, queue=0)
    try:
        assert asyncio.run(verifier.check(PASSWORD, encoded)) is True
        assert asyncio.run(verifier.check("wrong", encoded)) is False
    finally:
        verifier.close()


# ---- over HTTP, from many addresses


def _client(app, address):
    from starlette.testclient import TestClient

    return TestClient(
        app, base_url="http://127.0.0.1", client=(address, 40000), follow_redirects=False
    )


def _try(app, address, password):
    web = _client(app, address)
    page = web.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return web.post("/login", data={"password": password, "csrf_token": token})


def test_the_page_locks_out_many_addresses_together(store):
    encoded = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    throttle = auth.LoginThrottle(max_failures=5, window=300, lockout=60, max_total=8)
    app = admin_app.create_app(
        store, password_hash=encoded, throttle=throttle, enroller_factory=lambda: None
    )
    statuses = [_try(app, f"2001:db8:{n}::1", "wrong").status_code for n in range(8)]
    assert statuses == [401] * 7 + [429]  # the eighth is tried, then all must wait
    locked = _try(app, "192.0.2.99", PASSWORD)  # a new address, the right password: waits
    assert locked.status_code == 429 and "Too many" in locked.text
    assert int(locked.headers["retry-after"]) > 200


def test_one_ipv6_network_counts_as_one_address(store):
    encoded = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    app = admin_app.create_app(store, password_hash=encoded, enroller_factory=lambda: None)
    statuses = [_try(app, f"2001:db8:5:5::{n:x}", "wrong").status_code for n in range(1, 7)]
    assert statuses == [401, 401, 401, 401, 429, 429]
    assert _try(app, "2001:db8:5:6::1", PASSWORD).status_code == 303  # the next /64


def test_a_busy_pool_answers_503_at_once_and_counts_nothing(store, monkeypatch):
    encoded = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    gate = threading.Event()
    real = auth.check_password
    monkeypatch.setattr(auth, "check_password", lambda p, e: gate.wait(10) and real(p, e))
    verifier = auth.Verifier(workers=1, queue=0)
    throttle = auth.LoginThrottle(max_failures=2)
    app = admin_app.create_app(
        store, password_hash=encoded, verifier=verifier, throttle=throttle,
        enroller_factory=lambda: None,
    )  # fmt: skip
    first = threading.Thread(target=_try, args=(app, "192.0.2.1", "wrong"))
    first.start()
    deadline = time.monotonic() + 5
    while verifier._free and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    busy = _try(app, "192.0.2.2", PASSWORD)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert time.monotonic() - started < 2
    gate.set()
    first.join(10)
    assert _try(app, "192.0.2.2", PASSWORD).status_code == 303  # the 503 was not counted
