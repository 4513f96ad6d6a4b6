"""The people to greet: photos in a folder, encoded once, watched for changes.

``images/<name>.jpg`` (one photo) and ``images/<name>/*.jpg`` (several) both
work (:func:`fr_utils.database.list_photos`); a face is matched against each
person's nearest photo. Faces are found and cropped by
:func:`fr_utils.photos.encode_photos`, which caches encodings on disk by file
content and weights, so a restart re-encodes nothing. :meth:`Gallery.poll`
looks at the folder listing, modification times and sizes (cheap: no file is
read) and re-encodes only photos that were added or changed.

A missing folder is not fatal: nobody is enrolled while it is missing (one warning),
and the photos are enrolled again when it comes back (from the cache: nothing is
re-encoded). A photo whose file name cleans to an empty name (``___.jpg``) is refused,
with one warning naming the file.
"""

import logging
import time
from pathlib import Path

from fr_utils.database import FaceDatabase, list_photos
from fr_utils.photos import encode_photos
from greeter.tracker import clean_name

log = logging.getLogger(__name__)


class Gallery:
    """Enrolled faces of ``images_dir``, as a :class:`FaceDatabase` in ``.database``.

    Args:
        images_dir: the photo folder.
        encoder, detector, aligner: how photos are encoded (see ``encode_photos``); the
            detector runs on the full-resolution photo (``None``: dlib's).
        cache_dir: encoding cache folder (``None``: no cache).
        interval: seconds between folder checks in :meth:`poll`.
        clock: ``time.monotonic``-like (injectable).
    """

    def __init__(
        self,
        images_dir,
        encoder,
        detector=None,
        aligner=None,
        cache_dir=None,
        interval=2.0,
        clock=time.monotonic,
        encode=encode_photos,
    ):
        self.images_dir = images_dir
        self._encoder, self._detector, self._aligner = encoder, detector, aligner
        self._cache_dir, self.interval, self._clock, self._encode = (
            cache_dir,
            interval,
            clock,
            encode,
        )
        self._seen = {}  # path -> (name, mtime_ns, size)
        self._enrolled = {}  # path -> (name, encoding)
        self._last_poll = None
        self._missing = False  # the folder was missing at the last check
        self._refused = set()  # paths already warned about (empty name)
        self.database = FaceDatabase()

    def _listing(self):
        """``{path: (name, mtime_ns, size)}``; empty when the folder is missing; ``None``
        when it could not be read just now (keep what is enrolled, try again later)."""
        folder = Path(self.images_dir)
        if not folder.is_dir():
            if not self._missing:
                log.warning(
                    "Photo folder %s does not exist (or is not a folder): nobody is "
                    "enrolled until it appears; checking every %g s.",
                    folder,
                    self.interval,
                )
            self._missing = True
            return {}
        if self._missing:
            log.warning("Photo folder %s is back; enrolling its photos.", folder)
            self._missing = False
        try:
            photos = list_photos(folder)
        except (OSError, ValueError) as err:  # removed or changed while being listed
            log.warning("Could not list %s (%s); trying again in %g s.", folder, err, self.interval)
            return None
        listing = {}
        for name, path in photos:
            cleaned = clean_name(name)
            if not cleaned:
                if path not in self._refused:
                    log.warning(
                        "Skipped %r: its name %r is empty once cleaned of control "
                        "characters, '_' and '-'; rename the file to the person's name.",
                        str(path),  # quoted: escape sequences never reach the terminal
                        name,
                    )
                    self._refused.add(path)
                continue
            try:
                stat = path.stat()
            except OSError:
                continue  # removed between listing and stat: gone next time
            listing[path] = (cleaned, stat.st_mtime_ns, stat.st_size)
        return listing

    def refresh(self, progress=False):
        """Re-encode added or changed photos, forget removed ones.

        Returns ``(added_or_changed, removed)`` path lists (empty when nothing changed).
        """
        self._last_poll = self._clock()
        listing = self._listing()
        if listing is None:
            return [], []
        changed = [p for p, state in listing.items() if self._seen.get(p) != state]
        removed = [p for p in self._seen if p not in listing]
        if not changed and not removed:
            return [], []
        for path in removed + changed:
            self._enrolled.pop(path, None)
        if changed:
            result = self._encode(
                changed,
                self._encoder,
                self._detector,
                self._aligner,
                cache_dir=self._cache_dir,
                progress=progress,
            )
            for path, encoding in result.encodings.items():
                self._enrolled[path] = (listing[path][0], encoding)
        self._seen = listing
        names = [name for name, _ in self._enrolled.values()]
        self.database = FaceDatabase(names, [enc for _, enc in self._enrolled.values()] or None)
        return changed, removed

    def poll(self):
        """:meth:`refresh` if ``interval`` seconds have passed since the last check."""
        if self._last_poll is not None and self._clock() - self._last_poll < self.interval:
            return [], []
        changed, removed = self.refresh()
        if changed or removed:
            log.info(
                "Photos changed: %d added or changed, %d removed; %d people enrolled.",
                len(changed),
                len(removed),
                len(self.database),
            )
        return changed, removed
