"""``greeter doctor``: can this kiosk work? Each part it needs, checked and said in words.

:func:`diagnose` takes the greeter's own settings (the same flags and config file) and
checks, in order: the config file; the camera, video or stream (it opens and gives a frame);
the audio output (the speech module's start check: 0.1 s of silence through ``aplay``); the
encoder (dlib's ResNet model file, or FaceNet's weights with their provenance and the
runtime: a LiteRT model exported for these weights, or why not and the exact command); the
face library (reachable, masked URL, size) and the people enrolled; the threshold and the
expected share of strangers greeted for that gallery; the free disk space where the
library, the log and the cache live. Each :class:`Check` is ``ok``, ``warning`` or ``FAIL``
with the fix; the :class:`Report` works when nothing failed (warnings allowed).

Nothing is enrolled, no folder synced, a missing SQLite file is not created (an existing
library's schema is brought up to date on opening, as by every tool). The doctor loads
what the greeter would load, except TensorFlow: when the greeter would fall back to it,
the doctor says so without paying its start. It opens the camera and the audio device, so
run it while the greeter is stopped.

The greeter reuses the cheap checks at start (:func:`people_check`, :func:`disk_check`):
it refuses to start where they fail and warns where they warn, and
:func:`kiosk_status` is the one-line summary a kiosk reports about itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

OK, WARNING, FAIL = "ok", "warning", "FAIL"
LEVELS = (OK, WARNING, FAIL)  # in order of gravity
DISK_FAIL_BYTES = 100 * 2**20  # below this the library, log and cache cannot grow for long
DISK_WARN_BYTES = 2**30
STATUS_LENGTH = 200  # characters of the one-line status a kiosk reports
GREETER_LIBRARY_ADD = "greeter-library add NAME PHOTO..."


@dataclass(frozen=True)
class Check:
    """One part of the kiosk, checked.

    Attributes:
        name: ``config``, ``camera``, ``audio``, ``weights``, ``encoder``, ``library``,
            ``people``, ``threshold`` or ``disk``.
        level: ``"ok"``, ``"warning"`` or ``"FAIL"``.
        text: what was found, in words.
        fix: what to do about it (``None`` when nothing needs doing).
        short: a few words for the one-line summary (``""``: left out of it).
    """

    name: str
    level: str
    text: str
    fix: str | None = None
    short: str = ""

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}. Received: level={self.level!r}")
        for name in ("text", "fix"):  # one line each: a driver's message may span several
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, " ".join(str(value).split()))

    def sentence(self) -> str:
        """What was found and the fix: ``"camera 5 does not open. To fix: plug one in."``
        (how the greeter says a check at start)."""
        text = _sentence(self.text)
        return f"{text} To fix: {_sentence(self.fix)}" if self.fix else text

    def line(self) -> str:
        """``"FAIL     camera    camera 5 does not open. To fix: plug one in."``"""
        return f"{self.level:<8} {self.name:<9} {self.sentence()}"

    def as_dict(self) -> dict:
        return {"name": self.name, "level": self.level, "text": self.text, "fix": self.fix}


@dataclass
class Report:
    """Every check, in order, and how long they took (seconds)."""

    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def level(self) -> str:
        """The gravest level of any check (``"ok"`` for none)."""
        return max((c.level for c in self.checks), key=LEVELS.index, default=OK)

    @property
    def works(self) -> bool:
        """Whether the kiosk can work: no check failed (warnings allowed)."""
        return self.level != FAIL

    def summary(self) -> str:
        """One line: ``"ok: 200 people, camera 0, audio, dlib-resnet"``, ``"warning: 0 people
        enrolled; camera 0, ..."`` or ``"FAIL: camera 0 does not open"``."""
        checks = sorted(self.checks, key=lambda c: c.name != "people")  # who first
        failed = [c.short or c.name for c in checks if c.level == FAIL]
        if failed:
            return f"{FAIL}: " + "; ".join(failed)
        warned = [c.short or c.name for c in checks if c.level == WARNING]
        fine = [c.short for c in checks if c.level == OK and c.short]
        return f"{self.level}: " + "; ".join([*warned, ", ".join(fine)] if fine else warned)

    def text(self) -> str:
        """The report for people: one line per check, then the summary."""
        lines = [c.line() for c in self.checks]
        verdict = "the kiosk can work" if self.works else "the kiosk cannot work"
        lines.append(f"{verdict} ({self.summary()}; checked in {self.seconds:.1f} s)")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """The report for machines (``greeter doctor --json``)."""
        return {
            "works": self.works,
            "level": self.level,
            "summary": self.summary(),
            "seconds": round(self.seconds, 2),
            "checks": [c.as_dict() for c in self.checks],
        }


