"""File helpers shared inside the package: atomic writes, sha256 of a file, the cache folder,
and the one reader and writer of JSON settings files (the greeter's config among them)."""

import contextlib
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
        raise JsonFileError(f"{path}: cannot read the {what} ({err.strerror or err}).") from None
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
