"""The admin web app under Starlette's TestClient: a client, its login and CSRF token."""

import re

PASSWORD = "door-admin-pass"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def no_enroller():
    """An ``enroller_factory`` for tests that never enrol: calling it fails the test."""
    raise AssertionError("these tests never enrol")


def make_client(store, enroller, password_hash, **kwargs):
    from starlette.testclient import TestClient

    from greeter.admin.app import create_app

    app = create_app(
        store, password_hash=password_hash, enroller_factory=lambda: enroller, **kwargs
    )
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def log_in(client, password=PASSWORD):
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": "/people",
        },
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/people").text)
