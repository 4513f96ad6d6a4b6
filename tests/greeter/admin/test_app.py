"""The admin web app over HTTP (Starlette's TestClient) on a real SQLite store, with the real
enroller and real photos: every page, every refusal."""

import csv
import datetime as dt
import io
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from jinja2 import Environment, FileSystemLoader, select_autoescape

from greeter.admin import app as admin_app
from greeter.admin.auth import LoginThrottle
from greeter.library.enroller import png_bytes
from greeter.library.store import event_record
from tests.helpers.admin import PASSWORD, csrf_of, log_in, make_client, no_enroller
from tests.helpers.browser import chromium
from tests.helpers.processes import run_python
from tests.helpers.waiting import wait_for

PAGES = [
    "/people",
    "/people/new",
    "/visitors",
    "/greetings",
    "/kiosks",
    "/greetings.csv",
]


def _add(client, name, *files, status=None):
    response = client.post(
        "/people",
        data={"name": name, "csrf_token": client.csrf},
        files=[("photos", (fname, data, "image/png")) for fname, data in files],
    )
    if status is not None:
        assert response.status_code == status, response.text
    return response


def _person_id(response):
    match = re.search(r'action="/people/(\d+)/rename"', response.text)
    assert match, response.text
    return int(match.group(1))


# ---- login, session, CSRF


def test_every_page_redirects_to_login_without_a_session(store, enroller, password_hash):
    with make_client(store, enroller, password_hash) as client:
        for page in [*PAGES, "/people/1", "/photos/1/crop.png", "/"]:
            response = client.get(page)
            assert response.status_code == 303, page
            assert response.headers["location"].startswith("/login?next="), page
        assert client.post("/people", data={"name": "x"}).status_code == 403
        assert client.get("/login").status_code == 200
        assert client.get("/static/admin.css").status_code == 200


def test_login_cookie_is_httponly_and_samesite_strict(store, enroller, password_hash):
    with make_client(store, enroller, password_hash) as client:
        page = client.get("/login?next=/kiosks")
        response = client.post(
            "/login",
            data={
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
                "next": "/kiosks",
            },
        )
        assert response.status_code == 303 and response.headers["location"] == "/kiosks"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/kiosks").status_code == 200


def test_login_never_redirects_off_site(store, enroller, password_hash):
    with make_client(store, enroller, password_hash) as client:
        token = csrf_of(client.get("/login").text)
        response = client.post(
            "/login",
            data={
                "password": PASSWORD,
                "csrf_token": token,
                "next": "//evil.example/x",
            },
        )
        assert response.headers["location"] == "/people"


