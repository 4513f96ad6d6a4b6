"""The people to greet: photos in a folder, encoded once, watched for changes.

``images/<name>.jpg`` (one photo) and ``images/<name>/*.jpg`` (several) both
work (:func:`fr_utils.database.list_photos`); a face is matched against each
person's nearest photo. Faces are found and cropped by
:func:`fr_utils.photos.encode_photos`, which caches encodings on disk by file
content and weights, so a restart re-encodes nothing. :meth:`Gallery.poll`
looks at the folder listing, modification times and sizes (cheap: no file is
read) and re-encodes only photos that were added or changed.
"""

import logging
import time

from fr_utils.database import FaceDatabase, list_photos
from fr_utils.faces import DEFAULT_CROP
from fr_utils.photos import encode_photos

from greeter.tracker import clean_name

log = logging.getLogger(__name__)


class Gallery:
    """Enrolled faces of ``images_dir``, as a :class:`FaceDatabase` in ``.database``.

    Args:
        images_dir: the photo folder.
        model, detector, crop: how photos are encoded (see ``encode_photos``); the
            detector is the full-resolution one the weights' crop was measured with.
        cache_dir: encoding cache folder (``None``: no cache).
        interval: seconds between folder checks in :meth:`poll`.
        clock: ``time.monotonic``-like (injectable).
    """

    def __init__(self, images_dir, model, detector, crop=DEFAULT_CROP, cache_dir=None,
                 interval=2.0, clock=time.monotonic, encode=encode_photos):
        self.images_dir = images_dir
        self._model, self._detector, self._crop = model, detector, crop
        self._cache_dir, self.interval, self._clock, self._encode = cache_dir, interval, clock, encode
        self._seen = {}      # path -> (name, mtime_ns, size)
        self._enrolled = {}  # path -> (name, encoding)
        self._last_poll = None
        self.database = FaceDatabase()

    def _listing(self):
        listing = {}
        for name, path in list_photos(self.images_dir):
            try:
                stat = path.stat()
            except OSError:
                continue  # removed between listing and stat: gone next time
            listing[path] = (clean_name(name), stat.st_mtime_ns, stat.st_size)
        return listing

    def refresh(self, progress=False):
        """Re-encode added or changed photos, forget removed ones.

        Returns ``(added_or_changed, removed)`` path lists (empty when nothing changed).
        """
        self._last_poll = self._clock()
        listing = self._listing()
        changed = [p for p, state in listing.items() if self._seen.get(p) != state]
        removed = [p for p in self._seen if p not in listing]
        if not changed and not removed:
            return [], []
        for path in removed + changed:
            self._enrolled.pop(path, None)
        if changed:
            result = self._encode(changed, self._model, self._detector, self._crop,
                                  cache_dir=self._cache_dir, progress=progress)
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
            log.info("Photos changed: %d added or changed, %d removed; %d people enrolled.",
                     len(changed), len(removed), len(self.database))
        return changed, removed
