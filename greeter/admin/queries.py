"""What the admin pages show, read from (and written to) the face library store.

The store (:class:`greeter.library.store.Store`) names people by display name; the pages use
the person's id in their addresses (a name can hold any character). This module is the one
place that maps between the two, and that turns uploads into the store's enrol calls.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from greeter.library import LibraryError, Store
from greeter.library.duplicates import library_duplicates
from greeter.library.enroller import PhotoIn, assign_visitor, enrol_photos
from greeter.library.store import CONFLICT_SHOWN, Kiosk, Retention, utcnow
from greeter.names import display_name

PREVIEW_SIZE = 320  # pixels, the longer side of a photo shown on a person's page


@dataclass(frozen=True)
class PersonRow:
    """One person as the pages show them."""

    id: int
    name: str
    photos: int
    crop_photo_id: int | None  # the photo whose aligned crop is their thumbnail
    last_greeting: dt.datetime | None
    duplicates: tuple = ()  # (name, distance) of people whose photos are as close as one face


@dataclass(frozen=True)
class PhotoRow:
    id: int
    origin: str  # "uploaded", "from images/ann.jpg", "from a kiosk camera"
    created: dt.datetime
    has_original: bool
    from_folder: bool = False


@dataclass(frozen=True)
class Added:
    """A photo stored by an upload (shown with its aligned crop)."""

    id: int
    filename: str


@dataclass(frozen=True)
class Refusal:
    """An uploaded file that was not stored, and why."""

    filename: str
    reason: str


@dataclass(frozen=True)
class KioskRow:
    """One kiosk as the Kiosks page shows it."""

    kiosk: Kiosk
    state: str  # up | down | stopped
    since: dt.datetime  # last heartbeat, or the stop
    weights: str  # by name and provenance, never a path
    conflict: str | None  # two kiosks seen under this name lately


@dataclass(frozen=True)
class Visit:
    """The kept faces of one visit (one kiosk, one ``visit_id``), newest visit first."""

    kiosk: str
    visit_id: str
    time: dt.datetime
    faces: list


def _origin(source: str) -> str:
    if source == "upload":
        return "uploaded"
    if source == "visitor":
        return "from a kiosk camera"
    if source.startswith("folder:"):
        return f"from {Path(source[len('folder:') :]).name}"
    return source


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight to the next local midnight, as aware datetimes."""
    start = dt.datetime.combine(day, dt.time()).astimezone()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).astimezone()
    return start, end