def test_wrong_password_then_lockout_with_429(store, enroller, password_hash):
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window=300, lockout=60, clock=lambda: now[0])
    with make_client(store, enroller, password_hash, throttle=throttle) as client:
        token = csrf_of(client.get("/login").text)
        for _attempt in range(4):
            response = client.post("/login", data={"password": "nope", "csrf_token": token})
            assert response.status_code == 401 and "Wrong password" in response.text
        response = client.post("/login", data={"password": "nope", "csrf_token": token})
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert "Too many wrong passwords" in response.text
        # Locked out: even the right password is refused until the lock-out ends.
        right = {"password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=right).status_code == 429
        now[0] += 61
        assert client.post("/login", data=right).status_code == 303


def test_login_without_csrf_token_is_403(store, enroller, password_hash):
    with make_client(store, enroller, password_hash) as client:
        client.get("/login")
        response = client.post("/login", data={"password": PASSWORD, "csrf_token": "forged"})
        assert response.status_code == 403
        assert client.get("/people").status_code == 303  # still logged out


def test_every_post_checks_the_csrf_token(client, store, enroller, photo_files):
    pid = _person_id(_add(client, "Lin", ("lin.png", photo_files["lin"]), status=200))
    photo_id = store.photos("Lin")[0].id
    visitor = store.keep_visitor(
        "lobby", png_bytes(np.zeros((96, 96, 3), np.uint8)), None, "v1", days=1
    )
    posts = [
        "/people",
        f"/people/{pid}/photos",
        f"/people/{pid}/photos/{photo_id}/remove",
        f"/people/{pid}/rename",
        f"/people/{pid}/delete",
        f"/visitors/{visitor}/assign",
        f"/visitors/{visitor}/dismiss",
        "/logout",
    ]
    routes = {
        r.path.replace("{person_id:rowid}", str(pid))
        .replace("{photo_id:rowid}", str(photo_id))
        .replace("{visitor_id:rowid}", str(visitor))
        for r in client.app.routes
        if "POST" in (getattr(r, "methods", None) or ()) and r.path != "/login"
    }
    assert routes == set(posts)  # this test covers every POST route there is
    for path in posts:
        for token in (None, "wrong", client.csrf[:-2]):
            data = {"name": "Mallory", "new_name": "Mallory", "csrf_token": token}
            data = {k: v for k, v in data.items() if v is not None}
            assert client.post(path, data=data).status_code == 403, path
    assert [p.name for p in store.people()] == ["Lin"]
    assert len(store.photos()) == 1 and len(store.visitors()) == 1
    assert client.get("/people").status_code == 200  # still logged in


def test_logout_ends_the_session(client):
    assert client.post("/logout", data={"csrf_token": client.csrf}).status_code == 303
    assert client.get("/people").status_code == 303


def test_no_password_on_loopback_means_no_login(store, enroller):
    with make_client(store, enroller, None) as client:
        assert client.get("/people").status_code == 200
        assert client.get("/login").status_code == 303
        assert client.post("/people", data={"name": "x"}).status_code == 403  # CSRF still on


def test_the_enroller_is_built_on_the_first_upload_only(
    store, enroller, password_hash, photo_files
):
    from starlette.testclient import TestClient

    built = []

    def factory():
        built.append(1)
        return enroller

    app = admin_app.create_app(store, password_hash=password_hash, enroller_factory=factory)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        client.csrf = log_in(client)
        for page in PAGES:
            assert client.get(page).status_code == 200, page
        assert built == []
        _add(client, "Lin", ("lin.png", photo_files["lin"]), status=200)
        _add(client, "Alex", ("alex.png", photo_files["alex"]), status=200)
        assert built == [1]


# ---- people


def test_add_person_shows_the_aligned_crop_and_refuses_bad_photos(client, store, photo_files):
    too_big = b"\x89PNG" + bytes(admin_app.MAX_PHOTO_BYTES)
    response = _add(
        client,
        "Lin-Manuel Miranda",
        ("lin.png", photo_files["lin"]),
        ("empty-wall.png", photo_files["noface"]),
        ("two-people.jpg", photo_files["two"]),
        ("shopping.txt", photo_files["text"]),
        ("huge.png", too_big),
        status=200,
    )
    text = response.text
    assert "Stored 1 photo" in text
    photo_id = store.photos("Lin-Manuel Miranda")[0].id
    assert f"/photos/{photo_id}/crop.png" in text
    assert "4 photos refused" in text
    for name, reason in [
        ("empty-wall.png", "face"),
        ("two-people.jpg", "2 faces"),
        ("shopping.txt", "not a readable image"),
        ("huge.png", "larger than 10 MB"),
    ]:
        line = re.search(rf"<strong>{re.escape(name)}</strong>: ([^<]*)</li>", text)
        assert line, name
        assert reason in line.group(1), (name, line.group(1))
        assert "/tmp" not in line.group(1) and "upload-" not in line.group(1)
    assert len(store.photos()) == 1  # nothing stored for the refused ones
    crop = client.get(f"/photos/{photo_id}/crop.png")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/png"
    assert crop.content.startswith(b"\x89PNG")
    preview = client.get(f"/photos/{photo_id}/photo.jpg")
    assert preview.status_code == 200 and preview.content[:2] == b"\xff\xd8"


@pytest.mark.parametrize("bad", ["noface", "two", "text"])
def test_a_person_with_only_bad_photos_is_not_created(client, store, photo_files, bad):
    response = _add(client, "Nobody", (f"{bad}.png", photo_files[bad]), status=400)
    assert f"{bad}.png" in response.text and "nothing was stored" in response.text
    assert store.people() == [] and store.photos() == []


def test_too_large_is_refused_with_a_clear_message(client, store):
    response = _add(client, "Big", ("big.jpg", bytes(admin_app.MAX_PHOTO_BYTES + 1)), status=400)
    assert "big.jpg" in response.text and "larger than 10 MB" in response.text
    assert store.people() == []


def test_a_body_over_the_request_limit_is_413(client, store, monkeypatch):
    response = client.post(
        "/people",
        content=b"x" * 10,
        headers={
            "content-type": "multipart/form-data; boundary=zz",
            "content-length": str(admin_app.MAX_REQUEST_BYTES + 1),
        },
    )
    assert response.status_code == 413 and "MB" in response.text


def test_add_person_needs_a_name_and_a_photo(client, store, photo_files):
    assert "Type the person" in _add(client, " ", ("lin.png", photo_files["lin"]), status=400).text
    assert "at least one photo" in _add(client, "Lin", status=400).text
    _add(client, "Lin", ("lin.png", photo_files["lin"]), status=200)
    taken = _add(client, "Lin", ("alex.png", photo_files["alex"]), status=400)
    assert "already enrolled" in taken.text
    assert len(store.photos()) == 1


def test_names_are_escaped_everywhere(client, store, photo_files):
    name = '<img src=x onerror=alert(1)> & "Co"'
    response = _add(client, name, ("<svg onload=x>.png", photo_files["lin"]), status=200)
    assert "<img src=x onerror" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &#34;Co&#34;" in response.text
    assert "<svg onload=x>" not in response.text and "&lt;svg onload=x&gt;" in response.text
    store.write_event("<b>door</b>", "greeting", names=[name], distances=[0.4])
    for page in ["/people", "/visitors", "/greetings", f"/people/{_person_id(response)}"]:
        text = client.get(page).text
        assert "<img src=x onerror" not in text and "<b>door</b>" not in text, page
    assert "&lt;b&gt;door&lt;/b&gt;" in client.get("/greetings").text


def test_people_grid_and_search(client, store, photo_files):
    _add(client, "Lin-Manuel Miranda", ("lin.png", photo_files["lin"]), status=200)
    _add(client, "Alex Lacamoire", ("alex.png", photo_files["alex"]), status=200)
    store.write_event("lobby", "greeting", names=["Alex Lacamoire"], distances=[0.41])
    page = client.get("/people").text
    assert "Lin-Manuel Miranda" in page and "Alex Lacamoire" in page
    assert page.count("/crop.png") == 2 and "1 photo<" in page
    assert "Last greeted: never" in page
    assert re.search(r"Last greeted: \d{4}-\d\d-\d\d \d\d:\d\d", page)
    found = client.get("/people", params={"q": "lacam"}).text
    assert "Alex Lacamoire" in found and "Lin-Manuel" not in found
    assert "Nobody matches" in client.get("/people", params={"q": "zzz"}).text


def test_person_page_add_remove_rename_delete(client, store, photo_files):
    pid = _person_id(_add(client, "Lin", ("lin.png", photo_files["lin"]), status=200))
    response = client.post(
        f"/people/{pid}/photos",
        data={"csrf_token": client.csrf},
        files=[
            ("photos", ("second.png", photo_files["lin"][:-1] + b"\x00", "image/png")),
            ("photos", ("wall.png", photo_files["noface"], "image/png")),
        ],
    )
    assert response.status_code == 200 and "Stored 1 photo" in response.text
    assert "wall.png" in response.text
    first, second = [p.id for p in store.photos("Lin")]
    remove = client.post(f"/people/{pid}/photos/{first}/remove", data={"csrf_token": client.csrf})
    assert remove.status_code == 303
    assert [p.id for p in store.photos("Lin")] == [second]
    rename = client.post(
        f"/people/{pid}/rename", data={"name": "Lin-Manuel", "csrf_token": client.csrf}
    )
    assert rename.status_code == 303 and [p.name for p in store.people()] == ["Lin-Manuel"]
    _add(client, "Alex", ("alex.png", photo_files["alex"]), status=200)
    clash = client.post(f"/people/{pid}/rename", data={"name": "Alex", "csrf_token": client.csrf})
    assert clash.status_code == 400 and "already exists" in clash.text
    confirm = client.get(f"/people/{pid}/delete")
    assert confirm.status_code == 200 and "Yes, delete Lin-Manuel" in confirm.text
    assert len(store.people()) == 2  # the confirmation page deletes nothing
    gone = client.post(f"/people/{pid}/delete", data={"csrf_token": client.csrf})
    assert gone.status_code == 303 and [p.name for p in store.people()] == ["Alex"]
    assert client.get(f"/people/{pid}").status_code == 404


def test_unknown_ids_are_404(client):
    assert client.get("/people/999").status_code == 404
    assert client.get("/photos/999/crop.png").status_code == 404
    assert client.get("/visitors/999/crop.png").status_code == 404
    post = client.post("/people/999/delete", data={"csrf_token": client.csrf})
    assert post.status_code == 404


# ---- visitors


def _visitor(store, enroller, photo, kiosk="lobby", visit="v1", minutes_ago=0):
    import cv2

    image = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
    crop, encoding = enroller.enroll(image, "visitor")
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    return store.keep_visitor(
        kiosk, png_bytes(crop), encoding, visit, days=7, model_key=enroller.model_key, time=when
    )


def test_visitors_assign_to_new_and_existing_person_and_dismiss(
    client, store, enroller, photo_files
):
    older = _visitor(store, enroller, photo_files["alex"], visit="a", minutes_ago=5)
    newer = _visitor(store, enroller, photo_files["lin"], kiosk="side door", visit="b")
    third = _visitor(store, enroller, photo_files["lin"], visit="c", minutes_ago=9)
    page = client.get("/visitors").text
    assert page.index(f"/visitors/{newer}/crop.png") < page.index(f"/visitors/{older}/crop.png")
    assert "side door" in page and 'label for="person-' in page
    assert client.get(f"/visitors/{newer}/crop.png").content.startswith(b"\x89PNG")
    counter = store.change_counter()
    response = client.post(
        f"/visitors/{newer}/assign",
        data={"person_id": "", "new_name": "Lin", "csrf_token": client.csrf},
    )
    assert response.status_code == 303
    assert store.change_counter() > counter  # kiosks pick it up through the counter
    (lin,) = store.people()
    assert lin.name == "Lin" and lin.photos == 1
    assert response.headers["location"].endswith(f"/people/{lin.id}")
    assert len(store.load_encodings(enroller.model_key)[0]) == 1
    again = client.post(
        f"/visitors/{third}/assign",
        data={"person_id": str(lin.id), "new_name": "", "csrf_token": client.csrf},
    )
    assert again.status_code == 303 and store.people()[0].photos == 2
    nameless = client.post(
        f"/visitors/{older}/assign", data={"person_id": "", "csrf_token": client.csrf}
    )
    assert nameless.status_code == 400 and "Type the person" in nameless.text
    dismiss = client.post(f"/visitors/{older}/dismiss", data={"csrf_token": client.csrf})
    assert dismiss.status_code == 303 and store.visitors() == []
    assert "No visitor faces are kept" in client.get("/visitors").text


def test_recent_recognitions_near_misses_first_then_assigned_and_dismissed(
    client, store, enroller, photo_files
):
    """Known people's visits, as a kiosk keeps them: a near miss (not greeted) and two greetings,
    one won by a hair over the runner-up. The page lists the near miss first, then the closer
    call; adding a face to the right person makes it one of their photos (with the kiosk's
    encoding and its loose image as the original); strangers stay on the Visitors page."""
    import cv2

    lin = client.post(
        "/people",
        data={"name": "Lin", "csrf_token": client.csrf},
        files=[("photos", ("lin.png", photo_files["lin"], "image/png"))],
    )
    assert lin.status_code == 200
    image = cv2.imdecode(np.frombuffer(photo_files["lin"], np.uint8), cv2.IMREAD_COLOR)
    crop, encoding = enroller.enroll(image, "kiosk camera")
    loose = cv2.imencode(".jpg", image)[1].tobytes()

    def keep(visit, verdict, distance, runner_up_distance, minutes_ago):
        when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
        return store.keep_visitor(
            "lobby", png_bytes(crop), encoding, visit, days=7, model_key=enroller.model_key,
            time=when, image=loose, verdict=verdict, name="Lin", distance=distance,
            runner_up="Alex", runner_up_distance=runner_up_distance, threshold=0.31,
        )  # fmt: skip

    clear = keep("a", "known", 0.20, 0.60, 1)
    close = keep("b", "known", 0.29, 0.33, 2)
    near = keep("c", "unsure", 0.36, 0.50, 3)
    stranger = _visitor(store, enroller, photo_files["alex"], visit="d")
    page = client.get("/recognitions").text
    order = [page.index(f"/visitors/{i}/crop.png") for i in (near, close, clear)]
    assert order == sorted(order)  # the near miss, then the closest call, then the clear one
    assert f"/visitors/{stranger}/crop.png" not in page
    assert "Not greeted" in page and "Greeted as Lin" in page and "next: Alex 0.33" in page
    assert f"/visitors/{stranger}/crop.png" in client.get("/visitors").text
    (person,) = store.people()
    photos_before = person.photos
    added = client.post(
        f"/visitors/{near}/assign",
        data={"person_id": str(person.id), "back": "recognitions", "csrf_token": client.csrf},
    )
    assert added.status_code == 303 and added.headers["location"].endswith("/recognitions")
    assert store.people()[0].photos == photos_before + 1
    kept = store.photos("Lin")[-1]
    assert kept.source == "visitor" and store.photo_original(kept.id) == loose
    _, vectors, ids = store.load_encodings(enroller.model_key)
    np.testing.assert_allclose(vectors[ids.index(kept.id)], encoding, atol=1e-6)
    gone = client.post(
        f"/visitors/{clear}/dismiss", data={"back": "recognitions", "csrf_token": client.csrf}
    )
    assert gone.status_code == 303 and gone.headers["location"].endswith("/recognitions")
    remaining = [v.id for v in store.visitors(verdicts=["known", "unsure"])]
    assert remaining == [close]


# ---- greetings and kiosks


def _event(store, kiosk, kind, when, **fields):
    from greeter.library.store import event_record

    store.write_events([event_record(kiosk, kind, when, fields)])


def test_greetings_by_day_and_kiosk_with_csv(client, store):
    today = dt.date.today()
    noon = dt.datetime.combine(today, dt.time(12, 0)).astimezone()
    _event(store, "lobby", "greeting", noon, names=["Ann"], distances=[0.41])
    _event(
        store,
        "lobby",
        "unknown",
        noon + dt.timedelta(minutes=1),
        faces=1,
        distances=[0.9],
    )
    _event(store, "side", "greeting", noon, names=["=cmd|' /C calc'!A0"], distances=[0.3])
    _event(store, "side", "start", noon)  # not a greeting: not shown
    _event(store, "lobby", "greeting", noon - dt.timedelta(days=1), names=["Bob"])
    page = client.get("/greetings").text
    assert "Ann" in page and "0.41" in page and "unknown" in page and "12:00:00" in page
    assert "Bob" not in page and "start" not in page
    assert page.index("lobby") < page.index("side")
    yesterday = client.get("/greetings", params={"day": (today - dt.timedelta(days=1)).isoformat()})
    assert "Bob" in yesterday.text and "Ann" not in yesterday.text
    empty = client.get("/greetings", params={"day": "2001-01-01"})
    assert "No greetings" in empty.text
    assert client.get("/greetings", params={"day": "yesterday"}).status_code == 400
    download = client.get("/greetings.csv", params={"day": today.isoformat()})
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["kiosk"], r["kind"]) for r in rows] == [
        ("lobby", "greeting"),
        ("side", "greeting"),
        ("lobby", "unknown"),
    ] or sorted((r["kiosk"], r["kind"]) for r in rows) == [
        ("lobby", "greeting"),
        ("lobby", "unknown"),
        ("side", "greeting"),
    ]
    assert {r["names"] for r in rows} >= {
        "Ann",
        "'=cmd|' /C calc'!A0",
    }  # no formula injection


