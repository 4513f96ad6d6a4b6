"""Two small ASGI middlewares for the admin app: a request-body size limit and the login wall.

Both are plain ASGI (no ``BaseHTTPMiddleware``), so uploads stream through them untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response


class BodyLimit:
    """Answer 413 (with ``message``) to request bodies over ``limit`` bytes, whether the size is
    declared in ``Content-Length`` or only seen while the body streams in."""

    def __init__(self, app: Any, limit: int, message: str) -> None:
        self.app, self.limit, self.message = app, limit, message

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: dict, receive: Callable, send: Callable) -> None:
        response = Response(self.message, status_code=413, media_type="text/plain")
        await response(scope, receive, send)


class _TooLarge(Exception):
    """Raised inside the app's body reads once the limit is passed."""


class LoginRequired:
    """Without a logged-in session (``session["user"]``), GET/HEAD redirect to
    ``/login?next=<path>`` and other methods get 403; ``/login`` and ``/static/`` stay open.
    Needs Starlette's SessionMiddleware outside it. ``enabled=False``: everything is open."""

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
