"""Greeter settings: one table, read by the flags, the config file, ``--help`` and the checks.

Every setting is a field of :class:`Settings` with its default and, in the field's
metadata, its help text, type, allowed range or choices and flag; ``greeter --help``
(:func:`add_arguments`) and the checks (:func:`validate`) are generated from it, so a
default is written once, here.

Precedence: command-line flag > config file > built-in default. The config file is a
JSON object whose keys are the long flag names with underscores
(``{"threshold": 0.8, "cooldown": 120}``); it is ``--config FILE``, else
``$GREETER_CONFIG``, else ``./greeter.json`` if it exists, else the kiosk install's
``/etc/greeter/greeter.json`` if it exists (:func:`find_config`). ``facenet-tune`` writes
``{"threshold": ..., "tuning": {...}}`` into it; ``tuning`` is informational and ignored
here, and so are the ``admin_*`` keys of ``greeter-admin``. Any other unknown key is an error
naming the key and the file.

Everything is checked before any model or photo is loaded; a bad value is a
:class:`ConfigError` naming the key, the value and where it came from (flag, file or
default); ``greeter`` exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fr_utils._files import (
    CACHE_SOURCES,
    GREETER_CONFIG_ENV,
    GREETER_CONFIG_NAME,
    GREETER_CONFIG_SOURCES,
    SYSTEM_GREETER_CONFIG,
    JsonFileError,
    find_greeter_config,
    read_json_object,
    update_json_object,
)
from fr_utils.cli import default_help, sources_text

GREETER_THRESHOLD = 0.52  # plain L2, the seed's: used only without a curve or measured value
DEFAULT_COOLDOWN = 300.0  # seconds before the same person is greeted again
DEFAULT_CONFIRM_FRAMES = 5  # good frames of a visit before it is judged
DEFAULT_VISIT_FRAMES = 16  # encodings per visit at most
DEFAULT_FPIR = 0.01  # strangers' visits greeted by some enrolled name
DEFAULT_MARGIN = 0.85  # nearest / runner-up distance ratio (bench/bench_open_set.py)
# A visit is compared with each person's mean encoding (LFW, 200 people x 3 photos, dlib, at the
# greeter's threshold: 7.6 % of visits missed against 14.5 % with the nearest photo;
# bench/bench_open_set.py)
DEFAULT_MATCH = "mean"
MATCH_RULES = ("mean", "nearest")
CONFIG_FILE = GREETER_CONFIG_NAME
ENV_VAR = GREETER_CONFIG_ENV
DEFAULT_FILE = Path(CONFIG_FILE)
SYSTEM_FILE = SYSTEM_GREETER_CONFIG  # the kiosk install's (scripts/install_kiosk.sh)
CONFIG_SOURCES = GREETER_CONFIG_SOURCES  # where --config defaults to, as --help names it
# Defaults resolved elsewhere, as every --help names them. Their owners are heavy to import
# here (h5py, SQLAlchemy): tests/test_help_texts.py checks these against
# fr_utils.weights.DEFAULT_SOURCES and greeter.library.url.
WEIGHTS_SOURCES = ("$FACENET_WEIGHTS", "./weights")
DB_SOURCES = ("$GREETER_DB", "~/.local/share/greeter/library.db")
# greeter.library.kiosk.default_state_dir (tests/test_help_texts.py checks them)
STATE_SOURCES = ("$STATE_DIRECTORY (systemd)", "$XDG_STATE_HOME/greeter", "~/.local/state/greeter")
IGNORED_KEYS = ("tuning",)  # written by facenet-tune
ADMIN_PREFIX = "admin_"  # keys of greeter-admin (greeter.admin.cli): ignored here
DEPRECATED = ("crop_scale", "crop_dx", "crop_dy")  # accepted, ignored: landmark alignment
RUNTIMES = ("auto", "litert", "tensorflow")
# As fr_utils.encoding's ENCODERS and DEFAULT_ENCODER (tests/greeter/test_config.py checks):
# importing it here would load OpenCV into `greeter --help`.
ENCODERS = ("dlib-resnet", "facenet")
DEFAULT_ENCODER = "dlib-resnet"
DETECTORS = ("dlib", "haar")
_CROP_NOTE = "; deprecated and ignored: faces are aligned on their landmarks"


class ConfigError(ValueError):
    """A setting that cannot be used: unreadable file, unknown key, wrong type or bad value."""


def _setting(default: Any, help: str, kind: type, **rules: Any) -> Any:
    """A :class:`Settings` field. ``rules``: ``optional`` (``None`` allowed), ``low``/``high``
    (inclusive bounds), ``above`` (exclusive lower bound), ``choices``, ``path`` (what kind
    of path: see :func:`_check_path`), ``action`` (``"negatable"`` for ``--x/--no-x``,
    ``"store_true"``), ``group`` (mutually exclusive flags), ``metavar``, ``shown``
    (the default as ``--help`` writes it when it is not the value itself; several sources
    through :func:`fr_utils.cli.sources_text`)."""
    return field(default=default, metadata={"help": help, "kind": kind, **rules})


@dataclass
class Settings:
    """Every greeter setting with its built-in default (``None``: not set)."""

    images: str = _setting(
        "images",
        "folder of photos: <name>.jpg or <name>/*.jpg; waited for while it does not exist",
        str,
        path="folder_or_absent",
        metavar="DIR",
    )
    camera: int = _setting(0, "camera index", int, low=0, group="source")
    video: str | None = _setting(
        None,
        "video file or stream URL (rtsp://, http://...) instead "
        "of a camera; a stream is reconnected when it drops",
        str,
        optional=True,
        path="video",
        group="source",
        metavar="FILE_OR_URL",
    )
    loop: bool = _setting(
        False, "repeat a video file (streams and cameras never end)", bool, action="negatable"
    )
    threshold: float | None = _setting(
        None,
        "match threshold, plain L2 between unit encodings, in (0, 2]; lower is stricter. "
        "Unset, it is chosen for the number of people enrolled, so that a stranger is greeted "
        "by mistake in at most --fpir of visits (the encoder's impostor curve)",
        float,
        optional=True,
        above=0.0,
        high=2.0,
        metavar="L2",
        shown="chosen for the gallery's size",
    )
    fpir: float = _setting(
        DEFAULT_FPIR,
        "target share of strangers' visits greeted by some enrolled name (sets the threshold "
        "for the number of people enrolled; ignored with --threshold)",
        float,
        above=0.0,
        high=0.5,
        metavar="RATE",
    )
    margin: float = _setting(
        DEFAULT_MARGIN,
        "the nearest person's distance must be at most this fraction of the next person's "
        "(1 turns the rule off)",
        float,
        above=0.0,
        high=1.0,
        metavar="RATIO",
    )
    match: str = _setting(
        DEFAULT_MATCH,
        "compare a visit with each person's mean encoding (mean: with several photos a person, "
        "far fewer visits missed) or with their nearest photo (nearest)",
        str,
        choices=MATCH_RULES,
    )
    encoder: str = _setting(
        DEFAULT_ENCODER,
        "face encoder: dlib-resnet (dlib's ResNet: far fewer strangers greeted by mistake, "
        "slower) or facenet (the course's nn4.small2); accuracy and frames/s: README, "
        "Measured figures",
        str,
        choices=ENCODERS,
    )
    open_set: str | None = _setting(
        None,
        "impostor-curve file measured on your photos (facenet-tune --open-set)",
        str,
        optional=True,
        path="existing",
        metavar="FILE",
        shown="the encoder's own: beside the weights, else shipped with the package",
    )
    cooldown: float = _setting(
        DEFAULT_COOLDOWN, "seconds before greeting a person again", float, low=0.0, metavar="S"
    )
    confirm_frames: int = _setting(
        DEFAULT_CONFIRM_FRAMES,
        "good frames of a visit (a tracked face) before it is judged",
        int,
        low=1,
    )
    visit_frames: int = _setting(
        DEFAULT_VISIT_FRAMES,
        "faces encoded per visit at most; after that it is only tracked",
        int,
        low=1,
    )
    no_speech: bool = _setting(False, "log greetings only", bool, action="store_true")
    speech_to: str | None = _setting(
        None,
        "write each greeting as a WAV file in DIR instead of playing it",
        str,
        optional=True,
        path="out_folder",
        metavar="DIR",
    )
    audio_device: str | None = _setting(
        None,
        "ALSA device greetings are played on, as `aplay -L` lists them (e.g. plughw:1,0)",
        str,
        optional=True,
        metavar="NAME",
        shown="ALSA's default",
    )
    headless: bool = _setting(
        False, "never open a window (needed without a display)", bool, action="negatable"
    )
    record: str | None = _setting(
        None, "write the annotated video", str, optional=True, path="out_file", metavar="OUT.mp4"
    )
    log: str | None = _setting(
        None,
        "append one JSON line per greeting/unknown/error",
        str,
        optional=True,
        path="out_file",
        metavar="FILE",
    )
    weights: str | None = _setting(
        None,
        "weights file or folder",
        str,
        optional=True,
        path="existing",
        shown=sources_text(*WEIGHTS_SOURCES),
    )
    cache: str | None = _setting(
        None,
        "encoding cache folder",
        str,
        optional=True,
        path="folder_or_absent",
        metavar="DIR",
        shown=sources_text(*CACHE_SOURCES),
    )
    # Detection on camera frames (greeter.detector) on a grey copy just small enough for
    # min_face; the quality gate (greeter.visits.QualityGate) decides which faces vote.
    detect_width: int | None = _setting(
        None,
        "width in pixels of the copy of the frame faces are searched in",
        int,
        optional=True,
        low=32,
        shown="as small as min_face allows (whole 640-px frames)",
    )
    min_face: int = _setting(
        60, "smallest face detected and judged, in frame pixels", int, low=1, metavar="PX"
    )
    min_sharpness: float = _setting(
        0.02,
        "faces blurrier than this do not vote (Laplacian variance over grey variance)",
        float,
        low=0.0,
    )
    max_yaw: float = _setting(
        45.0,
        "faces turned further than this (degrees) do not vote",
        float,
        above=0.0,
        high=90.0,
        metavar="DEG",
    )
    scale_factor: float = _setting(1.1, "Haar scaleFactor", float, above=1.0)
    min_neighbors: int = _setting(5, "Haar minNeighbors", int, low=0)
    # The seed's box-based face crop: accepted for old config files, ignored (see DEPRECATED).
    crop_scale: float = _setting(0.855, "face crop side / box width" + _CROP_NOTE, float, above=0.0)
    crop_dx: float = _setting(0.07, "crop left offset / box width" + _CROP_NOTE, float)
    crop_dy: float = _setting(0.25, "crop top offset / box width" + _CROP_NOTE, float)
    watch_interval: float = _setting(
        2.0, "seconds between photo-folder checks", float, above=0.0, metavar="S"
    )
    db: str | None = _setting(
        None,
        "face library store URL, e.g. sqlite:///library.db or postgresql://user@host/greeter",
        str,
        optional=True,
        metavar="URL",
        shown=sources_text(*DB_SOURCES),
    )
    kiosk: str | None = _setting(
        None,
        "this kiosk's name in the face library (printable, at most 200 characters; each "
        "running kiosk needs its own)",
        str,
        optional=True,
        metavar="NAME",
        shown="the host name",
    )
    state: str | None = _setting(
        None,
        "folder for this kiosk's own files: its instance id and its spool of events not yet "
        "in the library",
        str,
        optional=True,
        path="folder_or_absent",
        metavar="DIR",
        shown=sources_text(*STATE_SOURCES),
    )
    sync_folder: bool | None = _setting(
        None,
        "sync the images folder into the face library; a PostgreSQL library is shared by "
        "every kiosk, so there it is synced only when this is on",
        bool,
        optional=True,
        action="negatable",
        shown="on for a SQLite library, off for PostgreSQL",
    )
    runtime: str = _setting("auto", "encoder runtime", str, choices=RUNTIMES)
    litert: str | None = _setting(
        None, "folder of exported LiteRT models", str, optional=True, path="folder", metavar="DIR"
    )
    keep_visitor_faces: float | None = _setting(
        None,
        "days to keep faces of unknown visitors (at most the library's retention: "
        "greeter-library retention)",
        float,
        optional=True,
        above=0.0,
        metavar="DAYS",
        shown="off: never kept",
    )
    detector: str = _setting(
        "dlib",
        "face detector on camera frames: dlib (HOG, what the models were trained with; faces "
        "from about 65 px in the copy searched) or haar (OpenCV's cascade: smaller faces, "
        "more false ones); frames/s: README, Measured figures",
        str,
        choices=DETECTORS,
    )
    flip: bool = _setting(
        True,
        "FaceNet: average each encoding with its mirror image's",
        bool,
        action="negatable",
    )
    keep_recognitions: float = _setting(
        7.0,
        "days to keep the face of each known person's visit, for the admin page's recent "
        "recognitions (0: never; at most the library's retention)",
        float,
        low=0.0,
        metavar="DAYS",
    )


SETTINGS = {f.name: f for f in fields(Settings)}
_METAVARS = {int: "N", float: "X", str: "PATH"}


def flag_name(name: str) -> str:
    """``"confirm_frames"`` -> ``"--confirm-frames"`` (``no_speech`` -> ``--no-speech``)."""
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--config`` and one flag per setting, help text and defaults from the table.

    Every flag defaults to ``None`` (not given), so :func:`resolve_settings` can tell a
    flag from a config-file value."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON settings file (keys: the long flag names with underscores) "
        + default_help(*CONFIG_SOURCES),
    )
    groups: dict[str, Any] = {}
    for name, spec in SETTINGS.items():
        meta = spec.metadata
        target = parser
        if "group" in meta:
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_mutually_exclusive_group()
            target = groups[meta["group"]]
        kwargs: dict[str, Any] = {"default": None, "help": _help(spec)}
        action = meta.get("action")
        if action == "store_true":
            kwargs["action"] = "store_true"
        elif action == "negatable":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = meta["kind"]
            if "choices" in meta:
                kwargs["choices"] = meta["choices"]
            if "metavar" in meta or "choices" not in meta:
                kwargs["metavar"] = meta.get("metavar") or _METAVARS[meta["kind"]]
        target.add_argument(flag_name(name), dest=name, **kwargs)
    return parser


def _help(spec) -> str:
    meta = spec.metadata
    if "shown" in meta:
        default = meta["shown"]
    elif meta["kind"] is bool:
        default = "on" if spec.default else "off"
    else:
        default = spec.default
    text = meta["help"].replace("%", "%%")
    return f"{text} {default_help(str(default))}" if default is not None else text


def find_config(explicit: str | os.PathLike | None = None) -> tuple[Path | None, str | None]:
    """The config file to use: ``explicit``, else ``$GREETER_CONFIG``, else ``./greeter.json``
    if it exists, else ``/etc/greeter/greeter.json`` if it exists, else ``None``. Returns
    ``(path or None, how it was chosen)``. The one rule, for every tool:
    :func:`fr_utils._files.find_greeter_config`."""
    return find_greeter_config(explicit)


def encoder_settings(config: dict[str, Any] | None) -> dict[str, Any]:
    """The encoder keywords of :func:`fr_utils.encoding.make_encoder` (``runtime``, ``litert``,
    ``flip``, ``cache_dir``) as a config file sets them, else the greeter's defaults: tools
    that enrol photos (``greeter-library``, ``greeter-admin``) encode as the kiosk does, on
    the kiosk's LiteRT model, so their encodings are the ones it uses."""
    config = config or {}
    return {
        "runtime": config.get("runtime", SETTINGS["runtime"].default),
        "litert": config.get("litert", SETTINGS["litert"].default),
        "flip": config.get("flip", SETTINGS["flip"].default),
        "cache_dir": config.get("cache", SETTINGS["cache"].default),
    }


