"""A kiosk's side of the library: its persistent instance id, its weights by name and
provenance, which folder it syncs into which library, and a damaged SQLite file moved aside
with the steps to recover it."""

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from greeter.library.kiosk import folder_to_sync, instance_id, open_store, weights_label
from greeter.library.store import Store
from tests.helpers.library import new_photo, people_names


def test_the_instance_id_is_made_once_and_kept(tmp_path):
    state = tmp_path / "state"
    first = instance_id(state)
    assert len(first) == 16 and int(first, 16) >= 0
    assert instance_id(state) == first  # a restart: the same kiosk
    assert (state / "instance-id").read_text().strip() == first
    assert instance_id(tmp_path / "another") != first  # another state folder: another kiosk


def _settings(images, sync_folder=None):
    return SimpleNamespace(images=str(images), sync_folder=sync_folder)


@pytest.mark.parametrize(
    "engine, given, sync_folder, expected",
    [
        ("sqlite", False, None, "synced"),  # the kiosk's own library: images/ as before
        ("sqlite", True, None, "synced"),
        ("sqlite", False, False, None),
        ("postgresql", False, None, None),  # a default images/ is never pushed: warned
        ("postgresql", True, True, "synced"),
        ("postgresql", False, True, "synced"),
        ("postgresql", True, False, None),
        ("postgresql", True, None, "refused"),
    ],
)
def test_which_folder_is_synced_into_which_library(
    tmp_path, monkeypatch, caplog, engine, given, sync_folder, expected
):
    monkeypatch.chdir(tmp_path)
    Path("images").mkdir()
    store = SimpleNamespace(
        file=Path("library.db") if engine == "sqlite" else None,
        url="sqlite:///library.db" if engine == "sqlite" else "postgresql://db/greeter",
    )
    sources = {"images": "flag" if given else "default"}
    settings = _settings("images", sync_folder)
    if expected == "refused":
        with pytest.raises(ValueError, match="--sync-folder"):
            folder_to_sync(settings, sources, store)
        return
    with caplog.at_level(logging.WARNING):
        found = folder_to_sync(settings, sources, store)
    assert (found == Path("images")) if expected == "synced" else found is None
    warned = "is not synced into the shared library" in caplog.text
    assert warned == (engine == "postgresql" and not given and sync_folder is None)


def test_no_images_folder_nothing_to_sync(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SimpleNamespace(file=Path("library.db"), url="sqlite:///library.db")
    assert folder_to_sync(_settings("images"), {"images": "default"}, store) is None


def test_weights_by_name_and_provenance(weights_path):
    facenet = SimpleNamespace(name="facenet", model_id="nn4.small2.v1")
    label = weights_label(weights_path, facenet)
    assert label.startswith(f"{Path(weights_path).name} (") and "/" not in label
    assert "official" in label
    dlib = SimpleNamespace(name="dlib-resnet", model_id="dlib-resnet-v1-unit")
    assert weights_label(None, dlib) == "dlib-resnet-v1-unit"
    assert weights_label("/no/such/file.h5", facenet) == "file.h5"


def test_a_damaged_sqlite_library_is_moved_aside_and_a_fresh_one_made(tmp_path, caplog):
    path = tmp_path / "library.db"
    with Store(f"sqlite:///{path}") as store:
        store.add_photos([new_photo("Ana", 1)])
    data = bytearray(path.read_bytes())
    data[:100] = b"\x00" * 100  # the header gone: "file is not a database"
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR):
        store, moved = open_store(f"sqlite:///{path}")
    with store:
        assert people_names(store) == []  # a fresh library
    assert moved.name.startswith("library.db.corrupt-") and moved.read_bytes() == bytes(data)
    (said,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert f"The library file {path} is damaged" in said and str(moved) in said
    assert f'sqlite3 {moved} ".recover" | sqlite3 {path}.recovered' in said


def test_the_admin_tools_refuse_a_damaged_file_with_the_steps(tmp_path):
    from greeter.library.dialect import LibraryCorrupt

    path = tmp_path / "library.db"
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    with pytest.raises(LibraryCorrupt) as info:
        Store(f"sqlite:///{path}")
    assert info.value.path == str(path) and ".recover" in str(info.value)
    assert path.read_bytes().startswith(b"this is not")  # left where it is
