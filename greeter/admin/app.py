"""The admin web page for whoever runs the doors (enrol, remove, review): :func:`create_app`.

Server-rendered HTML (Starlette + Jinja2, autoescaped) under uvicorn, on the same face library
store the kiosks read (:mod:`greeter.library`). Plain forms, no JavaScript. Every page but
the login needs the password (when one is set); every POST carries the session's CSRF token.

Around the pages, outermost first: the ``Host`` check (only the names the page is served
under: loopback names by default, so a DNS-rebound name gets 400), the password watch (a
password changed by ``set-password`` ends every session), the server-side sessions
(:mod:`greeter.admin.sessions`), the body limit (16 KB before login, the uploads' limit
after) and the login wall (:mod:`greeter.admin.middleware`).

The enroller (face alignment + the FaceNet encoder) is built on the first upload, in a worker
thread: loading the model takes seconds, and the pages that only read never need it.

    greeter-admin --db sqlite:///greeter.db            # http://127.0.0.1:8080
    greeter-admin set-password --config greeter.json   # store a hashed password

(the command line is :mod:`greeter.admin.cli`). It is a greeter, not access control.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from greeter.admin import auth
from greeter.admin.middleware import BodyLimit, LoginRequired, PasswordWatch
from greeter.admin.queries import Library, Refusal
from greeter.admin.sessions import Sessions, SessionStore
from greeter.library import Store, StoreUnavailable
from greeter.names import MAX_NAME_LENGTH, InvalidName, display_name

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # per uploaded photo
MAX_PHOTOS = 10  # per form
MAX_REQUEST_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES + 1024 * 1024  # whole request body
MAX_FORM_BYTES = 16 * 1024  # the login form, and any request from someone not logged in
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # Host names always accepted
RETENTION_EVERY = 3600.0  # seconds between retention runs (old events and faces deleted)
MAX_ID = 2**63 - 1  # the largest id a row can have (64-bit, SQLite and PostgreSQL alike)
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9998, 12, 31)  # ?day= outside: 400


# --------------------------------------------------------------------------- formatting


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value).astimezone()
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value.astimezone() if value.tzinfo else value.replace(tzinfo=dt.UTC).astimezone()
    return None


def _when(value: Any) -> str:
    """Local date and time to the minute ("never" for None)."""
    moment = _as_datetime(value)
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _clock(value: Any) -> str:
    moment = _as_datetime(value)
    return "" if moment is None else moment.strftime("%H:%M:%S")


def _number(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _distances(values: Any) -> str:
    """Plain-L2 distances to two decimals ("—" when there are none)."""
    shown = [f"{v:.2f}" for v in values or [] if isinstance(v, (int, float))]
    return ", ".join(shown) or "—"


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters.update(when=_when, clock=_clock, number=_number, distances=_distances)
    templates = Jinja2Templates(env=env)
    env.globals["url_for"] = _path_for  # site-relative links: right behind a proxy too
    return templates


@pass_context
def _path_for(context: dict, name: str, /, **params: Any) -> str:
    return str(context["request"].app.url_path_for(name, **params))


def _safe_next(target: Any) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return "/people"
    parts = urlsplit(target)
    return "/people" if parts.scheme or parts.netloc else target


def _path(request: Request, name: str, **params: Any) -> str:
    """The site-relative path of route ``name`` (redirects stay on whatever host was used)."""
    return str(request.app.url_path_for(name, **params))


def _client(request: Request) -> str:
    """Whom failed logins are counted against: the peer address (a proxy's address only when
    it is trusted: ``greeter-admin --trusted-proxy``), an IPv6 /64 as one."""
    return auth.client_key(request.client.host if request.client else "unknown")


class _RowId(Convertor[int]):
    """A row id in a path: 1 to 19 digits. Beyond :data:`MAX_ID` it is 0, which no row has,
    so the page answers 404 (never a database overflow error); longer ones match no route."""

    regex = "[0-9]{1,19}"

    def convert(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_ID else 0

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("rowid", _RowId())


# --------------------------------------------------------------------------- the application


class AdminApp:
    """The pages, bound to one :class:`Library` and one password (None: no login)."""

    def __init__(
        self,
        library: Library,
        *,
        password: auth.AdminPassword,
        throttle: auth.LoginThrottle | None = None,
        verifier: auth.Verifier | None = None,
        sessions: SessionStore | None = None,
        allowed_hosts: Sequence[str] = (),
        max_photo_bytes: int = MAX_PHOTO_BYTES,
        retention_every: float = RETENTION_EVERY,
    ) -> None:
        self.lib = library
        self.retention_every = retention_every
        self.password = password
        self.throttle = auth.LoginThrottle() if throttle is None else throttle
        self.verifier = auth.Verifier() if verifier is None else verifier
        self.sessions = SessionStore() if sessions is None else sessions
        extra = [name.lower() for name in allowed_hosts if name.lower() not in LOOPBACK_HOSTS]
        self.allowed_hosts = [*LOOPBACK_HOSTS, *extra]
        self.max_photo_bytes = max_photo_bytes
        self.max_request_bytes = MAX_REQUEST_BYTES
        self.templates = _templates()
        routes = [
            Route("/", self.home, name="home"),
            Route("/login", self.login, methods=["GET", "POST"], name="login"),
            Route("/logout", self.logout, methods=["POST"], name="logout"),
            Route("/people", self.people, name="people"),
            Route("/people", self.create_person, methods=["POST"], name="create_person"),
            Route("/people/new", self.new_person, name="new_person"),
            Route("/people/{person_id:rowid}", self.person, name="person"),
            Route(
                "/people/{person_id:rowid}/photos",
                self.add_photos,
                methods=["POST"],
                name="add_photos",
            ),
            Route(
                "/people/{person_id:rowid}/photos/{photo_id:rowid}/remove",
                self.remove_photo,
                methods=["POST"],
                name="remove_photo",
            ),
            Route(
                "/people/{person_id:rowid}/rename",
                self.rename_person,
                methods=["POST"],
                name="rename_person",
            ),
            Route(
                "/people/{person_id:rowid}/delete",
                self.confirm_delete,
                name="confirm_delete",
            ),
            Route(
                "/people/{person_id:rowid}/delete",
                self.delete_person,
                methods=["POST"],
                name="delete_person",
            ),
            Route("/photos/{photo_id:rowid}/crop.png", self.photo_crop, name="photo_crop"),
            Route(
                "/photos/{photo_id:rowid}/photo.jpg",
                self.photo_preview,
                name="photo_preview",
            ),
            Route("/visitors", self.visitors, name="visitors"),
            Route("/recognitions", self.recognitions, name="recognitions"),
            Route(
                "/visitors/{visitor_id:rowid}/crop.png",
                self.visitor_crop,
                name="visitor_crop",
            ),
            Route(
                "/visitors/{visitor_id:rowid}/assign",
                self.assign_visitor,
                methods=["POST"],
                name="assign_visitor",
            ),
            Route(
                "/visitors/{visitor_id:rowid}/dismiss",
                self.dismiss_visitor,
                methods=["POST"],
                name="dismiss_visitor",
            ),
            Route("/greetings", self.greetings, name="greetings"),
            Route("/greetings.csv", self.greetings_csv, name="greetings_csv"),
            Route("/kiosks", self.kiosks, name="kiosks"),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        middleware = [
            Middleware(TrustedHostMiddleware, allowed_hosts=self.allowed_hosts, www_redirect=False),
            Middleware(PasswordWatch, refresh=password.refresh, end_all=self.sessions.end_all),
            Middleware(Sessions, store=self.sessions),
            Middleware(BodyLimit, limit_for=self._body_limit),
            Middleware(LoginRequired, enabled=password.required),
        ]
        handlers = {
            _Forbidden: self._forbidden,
            _NotFound: self._not_found,
            StoreUnavailable: self._unavailable,
        }
        self.asgi = Starlette(
            routes=routes,
            middleware=middleware,
            exception_handlers=handlers,
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette):
        task = asyncio.create_task(self._enforce_retention())
        try:
            yield
        finally:
            task.cancel()
            self.verifier.close()

    async def _enforce_retention(self) -> None:
        """The library's retention, enforced at start and every :attr:`retention_every`
        seconds, with or without a kiosk running (a failure is logged, and tried again)."""
        while True:
            try:
                events, faces = await self.call(self.lib.enforce_retention)
                if events or faces:
                    log.info("Retention: %d old event(s), %d kept face(s) deleted.", events, faces)
            except Exception as error:  # the page goes on, and so does the loop
                log.warning("Retention not enforced this time: %s", error)
            await asyncio.sleep(self.retention_every)

    @property
    def password_hash(self) -> str | None:
        """The Argon2 hash logins are checked against now (None: no password)."""
        return self.password.encoded

    def _body_limit(self, scope: dict) -> tuple[int, str]:
        """The uploads' limit for a logged-in session (any session with a CSRF token when no
        password is set); :data:`MAX_FORM_BYTES` for the login form and everyone else, so
        nobody can make the page read a large body before logging in."""
        session = scope.get("session")
        trusted = bool(session) and (not self.password.required or session.logged_in)
        if trusted and scope["path"] != "/login":
            mb = self.max_request_bytes // (1024 * 1024)
            return self.max_request_bytes, (
                f"The upload is larger than {mb} MB in total; send at most {MAX_PHOTOS} photos "
                f"of {self.max_photo_bytes // (1024 * 1024)} MB each."
            )
        return MAX_FORM_BYTES, f"The form is larger than {MAX_FORM_BYTES // 1024} KB; log in first."

    async def _forbidden(self, request: Request, exc: Exception) -> Response:
        return self.error(
            request,
            403,
            "The form has expired",
            "The page was open too long or came from elsewhere. Go back, reload it and retry.",
        )

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return self.error(
            request,
            404,
            "Not found",
            "It is not in the library (any more): it may be deleted.",
        )

    async def _unavailable(self, request: Request, exc: Exception) -> Response:
        return self.error(request, 503, "The library database is unavailable", str(exc))

    # ---- helpers

    def render(
        self, request: Request, template: str, status_code: int = 200, /, **context: Any
    ) -> Response:
        context.setdefault("messages", [])
        context.setdefault("title", "")
        context.update(
            csrf_token=auth.csrf_token(request.session),
            logged_in=not self.password.required or request.session.logged_in,
            max_name=MAX_NAME_LENGTH,
            max_mb=self.max_photo_bytes // (1024 * 1024),
        )
        return self.templates.TemplateResponse(
            request,
            template,
            context,
            status_code=status_code,
            headers={
                "Cache-Control": "no-store",
                "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                "Referrer-Policy": "same-origin",
            },
        )

    def error(self, request: Request, status_code: int, title: str, detail: str) -> Response:
        return self.render(request, "error.html", status_code, title=title, detail=detail)

    async def form(self, request: Request) -> Any:
        """The POSTed form after the CSRF check; raises :class:`_Forbidden` on a bad token."""
        form = await request.form(max_files=MAX_PHOTOS, max_fields=50)
        if not auth.csrf_ok(request.session, form.get(auth.CSRF_FIELD)):
            raise _Forbidden
        return form

    async def read_photos(self, form: Any) -> tuple[list[tuple[str, bytes]], list[Refusal]]:
        """The uploaded photos as ``(filename, bytes)``, refusing empty or oversized files."""
        photos, refused = [], []
        for upload in form.getlist("photos"):
            if not isinstance(upload, UploadFile):
                continue
            data = await upload.read(self.max_photo_bytes + 1)
            if not data and not upload.filename:
                continue  # the empty file input a browser sends when nothing was picked
            filename = upload.filename or "(unnamed file)"
            if len(data) > self.max_photo_bytes:
                limit = self.max_photo_bytes / (1024 * 1024)
                refused.append(
                    Refusal(filename, f"larger than {limit:g} MB; send a smaller photo.")
                )
            elif not data:
                refused.append(Refusal(filename, "the file is empty."))
            else:
                photos.append((filename, data))
        return photos, refused

    async def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(fn, *args, **kwargs)

    # ---- login

    async def home(self, request: Request) -> Response:
        return RedirectResponse(_path(request, "people"), status_code=303)

    async def login(self, request: Request) -> Response:
        """The lock-out is checked before the form is read, and the attempt counted before
        the password is verified (in the small Argon2 pool): attempts sent together cannot
        all be tried, and a burst costs no more memory than the pool holds."""
        if not self.password.required:
            return RedirectResponse("/people", status_code=303)
        next_page = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self.render(request, "login.html", title="Log in", next=next_page)
        client = _client(request)
        wait = self.throttle.retry_after(client)
        if wait:
            return self._locked(request, wait, next_page)
        form = await self.form(request)
        next_page = _safe_next(form.get("next"))
        password, encoded = form.get("password"), self.password.encoded
        if encoded is None:  # the config file lost its hash: no login until it has one
            return self._login_page(request, 503, next_page, self.password.problem or "")
        wait = self.throttle.attempt(client)
        if wait:
            return self._locked(request, wait, next_page)
        ok = isinstance(password, str) and await self.verifier.check(password, encoded)
        if ok is None:  # the pool is full: not tried, not counted
            self.throttle.cancel(client)
            response = self._login_page(
                request, 503, next_page, "The page is busy checking other logins; retry."
            )
            response.headers["Retry-After"] = "1"
            return response
        if not ok:
            wait = self.throttle.retry_after(client)
            if wait:
                return self._locked(request, wait, next_page)
            return self._login_page(request, 401, next_page, "Wrong password.")
        self.throttle.succeeded(client)
        self.sessions.log_in(request.session)  # a new session id and CSRF token
        return RedirectResponse(next_page, status_code=303)

    def _login_page(self, request: Request, status: int, next_page: str, error: str) -> Response:
        return self.render(
            request,
            "login.html",
            status,
            title="Log in",
            next=next_page,
            messages=[_msg("error", error)],
        )

    def _locked(self, request: Request, wait: float, next_page: str) -> Response:
        seconds = int(wait) + 1
        response = self._login_page(
            request, 429, next_page, f"Too many wrong passwords. Try again in {seconds} seconds."
        )
        response.headers["Retry-After"] = str(seconds)
        return response

    async def logout(self, request: Request) -> Response:
        await self.form(request)
        self.sessions.end(request.session)  # the cookie's id is worthless from now on
        return RedirectResponse("/login", status_code=303)

    # ---- people

    async def people(self, request: Request) -> Response:
        q = " ".join(request.query_params.get("q", "").split())[:MAX_NAME_LENGTH]
        everyone = await self.call(self.lib.people, q)
        return self.render(
            request,
            "people.html",
            title="People",
            section="people",
            people=everyone,
            q=q,
        )

    async def new_person(self, request: Request) -> Response:
        return self.render(request, "new_person.html", title="Add a person", section="new", name="")

    async def create_person(self, request: Request) -> Response:
        form = await self.form(request)
        name = _clean_name(form.get("name"))
        photos, refused = await self.read_photos(form)
        problem = _name_problem(name)
        if problem is None and not photos and not refused:
            problem = "Choose at least one photo of the face."
        if problem is None and await self.call(self.lib.name_taken, name):
            problem = f"{name} is already enrolled; add photos on their page instead."
        if problem is None and photos:
            try:
                added, more = await self.call(self.lib.enrol, name, photos)
            except ValueError as error:  # e.g. a name the library refuses
                problem, added, more = str(error), [], []
            refused += more
            if added:
                person = await self.call(self.lib.person_named, name)
                if person is not None:
                    return await self._person_page(request, person.id, added=added, refused=refused)
        return self.render(
            request,
            "new_person.html",
            400,
            title="Add a person",
            section="new",
            name=name,
            refused=refused,
            messages=[_msg("error", problem)] if problem else [],
        )

    async def _person(self, request: Request) -> Any:
        person = await self.call(self.lib.person, request.path_params["person_id"])
        if person is None:
            raise _NotFound
        return person

    async def _person_page(
        self, request: Request, person_id: int, status_code: int = 200, **extra: Any
    ) -> Response:
        person = await self.call(self.lib.person, person_id)
        if person is None:
            raise _NotFound
        photos = await self.call(self.lib.photos, person)
        return self.render(
            request,
            "person.html",
            status_code,
            title=person.name,
            section="people",
            person=person,
            photos=photos,
            **extra,
        )

    async def person(self, request: Request) -> Response:
        return await self._person_page(request, request.path_params["person_id"])

    async def add_photos(self, request: Request) -> Response:
        form = await self.form(request)
        person = await self._person(request)
        photos, refused = await self.read_photos(form)
        added: list[Any] = []
        if photos:
            added, more = await self.call(self.lib.enrol, person.name, photos)
            refused += more
        messages = [] if photos or refused else [_msg("error", "Choose at least one photo.")]
        status = 200 if added or not (refused or messages) else 400
        return await self._person_page(
            request, person.id, status, added=added, refused=refused, messages=messages
        )

    async def remove_photo(self, request: Request) -> Response:
        await self.form(request)
        person = await self._person(request)
        if not await self.call(self.lib.remove_photo, person, request.path_params["photo_id"]):
            raise _NotFound
        return RedirectResponse(_path(request, "person", person_id=person.id), status_code=303)

    async def rename_person(self, request: Request) -> Response:
        form = await self.form(request)
        person = await self._person(request)
        name = _clean_name(form.get("name"))
        problem = _name_problem(name)
        if problem is None:
            try:
                await self.call(self.lib.rename, person, name)
            except ValueError as error:
                problem = str(error)
        if problem:
            return await self._person_page(
                request, person.id, 400, messages=[_msg("error", problem)]
            )
        return RedirectResponse(_path(request, "person", person_id=person.id), status_code=303)

    async def confirm_delete(self, request: Request) -> Response:
        person = await self._person(request)
        photos = await self.call(self.lib.photos, person)
        return self.render(
            request,
            "confirm_delete.html",
            title=f"Delete {person.name}?",
            section="people",
            person=person,
            photos=photos,
        )

    async def delete_person(self, request: Request) -> Response:
        await self.form(request)
        person = await self._person(request)
        await self.call(self.lib.delete, person)
        return RedirectResponse(_path(request, "people"), status_code=303)

    async def photo_crop(self, request: Request) -> Response:
        png = await self.call(self.lib.crop_png, request.path_params["photo_id"])
        return _image(png, "image/png")

    async def photo_preview(self, request: Request) -> Response:
        jpeg = await self.call(self.lib.preview_jpeg, request.path_params["photo_id"])
        return _image(jpeg, "image/jpeg")

    # ---- visitors

    async def _faces_page(self, request, template, title, section, status_code, **values):
        """A page of kept faces, each with the forms to name it (everyone enrolled)."""
        everyone = await self.call(self.lib.people)
        return self.render(
            request, template, status_code, title=title, section=section, people=everyone,
            **values,
        )  # fmt: skip

    async def _visitors_page(self, request: Request, status_code: int = 200, **extra: Any):
        visits = await self.call(self.lib.visits)
        return await self._faces_page(
            request, "visitors.html", "Visitors", "visitors", status_code, visits=visits, **extra
        )

    async def visitors(self, request: Request) -> Response:
        return await self._visitors_page(request)

    async def _recognitions_page(self, request: Request, status_code: int = 200, **extra: Any):
        faces = await self.call(self.lib.recognitions)
        return await self._faces_page(
            request, "recognitions.html", "Recent recognitions", "recognitions", status_code,
            faces=faces, **extra,
        )  # fmt: skip

    async def recognitions(self, request: Request) -> Response:
        return await self._recognitions_page(request)

    async def visitor_crop(self, request: Request) -> Response:
        png = await self.call(self.lib.visitor_png, request.path_params["visitor_id"])
        return _image(png, "image/png")

    async def assign_visitor(self, request: Request) -> Response:
        form = await self.form(request)
        visitor_id = request.path_params["visitor_id"]
        if not await self.call(self.lib.has_visitor, visitor_id):
            raise _NotFound
        chosen = form.get("person_id") or ""
        name = _clean_name(form.get("new_name"))
        problem = None
        if chosen:
            person_id = _form_id(chosen)
            person = None if person_id is None else await self.call(self.lib.person, person_id)
            if person is None:
                problem = "That person is not in the library (deleted meanwhile?); pick another."
            else:
                name = person.name
        else:
            problem = _name_problem(name)
            if problem is None and await self.call(self.lib.name_taken, name):
                problem = f"{name} is already enrolled; pick them from the list."
        if problem is None:
            try:
                person_id = await self.call(self.lib.assign_visitor, visitor_id, name)
            except ValueError as error:
                problem = str(error)
            else:
                if _from_recognitions(form):
                    return RedirectResponse(_path(request, "recognitions"), status_code=303)
                url = _path(request, "person", person_id=person_id)
                return RedirectResponse(url, status_code=303)
        page = self._recognitions_page if _from_recognitions(form) else self._visitors_page
        return await page(request, 400, messages=[_msg("error", problem)])

    async def dismiss_visitor(self, request: Request) -> Response:
        form = await self.form(request)
        if not await self.call(self.lib.dismiss_visitor, request.path_params["visitor_id"]):
            raise _NotFound
        back = "recognitions" if _from_recognitions(form) else "visitors"
        return RedirectResponse(_path(request, back), status_code=303)

    # ---- greetings and kiosks

    def _day(self, request: Request) -> dt.date | None:
        """``?day=YYYY-MM-DD`` (default today); None when it is not a day the page can show
        (from :data:`FIRST_DAY` to :data:`LAST_DAY`: its local midnights and the links to the
        days before and after must exist)."""
        raw = request.query_params.get("day")
        if not raw:
            return dt.date.today()
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            return None
        return day if FIRST_DAY <= day <= LAST_DAY else None

    async def greetings(self, request: Request) -> Response:
        day = self._day(request)
        if day is None:
            return self.error(
                request,
                400,
                "Not a day",
                f"Give the day as YYYY-MM-DD, e.g. 2026-12-01, from {FIRST_DAY} to {LAST_DAY}.",
            )
        rows = await self.call(self.lib.day_events, day)
        by_kiosk: dict[str, list[Any]] = {}
        for row in rows:
            by_kiosk.setdefault(row.kiosk, []).append(row)
        return self.render(
            request,
            "greetings.html",
            title="Greetings",
            section="greetings",
            day=day,
            one_day=dt.timedelta(days=1),
            kiosks=sorted(by_kiosk.items()),
        )

    async def greetings_csv(self, request: Request) -> Response:
        day = self._day(request)
        if day is None:
            return Response(
                f"Give the day as YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}.",
                400,
                media_type="text/plain",
            )
        rows = await self.call(self.lib.day_events, day)
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        writer.writerow(["time", "kiosk", "kind", "names", "distances"])
        for row in rows:
            moment = _as_datetime(row.time)
            cells = [
                moment.isoformat(timespec="seconds") if moment else "",
                row.kiosk,
                row.kind,
                ";".join(row.names),
                ";".join(str(d) for d in row.distances),
            ]
            writer.writerow([_csv_cell(str(cell)) for cell in cells])
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="greetings-{day.isoformat()}.csv"'
            },
        )

    async def kiosks(self, request: Request) -> Response:
        rows = await self.call(self.lib.kiosks)
        retention = await self.call(self.lib.retention)
        return self.render(
            request, "kiosks.html", title="Kiosks", section="kiosks", kiosks=rows,
            retention=retention,
        )  # fmt: skip


class _Forbidden(Exception):
    """A POST without the session's CSRF token."""


