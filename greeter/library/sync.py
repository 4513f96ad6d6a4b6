"""Keep the store in step with an ``images/`` folder: the seed's workflow on top of the store.

The folder layout is :func:`fr_utils.database.list_photos`'s: ``<name>.jpg`` (one photo)
or ``<name>/*.jpg`` (several). Names follow :func:`greeter.names.name_from_file`: kept as
written, hyphens included, ``_`` standing for a space: ``Lin-Manuel_Miranda.jpg`` and
``Lin-Manuel Miranda/1.jpg`` both enrol "Lin-Manuel Miranda".

Each file becomes one photo with source ``folder:<absolute path>``, so deleting a file
removes only that photo (and the person once they have no photo left); a changed file
(new sha256) replaces its photo; photos added any other way are never touched.

Ownership: the library remembers each folder synced and the kiosk syncing it
(:meth:`Store.claim_folder`). A kiosk that syncs another folder than before (``--images A``,
then ``--images B``) *releases* the old one: A's photos are removed, and the people who had
no other photo with them, logged by name. Removing rather than refusing to start: the
folder is where those photos live (run with ``--images A`` again and they are back), and a
door that stays dark because its folder moved helps nobody. ``greeter-library import``
syncs for no kiosk and releases nothing. A folder is known by its absolute path: in a fleet,
let ONE kiosk sync a given folder.

Erasure lasts: a folder photo of a person removed from the library (or a photo removed on
the admin page) has a tombstone (:meth:`Store.tombstones`); the sync ignores that file, any
file with the same bytes, and (for a person) any file naming them in the same folder, and
says so once, until the person is added again explicitly.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from fr_utils.database import list_photos
from greeter.library.enroller import CHUNK, PhotoIn, enrol_photos
from greeter.library.store import Store
from greeter.names import InvalidName, name_from_file, printable

log = logging.getLogger(__name__)
SOURCE_PREFIX = "folder:"


@dataclass
class SyncResult:
    """Paths added, changed and removed; ``refused``: path -> reason; ``ignored``: path ->
    why (a tombstone: the person or photo was removed from the library); both logged.
    ``released``: folders this kiosk synced before and no longer does."""

    added: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)
    ignored: dict = field(default_factory=dict)
    released: list = field(default_factory=list)
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


def sync_folder(store: Store, images_dir, enroller, only=None, kiosk=None) -> SyncResult:
    """Add new, replace changed (by content sha256) and remove deleted folder photos.

    Args:
        store: the library.
        images_dir: the photo folder.
        enroller: aligns and encodes new photos (:class:`greeter.library.enroller.Enroller`).
        only: if given, a set of paths known to be new or changed; other listed files
            are taken as unchanged without reading them (see :class:`FolderWatcher`).
        kiosk: the kiosk that syncs this folder: on a full sync (``only`` not given) the
            folders it synced before are released (see the module docstring). ``None``
            (``greeter-library import``): nothing is released.

    Each file is read once and decoded once; new and changed photos are enrolled in
    batches (:func:`greeter.library.enroller.enrol_photos`). One bad photo never stops the
    others: it is reported in ``refused`` and logged; a changed file that no longer shows a
    usable face removes its old photo.
    """
    images_dir = Path(images_dir).resolve()
    prefix = f"{SOURCE_PREFIX}{images_dir}/"
    result = SyncResult()
    if only is None:
        for old_folder in store.claim_folder(str(images_dir), kiosk):
            result.released.append(old_folder)
            photos, people = store.release_folder(old_folder)
            log.warning(
                "%s is no longer synced by kiosk %s (it syncs %s now): its %d photo(s) "
                "removed from the library%s. Run with --images %s to bring them back.",
                _shown(old_folder), printable(kiosk), _shown(images_dir), photos,
                f", and {len(people)} people with no other photo: "
                + ", ".join(printable(p) for p in people) if people else "",
                _shown(old_folder),
            )  # fmt: skip
    stored = {p.source: p for p in store.photos(source_prefix=prefix)}
    erased = _Erased(store.tombstones(source_prefix=prefix))
    batch, dropped = _Batch(store, enroller), []
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
        digest = hashlib.sha256(data).hexdigest()
        if old is not None and old.sha256 == digest:
            result.unchanged += 1
            continue
        try:
            name = old.person if old is not None else name_from_file(
                stem, folder_form=path.parent != images_dir
            )  # fmt: skip
        except InvalidName as err:
            reason = str(err).rstrip(".")
            _refuse(result, path, f"{shown}: {reason}; rename the file to the person's name.")
            continue
        why = None if old is not None else erased.why(source, digest, name)
        if why is not None:
            result.ignored[str(path)] = why
            log.warning("Not enrolled: %s: %s", shown, why)
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


class _Erased:
    """The tombstones under one folder, asked about each file not stored."""

    def __init__(self, tombstones):
        self.by_digest = {t.sha256: t for t in tombstones}
        self.by_source = {t.source: t for t in tombstones if t.name is not None}
        self.by_name = {t.name: t for t in tombstones if t.name is not None}

    def why(self, source: str, digest: str, name: str) -> str | None:
        """Why this file is not enrolled, or ``None`` (no tombstone applies)."""
        person = self.by_source.get(source) or self.by_name.get(name)
        if person is None and digest in self.by_digest:
            person = self.by_digest[digest]
        if person is None:
            return None
        when = person.created.astimezone().strftime("%Y-%m-%d %H:%M")
        if person.name is None:
            return (
                f"this photo was removed from the library on {when}; it is ignored until "
                "the file changes (delete the file to tidy up)."
            )
        who = printable(person.name)
        return (
            f"{who} was removed from the library on {when}, so the folder sync ignores "
            f"their photos; delete the file, or add {who} again (greeter-library add, or "
            "the admin page) to enrol them again."
        )


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

    def __init__(self, store: Store, images_dir, enroller, kiosk: str | None = None):
        self.store, self.images_dir, self.enroller = store, Path(images_dir), enroller
        self.kiosk = kiosk
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
        result = sync_folder(self.store, self.images_dir, self.enroller, only=only,
                             kiosk=self.kiosk)  # fmt: skip
        self._seen = listing
        if result:
            log.info(
                "%s: %d photos added, %d changed, %d removed, %d refused, %d ignored.",
                self.images_dir, len(result.added), len(result.changed),
                len(result.removed), len(result.refused), len(result.ignored),
            )  # fmt: skip
        return result
