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

from greeter.library.store import LibraryError, Store
from greeter.names import clean_name, display_name

log = logging.getLogger(__name__)
SOURCE_PREFIX = "folder:"
_CHUNK = 256  # photos aligned and encoded together, then stored


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


def _list_photos(images_dir):
    from fr_utils.database import list_photos  # (its module imports TensorFlow)

    return list_photos(images_dir)


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
        enroller: aligns and encodes new photos (see :mod:`greeter.library.enroller`).
        only: if given, a set of paths known to be new or changed; other listed files
            are taken as unchanged without reading them (see :class:`FolderWatcher`).

    One bad photo never stops the others: it is reported in ``refused`` and logged.
    """
    images_dir = Path(images_dir).resolve()
    prefix = f"{SOURCE_PREFIX}{images_dir}/"
    stored = {p.source: p for p in store.photos(source_prefix=prefix)}
    result = SyncResult()
    listed, todo = set(), []  # todo: photos to align, encode and store
    for stem, path in _list_photos(images_dir):
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
            result.refused[str(path)] = f"{shown}: cannot be read ({err.strerror})"
            log.warning("Skipped %s", result.refused[str(path)])
            continue
        if old is not None and old.sha256 == hashlib.sha256(data).hexdigest():
            result.unchanged += 1
            continue
        todo.append((stem, path, shown, data, old, source))
    for start in range(0, len(todo), _CHUNK):  # bounded memory for a large new folder
        chunk = todo[start : start + _CHUNK]
        prepared = _prepared(enroller, [path for _, path, *_ in chunk])
        for (stem, path, shown, data, old, source), ready in zip(chunk, prepared):
            _store_photo(store, result, stem, path, shown, data, old, source, ready)
    for source, photo in stored.items():
        if source not in listed:
            store.remove_photo(photo.id, drop_empty_person=True)
            result.removed.append(source[len(SOURCE_PREFIX) :])
    return result


def _prepared(enroller, paths):
    """An enroller for each photo. When ``enroller`` has ``enroll_many`` (the real pipeline:
    faces found by worker threads, encoded in batches), every photo is aligned and encoded
    up front and its enroller just hands over the result; otherwise the enroller itself."""
    if not hasattr(enroller, "enroll_many"):
        return [enroller] * len(paths)
    return [_Ready(enroller.model_key, r) for r in enroller.enroll_many(paths)]


class _Ready:
    """An enroller whose one photo was already enrolled (or refused: ``result`` the error)."""

    def __init__(self, model_key, result):
        self.model_key, self.result = model_key, result

    def enroll(self, image, label):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _store_photo(store, result, stem, path, shown, data, old, source, enroller):
    """Add (or replace) one folder photo; a refusal is reported in ``result`` and logged."""
    name = old.person if old is not None else clean_name(stem)
    try:
        if not name:
            raise LibraryError(
                f"{shown}: its name {stem!r} is empty once cleaned of control characters, "
                "'_' and '-'; rename the file to the person's name."
            )
        display_name(name)
        store.add_photo(name, data, enroller, label=shown, source=source)
    except (ValueError, LibraryError) as err:
        reason = str(err) if shown in str(err) else f"{shown}: {err}"
        result.refused[str(path)] = reason
        log.warning("Skipped %s", reason)
        if old is not None:  # the file no longer shows a usable face: drop the old photo
            store.remove_photo(old.id, drop_empty_person=True)
            result.removed.append(str(path))
        return
    if old is not None:
        store.remove_photo(old.id, drop_empty_person=True)
        result.changed.append(str(path))
    else:
        result.added.append(str(path))


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
        for _, path in _list_photos(self.images_dir):
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