class _NotFound(Exception):
    """A person, photo or visitor that is not (or no longer) in the library."""


def _from_recognitions(form: Any) -> bool:
    """Whether a visitor form was sent from the recent recognitions page (to go back there)."""
    return form.get("back") == "recognitions"


def _msg(kind: str, text: str) -> dict:
    return {"kind": kind, "text": text}


def _image(data: bytes | None, media_type: str) -> Response:
    if data is None:
        return Response("No such image.", status_code=404, media_type="text/plain")
    return Response(
        data,
        media_type=media_type,
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )


# A formula character (= + - @ tab CR) where a spreadsheet cell could start: at the start of
# the text, or after a separator it may split on (",", ";", a quote, a line end), spaces between.
_FORMULA_START = re.compile(r"""(^|[,;"\r\n])([ ]*)(?=[=+\-@\t\r])""")


def _csv_cell(text: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula, whichever separator they
    split on (``,``, or ``;`` as in many European locales) and whether they honour quotes:
    ``'`` goes before every formula character that could start a cell (``"Ann;=cmd"`` ->
    ``"Ann;'=cmd"``). The cells are also all quoted (``csv.QUOTE_ALL``)."""
    return _FORMULA_START.sub(r"\1\2'", text)


def _form_id(value: Any) -> int | None:
    """A row id typed in a form field (ASCII digits, at most :data:`MAX_ID`), else None."""
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def _clean_name(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _name_problem(name: str) -> str | None:
    """What is wrong with a typed name (:func:`greeter.names.display_name`'s rule), or None."""
    if not name:
        return "Type the person's name."
    try:
        display_name(name)
    except InvalidName as error:
        return str(error)
    return None


def create_app(
    store: Store,
    *,
    password_hash: str | None,
    password_file: str | Path | None = None,
    enroller_factory: Callable[[], Any] | None = None,
    throttle: auth.LoginThrottle | None = None,
    verifier: auth.Verifier | None = None,
    sessions: SessionStore | None = None,
    allowed_hosts: Sequence[str] = (),
    max_photo_bytes: int = MAX_PHOTO_BYTES,
    retention_every: float = RETENTION_EVERY,
) -> Starlette:
    """The ASGI app on ``store``.

    Args:
        store: the open face library store.
        password_hash: Argon2 hash (see :mod:`greeter.admin.auth`); None: no login (allowed
            only on a loopback address, which :func:`greeter.admin.cli.main` checks).
        password_file: the config file ``password_hash`` came from: when it changes, the
            hash is re-read and, if it is another, every session ends (None: not watched).
        enroller_factory: builds the enroller on the first upload (default: the greeter's
            default encoder, :func:`greeter.library.enroller.enroller_for`).
        throttle: the login attempt counter (default: 5 attempts from one address in 5
            minutes -> 60 s, 50 from all addresses in 5 minutes -> all wait).
        verifier: the Argon2 pool (default: 2 at a time, 2 waiting).
        sessions: the session store (default: 30 min idle, 12 h at most; in memory, so
            sessions end at restart).
        allowed_hosts: the ``Host`` names accepted besides ``localhost``, ``127.0.0.1`` and
            ``[::1]`` (``*.example.org`` for a domain's names); any other gets 400.
        max_photo_bytes: the largest photo accepted, in bytes.
        retention_every: seconds between the page's deletions of expired events and kept
            faces (the library's retention; at start too).
    """
    if enroller_factory is None:
        from greeter.library.enroller import enroller_for

        def enroller_factory():
            return enroller_for({})

    admin = AdminApp(
        Library(store, enroller_factory),
        password=auth.AdminPassword(password_hash, password_file),
        throttle=throttle,
        verifier=verifier,
        sessions=sessions,
        allowed_hosts=allowed_hosts,
        max_photo_bytes=max_photo_bytes,
        retention_every=retention_every,
    )
    app = admin.asgi
    app.state.admin = admin
    return app


if __name__ == "__main__":  # python -m greeter.admin.app: the same as greeter-admin
    from greeter.admin.cli import main

    raise SystemExit(main())