def test_kiosks_page(client, store):
    assert "No kiosk has reported" in client.get("/kiosks").text
    store.heartbeat("lobby", fps=14.8, threshold=0.52, weights="nn4.small2.v1.h5", runtime="litert")
    page = client.get("/kiosks").text
    for value in ("lobby", "14.80", "0.52", "nn4.small2.v1.h5", "litert"):
        assert value in page


def test_every_page_has_the_footer_and_labels(client, store, photo_files):
    pid = _person_id(_add(client, "Lin", ("lin.png", photo_files["lin"]), status=200))
    for page in [*PAGES[:-1], f"/people/{pid}", f"/people/{pid}/delete", "/login"]:
        text = client.get(page).text
        assert "A greeter, not access control" in text, page
        assert 'name="viewport"' in text
        for input_id in re.findall(r'<(?:input|select)[^>]*\sid="([^"]+)"', text):
            assert f'for="{input_id}"' in text, (page, input_id)
        visible = re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*>', text)
        assert all(' id="' in tag for tag in visible), (page, visible)


def test_importing_the_app_loads_no_model():
    code = "import sys, greeter.admin.app; print('tensorflow' in sys.modules)"
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ---- PostgreSQL


@pytest.mark.slow
def test_smoke_on_postgresql(postgres_url, enroller, password_hash, photo_files):
    from greeter.library.store import Store

    with (
        Store(postgres_url) as store,
        make_client(store, enroller, password_hash) as client,
    ):
        client.csrf = log_in(client)
        pid = _person_id(_add(client, "Lin", ("lin.png", photo_files["lin"]), status=200))
        store.write_event("lobby", "greeting", names=["Lin"], distances=[0.4])
        assert "Lin" in client.get("/greetings").text
        assert "Lin" in client.get("/people").text
        assert (
            client.post(f"/people/{pid}/delete", data={"csrf_token": client.csrf}).status_code
            == 303
        )
        assert store.people() == []


