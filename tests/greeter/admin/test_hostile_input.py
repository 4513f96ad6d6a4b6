"""Hostile input to the admin page (issue 19, item 10): every route that answered 500 on an
out-of-range id, a bad day or a non-numeric form field answers 4xx, and the CSV export's
formula guard holds whether a spreadsheet splits on ``,`` or on ``;``. Over Starlette's
TestClient (``raise_server_exceptions=False``: a 500 is seen as the browser sees it) on a real
SQLite store."""

import csv
import datetime as dt
import io
import re

import pytest

from greeter.admin import app as admin_app
from greeter.library.store import event_record

HUGE_IDS = ["9" * 30, str(2**63), "9" * 19, "0" * 25 + "1", "9" * 5000]
GETS = [
    "/people/{}",
    "/people/{}/delete",
    "/photos/{}/crop.png",
    "/photos/{}/photo.jpg",
    "/visitors/{}/crop.png",
]
POSTS = [
    "/people/{}/photos",
    "/people/{}/photos/1/remove",
    "/people/1/photos/{}/remove",
    "/people/{}/rename",
    "/people/{}/delete",
    "/visitors/{}/assign",
    "/visitors/{}/dismiss",
]


@pytest.fixture
def store(tmp_path):
    from greeter.library.store import Store

    with Store(f"sqlite:///{tmp_path / 'library.db'}") as opened:
        yield opened


def _no_enroller():
    raise AssertionError("these tests never enrol")


@pytest.fixture
def web(store):
    """The password-less page (loopback), with a session and its CSRF token."""
    from starlette.testclient import TestClient

    app = admin_app.create_app(store, password_hash=None, enroller_factory=_no_enroller)
    with TestClient(
        app, base_url="http://127.0.0.1", follow_redirects=False, raise_server_exceptions=False
    ) as client:
        page = client.get("/people/new").text
        client.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        yield client


def _is_4xx(response) -> bool:
    return 400 <= response.status_code < 500


@pytest.mark.parametrize("route", GETS)
def test_get_with_an_out_of_range_id_is_4xx(web, store, route):
    store.add_person("Ana")  # person 1 exists
    for number in HUGE_IDS:
        response = web.get(route.format(number))
        assert _is_4xx(response), (route, number[:25], response.status_code)


@pytest.mark.parametrize("route", POSTS)
def test_post_with_an_out_of_range_id_is_4xx(web, store, route):
    store.add_person("Ana")
    for number in HUGE_IDS:
        data = {"csrf_token": web.csrf, "name": "Ben", "new_name": "Ben"}
        response = web.post(route.format(number), data=data)
        assert _is_4xx(response), (route, number[:25], response.status_code)
    assert [p.name for p in store.people()] == ["Ana"]


@pytest.mark.parametrize("path", ["/greetings", "/greetings.csv"])
@pytest.mark.parametrize(
    "day",
    ["9999-12-31", "0001-01-01", "0001-01-02", "1969-12-31", "99999-01-01", "2026-02-30",
     "yesterday", "2026-13-01", "+2026-01-01", "٢٠٢٦-٠١-٠١"],
)  # fmt: skip
def test_a_day_out_of_range_is_400(web, path, day):
    response = web.get(path, params={"day": day})
    assert response.status_code == 400, (path, day, response.status_code)
    assert "YYYY-MM-DD" in response.text


@pytest.mark.parametrize("day", ["1970-01-01", "9998-12-31", "2026-06-30"])
def test_the_first_and_last_days_are_shown(web, day):
    assert web.get("/greetings", params={"day": day}).status_code == 200
    assert web.get("/greetings.csv", params={"day": day}).status_code == 200


@pytest.mark.parametrize("chosen", ["²", "١", "9" * 30, str(2**63), "-1", "0", "1.0", "0x1"])
def test_assign_with_a_bad_person_field_is_400(web, store, chosen):
    visitor = store.keep_visitor("lobby", b"\x89PNG", None, "v1", days=1)
    response = web.post(
        f"/visitors/{visitor}/assign", data={"csrf_token": web.csrf, "person_id": chosen}
    )
    assert response.status_code == 400 and "pick another" in response.text
    assert len(store.visitors()) == 1


