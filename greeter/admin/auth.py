"""Who may use the admin page: the password, the login lock-out and the CSRF token.

The password comes from ``$GREETER_ADMIN_PASSWORD`` (plain text, hashed in memory at start)
or from the config file key ``admin_password_hash`` (an Argon2id hash written by
``greeter-admin set-password``). Argon2id (argon2-cffi) is the OWASP first choice for password
storage; its encoded string carries its own salt and cost settings, so nothing else is stored.

The session is a signed cookie (Starlette's SessionMiddleware, itsdangerous), ``HttpOnly`` and
``SameSite=Strict``. Each session holds one random CSRF token; every POST form carries it in the
hidden field ``csrf_token`` and a mismatch is answered with 403.

This guards a greeter's face library from casual misuse on the office network; it is a
greeter, not access control.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from greeter.config import update_config_file

PASSWORD_ENV = "GREETER_ADMIN_PASSWORD"
HASH_KEY = "admin_password_hash"
CSRF_FIELD = "csrf_token"
MAX_FAILURES = 5  # failed logins from one address within FAILURE_WINDOW ...
FAILURE_WINDOW = 300.0  # seconds
LOCKOUT = 60.0  # ... lock that address out for this many seconds (HTTP 429)
MIN_PASSWORD_LENGTH = 8

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


class LoginThrottle:
    """Counts failed logins per client address; ``MAX_FAILURES`` within ``FAILURE_WINDOW``
    seconds lock that address out for ``LOCKOUT`` seconds. Thread-safe; ``clock`` is
    injectable for tests (seconds, monotonic)."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        lockout: float = LOCKOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window, self.lockout, self.clock = (
            max_failures,
            window,
            lockout,
            clock,
        )
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: not locked out)."""
        with self._lock:
            left = self._locked_until.get(client, 0.0) - self.clock()
            if left <= 0:
                self._locked_until.pop(client, None)
                return 0.0
            return left

    def failed(self, client: str) -> None:
        """Record one failed login from ``client``."""
        with self._lock:
            now = self.clock()
            recent = [t for t in self._failures.get(client, []) if now - t < self.window]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._locked_until[client] = now + self.lockout
                recent = []
            self._failures[client] = recent

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s failures after a good login."""
        with self._lock:
            self._failures.pop(client, None)


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
    import ipaddress

    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
