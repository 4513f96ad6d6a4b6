"""Settings: built-in defaults < config file (JSON) < command-line flags.

The config file is a JSON object whose keys are the long flag names with
underscores (``{"threshold": 0.8, "cooldown": 120}``). ``facenet-tune`` writes
``{"threshold": ..., "tuning": {...}}`` into it; ``tuning`` is informational and
ignored here. Any other unknown key is an error naming the key and the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from fr_utils.matching import GREETER_THRESHOLD

from greeter.tracker import DEFAULT_CONFIRM_FRAMES, DEFAULT_COOLDOWN

ENV_VAR = "GREETER_CONFIG"
DEFAULT_FILE = Path("greeter.json")
IGNORED_KEYS = ("tuning",)


class ConfigError(ValueError):
    """A config file that cannot be read or holds an unknown or ill-typed setting."""


@dataclass
class Settings:
    """Every greeter setting, with its built-in default (``None``: not set)."""

    images: str = "images"
    camera: int = 0
    video: str = None
    loop: bool = False
    threshold: float = GREETER_THRESHOLD  # plain L2, lower is stricter
    cooldown: float = DEFAULT_COOLDOWN
    confirm_frames: int = DEFAULT_CONFIRM_FRAMES
    no_speech: bool = False
    speech_to: str = None
    headless: bool = False
    record: str = None
    log: str = None
    weights: str = None
    cache: str = None
    # Detection: Haar on a grayscale copy downscaled to detect_width pixels wide
    # (the main cost; see greeter.detector), faces smaller than min_face (pixels
    # in the full frame) ignored.
    detect_width: int = 320
    min_face: int = 40
    scale_factor: float = 1.1
    min_neighbors: int = 5
    # The face crop (fr_utils.faces.CropSpec): must be the one the weights were trained on.
    crop_scale: float = 0.855
    crop_dx: float = 0.07
    crop_dy: float = 0.25
    watch_interval: float = 2.0  # seconds between checks of the images folder


_TYPES = {f.name: f.type for f in fields(Settings)}
_NUMBERS = {"int": (int,), "float": (int, float)}


def find_config(explicit=None):
    """The config file to use: ``explicit``, else ``$GREETER_CONFIG``, else ``./greeter.json``
    if it exists, else ``None``. Returns ``(path or None, how it was chosen)``."""
    if explicit is not None:
        return Path(explicit), "--config"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    if DEFAULT_FILE.is_file():
        return DEFAULT_FILE, "./greeter.json"
    return None, None


def load_config(path):
    """Read and check a config file -> ``{setting: value}`` (``tuning`` dropped)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror}).") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err}).") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of settings, got {type(data).__name__}.")
    values = {}
    for key, value in data.items():
        if key in IGNORED_KEYS:
            continue
        if key not in _TYPES:
            raise ConfigError(f"{path}: unknown setting {key!r}. Known settings: "
                              f"{', '.join(sorted(_TYPES))} (and 'tuning', ignored).")
        values[key] = _check_type(key, value, path)
    return values


def _check_type(key, value, path):
    kind = _TYPES[key]
    ok = (value is None and key in ("video", "speech_to", "record", "log", "weights", "cache")
          or kind == "bool" and isinstance(value, bool)
          or kind == "str" and isinstance(value, str)
          or kind in _NUMBERS and isinstance(value, _NUMBERS[kind]) and not isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{path}: setting {key!r} must be a {kind}. Received: {value!r}")
    return float(value) if kind == "float" else value


def resolve_settings(flags, config=None, config_path=None):
    """Merge: flags that were given (not ``None``) > ``config`` > built-in defaults.

    Returns ``(Settings, sources)`` where ``sources[name]`` says where each value came
    from: ``"flag"``, the config file's path, or ``"default"``.
    """
    settings, sources = Settings(), {}
    for name in _TYPES:
        if flags.get(name) is not None:
            setattr(settings, name, flags[name])
            sources[name] = "flag"
        elif config and name in config:
            setattr(settings, name, config[name])
            sources[name] = str(config_path)
        else:
            sources[name] = "default"
    return settings, sources
