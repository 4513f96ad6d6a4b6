"""The ``images/`` folder synced into the store (sync_folder, FolderWatcher, also as the live
library runs it), with the real enroller and real photos: a missing folder is waited for with one
warning; a folder deleted while the greeter runs keeps its people enrolled and is picked up again
when restored; added / changed / removed files are synced, unchanged and refused ones are not
read again; a file whose name cleans to nothing is refused once, named; hostile files (made by
the tests, nothing committed) are refused one by one while real people are still enrolled.

(Ported from the tests of ``greeter.gallery.Gallery``, which the store replaced.)
"""

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from greeter.library import LiveLibrary, Store, make_enroller
from greeter.library.enroller import enrol_photo
from greeter.library.sync import FolderWatcher, sync_folder
from tests.helpers.images import decompression_bomb
from tests.helpers.library import CountingEnroller, new_photo, people_names
from tests.helpers.waiting import wait_for

SYNC_LOGGER = "greeter.library.sync"


def _warnings(caplog, text):
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_missing_folder_is_waited_for_with_one_warning(sqlite_store, enroller, photos, tmp_path,
                                                       caplog):  # fmt: skip
    images = tmp_path / "images"
    watcher = FolderWatcher(sqlite_store, images, enroller)
    with caplog.at_level(logging.INFO, logger=SYNC_LOGGER):
        for _ in range(3):
            assert not watcher.sync()  # not there yet: no error, nothing changed
        assert len(_warnings(caplog, "no such folder")) == 1  # warned once
        assert sqlite_store.people() == []
        images.mkdir()
        shutil.copy(photos["lin"], images / "Lin-Manuel_Miranda.png")
        shutil.copy(photos["alex"], images / "Alex_Lacamoire.png")
        result = watcher.sync()
    assert sorted(Path(p).name for p in result.added) == [
        "Alex_Lacamoire.png", "Lin-Manuel_Miranda.png"
    ]  # fmt: skip
    assert people_names(sqlite_store) == ["Alex Lacamoire", "Lin-Manuel Miranda"]
    assert len(_warnings(caplog, "the folder is back")) == 1


def test_added_changed_removed_synced_unchanged_and_refused_not_read_again(
    sqlite_store, enroller, photos, tmp_path, caplog
):
    images = tmp_path / "images"
    (images / "ben").mkdir(parents=True)
    shutil.copy(photos["aaron"][0], images / "Ana_Lopez.jpg")
    shutil.copy(photos["gul"][0], images / "ben" / "1.jpg")
    shutil.copy(photos["gul"][1], images / "ben" / "2.jpg")
    shutil.copy(photos["no_face"], images / "nobody.png")
    counting = CountingEnroller(enroller)
    watcher = FolderWatcher(sqlite_store, images, counting)
    with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
        first = watcher.sync()
    assert sorted(counting.labels) == ["1.jpg", "2.jpg", "Ana_Lopez.jpg", "nobody.png"]
    assert {p.name: p.photos for p in sqlite_store.people()} == {"Ana Lopez": 1, "ben": 2}
    assert list(first.refused) == [str(images / "nobody.png")]
    assert "nobody.png" in first.refused[str(images / "nobody.png")]

    shutil.copy(photos["lin"], images / "chloe.png")  # added
    counting.labels.clear()
    with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
        added = watcher.sync()
    assert [Path(p).name for p in added.added] == ["chloe.png"] and not added.removed
    assert counting.labels == ["chloe.png"]  # only the new photo: the refused one is not retried
    assert len(_warnings(caplog, "nobody.png")) == 1  # and not warned about again

    ana = sqlite_store.photos("Ana Lopez")[0]
    shutil.copy(photos["aaron"][1], images / "Ana_Lopez.jpg")  # changed (new content)
    (images / "ben" / "2.jpg").unlink()  # removed
    counting.labels.clear()
    changed = watcher.sync()
    assert [Path(p).name for p in changed.changed] == ["Ana_Lopez.jpg"]
    assert [Path(p).name for p in changed.removed] == ["2.jpg"]
    assert counting.labels == ["Ana_Lopez.jpg"]
    assert {p.name: p.photos for p in sqlite_store.people()} == {
        "Ana Lopez": 1, "ben": 1, "chloe": 1
    }  # fmt: skip
    assert sqlite_store.photos("Ana Lopez")[0].sha256 != ana.sha256

    counting.labels.clear()
    assert not watcher.sync() and counting.labels == []  # nothing changed: nothing read