def kiosk_status(report: Report) -> str:
    """The one-line status a kiosk reports about itself (its heartbeat), at most
    :data:`STATUS_LENGTH` characters: :meth:`Report.summary`."""
    line = " ".join(report.summary().split())
    return line if len(line) <= STATUS_LENGTH else line[: STATUS_LENGTH - 1] + "…"


def started_status(settings, encoder, database, disk: Check) -> str:
    """:func:`kiosk_status` of a greeter that has started: the camera opened and the encoder
    loaded (or it would have stopped), the people in its ``database`` (a
    :class:`fr_utils.database.FaceDatabase`) and ``disk`` as checked at start. The audio
    output is checked by the speech thread on its own; a failure there is an ``error`` event."""
    checks = [
        people_check(Gallery(len(database), len(database.names))),
        Check("camera", OK, "opened", short=_source_short(_source(settings))),
        Check("encoder", OK, "loaded", short=f"{encoder.name} ({encoder.runtime})"),
        disk,
    ]
    return kiosk_status(Report(checks))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


# ----------------------------------------------------------------------------- all of it


def diagnose(settings, sources: dict, config_path=None, config_origin=None) -> Report:
    """Check every part the greeter with ``settings`` needs (see the module docstring).

    Args:
        settings: checked :class:`greeter.config.Settings`.
        sources: where each setting came from (:func:`greeter.config.resolve_settings`).
        config_path: the config file read, or ``None``; ``config_origin``: why that one.
    """
    started = time.monotonic()
    checks = [config_check(config_path, config_origin, sources)]
    checks.append(_safely("camera", camera_check, settings))
    checks.append(_safely("audio", audio_check, settings, sources))
    encoder, found = _safely("encoder", encoder_checks, settings, sources, several=True)
    checks += found
    gallery, found = _safely("library", library_checks, settings, sources, several=True)
    checks += found
    checks.append(_safely("threshold", threshold_check, settings, sources, encoder, gallery))
    checks.append(_safely("disk", disk_check, settings))
    return Report(checks, time.monotonic() - started)


def _safely(name, check, *args, several=False):
    """``check(*args)``; an error nobody foresaw is a FAIL line, not a traceback that hides
    the other checks (``several``: the check returns ``(value, checks)``)."""
    try:
        return check(*args)
    except Exception as err:  # a doctor reports; it must not die of what it examines
        text = f"could not be checked: {type(err).__name__}: {err}"
        failed = Check(name, FAIL, text, short=f"{name} unchecked")
        return (None, [failed]) if several else failed


def config_check(config_path, origin=None, sources=None, error=None) -> Check:
    """Which config file was read (or the error that stopped it: ``error``)."""
    if error is not None:
        return Check("config", FAIL, str(error), fix="correct the setting named", short="config")
    from greeter.config import deprecation_notes

    where = f"{config_path} ({origin})" if config_path else "no config file: flags and defaults"
    notes = deprecation_notes(sources or {})
    if notes:
        return Check("config", WARNING, f"{where}; " + " ".join(notes), short="old settings")
    return Check("config", OK, where)


# ----------------------------------------------------------------------------- camera


def camera_check(settings) -> Check:
    """The camera, video file or stream opens and gives a frame."""
    from greeter.camera import is_live, is_stream, open_capture, open_problem
    from greeter.library.url import mask_url

    source = _source(settings)
    what, hint = open_problem(source)
    if is_stream(source):
        what = f"stream {mask_url(source)}"  # a camera's password stays out of the report
    elif not is_live(source):
        what = f"video {source}"
    short = _source_short(source)
    capture = open_capture(source)
    if capture is None:
        return Check(
            "camera", FAIL, f"{what} does not open", fix=hint, short=f"{what} does not open"
        )
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        return Check("camera", FAIL, f"{what} gives no frame", fix=hint, short=f"{what} no frame")
    height, width = frame.shape[:2]
    return Check("camera", OK, f"{what} opens and gives {width}x{height} frames", short=short)


def _source(settings):
    return settings.video if settings.video is not None else settings.camera


def _source_short(source) -> str:
    """``camera 0``, ``video`` or ``stream``: for the one-line summary."""
    from greeter.camera import is_live, is_stream

    if is_stream(source):
        return "stream"
    return f"camera {source}" if is_live(source) else "video"


