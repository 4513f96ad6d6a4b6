"""Fixtures for the face library tests: a fresh store on each engine (SQLite and a real
PostgreSQL server)."""

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh library database URL, on SQLite and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'library.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(db_url):
    from greeter.library.store import Store

    with Store(db_url) as opened:
        yield opened
