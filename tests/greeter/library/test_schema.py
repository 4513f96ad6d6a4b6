"""The library's schema on SQLite and on a real PostgreSQL server: versioned migrations from an
empty database, idempotent, and a database newer than the code refused."""

import pytest
from sqlalchemy import inspect

from greeter.library import schema
from greeter.library.store import Store, utcnow


def test_migrations_from_empty_and_idempotent(db_url):
    with Store(db_url, migrate=False) as bare:
        assert inspect(bare.engine).get_table_names() == []
        assert schema.migrate(bare.engine) == (0, schema.LATEST)
        assert schema.migrate(bare.engine) == (schema.LATEST, schema.LATEST)
        tables = set(inspect(bare.engine).get_table_names())
    assert {"people", "photos", "encodings", "events", "kiosks", "visitors"} <= tables
    with Store(db_url) as again:  # opening re-runs the (no-op) migration
        assert again.change_counter() == 0
        with again.engine.connect() as conn:
            assert schema.schema_version(conn) == schema.LATEST


def test_schema_newer_than_code_is_refused(db_url):
    with Store(db_url) as store, store.engine.begin() as conn:
        conn.execute(schema.schema_versions.insert().values(version=99, applied=utcnow()))
    with pytest.raises(schema.SchemaTooNew, match="version 99"):
        Store(db_url)


def test_version_4_keeps_a_version_3_library_and_adds_the_lifecycle(db_url):
    """A library made by the previous version (schema 3) migrates: its rows kept, the
    settings, tombstones and folders tables and the kiosks' identity columns added."""
    from sqlalchemy import select, text

    with Store(db_url, migrate=False) as old, old.engine.begin() as conn:
        schema.schema_versions.create(conn)
        for version in range(3):
            schema.MIGRATIONS[version](conn)
            conn.execute(schema.schema_versions.insert().values(
                version=version + 1, applied=utcnow()))  # fmt: skip
        conn.execute(text("INSERT INTO kiosks (name, last_seen) VALUES ('lobby', :now)"),
                     {"now": utcnow()})  # fmt: skip
    with Store(db_url) as store:
        (kiosk,) = store.kiosks()
        assert kiosk.name == "lobby" and kiosk.instance is None and kiosk.state() == "up"
        assert store.retention().event_days == 90 and store.tombstones() == []
        with store.engine.connect() as conn:
            assert schema.schema_version(conn) == schema.LATEST == 4
            assert conn.execute(select(schema.folders)).all() == []