# ----------------------------------------------------------------------------- audio


def audio_check(settings, sources: dict) -> Check:
    """Speech: off (``--no-speech``), WAV files (``--speech-to``: the engine renders one), or
    the loudspeaker (the start check of :class:`greeter.speech.LoudspeakerVoice`)."""
    from greeter.config import describe_source
    from greeter.speech import LoudspeakerVoice, PlaybackError, WavVoice, failure_hint

    if settings.no_speech:
        where = describe_source("no_speech", sources)
        text = f"speech is off ({where}): greetings are logged, not spoken"
        return Check("audio", OK, text, short="speech off")
    if settings.speech_to is not None:
        where = describe_source("speech_to", sources)
        folder = Path(settings.speech_to).expanduser()
        try:
            with tempfile.TemporaryDirectory(prefix="greeter-doctor-") as scratch:
                WavVoice(scratch).speak("Welcome, doctor")
        except Exception as err:  # any engine failure, as the speech worker would meet it
            text = f"the speech engine does not work ({type(err).__name__}: {err})"
            return Check("audio", FAIL, text, fix=failure_hint(err), short="speech engine")
        problem = _unwritable(folder)
        if problem:
            text = f"greetings cannot be written to {folder} ({where}): {problem}"
            fix = "give a folder this user may write"
            return Check("audio", FAIL, text, fix=fix, short="WAV folder")
        text = (
            f"greetings are written as WAV files to {folder} ({where}), not played; the "
            "speech engine renders them"
        )
        return Check("audio", OK, text, short="WAV files")
    try:
        voice = LoudspeakerVoice(device=settings.audio_device)
    except Exception as err:  # the engine cannot start (no libespeak-ng1, no pyttsx3, ...)
        text = f"the speech engine does not start ({type(err).__name__}: {err})"
        return Check("audio", FAIL, text, fix=failure_hint(err), short="speech engine")
    try:
        voice.check()
    except PlaybackError as err:
        text = f"greetings would not be heard: {err}"
        return Check("audio", FAIL, text, fix=err.hint, short="no audio")
    finally:
        voice.close()
    text = f"audio plays: {voice.player!r} played 0.1 s of silence"
    return Check("audio", OK, text, short="audio")