def test_repo_has_no_screenshots_outside_docs():
    assert not list(Path(__file__).resolve().parents[2].rglob("*.png"))  # none in tests/


def test_a_streamed_body_over_the_limit_is_413(store, enroller, password_hash, monkeypatch):
    monkeypatch.setattr(admin_app, "MAX_REQUEST_BYTES", 4096)
    with make_client(store, enroller, password_hash) as client:
        client.csrf = log_in(client)

        def chunks():
            yield b'--zz\r\nContent-Disposition: form-data; name="photos"; filename="a.png"\r\n\r\n'
            for _ in range(10):
                yield bytes(1024)

        response = client.post(
            "/people",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
        assert response.status_code == 413
        assert store.people() == []


# ---- the upload form: no selfie camera, long file names that fit their cards

ADMIN = Path(__file__).resolve().parents[3] / "greeter" / "admin"
TEMPLATES = ADMIN / "templates"
LONG = "IMG_20260509_140307_HDR_portrait_mode_front_door_lobby_second_try_final" + "_x" * 20


def test_upload_inputs_ask_for_no_camera():
    inputs = []
    for template in sorted(TEMPLATES.glob("*.html")):
        inputs += [
            (template.name, tag) for tag in re.findall(r"<input[^>]*>", template.read_text())
        ]
    files = [(name, tag) for name, tag in inputs if 'type="file"' in tag]
    assert {name for name, _ in files} == {"new_person.html", "person.html"}
    for name, tag in files:
        assert "capture" not in tag, f"{name}: {tag}"
        assert 'accept="image/*"' in tag and "multiple" in tag, f"{name}: {tag}"


def _page(tmp_path):
    """person.html after an upload: two stored photos and one refused, all with long names."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    env.filters.update(when=lambda value: "today", clock=str, number=str, distances=str)
    env.globals["url_for"] = lambda name, **params: (
        (ADMIN / "static" / "admin.css").as_uri() if name == "static" else "#"
    )
    html = env.get_template("person.html").render(
        request=None,
        title="Ana Lima",
        person=SimpleNamespace(id=1, name="Ana Lima", last_greeting=None),
        photos=[],
        added=[SimpleNamespace(id=i, filename=f"{LONG}_{i}.jpg") for i in (1, 2)],
        refused=[SimpleNamespace(filename=f"{LONG}.heic", reason="not an image")],
        messages=[],
        logged_in=True,
        csrf_token="t",
        max_mb=20,
        max_name=80,
    )
    page = tmp_path / "person.html"
    page.write_text(html, encoding="utf-8")
    return page


def test_long_file_names_are_cut_with_their_full_name_as_title(tmp_path):
    html = _page(tmp_path).read_text()
    assert html.count(f'class="meta filename" title="{LONG}_1.jpg"') == 1
    assert f'<li class="wrap"><strong>{LONG}.heic</strong>' in html


@pytest.fixture
def phone_browser():
    """Headless Chromium 360 px wide (a phone)."""
    with chromium(360, 800) as driver:
        yield driver


@pytest.mark.slow
def test_long_file_names_stay_inside_their_cards(phone_browser, tmp_path):
    phone_browser.get(_page(tmp_path).as_uri())
    measured = phone_browser.execute_script(
        """
        const box = e => e.getBoundingClientRect();
        const cards = [...document.querySelectorAll('.grid li.card')].map(card => {
          const name = card.querySelector('.filename');
          return {card: box(card).right, name: box(name).right, cut: name.scrollWidth >
                  name.clientWidth, style: getComputedStyle(name).textOverflow};
        });
        const refused = document.querySelector('li.wrap');
        return {cards, page: document.documentElement.scrollWidth, window: window.innerWidth,
                refused: box(refused).right, message: box(refused.closest('.message')).right,
                stylesheet: getComputedStyle(document.body).backgroundColor};
        """
    )
    assert measured["stylesheet"] == "rgb(246, 247, 248)"  # admin.css was applied
    assert len(measured["cards"]) == 2
    for card in measured["cards"]:
        assert card["name"] <= card["card"] + 0.5, card
        assert card["cut"] and card["style"] == "ellipsis", card
    assert measured["refused"] <= measured["message"] + 0.5, measured
    assert measured["page"] <= measured["window"], measured  # nothing scrolls sideways


# ---- hostile input: out-of-range ids and days answer 4xx; the CSV formula guard for , and ;

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
def web(store):
    """The password-less page (loopback), with a session and its CSRF token."""
    from starlette.testclient import TestClient

    app = admin_app.create_app(store, password_hash=None, enroller_factory=no_enroller)
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
    app = admin_app.create_app(store, password_hash=encoded, enroller_factory=no_enroller)
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


# ---- the data lifecycle on the pages: kiosks up/down/stopped, retention, duplicates


def test_kiosks_page_says_up_down_stopped_status_weights_and_conflicts(web, store):
    from datetime import timedelta

    from sqlalchemy import update

    from greeter.library import schema
    from greeter.library.store import event_record, utcnow

    started = utcnow() - timedelta(hours=1)
    store.heartbeat("lobby", started=started, instance="0123456789abcdef", heartbeat_s=10.0,
                    status="ok", weights="/opt/greeter/weights/nn4.small2.v1.h5 (221 official)",
                    runtime="facenet (litert)", fps=14.8)  # fmt: skip
    store.heartbeat("side", started=started, heartbeat_s=5.0, status="nobody enrolled")
    store.heartbeat("hall", started=started, heartbeat_s=10.0, weights="dlib-resnet-v1-unit")
    store.write_events([event_record("hall", "stop", utcnow(), {})])
    with store.engine.begin() as conn:  # side has been silent for a minute: 3 beats missed
        conn.execute(update(schema.kiosks).where(schema.kiosks.c.name == "side")
                     .values(last_seen=utcnow() - timedelta(minutes=1)))  # fmt: skip
    store.heartbeat("lobby", expect_own=True, instance="fedcba9876543210", started=utcnow())
    page = web.get("/kiosks").text
    rows = {name: row for name, row in re.findall(r"<tr>\s*<td>([a-z]+)(.*?)</tr>", page, re.S)}
    assert 'class="state up">up<br>' in rows["lobby"]
    assert "heartbeat every 10 s" in rows["lobby"] and "ok" in rows["lobby"]
    assert "down: no heartbeat since" in rows["side"] and "heartbeat every 5 s" in rows["side"]
    assert "nobody enrolled" in rows["side"]
    assert "stopped at" in rows["hall"] and "dlib-resnet-v1-unit" in rows["hall"]
    assert "nn4.small2.v1.h5 (221 official)" in page and "/opt/greeter" not in page
    assert "Two kiosks are running under the name &#39;lobby&#39;" in page  # escaped, alerted
    assert "Events (greetings, unknown visits, errors): 90 days" in page
    assert "Strangers' faces: at most 30 days" in page


def test_expired_faces_and_events_are_never_served_and_the_page_alone_deletes_them(tmp_path):
    """Issue 19 item 6: with no kiosk running, the admin page serves no expired face or event
    (the queries filter on expiry) and deletes them (at start, then hourly)."""
    import sqlite3
    from datetime import timedelta

    from starlette.testclient import TestClient

    from greeter.library.store import Store, event_record, utcnow
    from tests.helpers.library import crop_png
    from tests.helpers.vectors import random_unit

    path = tmp_path / "library.db"
    with Store(f"sqlite:///{path}") as store:
        long_ago = utcnow() - timedelta(days=9)
        expired = store.keep_visitor("door", crop_png(1), random_unit(1), "old", days=1,
                                     time=long_ago)  # fmt: skip
        kept = store.keep_visitor("door", crop_png(2), random_unit(2), "new", days=1)
        day = (utcnow() - timedelta(days=100)).astimezone().date()
        store.write_events([event_record("door", "greeting", utcnow() - timedelta(days=100),
                                         {"names": ["Ana"]})])  # fmt: skip

        def rows(table):
            with sqlite3.connect(path) as conn:
                return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

        app = admin_app.create_app(store, password_hash=None, enroller_factory=no_enroller)
        client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        # no lifespan yet: nothing deleted, and nothing expired served
        assert rows("visitors") == 2 and rows("events") == 1
        assert client.get(f"/visitors/{expired}/crop.png").status_code == 404
        assert client.get(f"/visitors/{kept}/crop.png").status_code == 200
        page = client.get("/visitors").text
        assert f"/visitors/{expired}/" not in page and f"/visitors/{kept}/" in page
        assert "Ana" not in client.get(f"/greetings?day={day.isoformat()}").text
        with TestClient(app, base_url="http://127.0.0.1"):  # the page starts: retention runs
            assert wait_for(lambda: rows("visitors") == 1 and rows("events") == 0, 10)


def test_people_page_flags_one_face_under_two_names(web, store):
    from tests.helpers.library import new_photo

    store.add_photos([new_photo("Lin-Manuel Miranda", 1), new_photo("Ana", 2)])
    same = new_photo("Lin Manuel Miranda", 1, original=b"the same photo, another spelling")
    store.add_photos([same])
    page = web.get("/people").text
    assert page.count("Same face as") == 2
    assert "Same face as Lin Manuel Miranda (0.00)?" in page
    assert "Same face as Lin-Manuel Miranda (0.00)?" in page
    pid = store.person("Ana").id
    assert "Probably the same face" not in web.get(f"/people/{pid}").text
    lin = store.person("Lin Manuel Miranda").id
    assert "Probably the same face as Lin-Manuel Miranda" in web.get(f"/people/{lin}").text
    store.remove_person("Lin Manuel Miranda")
    assert "Same face as" not in web.get("/people").text  # recomputed after the change


def test_deleting_a_folder_person_says_the_folder_photos_will_be_ignored(web, store):
    from tests.helpers.library import new_photo

    store.add_photos([new_photo("Ana", 1, source="folder:/srv/images/Ana.jpg"),
                      new_photo("Ana", 2)])  # fmt: skip
    pid = store.person("Ana").id
    page = web.get(f"/people/{pid}/delete").text
    assert "1 of the photos came from a kiosk's photo folder (Ana.jpg)" in page
    assert "the folder sync will ignore it from now on" in page
    response = web.post(f"/people/{pid}/delete", data={"csrf_token": web.csrf})
    assert response.status_code == 303
    assert [t.name for t in store.tombstones()] == ["Ana"]
