"""Server-side sessions for the admin page: the cookie holds only a random id.

A session lives in this process's memory (:class:`SessionStore`), so the server can end it:
at logout, when the admin password changes (every session), after :data:`IDLE_TIMEOUT`
seconds without a request, and :data:`MAX_AGE` seconds after the login at the latest. A
restart ends them all (the page runs as one process). The cookie ``greeter_admin`` is
``HttpOnly``, ``SameSite=Strict``, ``Path=/``, without ``Max-Age`` (the browser forgets it
when it closes), and ``Secure`` whenever the request came over HTTPS (TLS on uvicorn, or a
trusted proxy's ``X-Forwarded-Proto: https``).

A visitor who is not logged in gets a session too (it holds the login form's CSRF token),
but only once something is stored in it; at most :data:`MAX_ANONYMOUS` such sessions are
kept, the least recently used going first, so requests without a cookie cannot fill memory.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import cookie_parser

COOKIE = "greeter_admin"
IDLE_TIMEOUT = 30 * 60.0  # seconds without a request that end a session
MAX_AGE = 12 * 3600.0  # seconds after the login that end a session, however busy
MAX_ANONYMOUS = 1000  # sessions of visitors who have not logged in (login form CSRF tokens)
USER = "user"  # the session key that marks a logged-in session


class Session(dict):
    """One session's data (a dict, as ``request.session``), with its id and times."""

    def __init__(self, session_id: str, now: float) -> None:
        super().__init__()
        self.id, self.created, self.seen = session_id, now, now
        self.ended = False

    @property
    def logged_in(self) -> bool:
        return bool(self.get(USER))


class SessionStore:
    """Sessions by id, with idle and absolute timeouts. Thread-safe; ``clock`` is injectable
    for tests (seconds, monotonic)."""

    def __init__(
        self,
        idle: float = IDLE_TIMEOUT,
        max_age: float = MAX_AGE,
        max_anonymous: int = MAX_ANONYMOUS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if idle <= 0 or max_age <= 0 or max_anonymous < 1:
            raise ValueError(
                "SessionStore needs idle > 0, max_age > 0, max_anonymous >= 1. "
                f"Received: idle={idle}, max_age={max_age}, max_anonymous={max_anonymous}"
            )
        self.idle, self.max_age, self.max_anonymous, self.clock = (
            idle,
            max_age,
            max_anonymous,
            clock,
        )
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.seen > self.idle or now - session.created > self.max_age

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle clock restarted), or None."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            now = self.clock()
            if self._expired(session, now):
                del self._sessions[session_id]
                session.ended = True
                return None
            session.seen = now
            return session

    def new(self) -> Session:
        """A fresh session, not stored until :meth:`keep` (most requests store nothing)."""
        return Session(secrets.token_urlsafe(32), self.clock())

    def keep(self, session: Session) -> None:
        """Store ``session`` (dropping expired sessions, and the least recently used visitor
        sessions beyond ``max_anonymous``)."""
        with self._lock:
            self._sessions[session.id] = session
            now = self.clock()
            for sid, other in list(self._sessions.items()):
                if self._expired(other, now):
                    del self._sessions[sid]
                    other.ended = True
            anonymous = [s for s in self._sessions.values() if not s.logged_in]
            if len(anonymous) > self.max_anonymous:
                anonymous.sort(key=lambda s: s.seen)
                for other in anonymous[: len(anonymous) - self.max_anonymous]:
                    del self._sessions[other.id]
                    other.ended = True

    def log_in(self, session: Session, user: str = "admin") -> None:
        """Mark ``session`` logged in under a new id (the one a visitor had before logging in
        is worthless: no session fixation) with a new CSRF token, and its clocks restarted."""
        with self._lock:
            self._sessions.pop(session.id, None)
            session.clear()
            session.id = secrets.token_urlsafe(32)
            session.created = session.seen = self.clock()
            session[USER] = user
            self._sessions[session.id] = session

    def end(self, session: Session) -> None:
        """Forget ``session`` (logout): its id is worthless from now on."""
        with self._lock:
            self._sessions.pop(session.id, None)
            session.clear()
            session.ended = True

    def end_all(self) -> None:
        """Forget every session (the password changed)."""
        with self._lock:
            for session in self._sessions.values():
                session.ended = True
            self._sessions.clear()


class Sessions:
    """ASGI middleware: ``scope["session"]`` is the request's :class:`Session` (a new empty one
    when the cookie names none that is alive); the cookie is set when a session is first
    stored or gets a new id, and cleared when it ended."""

    def __init__(self, app: Any, store: SessionStore, cookie: str = COOKIE) -> None:
        self.app, self.store, self.cookie = app, store, cookie

    def _cookie_id(self, scope: dict) -> str | None:
        for name, value in scope.get("headers") or []:
            if name == b"cookie":
                found = cookie_parser(value.decode("latin-1")).get(self.cookie)
                if found:
                    return found
        return None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        sent_id = self._cookie_id(scope)
        session = self.store.get(sent_id) or self.store.new()
        scope["session"] = session

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                header = self._set_cookie(scope, session, sent_id)
                if header is not None:
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"set-cookie", header)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _set_cookie(self, scope: dict, session: Session, sent_id: str | None) -> bytes | None:
        secure = "; Secure" if scope.get("scheme") in ("https", "wss") else ""
        flags = f"; Path=/; HttpOnly; SameSite=Strict{secure}"
        if session.ended:
            return f"{self.cookie}=; Max-Age=0{flags}".encode() if sent_id else None
        if session.id == sent_id:
            return None
        if not session:  # nothing to keep: no session, no cookie
            return f"{self.cookie}=; Max-Age=0{flags}".encode() if sent_id else None
        self.store.keep(session)
        return f"{self.cookie}={session.id}{flags}".encode()