def _unwritable(folder: Path) -> str | None:
    """Why this user cannot write (or create) ``folder``, or ``None``."""
    if folder.exists():
        if not folder.is_dir():
            return "it is not a folder"
        return None if os.access(folder, os.W_OK | os.X_OK) else "not writable by this user"
    parent = _existing(folder)
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"it does not exist and {parent} is not writable by this user"
    return None


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent."""
    path = Path(path).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# ----------------------------------------------------------------------------- encoder


def encoder_checks(settings, sources: dict):
    """``(encoder or None, checks)``: the encoder the greeter would use, loaded and run once
    (TensorFlow excepted: see the module docstring). The encoder returned has ``name`` and
    ``model_id`` (what the threshold is looked up by); ``None`` when it cannot be used."""
    if settings.encoder == "dlib-resnet":
        return _dlib_check()
    weights, check = _weights_check(settings)
    if weights is None:
        return None, [check]
    encoder, runtime = _runtime_check(settings, sources, weights)
    return encoder, [check, runtime]


def _dlib_check():
    from fr_utils.dlib_resnet import model_path
    from fr_utils.encoding import make_encoder

    fix = "reinstall the model package: pip install --force-reinstall face-recognition-models"
    try:
        path = model_path()
        encoder = make_encoder(kind="dlib-resnet")
        encoder.warm_up()  # loads the model file and encodes one (blank) face
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        text = f"dlib-resnet: dlib's face encoder cannot be used ({type(err).__name__}: {err})"
        return None, [Check("encoder", FAIL, text, fix=fix, short="dlib-resnet")]
    size = _size(path.stat().st_size)
    text = (
        f"dlib-resnet: dlib's ResNet model {path} ({size}) loads and encodes "
        "(no weights, no TensorFlow needed)"
    )
    return encoder, [Check("encoder", OK, text, short="dlib-resnet")]


def _weights_check(settings):
    """``(resolved weights or None, check)``: they exist, hold every tensor's values (their
    fingerprint reads them all) and where they come from (sha256 per tensor)."""
    from fr_utils.weight_files import provenance
    from fr_utils.weights import HOW_TO_GET, resolve_weights, weights_fingerprint

    try:
        weights = resolve_weights(settings.weights)
        fingerprint = weights_fingerprint(weights)
        origin = provenance(weights)
    except (OSError, ValueError) as err:
        text = str(err).replace(HOW_TO_GET, "").strip()
        return None, Check("weights", FAIL, text, fix=HOW_TO_GET, short="no weights")
    public = f"{len(origin.official)} of {len(origin.official) + len(origin.not_verified)}"
    text = (
        f"{weights}: {origin.label()} ({public} tensors are the public ones by sha256); "
        f"fingerprint {fingerprint}"
    )
    return weights, Check("weights", OK, text)


def _runtime_check(settings, sources: dict, weights):
    """``(encoder-like or None, check)`` for FaceNet's runtime: the LiteRT model exported for
    these weights, loaded and run once; else TensorFlow, if installed (not loaded here)."""
    from fr_utils._files import default_cache_dir
    from fr_utils.encoding import facenet_model_id, no_runtime, tensorflow_installed
    from fr_utils.litert import (
        LiteRTEncoder,
        LiteRTMismatch,
        LiteRTNotExported,
        export_command,
        litert_folder,
    )
    from fr_utils.weights import weights_fingerprint
    from greeter.config import describe_source

    fingerprint = weights_fingerprint(weights)
    flip = "flip-average" if settings.flip else "single crop"
    # Stands in for the FaceNet encoder where the threshold is looked up (name, model_id).
    model_id = facenet_model_id(fingerprint, settings.flip)
    facenet = types.SimpleNamespace(name="facenet", model_id=model_id, weights=weights)
    cache = settings.cache if settings.cache is not None else default_cache_dir()
    folder, origin = litert_folder(fingerprint, settings.litert, cache)
    if origin == "--litert":
        origin = describe_source("litert", sources)
    export = f"export it: `{export_command(weights, folder)}` where TensorFlow is installed"
    tensorflow = (
        f"facenet on TensorFlow ({flip}): installed, not loaded by the doctor; the greeter "
        "starts several seconds slower than on LiteRT and encodes several times slower"
    )
    on_tensorflow = "facenet (tensorflow)"
    if settings.runtime == "tensorflow":
        if not tensorflow_installed():
            text = "runtime 'tensorflow' needs TensorFlow, which is not installed here"
            fix = "install the keras extra, or use the runtime 'auto' with an exported LiteRT model"
            return None, Check("encoder", FAIL, text, fix=fix, short="no runtime")
        return facenet, Check("encoder", OK, tensorflow, short=on_tensorflow)
    try:
        backend = LiteRTEncoder.from_weights(weights, litert_dir=settings.litert, cache_dir=cache)
        backend.warm_up()
    except LiteRTNotExported:
        missing = f"no LiteRT model exported for these weights in {folder} ({origin})"
        if settings.runtime == "litert":
            return None, Check("encoder", FAIL, missing, fix=export, short="no LiteRT model")
        if not tensorflow_installed():  # the greeter's one sentence, without its command
            text = str(no_runtime(weights, folder)).split("; export one with")[0]
            short = "no LiteRT model, no TensorFlow"
            return None, Check("encoder", FAIL, text, fix=export, short=short)
        text = f"{missing}: {tensorflow}"
        return facenet, Check("encoder", WARNING, text, fix=export, short=on_tensorflow)
    except ValueError as err:  # from other weights, damaged, no LiteRT runtime: said in it
        fix = export if isinstance(err, LiteRTMismatch) else None
        return None, Check("encoder", FAIL, str(err), fix=fix, short="LiteRT model unusable")
    text = (
        f"facenet on LiteRT {backend.quantization} ({flip}): the model exported for these "
        f"weights in {backend.model_dir} ({origin}) loads and encodes"
    )
    return facenet, Check("encoder", OK, text, short=f"facenet (litert-{backend.quantization})")


# ----------------------------------------------------------------------------- library


@dataclass(frozen=True)
class Gallery:
    """Who the greeter would know: ``people`` and ``photos`` in all, of which
    ``folder_people`` / ``folder_photos`` come from the images folder and are not in the
    library yet (the greeter enrols them at start)."""

    people: int
    photos: int
    folder_people: int = 0
    folder_photos: int = 0


def library_checks(settings, sources: dict):
    """``(Gallery or None, checks)``: the face library is reachable (its URL masked), its size,
    and the people enrolled, counting the photos of the images folder the greeter would sync."""
    from greeter.library import Store, StoreUnavailable, mask_url, resolve_db_url

    url, origin = resolve_db_url(settings.db)
    if origin == "--db" and sources.get("db", "flag") != "flag":
        origin = f"config file {sources['db']}"
    elif origin == "default":
        origin = "the default location"
    shown = f"{mask_url(url)} (from {origin})"
    path = _sqlite_path(url)
    images, given = _images_folder(settings, sources)
    if path is not None and not path.exists():
        problem = _unwritable(path.parent)
        if problem:
            text = f"{shown}: the file does not exist and cannot be created: {problem}"
            fix = "create its folder, or run as the kiosk's user"
            return None, [Check("library", FAIL, text, fix=fix, short="library")]
        text = f"{shown}: not created yet (the greeter creates it empty at start)"
        library = Check("library", OK, text)
        people, stored = [], set()
    else:
        try:
            with Store(url) as store:
                people = [p for p in store.people() if p.photos]
                stored = _stored_folder_photos(store, images)
        except (StoreUnavailable, ValueError) as err:  # LibraryError, a newer schema too
            fix = (
                "check the file's folder exists and this user may write it (run as the "
                "kiosk's user, or as root)"
                if path is not None
                else "check the server is up and reachable from here, and the URL, user and "
                "password (the config's db, $GREETER_DB, or ~/.pgpass)"
            )
            text = f"{shown} cannot be reached: {err}"
            return None, [Check("library", FAIL, text, fix=fix, short="library unreachable")]
        size = f", {_size(_sqlite_bytes(path))} on disk" if path is not None else ""
        photos = sum(p.photos for p in people)
        text = (
            f"{shown} is reachable: {_count(len(people), 'person')} with "
            f"{_count(photos, 'photo')}{size}"
        )
        library = Check("library", OK, text)
    gallery = _gallery(people, stored, images)
    return gallery, [library, people_check(gallery, images, given)]


def _sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, else ``None``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database).expanduser()


def _sqlite_bytes(path: Path) -> int:
    """A SQLite library's size: the file and its write-ahead log."""
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.is_file())


