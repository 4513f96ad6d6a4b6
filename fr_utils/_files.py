"""File helpers shared inside the package: atomic writes and sha256 of a file."""

import contextlib
import hashlib
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
