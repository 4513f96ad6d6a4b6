"""Fixtures for the admin web app: a real SQLite store, the real enroller (tests/greeter/
conftest.py), real photos, a logged-in client (tests/helpers/admin.py)."""

import cv2
import numpy as np
import pytest

from tests.helpers.admin import PASSWORD, log_in, make_client


@pytest.fixture(scope="session")
def password_hash():
    """An Argon2id hash of PASSWORD with a low cost, so the many test logins stay fast (the
    app verifies with the parameters stored in the hash; production hashes use the default)."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)


@pytest.fixture
def store(sqlite_store):
    return sqlite_store


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


@pytest.fixture
def client(store, enroller, password_hash):
    """A logged-in client; ``client.csrf`` is the session's token."""
    with make_client(store, enroller, password_hash) as c:
        c.csrf = log_in(c)
        yield c
