"""Keep the store in step with an ``images/`` folder: the seed's workflow on top of the store.

The folder layout is :func:`fr_utils.database.list_photos`'s: ``<name>.jpg`` (one photo)
or ``<name>/*.jpg`` (several); ``Lin-Manuel_Miranda.jpg`` enrolls "Lin Manuel Miranda".
Each file becomes one photo with source ``folder:<absolute path>``, so deleting a file
removes only that photo (and the person once they have no photo left); a changed file
(new sha256) replaces its photo; photos added any other way are never touched. A folder
is known by its absolute path: in a fleet, let ONE kiosk sync a given folder.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from fr_utils.database import list_photos
from greeter.library.enroller import CHUNK, PhotoIn, enrol_photos
from greeter.library.store import Store
from greeter.names import clean_name

log = logging.getLogger(__name__)
SOURCE_PREFIX = "folder:"


@dataclass
class SyncResult:
    """Paths added, changed and removed; ``refused``: path -> reason (also logged)."""

    added: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)
    unchanged: int = 0

    def __bool__(self):
        return bool(self.added or self.changed or self.removed)


def _shown(path) -> str:
    """A path as it may appear in a message: quoted if it holds control characters (a file
    named with an escape sequence must not reach the terminal as one)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def folder_source(path) -> str:
    """The store's ``source`` of a folder photo: ``folder:<absolute path>``. The path is not
    resolved: a photo that is a symlink stays under its folder's prefix (and is removed from
    the store when the link is deleted); only the folder itself is resolved, by the caller."""
    return f"{SOURCE_PREFIX}{Path(path).absolute()}"


def sync_folder(store: Store, images_dir, enroller, only=None) -> SyncResult:
    """Add new, replace changed (by content sha256) and remove deleted folder photos.

    Args:
        store: the library.
        images_dir: the photo folder.
        enroller: aligns and encodes new photos (:class:`greeter.library.enroller.Enroller`).
        only: if given, a set of paths known to be new or changed; other listed files
            are taken as unchanged without reading them (see :class:`FolderWatcher`).

    Each file is read once and decoded once; new and changed photos are enrolled in
    batches (:func:`greeter.library.enroller.enrol_photos`). One bad photo never stops the
    others: it is reported in ``refused`` and logged; a changed file that no longer shows a
    usable face removes its old photo.
    """
    images_dir = Path(images_dir).resolve()
    prefix = f"{SOURCE_PREFIX}{images_dir}/"
    stored = {p.source: p for p in store.photos(source_prefix=prefix)}
    result, batch, dropped = SyncResult(), _Batch(store, enroller), []
    listed = set()
    for stem, path in list_photos(images_dir):
        source = folder_source(path)
        listed.add(source)
        old = stored.get(source)
        if only is not None and path not in only:
            # Unchanged since the last sync: stored, or refused then (and said so once).
            result.unchanged += old is not None
            continue
        shown = _shown(path)
        try:
            data = path.read_bytes()
        except OSError as err:
            _refuse(result, path, f"{shown}: cannot be read ({err.strerror})")
            continue
        if old is not None and old.sha256 == hashlib.sha256(data).hexdigest():
            result.unchanged += 1
            continue
        name = old.person if old is not None else clean_name(stem)
        if not name:
            _refuse(
                result,
                path,
                f"{shown}: its name {stem!r} is empty once cleaned of control characters, "
                "'_' and '-'; rename the file to the person's name.",
            )
            continue
        batch.add(PhotoIn(name, data, shown, source, old.id if old else None), path, old)
        if batch.full():
            dropped += batch.flush(result)
    dropped += batch.flush(result)
    for source, photo in stored.items():
        if source not in listed:
            dropped.append(photo.id)
            result.removed.append(source[len(SOURCE_PREFIX) :])
    store.remove_photos(dropped, drop_empty_person=True)
    return result


def _refuse(result: SyncResult, path, reason: str) -> None:
    result.refused[str(path)] = reason
    log.warning("Skipped %s", reason)


class _Batch:
    """Folder photos waiting to be enrolled together (at most
    :data:`greeter.library.enroller.CHUNK`: a large new folder is never all in memory)."""

    def __init__(self, store, enroller):
        self.store, self.enroller, self.photos, self.where = store, enroller, [], {}

    def add(self, photo: PhotoIn, path, old) -> None:
        self.photos.append(photo)
        self.where[photo.label] = (str(path), old)

    def full(self) -> bool:
        return len(self.photos) >= CHUNK

    def flush(self, result: SyncResult) -> list:
        """Enrol and store the batch; returns the ids of old photos to drop (a changed file
        that no longer shows a usable face)."""
        enrolled = enrol_photos(self.store, self.enroller, self.photos)
        for label, _ in enrolled.added:
            path, old = self.where[label]
            (result.changed if old is not None else result.added).append(path)
        dropped = []
        for label, reason in enrolled.refused.items():
            path, old = self.where[label]
            result.refused[path] = reason if label in reason else f"{label}: {reason}"
            if old is not None:
                dropped.append(old.id)
                result.removed.append(path)
        self.photos, self.where = [], {}
        return dropped


class FolderWatcher:
    """Cheap repeated :func:`sync_folder`: files whose size and mtime are unchanged since
    the last call are not read again, and a refused file is not retried (nor warned about
    again) until it changes."""

    def __init__(self, store: Store, images_dir, enroller):
        self.store, self.images_dir, self.enroller = store, Path(images_dir), enroller
        self._seen = None  # path -> (mtime_ns, size)
        self._missing = False  # warned that the folder is missing

    def sync(self) -> SyncResult:
        """Sync changes since the last call. A missing folder (not created yet, or deleted or
        unmounted while the greeter runs) is warned about once and changes nothing in the
        store: its people stay enrolled until the folder is back and says otherwise."""
        if not self.images_dir.is_dir():
            if not self._missing:
                log.warning(
                    "%s: no such folder; waiting for it (people already in the library "
                    "stay enrolled).",
                    self.images_dir,
                )
            self._missing, self._seen = True, None
            return SyncResult()
        if self._missing:
            log.info("%s: the folder is back.", self.images_dir)
            self._missing = False
        listing = {}
        for _, path in list_photos(self.images_dir):
            try:
                stat = path.stat()
            except OSError:
                continue
            listing[path] = (stat.st_mtime_ns, stat.st_size)
        if self._seen is not None and listing == self._seen:
            return SyncResult()
        only = None if self._seen is None else {
            p for p, state in listing.items() if self._seen.get(p) != state
        }  # fmt: skip
        result = sync_folder(self.store, self.images_dir, self.enroller, only=only)
        self._seen = listing
        if result:
            log.info(
                "%s: %d photos added, %d changed, %d removed, %d refused.",
                self.images_dir, len(result.added), len(result.changed),
                len(result.removed), len(result.refused),
            )  # fmt: skip
        return result
