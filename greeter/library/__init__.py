"""The shared face library: a store (SQLite or PostgreSQL) that many kiosks read.

``Store`` (people, photos, encodings, events, kiosks, visitors, tombstones, retention: it
only stores the values of ``records``), ``enrol_photo``/``enrol_photos`` (photos -> aligned,
encoded, stored; ``make_enroller`` builds the pipeline), ``LiveLibrary`` (the greeter's
in-memory view, with its event ``spool``), ``sync_folder`` (images/ -> store),
``resolve_db_url``; ``kiosk`` (a kiosk's identity, state folder and checks at start),
``maintenance`` (purge, backup, a damaged file moved aside), ``duplicates`` (one face under
two names). CLI: ``greeter-library``.
"""

from greeter.library.enroller import (
    Enrolled,
    Enroller,
    SeveralFaces,
    enrol_photo,
    enrol_photos,
    make_enroller,
)
from greeter.library.live import EventTee, LiveLibrary, default_kiosk_name
from greeter.library.store import LibraryError, Store, StoreUnavailable
from greeter.library.sync import FolderWatcher, sync_folder
from greeter.library.url import default_db_url, mask_url, resolve_db_url

__all__ = [
    "Enrolled",
    "Enroller",
    "EventTee",
    "FolderWatcher",
    "LibraryError",
    "LiveLibrary",
    "SeveralFaces",
    "Store",
    "StoreUnavailable",
    "default_db_url",
    "default_kiosk_name",
    "enrol_photo",
    "enrol_photos",
    "make_enroller",
    "mask_url",
    "resolve_db_url",
    "sync_folder",
]
