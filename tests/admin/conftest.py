"""Fixtures for the admin web app: a real store, the real enroller, real photos, a client."""

import importlib.util
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "tests_postgres_admin", Path(__file__).resolve().parents[1] / "postgres.py"
)
_postgres = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_postgres)
postgres_server = _postgres.postgres_server
postgres_url = _postgres.postgres_url

PASSWORD = "door-admin-pass"


@pytest.fixture(scope="session")
def password_hash():
    """An Argon2id hash of PASSWORD with a low cost, so the many test logins stay fast (the
    app verifies with the parameters stored in the hash; production hashes use the default)."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)


@pytest.fixture(scope="session")
def enroller(weights_path):
    """The real enrollment pipeline for the test weights (model loaded once per session)."""
    from greeter.library.enroller import make_enroller

    return make_enroller(weights_path)


@pytest.fixture
def store(tmp_path):
    from greeter.library.store import Store

    with Store(f"sqlite:///{tmp_path / 'library.db'}") as opened:
        yield opened


@pytest.fixture(scope="session")
def photo_files(shared_dir):
    """Real photos as ``{name: bytes}``: one face (lin, alex), two faces, no face, not an image."""
    video = shared_dir / "data" / "video"
    lin, alex = video / "lin-manuel-miranda.png", video / "alex-lacamoire.png"
    a, b = cv2.imread(str(lin)), cv2.imread(str(alex))
    height = min(a.shape[0], b.shape[0])
    a = cv2.resize(a, (a.shape[1] * height // a.shape[0], height))
    b = cv2.resize(b, (b.shape[1] * height // b.shape[0], height))
    ramp = np.tile(np.linspace(0, 255, 300, dtype=np.uint8)[None, :, None], (200, 1, 3))
    return {
        "lin": lin.read_bytes(),
        "alex": alex.read_bytes(),
        "two": cv2.imencode(".jpg", np.hstack([a, b]))[1].tobytes(),
        "noface": cv2.imencode(".png", ramp)[1].tobytes(),
        "text": b"this is a shopping list, not a photo\n",
    }


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


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


@pytest.fixture
def client(store, enroller, password_hash):
    """A logged-in client; ``client.csrf`` is the session's token."""
    with make_client(store, enroller, password_hash) as c:
        c.csrf = log_in(c)
        yield c