def test_a_symlinked_photo_is_synced_once_and_removed_with_its_link(
    sqlite_store, enroller, photos, tmp_path
):
    """A photo that is a symlink (e.g. into a shared drive) belongs to the folder it is in."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "Lin.png").symlink_to(photos["lin"])
    counting = CountingEnroller(enroller)
    assert [Path(p).name for p in FolderWatcher(sqlite_store, images, counting).sync().added] == [
        "Lin.png"
    ]
    again = FolderWatcher(sqlite_store, images, counting).sync()  # a restart: nothing new
    assert not again.added and counting.labels == ["Lin.png"]
    (images / "Lin.png").unlink()
    gone = FolderWatcher(sqlite_store, images, counting).sync()
    assert [Path(p).name for p in gone.removed] == ["Lin.png"] and people_names(sqlite_store) == []


def test_name_that_cleans_to_nothing_is_refused_once_naming_the_file(
    sqlite_store, enroller, photos, tmp_path, caplog
):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(photos["lin"], images / "__--_.png")
    shutil.copy(photos["alex"], images / "\x1b[2J.png")  # an escape sequence only
    shutil.copy(photos["aaron"][0], images / "Zo\u00eb_\u7f8e\u73b2.jpg")
    watcher = FolderWatcher(sqlite_store, images, enroller)
    with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
        watcher.sync()
        shutil.copy(photos["gul"][0], images / "Gul.jpg")  # a later change elsewhere
        watcher.sync()
        watcher.sync()
    assert people_names(sqlite_store) == ["Gul", "Zo\u00eb \u7f8e\u73b2"]
    refused = _warnings(caplog, "Skipped")
    assert len(refused) == 2  # once per file, not at every check
    assert any("__--_.png" in m and "rename the file" in m for m in refused)
    assert all("\x1b" not in m for m in refused)  # quoted: no escape reaches the terminal
    assert any("\\x1b[2J.png" in m for m in refused)


def test_folder_deleted_while_running_keeps_people_then_restored_changes_are_picked_up(
    sqlite_store, enroller, photos, tmp_path, caplog
):
    images, away = tmp_path / "images", tmp_path / "away"
    images.mkdir()
    shutil.copy(photos["lin"], images / "Lin-Manuel_Miranda.png")
    shutil.copy(photos["alex"], images / "Alex_Lacamoire.png")
    library = LiveLibrary(sqlite_store, enroller.model_key, kiosk="door", enroller=enroller,
                          images_dir=images, interval=0.1)  # fmt: skip
    with caplog.at_level(logging.INFO, logger=SYNC_LOGGER):
        library.start()
        try:
            both = ["Alex Lacamoire", "Lin-Manuel Miranda"]
            assert sorted(library.database) == both
            shutil.move(images, away)  # deleted (or unmounted) while running
            assert wait_for(lambda: _warnings(caplog, "no such folder"), 10)
            wait_for(lambda: False, 1.0)  # several more checks while it is gone
            assert len(_warnings(caplog, "no such folder")) == 1
            assert sorted(library.database) == both and people_names(sqlite_store) == both
            assert library._thread.is_alive()

            (away / "Alex_Lacamoire.png").unlink()  # changed while away ...
            shutil.copy(photos["aaron"][0], away / "Aaron_Peirsol.jpg")
            shutil.move(away, images)  # ... and restored
            expected = ["Aaron Peirsol", "Lin-Manuel Miranda"]
            assert wait_for(lambda: sorted(library.database) == expected, 20), list(
                library.database
            )
            assert people_names(sqlite_store) == expected
            assert len(_warnings(caplog, "the folder is back")) == 1
        finally:
            library.close()


def test_sync_folder_added_changed_removed(store, enroller, photos, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(photos["aaron"][0], images / "Aaron_Peirsol.jpg")
    shutil.copy(photos["lin"], images / "Lin-Manuel_Miranda.png")
    enrol_photo(store, enroller, "Aaron Peirsol", photos["aaron"][1])  # an upload: untouched
    result = sync_folder(store, images, enroller)
    assert len(result.added) == 2 and not result.refused
    assert {p.name: p.photos for p in store.people()} == {
        "Aaron Peirsol": 2, "Lin-Manuel Miranda": 1}  # fmt: skip
    assert not sync_folder(store, images, enroller)  # nothing changed
    shutil.copy(photos["aaron"][2], images / "Aaron_Peirsol.jpg")  # changed content
    (images / "Lin-Manuel_Miranda.png").unlink()
    shutil.copy(photos["no_face"], images / "Nobody.jpg")
    result = sync_folder(store, images, enroller)
    assert result.changed == [str((images / "Aaron_Peirsol.jpg").resolve())]
    assert len(result.removed) == 1 and list(result.refused) == [
        str(images.resolve() / "Nobody.jpg")
    ]
    assert {p.name: p.photos for p in store.people()} == {"Aaron Peirsol": 2}
    sources = sorted(p.source for p in store.photos())
    assert sources[0].startswith("folder:") and sources[1] == "upload"

    watcher = FolderWatcher(store, images, enroller)
    assert not watcher.sync() and not watcher.sync()
    shutil.copy(photos["gul"][0], images / "Abdullah_Gul.jpg")
    assert watcher.sync().added == [str((images / "Abdullah_Gul.jpg").resolve())]


# ---- hostile files next to real photos: an image over OpenCV's size limit, a decompression
# bomb, a truncated JPEG, CMYK / 16-bit / palette / EXIF-rotated copies of real faces, and
# 1x1 / 16x16 / uniform junk


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory, video_dir):
    """images/: two real people in odd encodings, and files that must be refused."""
    images = tmp_path_factory.mktemp("hostile") / "images"
    lin = Image.open(video_dir / "lin-manuel-miranda.png").convert("RGB")
    alex = Image.open(video_dir / "alex-lacamoire.png").convert("RGB")
    (images / "Lin-Manuel_Miranda").mkdir(parents=True)
    lin.convert("CMYK").save(images / "Lin-Manuel_Miranda" / "cmyk.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated; displays upright after a 90-degree turn
    lin.rotate(-90, expand=True).save(images / "Lin-Manuel_Miranda" / "exif.jpg", exif=exif)
    (images / "Alex_Lacamoire").mkdir()
    rgb16 = np.asarray(alex)[..., ::-1].astype(np.uint16) * 257
    cv2.imwrite(str(images / "Alex_Lacamoire" / "16bit.png"), rgb16)
    alex.convert("P", palette=Image.Palette.ADAPTIVE).save(images / "Alex_Lacamoire" / "pal.png")
    Image.new("L", ((1 << 20) + 16, 1), 90).save(images / "too_wide.png")
    decompression_bomb(images / "bomb.png")
    whole = images / "whole.jpg"
    lin.save(whole)
    (images / "truncated.jpg").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    (images / "notes.jpg").write_text("not an image")
    return images


JUNK = {
    "one_pixel.png": ("RGB", (1, 1), (200, 180, 160)),
    "icon.png": ("RGB", (16, 16), (30, 90, 200)),
    "grey.png": ("L", (120, 120), 128),
}


@pytest.fixture(scope="module")
def encoder(weights_path):
    from fr_utils.encoding import make_encoder

    return make_encoder(weights_path, runtime="tensorflow", flip=True)


def _folder_library(tmp_path, images, encoder):
    """``images`` synced into a fresh SQLite library and loaded, as the greeter does at start."""
    store = Store(f"sqlite:///{tmp_path / 'library.db'}")
    enroller = make_enroller(encoder=encoder)
    library = LiveLibrary(store, enroller.model_key, kiosk="door", enroller=enroller,
                          images_dir=images)  # fmt: skip
    return store, library.load()


def test_hostile_files_are_refused_per_file_and_real_people_still_enrolled(
    hostile_folder, encoder, video_dir, caplog, tmp_path
):
    with caplog.at_level(logging.INFO):
        store, library = _folder_library(tmp_path, hostile_folder, encoder)  # must not raise
    try:
        assert sorted(set(library.database.names)) == ["Alex Lacamoire", "Lin-Manuel Miranda"]
        assert len(library.database.names) == 4  # all four odd-format photos of real people
        log = caplog.text
        for name in ("too_wide.png", "bomb.png", "truncated.jpg", "notes.jpg"):
            assert name in log, f"no per-file message for {name}"
        assert "over the budget" in log and "truncated" in log
        assert "4 photos added, 0 changed, 0 removed, 4 refused" in log  # and one summary line

        reference = make_enroller(encoder=encoder).enroll(video_dir / "lin-manuel-miranda.png")
        names, distances = library.database.person_distances(reference.encoding)
        assert names[0] == "Lin-Manuel Miranda" and distances[0] < 0.3  # his photos: enrolled
    finally:
        store.close()


def test_junk_images_are_never_enrolled(tmp_path, encoder, caplog):
    images = tmp_path / "images"
    images.mkdir()
    for name, (mode, size, colour) in JUNK.items():
        Image.new(mode, size, colour).save(images / name)
    store, library = _folder_library(tmp_path, images, encoder)
    try:
        assert len(library.database) == 0, f"junk enrolled as {library.database.names}"
        assert store.people() == []
        for name in JUNK:
            assert name in caplog.text, f"no per-file message for {name}"
    finally:
        store.close()


# ---- erasure that lasts, names with hyphens, folder ownership (issue 19 item 5, issue 20
# item 4): no model needed, the enroller takes a file's bytes for its face (BytesEnroller)


def _folder(root, files: dict):
    """``root`` with ``files`` (relative path -> bytes); returns ``root``."""
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_a_removed_person_is_not_enrolled_again_and_it_is_said_once(tmp_path, caplog):
    from tests.helpers.library import BytesEnroller

    images = _folder(tmp_path / "images", {"Ana_Lima.jpg": b"ana 1", "Ben/1.jpg": b"ben 1"})
    enroller = BytesEnroller()
    with Store(f"sqlite:///{tmp_path / 'library.db'}") as store:
        FolderWatcher(store, images, enroller, kiosk="door").sync()
        assert people_names(store) == ["Ana Lima", "Ben"]
        store.remove_person("Ana Lima")

        restarted = FolderWatcher(store, images, enroller, kiosk="door")  # the kiosk restarts
        with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
            result = restarted.sync()
            restarted.sync()  # nothing changed: nothing said again
        assert people_names(store) == ["Ben"]
        assert list(result.ignored) == [str((images / "Ana_Lima.jpg").resolve())]
        (said,) = _warnings(caplog, "Not enrolled")
        assert "Ana_Lima.jpg" in said and "Ana Lima was removed from the library" in said
        assert "delete the file, or add Ana Lima again" in said

        _folder(images, {"copy.jpg": b"ana 1", "Ana Lima/2.jpg": b"ana 2"})  # her bytes, name
        again = restarted.sync()
        assert sorted(Path(p).name for p in again.ignored) == ["2.jpg", "copy.jpg"]
        assert people_names(store) == ["Ben"]

        store.add_photos([new_photo("Ana Lima", 9)])  # added again, explicitly: lifted
        back = FolderWatcher(store, images, enroller, kiosk="door").sync()
        assert not back.ignored and len(back.added) == 3
        assert store.person("Ana Lima").photos == 3  # the upload and her two folder photos


def test_a_photo_removed_on_the_admin_page_stays_out_until_the_file_changes(tmp_path):
    from tests.helpers.library import BytesEnroller

    images = _folder(tmp_path / "images", {"Ana/1.jpg": b"ana 1", "Ana/2.jpg": b"ana 2"})
    with Store(f"sqlite:///{tmp_path / 'library.db'}") as store:
        sync_folder(store, images, BytesEnroller())
        first = next(p for p in store.photos() if p.source.endswith("1.jpg"))
        store.remove_photo(first.id)
        result = sync_folder(store, images, BytesEnroller())
        assert [Path(p).name for p in result.ignored] == ["1.jpg"]
        assert store.person("Ana").photos == 1
        (images / "Ana" / "1.jpg").write_bytes(b"ana 1, a better photo")
        assert [Path(p).name for p in sync_folder(store, images, BytesEnroller()).added] == [
            "1.jpg"
        ]


def test_hyphens_are_kept_in_both_forms(tmp_path, caplog):
    from tests.helpers.library import BytesEnroller

    images = _folder(tmp_path / "images", {
        "Lin-Manuel_Miranda.png": b"lin",  # file form: '_' is a space, '-' is kept
        "Mary-Kate O'Neil/1.jpg": b"mk",  # folder form: the folder's name as written
        "Jean_Paul/1.jpg": b"jp",  # '_' is a space in a folder's name too
        "-_-.jpg": b"nobody",  # no letter: refused, named
    })  # fmt: skip
    with Store(f"sqlite:///{tmp_path / 'library.db'}") as store:
        with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
            result = sync_folder(store, images, BytesEnroller())
        assert people_names(store) == ["Jean Paul", "Lin-Manuel Miranda", "Mary-Kate O'Neil"]
        (refused,) = result.refused.values()
        assert "-_-" in refused and "no letter or digit" in refused


def test_a_kiosk_switching_folders_greets_only_the_new_folders_people(tmp_path, caplog):
    """``--images A`` then ``--images B``: A's people are removed when B is synced (they are
    still in A, and come back with --images A), not greeted any more; an uploaded photo and
    a folder imported with greeter-library (no kiosk) are kept."""
    from tests.helpers.library import BytesEnroller

    a = _folder(tmp_path / "A", {"Ana.jpg": b"ana", "Ben.jpg": b"ben a"})
    b = _folder(tmp_path / "B", {"Cy.jpg": b"cy", "Ben.jpg": b"ben b"})
    c = _folder(tmp_path / "C", {"Dee.jpg": b"dee"})
    enroller = BytesEnroller()
    with Store(f"sqlite:///{tmp_path / 'library.db'}") as store:
        LiveLibrary(store, "k", kiosk="door", enroller=enroller, images_dir=a).load()
        sync_folder(store, c, enroller)  # greeter-library import C
        store.add_photos([new_photo("Ana", 7)])  # and an upload of Ana
        with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
            live = LiveLibrary(store, "k", kiosk="door", enroller=enroller, images_dir=b).load()
        assert sorted(set(live.database.names)) == ["Ana", "Ben", "Cy", "Dee"]
        assert [s for s in (p.source for p in store.photos()) if "/A/" in s] == []
        assert store.person("Ana").photos == 1 and store.person("Ben").photos == 1
        (said,) = _warnings(caplog, "is no longer synced by kiosk door")
        assert str(a.resolve()) in said and "2 photo(s) removed" in said
        assert store.folders() == {str(b.resolve()): "door", str(c.resolve()): None}

        other = LiveLibrary(store, "k", kiosk="side", enroller=enroller, images_dir=a).load()
        assert "Ana" in other.database  # another kiosk's folder is its own business
        assert store.folders()[str(b.resolve())] == "door"
