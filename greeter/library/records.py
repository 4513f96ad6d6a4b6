"""The values the face library store takes and gives: people, photos, events, kiosks, kept
faces, tombstones and the retention setting, as plain frozen dataclasses, and the event row a
kiosk queues (:func:`event_record`). :mod:`greeter.library.store` stores them (and re-exports
every name here).
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from greeter.events import event_json
from greeter.library.dialect import as_utc as _utc
from greeter.library.dialect import utcnow

FOLDER_PREFIX = "folder:"  # a folder photo's source: folder:<absolute path of the file>
DEFAULT_HEARTBEAT_S = 10.0  # a kiosk's heartbeat interval when it did not say
MISSED_BEATS = 3  # a kiosk is "down" after this many heartbeats missed
CONFLICT_SHOWN = timedelta(hours=24)  # how long a name conflict stays on the Kiosks page


@dataclass(frozen=True)
class Retention:
    """How long the library keeps what it logs, in days (the library's setting: every kiosk
    and admin page enforces it, and every read leaves out what has expired).

    ``event_days``: events (greetings, unknown visits, errors...); ``None``: kept forever.
    ``visitor_face_days``: the most a stranger's face is kept; a kiosk keeps none unless it
    runs with ``--keep-visitor-faces DAYS``, and then ``min(DAYS, this)``; 0: none at all.
    ``recognition_days``: the same for known people's visits (the admin page's recent
    recognitions; a kiosk's ``--keep-recognitions``). The defaults and why: docs/library.md.
    """

    event_days: float | None = 90.0
    visitor_face_days: float = 30.0
    recognition_days: float = 7.0

    def __post_init__(self):
        for name in ("event_days", "visitor_face_days", "recognition_days"):
            value = getattr(self, name)
            if value is None and name == "event_days":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0 <= value < 100_000)
            ):
                raise ValueError(f"{name} must be a number of days >= 0. Received: {value!r}")
        if self.event_days == 0:
            raise ValueError("event_days must be > 0 days, or None to keep events forever.")

    def face_days(self, verdict: str) -> float:
        """The most a kept face of this ``verdict`` (known, unsure, stranger) is kept."""
        return self.visitor_face_days if verdict == "stranger" else self.recognition_days

    def events_since(self, now: datetime) -> datetime | None:
        """The oldest event time still kept (``None``: all are)."""
        return None if self.event_days is None else now - timedelta(days=self.event_days)

    def as_dict(self) -> dict:
        return {
            "event_days": self.event_days,
            "visitor_face_days": self.visitor_face_days,
            "recognition_days": self.recognition_days,
        }


DEFAULT_RETENTION = Retention()


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    created: datetime
    photos: int = 0
    first_photo: int | None = None  # the id of their first photo (its crop is their thumbnail)


@dataclass(frozen=True)
class Photo:
    id: int
    person_id: int
    person: str
    sha256: str
    source: str
    created: datetime
    has_original: bool = True


@dataclass(frozen=True)
class NewPhoto:
    """A photo ready to store: what enrolment made of it.

    ``original``: the file's bytes as given (``None`` for a crop taken by a kiosk);
    ``crop_png``: the aligned face, PNG; ``encodings``: ``{model_key: (128,) floats}``;
    ``sha256``: of ``original`` (of ``crop_png`` when there is none); ``source``:
    ``"upload"``, ``"folder:<path>"`` or ``"visitor"``; ``replaces``: the id of a photo this
    one replaces (deleted in the same transaction), e.g. a folder file that changed.
    """

    name: str
    crop_png: bytes
    encodings: dict
    original: bytes | None = None
    sha256: str | None = None
    source: str = "upload"
    replaces: int | None = None

    def digest(self) -> str:
        if self.sha256 is not None:
            return self.sha256
        return hashlib.sha256(
            self.original if self.original is not None else self.crop_png
        ).hexdigest()


@dataclass(frozen=True)
class Event:
    id: int
    kiosk: str
    time: datetime
    kind: str
    names: list
    distances: list
    frame: int | None
    message: str | None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready, in the event log's format (:func:`greeter.events.event_json`)."""
        fields = {
            "id": self.id,
            "kiosk": self.kiosk,
            "names": self.names,
            "distances": self.distances,
            "frame": self.frame,
            "message": self.message,
        }
        return event_json(self.kind, self.time, {**fields, **self.extra})