def _images_folder(settings, sources: dict) -> tuple[Path | None, bool]:
    """The folder the greeter syncs (the one given, or ``images/`` when it exists) and whether
    it was given; ``None`` when there is none (as :func:`greeter.__main__` decides)."""
    given = sources.get("images", "default") != "default"
    folder = Path(settings.images).expanduser()
    return (folder if given or folder.is_dir() else None), given


def _stored_folder_photos(store, images) -> set:
    """The ``source`` of every photo of ``images`` already in the library."""
    from greeter.library.sync import SOURCE_PREFIX

    if images is None or not images.is_dir():
        return set()
    prefix = f"{SOURCE_PREFIX}{images.resolve()}/"
    return {p.source for p in store.photos(source_prefix=prefix)}


def _gallery(people, stored: set, images) -> Gallery:
    """The gallery after the greeter's folder sync: the library's people and photos, plus the
    folder's photos not in it yet (by their ``source``; names cleaned as the sync does)."""
    from fr_utils.database import list_photos
    from greeter.library.sync import folder_source
    from greeter.names import clean_name

    photos = sum(p.photos for p in people)
    new = []
    if images is not None and images.is_dir():
        resolved = images.resolve()
        new = [(stem, p) for stem, p in list_photos(resolved) if folder_source(p) not in stored]
    known = {p.name for p in people}
    newcomers = {clean_name(stem) for stem, _ in new} - known - {""}
    return Gallery(len(people) + len(newcomers), photos + len(new), len(newcomers), len(new))


def people_check(gallery: Gallery, images=None, given: bool = False, cwd=None) -> Check:
    """The people the greeter will know, with a warning when nobody will be greeted: an
    empty images folder, or no folder at all where the greeter runs (the wrong working
    directory). The greeter logs the same warning at start."""
    if gallery.people:
        text = f"{_count(gallery.people, 'person')} enrolled ({_count(gallery.photos, 'photo')})"
        if gallery.folder_photos:
            text += (
                f", of which {_count(gallery.folder_photos, 'photo')} in {images} are not in "
                "the library yet: the greeter enrols them at start"
            )
        return Check("people", OK, text, short=_count(gallery.people, "person"))
    nobody = "0 people enrolled: nobody will be greeted"
    if images is not None and images.is_dir():
        fix = f"add photos to {images}/ (NAME.jpg or NAME/*.jpg) or `{GREETER_LIBRARY_ADD}`"
    elif images is not None:  # given, and waited for
        fix = f"create {images}/ with photos (NAME.jpg or NAME/*.jpg) or `{GREETER_LIBRARY_ADD}`"
    else:
        here = Path(cwd) if cwd is not None else Path.cwd()
        nobody = f"0 people enrolled and no images/ folder in {here}: nobody will be greeted"
        fix = (
            f"add people with `{GREETER_LIBRARY_ADD}` (or the admin page), or start the greeter "
            "in the folder that holds images/ (or give --images DIR)"
        )
    return Check("people", WARNING, nobody, fix=fix, short="0 people enrolled")


