"""The shared face library: a store (SQLite or PostgreSQL) that many kiosks read.

``Store`` (people, photos, encodings, events, kiosks, visitors), ``resolve_db_url``,
``LiveLibrary`` (the greeter's in-memory view), ``sync_folder`` (images/ -> store),
``make_enroller`` (today's align+encode pipeline). CLI: ``greeter-library``.
"""

from greeter.library.enroller import Enrolled, Enroller, SeveralFaces, make_enroller
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
    "make_enroller",
    "mask_url",
    "resolve_db_url",
    "sync_folder",
]
