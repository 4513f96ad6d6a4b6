"""Server-side sessions (issue 19, item 3): the cookie holds only a random id, so the server can
end a session: at logout (a cookie copied before it is worthless after), when the password
changes (``greeter-admin set-password`` on the running page's config file), after the idle and
the absolute timeout; a login gets a new id; visitors' sessions cannot fill memory. Over
Starlette's TestClient on a real SQLite store."""

import io
import re

import pytest
from argon2 import PasswordHasher

from greeter.admin import app as admin_app
from greeter.admin import cli as admin_cli
from greeter.admin.sessions import COOKIE, Session, SessionStore
from greeter.config import read_config_file
from tests.helpers.admin import csrf_of, no_enroller

PASSWORD = "door-admin-pass"


def _argon2(password: str) -> str:
    """Low-cost Argon2 (the app verifies with the parameters stored in the hash)."""
    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(password)


def _app(store, **kwargs):
    kwargs.setdefault("password_hash", _argon2(PASSWORD))
    return admin_app.create_app(store, enroller_factory=no_enroller, **kwargs)


def _client(app):
    from starlette.testclient import TestClient

    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def _log_in(web, password=PASSWORD):
    token = csrf_of(web.get("/login").text)
    response = web.post("/login", data={"password": password, "csrf_token": token})
    assert response.status_code == 303, response.text
    return response


def test_the_cookie_holds_only_a_random_id(store):
    with _client(_app(store)) as web:
        token = csrf_of(web.get("/login").text)
        anonymous = web.cookies[COOKIE]  # the login form's session (its CSRF token)
        response = web.post("/login", data={"password": PASSWORD, "csrf_token": token})
        header = response.headers["set-cookie"]
        value = web.cookies[COOKIE]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)  # 32 random bytes, nothing else
        assert value != anonymous  # a new id at login: a planted id is worthless
        flags = [part.strip().lower() for part in header.split(";")[1:]]
        assert set(flags) == {"path=/", "httponly", "samesite=strict"}  # no Secure over http
        assert "max-age" not in header.lower() and "expires" not in header.lower()
        assert web.get("/people").status_code == 200


def test_a_cookie_copied_before_logout_is_worthless_after_it(store):
    store.add_person("Ana Lima")
    (ana,) = store.people()
    app = _app(store)
    with _client(app) as web, _client(app) as thief:
        _log_in(web)
        token = csrf_of(web.get("/people").text)
        copied = web.cookies[COOKIE]
        assert web.post("/logout", data={"csrf_token": token}).status_code == 303
        assert web.cookies.get(COOKIE) is None  # the browser is told to forget it
        thief.cookies.set(COOKIE, copied, domain="127.0.0.1")
        replay = thief.get("/people")
        assert replay.status_code == 303 and replay.headers["location"].startswith("/login")
        assert "Ana Lima" not in replay.text
        page = thief.get(replay.headers["location"])
        assert page.status_code == 200 and "Ana Lima" not in page.text
        thief.cookies.set(COOKIE, copied, domain="127.0.0.1")
        delete = thief.post(f"/people/{ana.id}/delete", data={"csrf_token": token})
        assert delete.status_code == 403
    assert [p.name for p in store.people()] == ["Ana Lima"]


def test_a_changed_password_ends_every_session(store, tmp_path, monkeypatch):
    config = tmp_path / "greeter.json"
    config.write_text('{"threshold": 0.6}')
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert admin_cli.main(["set-password", "--config", str(config)]) == 0
    encoded = read_config_file(config)["admin_password_hash"]
    app = _app(store, password_hash=encoded, password_file=config)
    with _client(app) as one, _client(app) as two:
        _log_in(one)
        _log_in(two)
        assert one.get("/people").status_code == 200 and two.get("/people").status_code == 200
        monkeypatch.setattr("sys.stdin", io.StringIO("a new password\n"))
        assert admin_cli.main(["set-password", "--config", str(config)]) == 0
        for web in (one, two):
            ended = web.get("/people")
            assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
        token = csrf_of(one.get("/login").text)
        old = one.post("/login", data={"password": PASSWORD, "csrf_token": token})
        assert old.status_code == 401
        _log_in(one, "a new password")
        assert one.get("/people").status_code == 200
        assert app.state.admin.password_hash != encoded


def test_a_config_file_without_a_usable_hash_refuses_logins(store, tmp_path):
    config = tmp_path / "greeter.json"
    config.write_text(f'{{"admin_password_hash": "{_argon2(PASSWORD)}"}}')
    encoded = read_config_file(config)["admin_password_hash"]
    app = _app(store, password_hash=encoded, password_file=config)
    with _client(app) as web:
        _log_in(web)
        config.write_text('{"admin_password_hash": "hunter22"}')  # not a hash: no login at all
        assert web.get("/people").status_code == 303
        token = csrf_of(web.get("/login").text)
        refused = web.post("/login", data={"password": PASSWORD, "csrf_token": token})
        assert refused.status_code == 503 and "set-password" in refused.text
        assert web.get("/people").status_code == 303  # and the page did not open up


def test_idle_and_absolute_timeouts(store):
    now = [1000.0]
    sessions = SessionStore(idle=30 * 60, max_age=12 * 3600, clock=lambda: now[0])
    with _client(_app(store, sessions=sessions)) as web:
        _log_in(web)
        for _ in range(28):  # a busy admin: a request every 25 minutes keeps it ...
            now[0] += 25 * 60
            assert web.get("/people").status_code == 200
        now[0] += 25 * 60  # ... until 12 h after the login, however busy
        assert web.get("/people").status_code == 303
        _log_in(web)
        now[0] += 31 * 60  # 31 minutes without a request
        assert web.get("/people").status_code == 303
    assert len(sessions) <= 1


def test_visitor_sessions_cannot_fill_memory(store):
    sessions = SessionStore(max_anonymous=5)
    app = _app(store, sessions=sessions)
    with _client(app) as admin:
        _log_in(admin)
        for _ in range(40):  # login forms opened without a cookie: each makes a session
            with _client(app) as visitor:
                assert visitor.get("/login").status_code == 200
        assert len(sessions) == 6  # five visitors (the newest) and the logged-in admin
        assert admin.get("/people").status_code == 200
        assert admin.get("/static/admin.css").status_code == 200
        assert len(sessions) == 6  # a request that stores nothing makes no session


def test_session_store_units():
    now = [0.0]
    store = SessionStore(idle=10, max_age=100, max_anonymous=2, clock=lambda: now[0])
    session = store.new()
    assert isinstance(session, Session) and store.get(session.id) is None  # not kept yet
    session["csrf_token"] = "t"
    store.keep(session)
    assert store.get(session.id) is session
    old_id = session.id
    store.log_in(session)
    assert session.id != old_id and store.get(old_id) is None and session.logged_in
    assert "csrf_token" not in session  # a new token with the new id
    store.end(session)
    assert session.ended and store.get(session.id) is None
    for bad in ({"idle": 0}, {"max_age": -1}, {"max_anonymous": 0}):
        with pytest.raises(ValueError, match="Received"):
            SessionStore(**bad)