class Library:
    """The store as the admin pages use it.

    Args:
        store: the open library store.
        enroller_factory: builds the enroller (model load: seconds); called once, lazily,
            on the first upload or visitor assignment, from a worker thread.
    """

    def __init__(self, store: Store, enroller_factory: Callable[[], Any]) -> None:
        self.store = store
        self._factory = enroller_factory
        self._enroller: Any = None
        self._twins: tuple | None = None  # (change counter, duplicates)
        self._lock = threading.Lock()
        self._enrolling = threading.Lock()  # one enrolment at a time: the model is shared

    def enroller(self) -> Any:
        with self._lock:
            if self._enroller is None:
                self._enroller = self._factory()
            return self._enroller

    # ---- people
    def people(self, query: str = "") -> list[PersonRow]:
        """Everyone (by name) whose name contains ``query`` (case-insensitive), each with
        their thumbnail photo and last greeting (two grouped queries, however many events)."""
        everyone = self.store.people()
        if query:
            folded = query.casefold()
            everyone = [p for p in everyone if folded in p.name.casefold()]
        if not everyone:
            return []
        last = self.store.last_greeted()
        twins = self.duplicates() or {}
        return [
            PersonRow(p.id, p.name, p.photos, p.first_photo, last.get(p.id),
                      tuple(sorted(twins.get(p.name, {}).items())))
            for p in everyone
        ]  # fmt: skip

    def duplicates(self) -> dict | None:
        """Probable duplicates (:func:`greeter.library.duplicates.library_duplicates`),
        computed again only when the library changed (one cheap read otherwise)."""
        counter = self.store.change_counter()
        with self._lock:
            if self._twins is not None and self._twins[0] == counter:
                return self._twins[1]
        found = library_duplicates(self.store)
        with self._lock:
            self._twins = (counter, found)
        return found

    def person(self, person_id: int) -> PersonRow | None:
        found = self.store.person_by_id(person_id)
        if found is None:
            return None
        last = self.store.last_greeted([found.id]).get(found.id)
        twins = (self.duplicates() or {}).get(found.name, {})
        return PersonRow(found.id, found.name, found.photos, found.first_photo, last,
                         tuple(sorted(twins.items())))  # fmt: skip

    def person_named(self, name: str) -> PersonRow | None:
        found = self.store.people_named([name])
        return self.person(found[0].id) if found else None

    def name_taken(self, name: str) -> bool:
        return bool(self.store.people_named([name]))

    def photos(self, person: PersonRow) -> list[PhotoRow]:
        return [
            PhotoRow(p.id, _origin(p.source), p.created, p.has_original,
                     p.source.startswith("folder:"))
            for p in self.store.photos(person.name)
        ]  # fmt: skip

    def rename(self, person: PersonRow, new: str) -> None:
        self.store.rename_person(person.name, new)

    def delete(self, person: PersonRow) -> None:
        self.store.remove_person(person.name)

    def remove_photo(self, person: PersonRow, photo_id: int) -> bool:
        """Delete one of ``person``'s photos; False if it is not theirs."""
        if not any(p.id == photo_id for p in self.store.photos(person.name)):
            return False
        self.store.remove_photo(photo_id)
        return True

    def crop_png(self, photo_id: int) -> bytes | None:
        try:
            return self.store.photo_crop(photo_id)
        except LibraryError:
            return None

    def preview_jpeg(self, photo_id: int) -> bytes | None:
        """The photo as uploaded, decoded by the safe loader and re-encoded as a JPEG at most
        ``PREVIEW_SIZE`` pixels on its longer side (never the uploaded bytes as they are)."""
        from fr_utils.preprocess import ImageError, load_image

        try:
            data = self.store.photo_original(photo_id)
        except LibraryError:
            return None
        if not data:
            return None
        try:
            image = load_image(data)
        except ImageError:
            return None
        scale = PREVIEW_SIZE / max(image.shape[:2])
        if scale < 1:
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return jpeg.tobytes() if ok else None

    # ---- enrolment
    def enrol(
        self, name: str, uploads: list[tuple[str, bytes]]
    ) -> tuple[list[Added], list[Refusal]]:
        """Store each ``(filename, bytes)`` upload as a photo of ``name`` (created with the
        first accepted photo), enrolled from the bytes as uploaded
        (:func:`greeter.library.enroller.enrol_photos`: decoded once by
        :func:`fr_utils.preprocess.load_image`, the one safe loader). A refused photo (no
        face, several faces, unreadable) stores nothing and never stops the others."""
        if not uploads:
            return [], []
        display_name(name)  # InvalidName (a ValueError): the page says why
        enroller = self.enroller()
        labels = [f"upload {number}" for number in range(len(uploads))]
        photos = [PhotoIn(name, data, label) for label, (_, data) in zip(labels, uploads)]
        with self._enrolling:
            result = enrol_photos(self.store, enroller, photos)
        filename = {label: upload[0] for label, upload in zip(labels, uploads)}
        added = [Added(photo_id, filename[label]) for label, photo_id in result.added]
        refused = [
            Refusal(filename[label], _reason(reason, label))
            for label, reason in result.refused.items()
        ]
        return added, refused

    # ---- visitors
    def visits(self) -> list[Visit]:
        """Kept faces of strangers grouped by visit, newest visit first."""
        groups: dict[tuple[str, str], list] = {}
        for face in self.store.visitors(verdicts=["stranger"]):  # newest first
            groups.setdefault((face.kiosk, face.visit_id), []).append(face)
        return [Visit(k, v, faces[0].time, faces) for (k, v), faces in groups.items()]

    def recognitions(self) -> list:
        """Kept faces of known people's visits and near misses, the ones most worth a look
        first: near misses (not greeted), then greetings by how close the runner-up came
        (``distance / runner-up distance``, highest first), then newest."""
        faces = self.store.visitors(verdicts=["known", "unsure"])  # newest first

        def worth(face):
            return (face.verdict != "unsure", -(face.ratio or 0.0))

        return sorted(faces, key=worth)

    def visitor_png(self, visitor_id: int) -> bytes | None:
        try:
            return self.store.visitor_crop(visitor_id)
        except LibraryError:
            return None

    def has_visitor(self, visitor_id: int) -> bool:
        """True while visitor face ``visitor_id`` is kept (not dismissed, assigned or expired)."""
        return self.visitor_png(visitor_id) is not None

    def assign_visitor(self, visitor_id: int, name: str) -> int:
        """Enrol visitor face ``visitor_id`` as a photo of ``name``; returns the person's id."""
        enroller = self.enroller()
        with self._enrolling:
            assign_visitor(self.store, enroller, visitor_id, name)
        found = self.store.people_named([name])
        if not found:
            raise LibraryError(f"{name!r} was removed meanwhile.")
        return found[0].id

    def dismiss_visitor(self, visitor_id: int) -> bool:
        return self.store.dismiss_visitor(visitor_id)

    # ---- events and kiosks
    def day_events(self, day: dt.date) -> list:
        """The greetings and unknown visits of one local day, oldest first."""
        since, until = day_bounds(day)
        return self.store.events(since=since, until=until, kinds=["greeting", "unknown"])

    def kiosks(self) -> list[KioskRow]:
        """Every kiosk: up (a heartbeat within 3 of its intervals), down, or stopped (its
        stop event), its weights by name, and a recent name conflict."""
        now = utcnow()
        rows = []
        for kiosk in self.store.kiosks():
            state = kiosk.state(now)
            since = kiosk.stopped if state == "stopped" else kiosk.last_seen
            weights = kiosk.weights or "—"
            if "/" in weights:  # reported as a path by an older kiosk
                weights = Path(weights).name
            recent = kiosk.conflict_at is not None and kiosk.conflict_at > now - CONFLICT_SHOWN
            rows.append(KioskRow(kiosk, state, since, weights, kiosk.conflict if recent else None))
        return rows

    def retention(self) -> Retention:
        return self.store.retention()

    def enforce_retention(self) -> tuple[int, int]:
        """Delete expired events and kept faces (the page does it hourly, kiosks or not)."""
        return self.store.enforce_retention()


def _reason(reason: str, label: str) -> str:
    """A refusal without the label it starts with (the file name is shown beside it)."""
    while reason.startswith(f"{label}: "):
        reason = reason[len(label) + 2 :]
    return reason
