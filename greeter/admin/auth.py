"""Who may use the admin page: the password, the login lock-out, the Argon2 pool and the CSRF
token.

The password comes from ``$GREETER_ADMIN_PASSWORD`` (plain text, hashed in memory at start)
or from the config file key ``admin_password_hash`` (an Argon2id hash written by
``greeter-admin set-password``). Argon2id (argon2-cffi) is the OWASP first choice for password
storage; its encoded string carries its own salt and cost settings, so nothing else is stored.
:class:`AdminPassword` re-reads the config file when it changes, so a new password takes
effect on a running page (and ends every session: :mod:`greeter.admin.sessions`).

A login attempt is counted *before* its password is verified (:class:`LoginThrottle`: per
client address, an IPv6 /64 counting as one, and for all addresses together), so attempts
sent at once cannot all be tried. Verification runs in :class:`Verifier`'s small pool: each
one costs the hash's memory (64 MiB with argon2-cffi's defaults), so at most
:data:`VERIFY_WORKERS` run at a time and a burst beyond the short queue is answered at once.

Each session holds one random CSRF token; every POST form carries it in the hidden field
``csrf_token`` and a mismatch is answered with 403.

This guards a greeter's face library from casual misuse on the office network; it is a
greeter, not access control.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from greeter.config import read_config_file, update_config_file

PASSWORD_ENV = "GREETER_ADMIN_PASSWORD"
HASH_KEY = "admin_password_hash"
CSRF_FIELD = "csrf_token"
MAX_FAILURES = 5  # login attempts from one address within FAILURE_WINDOW ...
FAILURE_WINDOW = 300.0  # seconds
LOCKOUT = 60.0  # ... lock that address out for this many seconds (HTTP 429)
MAX_TOTAL_FAILURES = 50  # attempts from all addresses within FAILURE_WINDOW: then all wait
MIN_PASSWORD_LENGTH = 8
VERIFY_WORKERS = 2  # Argon2 verifications at a time (each holds the hash's memory, 64 MiB)
VERIFY_QUEUE = 2  # ... and waiting; more at once are answered "busy" (HTTP 503) at once

log = logging.getLogger(__name__)

_hasher = PasswordHasher()


class PasswordError(ValueError):
    """A password that cannot be used, or a config file that cannot hold the hash."""


def hash_password(password: str) -> str:
    """An Argon2id encoded hash of ``password`` (salt and cost settings inside the string)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(
            f"The password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH}."
        )
    return _hasher.hash(password)


def check_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches the Argon2 hash ``encoded`` (constant time)."""
    try:
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def password_hash(config: dict, environ: dict | None = None) -> str | None:
    """The hash to check logins against: ``$GREETER_ADMIN_PASSWORD`` (hashed now), else the
    config's ``admin_password_hash``, else None (no password set)."""
    environ = os.environ if environ is None else environ
    if environ.get(PASSWORD_ENV):
        return hash_password(environ[PASSWORD_ENV])
    encoded = config.get(HASH_KEY)
    if encoded is None:
        return None
    if not isinstance(encoded, str) or not encoded.startswith("$argon2"):
        raise PasswordError(
            f"The config key {HASH_KEY!r} is not an Argon2 hash; "
            "write it with `greeter-admin set-password`."
        )
    return encoded


def write_password_hash(path: str | os.PathLike, password: str) -> None:
    """Store the hash of ``password`` under ``admin_password_hash`` in the JSON config file
    ``path``, keeping its other keys and its file mode; the file is replaced atomically
    (:func:`greeter.config.update_config_file`)."""
    update_config_file(path, **{HASH_KEY: hash_password(password)})


class AdminPassword:
    """The Argon2 hash logins are checked against, kept current.

    Args:
        encoded: the hash at start (:func:`password_hash`); None: no password, no login.
        path: the config file it came from (None: from ``$GREETER_ADMIN_PASSWORD``, which
            only a restart changes). Each :meth:`refresh` compares the file's inode, size and
            modification time (one ``stat``) and re-reads it when they changed.
    """

    def __init__(self, encoded: str | None, path: str | os.PathLike | None = None) -> None:
        self.required = encoded is not None  # fixed at start: the page never opens up later
        self.encoded = encoded
        self.problem: str | None = None  # why no login can succeed now (unreadable hash)
        self.path = Path(path) if path is not None and encoded is not None else None
        self._seen = self._stamp()

    def _stamp(self) -> tuple | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return ()
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def refresh(self) -> bool:
        """Re-read the hash if the config file changed; True when the hash is now different
        (every session must end). A file that no longer holds a usable hash refuses every
        login (:attr:`problem` says why) until it does again."""
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            encoded = password_hash(read_config_file(self.path), environ={})
            reason = None if encoded else f"{self.path} holds no {HASH_KEY!r}."
        except ValueError as error:  # ConfigError, PasswordError
            encoded, reason = None, str(error)
        problem = None
        if reason:
            problem = f"No usable admin password: {reason}"
            if "set-password" not in reason:
                problem += " Run `greeter-admin set-password`."
            log.warning("%s", problem)
        changed = encoded != self.encoded
        self.encoded, self.problem = encoded, problem
        return changed