def test_form_fields_sent_as_files_are_4xx(web, store):
    visitor = store.keep_visitor("lobby", b"\x89PNG", None, "v1", days=1)
    store.add_person("Ana")
    (ana,) = store.people()
    as_file = ("x.txt", b"1", "text/plain")
    for path, field in [
        (f"/visitors/{visitor}/assign", "person_id"),
        (f"/visitors/{visitor}/assign", "new_name"),
        ("/people", "name"),
        (f"/people/{ana.id}/rename", "name"),
    ]:
        response = web.post(path, data={"csrf_token": web.csrf}, files={field: as_file})
        assert _is_4xx(response), (path, field, response.status_code)
    response = web.post("/people", data={"csrf_token": web.csrf, "name": "Ben", "photos": "x"})
    assert _is_4xx(response)


def test_login_with_a_file_as_next_is_not_500(store):
    from argon2 import PasswordHasher
    from starlette.testclient import TestClient

    encoded = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("a password")
    app = admin_app.create_app(store, password_hash=encoded, enroller_factory=_no_enroller)
    with TestClient(
        app, base_url="http://127.0.0.1", follow_redirects=False, raise_server_exceptions=False
    ) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]
        response = client.post(
            "/login",
            data={"csrf_token": token, "password": "a password"},
            files={"next": ("n.txt", b"//evil.example", "text/plain")},
        )
        assert response.status_code == 303 and response.headers["location"] == "/people"


# ---- the CSV export


HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "Ann;=cmd|' /C calc'!A0",
    "Ann; =1+1",
    "Ann;\t=1+1",
    "Ann,=1+1",
    'Ann;"=1+1"',
    'Ann,"=1+1',
    "Ann\n=1+1",
    "Ann;+1;-1;@x",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(text: str, separator: str):
    """Every cell a spreadsheet could make of the file: split on ``separator`` honouring the
    quotes (where Python's reader can), and split naively (quotes ignored, at every line end),
    with and without the spaces and quotes around it."""
    try:
        cells = [cell for row in csv.reader(io.StringIO(text), delimiter=separator) for cell in row]
    except csv.Error:  # ";" splits inside ","-quoted fields: the naive split covers those
        cells = []
    yield from cells
    for line in re.split(r"\r\n|\n|\r", text):
        for cell in line.split(separator):
            yield cell
            yield cell.strip().strip('"')  # a program that trims spaces and quotes


@pytest.mark.parametrize("separator", [",", ";"])
def test_the_csv_formula_guard_holds_for_both_separators(web, store, separator):
    noon = dt.datetime.combine(dt.date.today(), dt.time(12)).astimezone()
    records = [event_record("lobby", "greeting", noon, {"names": [n], "distances": [0.4]})
               for n in HOSTILE]  # fmt: skip
    records.append(event_record("=evil;kiosk", "greeting", noon, {"names": ["A", "=B"]}))
    records.append(event_record("side;-door", "unknown", noon, {"distances": [0.9, 1.1]}))
    store.write_events(records)
    download = web.get("/greetings.csv")
    assert download.status_code == 200
    text = download.text
    dangerous = [c for c in _cells(text, separator) if c.startswith(FORMULA_START)]
    assert dangerous == [], dangerous
    rows = list(csv.DictReader(io.StringIO(text)))  # read with ",", the names are all there
    assert len(rows) == len(HOSTILE) + 2
    shown = {r["names"] for r in rows}
    assert "'=cmd|' /C calc'!A0" in shown and "Ann;'=cmd|' /C calc'!A0" in shown
    assert "A;'=B" in shown and "'=evil;kiosk" in {r["kiosk"] for r in rows}
    assert text.splitlines()[0] == '"time","kiosk","kind","names","distances"'