@dataclass(frozen=True)
class Kiosk:
    """A kiosk as its heartbeats and stop event left it (see :meth:`Store.heartbeat`)."""

    name: str
    last_seen: datetime
    started: datetime | None
    fps: float | None
    threshold: float | None
    weights: str | None  # a label: "nn4.small2.v1.h5 (221 official + 5 re-learned)"
    runtime: str | None
    model_key: str | None
    people: int | None
    instance: str | None = None  # the kiosk's persistent id (its state folder's)
    heartbeat_s: float | None = None
    stopped: datetime | None = None  # from its last stop event
    status: str | None = None  # its own one-line status ("ok", greeter doctor's summary)
    conflict: str | None = None  # two kiosks seen heartbeating under this name
    conflict_at: datetime | None = None

    @property
    def interval(self) -> float:
        return self.heartbeat_s or DEFAULT_HEARTBEAT_S

    def state(self, now: datetime | None = None) -> str:
        """``"stopped"`` (its stop event is its latest news), ``"up"`` (a heartbeat within
        :data:`MISSED_BEATS` intervals) or ``"down"`` (silent since ``last_seen``)."""
        if self.stopped is not None and self.stopped >= self.last_seen:
            return "stopped"  # a stop event after its last heartbeat (a restart beats again)
        now = now or utcnow()
        late = timedelta(seconds=self.interval * MISSED_BEATS + 1.0)
        return "up" if self.last_seen >= now - late else "down"


@dataclass(frozen=True)
class Tombstone:
    """A folder photo the folder sync must not enrol again: ``source`` (``folder:<path>``)
    and the ``sha256`` of its bytes when it was removed; ``name``: the person removed (every
    photo of that name in the same folder is ignored too), ``None`` for one photo removed."""

    source: str
    sha256: str
    name: str | None
    created: datetime

    @property
    def path(self) -> str:
        return self.source[len(FOLDER_PREFIX) :]


@dataclass(frozen=True)
class Visitor:
    """A face a kiosk kept from one visit: a stranger's, or a known person's (the admin
    page's recent recognitions), with what the kiosk decided."""

    id: int
    kiosk: str
    time: datetime
    visit_id: str
    expires: datetime
    model_key: str | None
    verdict: str = "stranger"  # known | unsure | stranger
    name: str | None = None  # the nearest enrolled person
    distance: float | None = None
    runner_up: str | None = None
    runner_up_distance: float | None = None
    threshold: float | None = None

    @property
    def ratio(self) -> float | None:
        """``distance / runner_up_distance``: near 1, the kiosk could hardly tell them apart."""
        if self.distance is None or not self.runner_up_distance:
            return None
        return self.distance / self.runner_up_distance


@dataclass(frozen=True)
class VisitorFace:
    """A kept face: its aligned crop (PNG), its loose image (JPEG, when kept) and, when the
    kiosk stored it, its encoding."""

    id: int
    crop_png: bytes
    vector: np.ndarray | None
    model_key: str | None
    image: bytes | None = None


def vector_bytes(encoding) -> bytes:
    """``(128,)`` floats -> 512 bytes (little-endian float32); refuses NaN/inf and bad shapes."""
    vector = np.asarray(encoding, dtype="<f4").reshape(-1)
    if vector.shape != (128,) or not np.all(np.isfinite(vector)):
        raise ValueError(f"An encoding must be 128 finite floats. Received: shape={vector.shape}")
    return vector.tobytes()


def event_record(kiosk: str, kind: str, time: datetime, fields: dict) -> dict:
    """A row for the ``events`` table from ``EventLog.write``-style fields.

    ``names``, ``distances``, ``frame`` and ``message`` get their own columns; the rest
    (e.g. ``text``, ``faces``, ``threshold``) goes to the JSON ``extra`` column.
    """
    fields = dict(fields)
    names = [str(n) for n in fields.pop("names", None) or []]
    distances = list(fields.pop("distances", None) or [])
    frame = fields.pop("frame", None)
    message = fields.pop("message", None)
    return {
        "uid": uuid.uuid4().hex,
        "kiosk": str(kiosk),
        "time": _utc(time),
        "kind": str(kind),
        "names": json.dumps(names),
        "distances": json.dumps(distances, default=_json_default),
        "frame": None if frame is None else int(frame),
        "message": None if message is None else str(message),
        "extra": json.dumps(fields, default=_json_default),
    }


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime, Path)):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