def client_key(address: str) -> str:
    """The key failed logins are counted under: the address, an IPv6 address's /64 network
    (one machine usually holds a whole /64), an IPv4-mapped IPv6 address as IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginThrottle:
    """Counts login attempts *before* they are verified, per client (:func:`client_key`) and
    overall. ``max_failures`` attempts from one client within ``window`` seconds lock that
    client out for ``lockout`` seconds; ``max_total`` attempts from all clients within
    ``window`` make every client wait until the oldest leaves the window. A good login
    forgets its client's attempts. Thread-safe; ``clock`` is injectable for tests (seconds,
    monotonic)."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        lockout: float = LOCKOUT,
        max_total: int = MAX_TOTAL_FAILURES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window, self.lockout = max_failures, window, lockout
        self.max_total, self.clock = max_total, clock
        self._attempts: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._all: deque[float] = deque()  # every counted attempt's time, oldest first
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: it may, now)."""
        with self._lock:
            return self._wait(client, self.clock())

    def _wait(self, client: str, now: float) -> float:
        self._forget(now)
        left = self._locked_until.get(client, 0.0) - now
        if len(self._all) >= self.max_total:
            left = max(left, self._all[0] + self.window - now)
        return max(left, 0.0)

    def _forget(self, now: float) -> None:
        """Drop what left the window, so the counters stay small whoever calls."""
        while self._all and now - self._all[0] >= self.window:
            self._all.popleft()
        for client in [c for c, until in self._locked_until.items() if until <= now]:
            del self._locked_until[client]
        for client, times in list(self._attempts.items()):
            recent = [t for t in times if now - t < self.window]
            if recent:
                self._attempts[client] = recent
            else:
                del self._attempts[client]

    def attempt(self, client: str) -> float:
        """Count one login attempt from ``client``, before its password is checked. Returns
        0 when it may be checked, else the seconds to wait (then nothing is counted). The
        attempt that reaches ``max_failures`` is still checked; the ones after it wait."""
        with self._lock:
            now = self.clock()
            wait = self._wait(client, now)
            if wait:
                return wait
            recent = self._attempts.setdefault(client, [])
            recent.append(now)
            self._all.append(now)
            if len(recent) >= self.max_failures:
                self._locked_until[client] = now + self.lockout
                del self._attempts[client]
            return 0.0

    def cancel(self, client: str) -> None:
        """Un-count ``client``'s last attempt: it was never checked (the pool was busy). An
        attempt that locked its client out stays counted: the lock stays."""
        with self._lock:
            recent = self._attempts.get(client)
            if recent:
                self._all.remove(recent.pop())

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s attempts after a good login."""
        with self._lock:
            for moment in self._attempts.pop(client, []):
                self._all.remove(moment)


class Verifier:
    """Argon2 verification in a small pool of threads, so memory stays bounded under any burst.

    At most ``workers`` verifications run at a time (each holds the hash's memory: 64 MiB
    with argon2-cffi's defaults; the Argon2 code releases the GIL) and at most ``queue`` wait;
    :meth:`check` answers None at once beyond that. A slot is freed when its verification
    has really ended, even if the request that asked for it went away.
    """

    def __init__(self, workers: int = VERIFY_WORKERS, queue: int = VERIFY_QUEUE) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(
                f"Verifier needs workers >= 1 and queue >= 0. Received: {workers=}, {queue=}"
            )
        self.workers, self.slots = workers, workers + queue
        self._free = self.slots
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def _release(self, _: object = None) -> None:
        with self._lock:
            self._free += 1

    async def check(self, password: str, encoded: str) -> bool | None:
        """True/False as :func:`check_password`; None when the pool is full (not checked)."""
        with self._lock:
            if self._free == 0:
                return None
            self._free -= 1
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.workers, thread_name_prefix="argon2"
                )
            pool = self._pool
        try:
            job = pool.submit(check_password, password, encoded)
        except RuntimeError:  # shut down
            self._release()
            return None
        job.add_done_callback(self._release)
        return await asyncio.wrap_future(job)

    def close(self) -> None:
        """Stop the threads (waiting verifications are cancelled)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def csrf_token(session: dict) -> str:
    """The session's CSRF token, created on first use."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def csrf_ok(session: dict, submitted: object) -> bool:
    """True when ``submitted`` is the session's CSRF token (constant-time comparison)."""
    expected = session.get(CSRF_FIELD)
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
