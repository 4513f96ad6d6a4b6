"""The admin web app over HTTP (Starlette's TestClient) on a real SQLite store, with the real
enroller and real photos: every page, every refusal."""

import csv
import datetime as dt
import io
import re
from pathlib import Path

import numpy as np
import pytest

from greeter.admin import app as admin_app
from greeter.admin import cli as admin_cli
from greeter.admin.auth import LoginThrottle
from greeter.library.enroller import png_bytes

from .conftest import PASSWORD, csrf_of, log_in, make_client

pytestmark = pytest.mark.shared

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


# ---- command line


def test_refuses_a_non_loopback_host_without_a_password(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GREETER_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'lib.db'}"
    assert admin_cli.main(["--host", "0.0.0.0", "--db", db]) == 2
    assert "no password is set" in capsys.readouterr().err
    assert not (tmp_path / "lib.db").exists()  # refused before touching the library


def test_set_password_then_the_app_uses_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GREETER_ADMIN_PASSWORD", raising=False)
    config = tmp_path / "greeter.json"
    config.write_text('{"threshold": 0.6}')
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert admin_cli.main(["set-password", "--config", str(config)]) == 0
    assert "a long password" not in config.read_text()
    args = admin_cli._parser().parse_args(
        [
            "--host",
            "0.0.0.0",
            "--allowed-host",
            "door.example",
            "--allow-plain-http",
            "--config",
            str(config),
            "--db",
            f"sqlite:///{tmp_path / 'l.db'}",
        ]
    )
    app, server = admin_cli.build_from_args(args)
    assert server["host"] == "0.0.0.0" and app.state.admin.password_hash.startswith("$argon2")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert admin_cli.main(["set-password", "--config", str(config)]) == 2
    assert "at least 8" in capsys.readouterr().err


def test_importing_the_app_loads_no_model():
    import subprocess
    import sys

    code = "import sys, greeter.admin.app; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
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
    assert not list(Path(__file__).parent.glob("*.png"))


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
