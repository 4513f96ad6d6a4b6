"""The admin web page for whoever runs the doors (enrol, remove, review): :func:`create_app`.

Server-rendered HTML (Starlette + Jinja2, autoescaped) under uvicorn, on the same face library
store the kiosks read (:mod:`greeter.library`). Plain forms, no JavaScript. Every page but
the login needs the password (when one is set); every POST carries the session's CSRF token.

The enroller (face alignment + the FaceNet encoder) is built on the first upload, in a worker
thread: loading the model takes seconds, and the pages that only read never need it.

    greeter-admin --db sqlite:///greeter.db            # http://127.0.0.1:8080
    greeter-admin set-password --config greeter.json   # store a hashed password

(the command line is :mod:`greeter.admin.cli`). It is a greeter, not access control.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from greeter.admin import auth
from greeter.admin.middleware import BodyLimit, LoginRequired
from greeter.admin.queries import Library, Refusal
from greeter.library import Store, StoreUnavailable
from greeter.names import MAX_NAME_LENGTH, InvalidName, display_name

HERE = Path(__file__).resolve().parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # per uploaded photo
MAX_PHOTOS = 10  # per form
MAX_REQUEST_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES + 1024 * 1024  # whole request body
SESSION_COOKIE = "greeter_admin"
SESSION_MAX_AGE = 12 * 3600  # seconds


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


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/people"
    parts = urlsplit(target)
    return "/people" if parts.scheme or parts.netloc else target


def _path(request: Request, name: str, **params: Any) -> str:
    """The site-relative path of route ``name`` (redirects stay on whatever host was used)."""
    return str(request.app.url_path_for(name, **params))


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --------------------------------------------------------------------------- the application


class AdminApp:
    """The pages, bound to one :class:`Library` and one password hash (None: no login)."""

    def __init__(
        self,
        library: Library,
        *,
        password_hash: str | None,
        throttle: auth.LoginThrottle | None = None,
        secret_key: str | None = None,
        max_photo_bytes: int = MAX_PHOTO_BYTES,
    ) -> None:
        self.lib = library
        self.password_hash = password_hash
        self.throttle = throttle or auth.LoginThrottle()
        self.max_photo_bytes = max_photo_bytes
        self.templates = _templates()
        routes = [
            Route("/", self.home, name="home"),
            Route("/login", self.login, methods=["GET", "POST"], name="login"),
            Route("/logout", self.logout, methods=["POST"], name="logout"),
            Route("/people", self.people, name="people"),
            Route("/people", self.create_person, methods=["POST"], name="create_person"),
            Route("/people/new", self.new_person, name="new_person"),
            Route("/people/{person_id:int}", self.person, name="person"),
            Route(
                "/people/{person_id:int}/photos",
                self.add_photos,
                methods=["POST"],
                name="add_photos",
            ),
            Route(
                "/people/{person_id:int}/photos/{photo_id:int}/remove",
                self.remove_photo,
                methods=["POST"],
                name="remove_photo",
            ),
            Route(
                "/people/{person_id:int}/rename",
                self.rename_person,
                methods=["POST"],
                name="rename_person",
            ),
            Route(
                "/people/{person_id:int}/delete",
                self.confirm_delete,
                name="confirm_delete",
            ),
            Route(
                "/people/{person_id:int}/delete",
                self.delete_person,
                methods=["POST"],
                name="delete_person",
            ),
            Route("/photos/{photo_id:int}/crop.png", self.photo_crop, name="photo_crop"),
            Route(
                "/photos/{photo_id:int}/photo.jpg",
                self.photo_preview,
                name="photo_preview",
            ),
            Route("/visitors", self.visitors, name="visitors"),
            Route("/recognitions", self.recognitions, name="recognitions"),
            Route(
                "/visitors/{visitor_id:int}/crop.png",
                self.visitor_crop,
                name="visitor_crop",
            ),
            Route(
                "/visitors/{visitor_id:int}/assign",
                self.assign_visitor,
                methods=["POST"],
                name="assign_visitor",
            ),
            Route(
                "/visitors/{visitor_id:int}/dismiss",
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
            Middleware(
                BodyLimit,
                limit=MAX_REQUEST_BYTES,
                message=f"The upload is larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MB in "
                f"total; send at most {MAX_PHOTOS} photos of "
                f"{MAX_PHOTO_BYTES // (1024 * 1024)} MB each.",
            ),
            Middleware(
                SessionMiddleware,
                secret_key=secret_key or secrets.token_urlsafe(32),
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE,
                same_site="strict",
            ),
            Middleware(LoginRequired, enabled=password_hash is not None),
        ]
        handlers = {
            _Forbidden: self._forbidden,
            _NotFound: self._not_found,
            StoreUnavailable: self._unavailable,
        }
        self.asgi = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)

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
            logged_in=self.password_hash is None or bool(request.session.get("user")),
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
        if self.password_hash is None:
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
        password = form.get("password")
        ok = isinstance(password, str) and await self.call(
            auth.check_password, password, self.password_hash
        )
        if not ok:
            self.throttle.failed(client)
            wait = self.throttle.retry_after(client)
            if wait:
                return self._locked(request, wait, next_page)
            return self.render(
                request,
                "login.html",
                401,
                title="Log in",
                next=next_page,
                messages=[_msg("error", "Wrong password.")],
            )
        self.throttle.succeeded(client)
        request.session.clear()  # a fresh session (and CSRF token) after login
        request.session["user"] = "admin"
        return RedirectResponse(next_page, status_code=303)

    def _locked(self, request: Request, wait: float, next_page: str) -> Response:
        response = self.render(
            request,
            "login.html",
            429,
            title="Log in",
            next=next_page,
            messages=[
                _msg(
                    "error",
                    f"Too many wrong passwords. Try again in {int(wait) + 1} seconds.",
                )
            ],
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response

    async def logout(self, request: Request) -> Response:
        await self.form(request)
        request.session.clear()
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

    async def _visitors_page(self, request: Request, status_code: int = 200, **extra: Any):
        visits = await self.call(self.lib.visits)
        everyone = await self.call(self.lib.people)
        return self.render(
            request,
            "visitors.html",
            status_code,
            title="Visitors",
            section="visitors",
            visits=visits,
            people=everyone,
            **extra,
        )

    async def visitors(self, request: Request) -> Response:
        return await self._visitors_page(request)

    async def _recognitions_page(self, request: Request, status_code: int = 200, **extra: Any):
        faces = await self.call(self.lib.recognitions)
        everyone = await self.call(self.lib.people)
        return self.render(
            request,
            "recognitions.html",
            status_code,
            title="Recent recognitions",
            section="recognitions",
            faces=faces,
            people=everyone,
            **extra,
        )

    async def recognitions(self, request: Request) -> Response:
        return await self._recognitions_page(request)

    async def visitor_crop(self, request: Request) -> Response:
        png = await self.call(self.lib.visitor_png, request.path_params["visitor_id"])
        return _image(png, "image/png")

    async def assign_visitor(self, request: Request) -> Response:
        form = await self.form(request)
        visitor_id = request.path_params["visitor_id"]
        chosen = form.get("person_id") or ""
        name = _clean_name(form.get("new_name"))
        problem = None
        if chosen.isdigit():
            person = await self.call(self.lib.person, int(chosen))
            if person is None:
                problem = "That person was deleted meanwhile; pick another."
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
        await self.call(self.lib.dismiss_visitor, request.path_params["visitor_id"])
        back = "recognitions" if _from_recognitions(form) else "visitors"
        return RedirectResponse(_path(request, back), status_code=303)

    # ---- greetings and kiosks

    def _day(self, request: Request) -> dt.date | None:
        raw = request.query_params.get("day")
        if not raw:
            return dt.date.today()
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            return None

    async def greetings(self, request: Request) -> Response:
        day = self._day(request)
        if day is None:
            return self.error(
                request,
                400,
                "Not a day",
                "Give the day as YYYY-MM-DD, e.g. 2026-12-01.",
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
            return Response("Give the day as YYYY-MM-DD.", 400, media_type="text/plain")
        rows = await self.call(self.lib.day_events, day)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time", "kiosk", "kind", "names", "distances"])
        for row in rows:
            moment = _as_datetime(row.time)
            writer.writerow(
                [
                    moment.isoformat(timespec="seconds") if moment else "",
                    _csv_cell(row.kiosk),
                    row.kind,
                    _csv_cell(";".join(row.names)),
                    ";".join(str(d) for d in row.distances),
                ]
            )
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="greetings-{day.isoformat()}.csv"'
            },
        )

    async def kiosks(self, request: Request) -> Response:
        rows = await self.call(self.lib.kiosks)
        return self.render(request, "kiosks.html", title="Kiosks", section="kiosks", kiosks=rows)


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


def _csv_cell(text: str) -> str:
    """Keep spreadsheet programs from running a name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


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
    enroller_factory: Callable[[], Any] | None = None,
    throttle: auth.LoginThrottle | None = None,
    secret_key: str | None = None,
    max_photo_bytes: int = MAX_PHOTO_BYTES,
) -> Starlette:
    """The ASGI app on ``store``.

    Args:
        store: the open face library store.
        password_hash: Argon2 hash (see :mod:`greeter.admin.auth`); None: no login (allowed
            only on a loopback address, which :func:`greeter.admin.cli.main` checks).
        enroller_factory: builds the enroller on the first upload (default: the greeter's
            default encoder, :func:`greeter.library.enroller.enroller_for`).
        throttle: the failed-login counter (default: 5 failures in 5 minutes -> 60 s).
        secret_key: signs the session cookie (default: random, so sessions end at restart).
        max_photo_bytes: the largest photo accepted, in bytes.
    """
    if enroller_factory is None:
        from greeter.library.enroller import enroller_for

        def enroller_factory():
            return enroller_for({})

    admin = AdminApp(
        Library(store, enroller_factory),
        password_hash=password_hash,
        throttle=throttle,
        secret_key=secret_key,
        max_photo_bytes=max_photo_bytes,
    )
    app = admin.asgi
    app.state.admin = admin
    return app


if __name__ == "__main__":  # python -m greeter.admin.app: the same as greeter-admin
    from greeter.admin.cli import main

    raise SystemExit(main())
