"""File helpers shared inside the package: atomic writes, sha256 of a file, the cache folder,
and the one reader and writer of JSON settings files (the greeter's config among them), with
the one rule for where the greeter's config file is (:func:`find_greeter_config`: every tool,
``facenet-tune --write-config`` included, finds it there)."""

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def sha256(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _umask() -> int:
    """The process umask; read from /proc where possible (``os.umask`` must set it to read it,
    which is racy with other threads creating files)."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        status = Path("/proc/self/status").read_text()
        return int(next(ln for ln in status.splitlines() if ln.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only on success.

    Readers see the old file or the new one, never half of it. A symlinked
    ``target`` is written through: the file it points to is replaced and the link
    stays. An existing file keeps its permission bits (and its owner, where the
    process may set it); a new file gets the usual ``0o666 & ~umask``.
    """
    target = Path(target)
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        try:
            old = target.stat()
        except FileNotFoundError:
            os.chmod(tmp, 0o666 & ~_umask())
        else:
            os.chmod(tmp, old.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


CACHE_ENV_VAR = "FACENET_CACHE"
# What default_cache_dir reads, in order (for --help texts).
CACHE_SOURCES = (f"${CACHE_ENV_VAR}", "$XDG_CACHE_HOME/facenet", "~/.cache/facenet")


def default_cache_dir() -> Path:
    """``$FACENET_CACHE``, else ``$XDG_CACHE_HOME/facenet``, else ``~/.cache/facenet``: where
    encodings are cached and LiteRT models are exported to by default."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facenet"


GREETER_CONFIG_NAME = "greeter.json"
GREETER_CONFIG_ENV = "GREETER_CONFIG"
# Written by scripts/install_kiosk.sh (root:kiosk, 0640): the kiosk's settings, for every tool.
SYSTEM_GREETER_CONFIG = Path("/etc/greeter/greeter.json")
GREETER_CONFIG_SOURCES = (  # as every --help names them (fr_utils.cli.default_help)
    f"${GREETER_CONFIG_ENV}",
    f"./{GREETER_CONFIG_NAME} if present",
    f"{SYSTEM_GREETER_CONFIG} if present",
)


def find_greeter_config(
    explicit: str | os.PathLike | None = None,
) -> tuple[Path | None, str | None]:
    """The greeter's config file: ``explicit`` (``--config``), else ``$GREETER_CONFIG``, else
    ``./greeter.json`` if it exists, else ``/etc/greeter/greeter.json`` (the kiosk install's)
    if it exists, else ``None``. Returns ``(path or None, how it was chosen)``.

    The greeter, ``greeter-library``, ``greeter-admin`` and ``facenet-tune --write-config``
    all look here, so an administrator's commands reach the kiosk's library and settings
    without flags."""
    if explicit is not None:
        return Path(explicit), "--config"
    if os.environ.get(GREETER_CONFIG_ENV):
        return Path(os.environ[GREETER_CONFIG_ENV]), f"${GREETER_CONFIG_ENV}"
    local = Path(GREETER_CONFIG_NAME)
    if local.is_file():
        return local, f"./{GREETER_CONFIG_NAME}"
    if SYSTEM_GREETER_CONFIG.is_file():
        return SYSTEM_GREETER_CONFIG, "the system config"
    return None, None


def _permission_hint(path: Path) -> str:
    """Who may read ``path``, for a "Permission denied" message."""
    try:
        import grp

        group = grp.getgrgid(path.stat().st_gid).gr_name
    except (ImportError, KeyError, OSError):
        return "run as a user allowed to read it (e.g. with sudo)"
    return f"run as root (sudo) or as a member of group {group!r}"


class JsonFileError(ValueError):
    """A JSON settings file that cannot be read as a JSON object (the message names it)."""


def read_json_object(
    path: str | os.PathLike, what: str = "settings file", missing_ok: bool = True
) -> dict:
    """The JSON object in ``path`` (``{}`` when the file does not exist and ``missing_ok``).

    The one reader of the greeter's config file, for every tool: UTF-8 with or without a
    byte-order mark (Windows' Notepad writes one). Raises :class:`JsonFileError` naming the
    file and ``what`` it is when it cannot be read, is not UTF-8, not JSON, or not an object.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise JsonFileError(f"{path}: no such {what}. Check the path.") from None
    except OSError as err:
        hint = f": {_permission_hint(path)}" if err.errno == errno.EACCES else ""
        raise JsonFileError(
            f"{path}: cannot read the {what} ({err.strerror or err}){hint}."
        ) from None
    except UnicodeDecodeError as err:
        raise JsonFileError(
            f"{path}: the {what} is not UTF-8 text (byte {err.start}: {err.reason}). "
            "Save it as UTF-8 JSON."
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise JsonFileError(f"{path}: the {what} is not valid JSON ({err}).") from None
    if not isinstance(data, dict):
        raise JsonFileError(
            f"{path}: the {what} must hold a JSON object, found {type(data).__name__}; "
            "fix or move it."
        )
    return data


def update_json_object(path: str | os.PathLike, updates: dict, what: str = "settings file") -> Path:
    """Merge ``updates`` into the JSON object in ``path`` (created if missing), keeping its
    other keys, its mode and its owner; the file is replaced atomically. A file that cannot
    be read as a JSON object is left alone (:class:`JsonFileError`), never overwritten."""
    data = read_json_object(path, what)
    data.update(updates)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Path(path)