def read_config_file(path: str | os.PathLike, missing_ok: bool = False) -> dict[str, Any]:
    """The config file's JSON object as it is (every key, unchecked): the one reader of the
    file, for ``greeter``, ``greeter-library`` and ``greeter-admin`` alike (``facenet-tune``
    writes it through the same :func:`fr_utils._files.update_json_object`). UTF-8 with or
    without a byte-order mark. Raises :class:`ConfigError` naming the file."""
    try:
        return read_json_object(path, "config file", missing_ok=missing_ok)
    except JsonFileError as err:
        raise ConfigError(str(err)) from None


def update_config_file(path: str | os.PathLike, **updates: Any) -> Path:
    """Set ``updates`` in the config file (created if missing), keeping its other keys, mode
    and owner; replaced atomically. A file that is not a JSON object is left alone
    (:class:`ConfigError`)."""
    try:
        return update_json_object(path, updates, "config file")
    except JsonFileError as err:
        raise ConfigError(str(err)) from None


def tuned_for(path: str | os.PathLike) -> str | None:
    """The encoder (its ``model_id``) the config file's threshold was tuned for, as
    ``facenet-tune --write-config`` recorded it in ``tuning.model``; ``None`` when the file
    does not say (a threshold typed in by hand)."""
    tuning = read_config_file(path, missing_ok=True).get("tuning")
    model = tuning.get("model") if isinstance(tuning, dict) else None
    return model if isinstance(model, str) else None


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a config file and check each key's type -> ``{setting: value}`` (``tuning``
    dropped). Values are range-checked later, by :func:`validate`."""
    path = Path(path)
    data = read_config_file(path)
    values = {}
    for key, value in data.items():
        if key in IGNORED_KEYS or key.startswith(ADMIN_PREFIX):
            continue
        if key not in SETTINGS:
            raise ConfigError(
                f"{path}: unknown setting {key!r}. Known settings: "
                f"{', '.join(sorted(SETTINGS))} (ignored: {', '.join(IGNORED_KEYS)}, "
                f"{ADMIN_PREFIX}*)."
            )
        values[key] = _check_type(key, value, path)
    return values


def _check_type(key: str, value: Any, path: Path) -> Any:
    meta = SETTINGS[key].metadata
    kind = meta["kind"]
    if value is None:
        ok = meta.get("optional", False)
    elif kind is bool or isinstance(value, bool):
        ok = kind is bool and isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float))
    else:
        ok = isinstance(value, kind)
    if not ok:
        wanted = kind.__name__ + (" or null" if meta.get("optional") else "")
        raise ConfigError(f"{path}: setting {key!r} must be a {wanted}. Received: {value!r}")
    return float(value) if kind is float and value is not None else value


def resolve_settings(
    flags: dict[str, Any],
    config: dict[str, Any] | None = None,
    config_path: str | os.PathLike | None = None,
) -> tuple[Settings, dict[str, str]]:
    """Merge: flags that were given (not ``None``) > ``config`` > built-in defaults.

    Returns ``(Settings, sources)`` where ``sources[name]`` says where each value came
    from: ``"flag"``, the config file's path, or ``"default"``. Values are not checked
    here: call :func:`validate`.
    """
    settings, sources = Settings(), {}
    for name in SETTINGS:
        if flags.get(name) is not None:
            setattr(settings, name, flags[name])
            sources[name] = "flag"
        elif config and name in config:
            setattr(settings, name, config[name])
            sources[name] = str(config_path)
        else:
            sources[name] = "default"
    return settings, sources


def describe_source(name: str, sources: dict[str, str]) -> str:
    """Where a value came from, for messages: ``--threshold``, ``config file X``, ``default``."""
    source = sources.get(name, "default")
    if source == "flag":
        return flag_name(name)
    if source == "default":
        return "the built-in default"
    return f"config file {source}"


def validate(settings: Settings, sources: dict[str, str] | None = None) -> Settings:
    """Check every value against the table (type, range, choices, kind of path).

    Raises:
        ConfigError: naming the first bad setting, its value, where it came from and
            what is allowed.
    """
    sources = sources or {}
    for name, spec in SETTINGS.items():
        value = getattr(settings, name)
        problem = _problem(name, spec.metadata, value)
        if problem:
            raise ConfigError(
                f"setting {name!r} = {value!r} (from {describe_source(name, sources)}): {problem}"
            )
    if settings.confirm_frames > settings.visit_frames:
        raise ConfigError(
            f"setting 'confirm_frames' = {settings.confirm_frames} (from "
            f"{describe_source('confirm_frames', sources)}) is more than 'visit_frames' = "
            f"{settings.visit_frames} (from {describe_source('visit_frames', sources)}): a "
            "visit would never be judged. Lower confirm_frames or raise visit_frames."
        )
    return settings


def deprecation_notes(sources: dict[str, str]) -> list[str]:
    """One line per deprecated setting that was set (by a flag or the config file)."""
    return [
        f"setting {name!r} (from {describe_source(name, sources)}) is deprecated and "
        "ignored: faces are aligned on their landmarks; remove it."
        for name in DEPRECATED
        if sources.get(name, "default") != "default"
    ]


def _problem(name: str, meta: dict[str, Any], value: Any) -> str | None:
    """What is wrong with ``value`` for a setting, or ``None``."""
    kind = meta["kind"]
    if value is None:
        return None if meta.get("optional") else "must be set."
    if kind is bool:
        return None if isinstance(value, bool) else "must be true or false."
    if kind in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and not float(value).is_integer())
        ):
            return f"must be a number ({kind.__name__})."
        return _range_problem(meta, value)
    if not isinstance(value, str):
        return "must be a string."
    if "choices" in meta and value not in meta["choices"]:
        return f"must be one of {', '.join(meta['choices'])}."
    if "path" in meta:
        return _check_path(meta["path"], value)
    if name == "db" and "://" not in value:
        return "must be a database URL such as sqlite:///library.db or postgresql://host/db."
    if name == "kiosk":
        from greeter.names import InvalidName, kiosk_name

        try:
            kiosk_name(value)
        except InvalidName as err:
            return str(err)
    return None


def _range_problem(meta: dict[str, Any], value: float) -> str | None:
    if not math.isfinite(value):
        return "must be a finite number."
    low, high, above = meta.get("low"), meta.get("high"), meta.get("above")
    if above is not None and not value > above:
        bound = f"in ({above}, {high}]" if high is not None else f"> {above}"
        return f"must be {bound}." + _hint(meta)
    if low is not None and value < low:
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        return f"must be {bound}." + _hint(meta)
    if high is not None and value > high:
        lower = f"({above}" if above is not None else f"[{low}"
        return f"must be in {lower}, {high}]." + _hint(meta)
    return None


def _hint(meta: dict[str, Any]) -> str:
    if meta.get("high") == 2.0:  # the threshold
        return (
            " It is a plain L2 distance between unit vectors (0 = identical, 2 = opposite);"
            f" {GREETER_THRESHOLD} is the built-in value, facenet-tune measures yours."
        )
    return ""


def _check_path(kind: str, value: str) -> str | None:
    """``folder_or_absent``: a folder, or nothing yet; ``folder``: an existing folder;
    ``existing``: an existing file or folder; ``video``: an existing file or a URL;
    ``out_folder``/``out_file``: can be created or written."""
    if not value:
        return "must not be empty."
    path = Path(value).expanduser()
    if kind == "video":
        if "://" in value:
            return None
        if not path.exists():
            return (
                "no such file. Give a video file, a stream URL (rtsp://, http://...) or use "
                "--camera N."
            )
        return "is a folder, not a video file." if path.is_dir() else None
    if kind == "existing":
        return None if path.exists() else "no such file or folder."
    if kind == "folder":
        return None if path.is_dir() else "must be an existing folder."
    if kind == "folder_or_absent":
        return "is a file, not a folder." if path.exists() and not path.is_dir() else None
    if path.exists():
        if (kind == "out_folder") != path.is_dir():
            return "is a file, not a folder." if kind == "out_folder" else "is a folder."
        return None if os.access(path, os.W_OK) else "is not writable by this user."
    parent = _nearest_existing(path)
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a folder."
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: folder {parent} is not writable by this user."
    return None


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
