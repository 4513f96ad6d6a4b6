"""Small ASGI middlewares for the admin app: the password watch, a request-body size limit
and the login wall.

All are plain ASGI (no ``BaseHTTPMiddleware``), so uploads stream through them untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response


class PasswordWatch:
    """Before each request, ``refresh()`` (:meth:`greeter.admin.auth.AdminPassword.refresh`:
    one ``stat`` of the config file); when it says the password changed, ``end_all()`` ends
    every session."""

    def __init__(self, app: Any, refresh: Callable[[], bool], end_all: Callable[[], None]):
        self.app, self.refresh, self.end_all = app, refresh, end_all

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and self.refresh():
            self.end_all()
        await self.app(scope, receive, send)


class BodyLimit:
    """Answer 413 to request bodies over the request's limit, whether the size is declared in
    ``Content-Length`` (refused before a byte is read) or only seen while the body streams
    in (refused as soon as it passes the limit). ``limit_for(scope)`` gives each request's
    ``(limit in bytes, message)``, so a request from someone not logged in can get a small one;
    it runs after the session middleware."""

    def __init__(self, app: Any, limit_for: Callable[[dict], tuple[int, str]]) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, text = self.limit_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length") or b""
        if declared.isdigit() and (len(declared) > 15 or int(declared) > limit):
            return await _refuse(text, scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _refuse(text, scope, receive, send)


async def _refuse(text: str, scope: dict, receive: Callable, send: Callable) -> None:
    response = Response(text, status_code=413, media_type="text/plain")
    await response(scope, receive, send)


class _TooLarge(Exception):
    """Raised inside the app's body reads once the limit is passed."""


class LoginRequired:
    """Without a logged-in session (``session["user"]``), GET/HEAD redirect to
    ``/login?next=<path>`` and other methods get 403; ``/login`` and ``/static/`` stay open.
    Needs the session middleware (:class:`greeter.admin.sessions.Sessions`) outside it.
    ``enabled=False``: everything is open."""

    OPEN = ("/login", "/static/")

    def __init__(self, app: Any, enabled: bool) -> None:
        self.app, self.enabled = app, enabled

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if (
            scope["type"] != "http"
            or not self.enabled
            or scope["session"].get("user")
            or scope["path"].startswith(self.OPEN)
        ):
            return await self.app(scope, receive, send)
        if scope["method"] in ("GET", "HEAD"):
            target = scope["path"]
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            response: Response = RedirectResponse(
                f"/login?next={quote(target, safe='')}", status_code=303
            )
        else:
            response = Response("Log in first.", status_code=403, media_type="text/plain")
        await response(scope, receive, send)