# ----------------------------------------------------------------------------- threshold


def threshold_check(settings, sources: dict, encoder, gallery: Gallery | None) -> Check:
    """The threshold the greeter would settle for this gallery, and the expected share of
    strangers' visits greeted by mistake (:meth:`greeter.visits.OpenSetThreshold.describe`)."""
    from greeter.visits import threshold_policy

    if encoder is None or gallery is None:
        missing = "the encoder" if encoder is None else "the library"
        text = f"not checked: it depends on {missing}, which does not work (above)"
        return Check("threshold", WARNING, text)
    try:
        weights = getattr(encoder, "weights", None) or settings.weights  # FaceNet's, resolved
        policy, origin = threshold_policy(settings, sources, encoder, weights)
    except ValueError as err:  # no impostor curve for this encoder, or a damaged file
        return Check("threshold", FAIL, str(err), short="no threshold")  # the fix is in it
    threshold = policy.for_gallery(gallery.people, gallery.photos)
    rate = policy.expected_fpir(threshold, gallery.people, gallery.photos)
    text = f"{policy.describe(gallery.people, gallery.photos)}; from {origin}"
    short = f"threshold {threshold:.3f}"
    if rate is None and policy.fixed is None:  # a 1:1 threshold; ``origin`` says what to do
        return Check("threshold", WARNING, text, short=short)
    if rate is not None and policy.fixed is not None and rate > max(0.05, policy.fpir):
        fix = "lower the threshold, or remove it so that it is chosen for the gallery's size"
        return Check("threshold", WARNING, text, fix=fix, short=short)
    return Check("threshold", OK, text, short=short)


# ----------------------------------------------------------------------------- disk


def disk_check(settings, usage=shutil.disk_usage) -> Check:
    """Free space where the greeter writes: the SQLite library, the log, the encoding cache,
    the WAV folder and the recording (one figure per file system). ``usage``: for tests."""
    from fr_utils._files import default_cache_dir
    from greeter.library.url import resolve_db_url

    places = {
        "library": _sqlite_path(resolve_db_url(settings.db, argv=())[0]),  # warned once
        "log": settings.log,
        "cache": settings.cache if settings.cache is not None else default_cache_dir(),
        "WAV files": None if settings.no_speech else settings.speech_to,
        "recording": settings.record,
    }
    systems: dict = {}  # mount point -> (free bytes, [what])
    for what, path in places.items():
        if path is None:
            continue
        mount = _mount_point(_existing(Path(path)))
        if mount not in systems:
            systems[mount] = (usage(mount).free, [])
        systems[mount][1].append(what)
    ordered = sorted(systems.items(), key=lambda item: item[1][0])  # the fullest first
    text = "; ".join(
        f"{_size(free)} free on {m} for the {', '.join(w)}" for m, (free, w) in ordered
    )
    lowest = ordered[0][1][0]
    if lowest >= DISK_WARN_BYTES:
        return Check("disk", OK, text)
    fix = (
        f"free some space (below {_size(DISK_FAIL_BYTES)} the greeter does not start; "
        f"below {_size(DISK_WARN_BYTES)} it warns): e.g. old logs, or the cache"
    )
    level = FAIL if lowest < DISK_FAIL_BYTES else WARNING
    return Check("disk", level, text, fix=fix, short=f"disk {_size(lowest)} free")


def _mount_point(path: Path) -> Path:
    """The mount point of the file system ``path`` (which exists) is on."""
    path = path.resolve()
    device = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == device:
        path = path.parent
    return path


def _size(count: float) -> str:
    """``123 bytes``, ``12 KB``, ``45.6 MB``, ``7.8 GB`` (binary units)."""
    if count < 2**20:
        return f"{count:.0f} bytes" if count < 1024 else f"{count / 1024:.0f} KB"
    return f"{count / 2**20:.1f} MB" if count < 2**30 else f"{count / 2**30:.1f} GB"


def _count(number: int, word: str) -> str:
    plural = "people" if word == "person" else word + "s"
    return f"{number} {word if number == 1 else plural}"
