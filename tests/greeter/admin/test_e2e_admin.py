"""End to end, all real: ``greeter-admin`` (uvicorn, as its own process, on 127.0.0.1 and a free
port) and a greeter process on a real video share one SQLite library file. A person added on the
page (an HTTP form upload with the login and the CSRF token, as a browser sends it) is greeted in
the greeter's video, and the greeting shows on the Greetings page and in its CSV download."""

import html
import signal
import subprocess
import sys

import pytest

from greeter.library.store import Store, utcnow
from tests.helpers.admin import PASSWORD, csrf_of
from tests.helpers.processes import Greeter, facing_video, greeter_env
from tests.helpers.servers import free_port
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.slow

NAME = "Lin-Manuel Miranda"


@pytest.fixture
def admin_server(tmp_path, weights_path):
    """``python -m greeter.admin.cli --db URL --port P`` with ``$GREETER_ADMIN_PASSWORD``;
    yields ``(base URL, library URL, stderr path)``; stopped with SIGTERM."""
    url, port = f"sqlite:///{tmp_path / 'library.db'}", free_port()
    Store(url).close()  # the schema exists before either process starts
    log = tmp_path / "admin.err"
    env = greeter_env(weights_path, GREETER_ADMIN_PASSWORD=PASSWORD)
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "greeter.admin.cli", "--db", url, "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=tmp_path, env=env, stdout=stderr, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", url, log
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def _up(client) -> bool:
    import httpx

    try:
        return client.get("/login").status_code == 200
    except httpx.TransportError:
        return False


def test_person_added_on_the_page_is_greeted_and_shown_on_greetings(
    admin_server, tmp_path, video_dir, weights_path
):
    import httpx

    base, url, admin_log = admin_server
    video = facing_video(video_dir / "short_hamilton_clip.mp4", tmp_path / "facing.mp4")
    flags = ["--db", url, "--kiosk", "lobby", "--loop", "--encoder", "facenet",
             "--threshold", "0.81", "--cooldown", "2",
             "--images", str(tmp_path / "no-images")]  # fmt: skip
    greeter = Greeter(tmp_path / "kiosk", video, *flags, name="lobby", weights=weights_path, nice=5)
    store = Store(url)
    try:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=240) as web:
            assert wait_for(lambda: _up(web), 60), admin_log.read_text()[-2000:]
            page = web.get("/login?next=/people")
            response = web.post("/login", data={"password": PASSWORD, "next": "/people",
                                                "csrf_token": csrf_of(page.text)})  # fmt: skip
            assert response.status_code == 303, response.text
            greeter.wait_running(180)
            assert wait_for(lambda: "lobby" in web.get("/kiosks").text, 15)  # its heartbeat
            before = utcnow()
            assert store.events(kinds=["greeting"]) == []

            # Add the person on the page: name + photo, multipart, with the session's CSRF token.
            token = csrf_of(web.get("/people/new").text)
            photo = (video_dir / "lin-manuel-miranda.png").read_bytes()
            response = web.post(
                "/people",
                data={"name": NAME, "csrf_token": token},
                files=[("photos", ("lin-manuel-miranda.png", photo, "image/png"))],
            )
            assert response.status_code == 200, response.text
            assert f"<h1>{html.escape(NAME)}</h1>" in response.text
            assert "Stored 1 photo" in response.text

            # The running greeter picks it up from the store and greets him in the video.
            assert wait_for(lambda: greeter.events("greeting"), 90), greeter.why()
            greeting = greeter.events("greeting")[0]
            assert greeting["names"] == [NAME] and greeting["distances"][0] <= 0.81
            assert wait_for(lambda: store.events(since=before, kinds=["greeting"]), 15)
            stored = store.events(since=before, kinds=["greeting"])[0]
            assert stored.kiosk == "lobby" and stored.names == [NAME]

            # ... and the greeting shows on the Greetings page and in its CSV.
            page = web.get("/greetings")
            assert page.status_code == 200
            assert "<h2>lobby" in page.text
            row = next(r for r in page.text.split("<tr>") if html.escape(NAME) in r)
            assert "greeting" in row and f"{stored.distances[0]:.2f}" in row
            table = web.get("/greetings.csv")
            assert table.status_code == 200 and "text/csv" in table.headers["content-type"]
            assert any("lobby" in line and NAME in line and "greeting" in line
                       for line in table.text.splitlines())  # fmt: skip
            people = web.get("/people").text
            assert html.escape(NAME) in people and "Last greeted: never" not in people
    finally:
        code = greeter.stop()
        store.close()
    assert code == 0, greeter.why()
    assert "Traceback" not in greeter.stderr() + admin_log.read_text()
