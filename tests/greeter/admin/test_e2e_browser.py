"""The admin page in a REAL headless Chromium (Debian's chromium + chromedriver, driven by
Selenium with the driver path set, so nothing is downloaded), against uvicorn on 127.0.0.1
and a real SQLite store with the real enroller; the Greetings page follows a real greeter run
(its loop and parts, in-process) on the Hamilton clip, on the same store. Writes a screenshot of
each page to docs/screenshots/. Under CI=true it fails when Chromium cannot start."""

import datetime as dt
import threading
import time

import numpy as np
import pytest

from greeter.library.enroller import png_bytes
from tests.helpers.admin import PASSWORD
from tests.helpers.browser import chromium
from tests.helpers.processes import REPO, facing_video
from tests.helpers.servers import free_port

pytestmark = pytest.mark.slow

SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture
def browser():
    """Headless Chromium, a desktop window."""
    with chromium(1100, 900) as driver:
        yield driver


@pytest.fixture
def live_url(store, enroller, password_hash):
    """The admin app under a real uvicorn server on 127.0.0.1 and a free port."""
    import uvicorn

    from greeter.admin.app import create_app

    port = free_port()
    app = create_app(store, password_hash=password_hash, enroller_factory=lambda: enroller)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _greeter_run(url, enroller, video, kiosk="lobby", threshold=0.81):
    """One greeter run over ``video`` on the store at ``url``: the greeter's own loop
    (:func:`greeter.app.run`) with the parts ``python -m greeter`` assembles (FrameSource on the
    real video, Haar detector, landmark aligner, a LiveLibrary on the store, events to the store),
    in-process so that the session's loaded model is reused (a second process would load
    TensorFlow again, ~35 s here; tests/greeter/admin/test_e2e_admin.py runs the greeter
    process)."""
    from greeter.app import Recognizer, run
    from greeter.camera import FrameSource
    from greeter.detector import FrameDetector
    from greeter.events import EventLog
    from greeter.library import EventTee, LiveLibrary, Store
    from greeter.speech import SilentSpeaker
    from greeter.visits import Cooldown, OpenSetThreshold, Rules, VisitJudge

    with Store(url) as kiosk_store:
        status = {"runtime": getattr(enroller.encoder, "runtime", None)}
        library = LiveLibrary(kiosk_store, enroller.model_key, kiosk=kiosk, enroller=enroller,
                              status=status, keep_recognition_days=7).start()  # fmt: skip
        events = EventTee(EventLog(None), library.events)
        frames = FrameSource(str(video))
        try:
            events.write("start", people=len(library.database))
            rules = Rules()
            recognizer = Recognizer(FrameDetector(), enroller.encoder, enroller.aligner,
                                    rules=rules)  # fmt: skip
            judge = VisitJudge(OpenSetThreshold(fixed=threshold), rules, Cooldown(300))
            run(frames, recognizer, library, judge, SilentSpeaker(), events)
            events.write("stop")
        finally:
            frames.release()
            library.close()


def _shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, 400)  # measure the page, not the window
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height + 140, 2000))
    assert driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _navigate(driver, action):
    """Run ``action`` (a click that loads a page) and wait until the new page has loaded."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element("tag name", "html")

    def old_page_gone(_):
        try:
            old.is_enabled()
        except WebDriverException:  # stale; or, mid-navigation, Chromium's "Node with given
            return True  # id does not belong to the document" (not a StaleElementReference)
        return False

    action()
    wait = WebDriverWait(driver, 30)
    wait.until(old_page_gone)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def _images_loaded(driver):
    return driver.execute_script(
        "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )


def test_admin_in_a_real_browser(browser, live_url, store, enroller, shared_dir, tmp_path):
    import cv2
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    d = browser
    find = d.find_element
    photo = shared_dir / "data" / "video" / "lin-manuel-miranda.png"

    # Log in, with the keyboard alone.
    d.get(f"{live_url}/people")
    assert "/login" in d.current_url
    assert d.switch_to.active_element.get_attribute("id") == "password"  # autofocus
    _shot(d, "login")
    _navigate(d, lambda: d.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER))
    assert d.current_url.endswith("/people")
    assert "Nobody is enrolled yet" in find(By.TAG_NAME, "main").text

    # Add a person from a photo: the page shows the aligned crop that will be used.
    _navigate(d, find(By.LINK_TEXT, "Add a person").click)
    find(By.ID, "name").send_keys("Lin-Manuel Miranda")
    wall = tmp_path / "empty-wall.jpg"  # a real image without a face: refused, named
    ramp = np.tile(np.linspace(40, 220, 400, dtype=np.uint8)[None, :, None], (300, 1, 3))
    assert cv2.imwrite(str(wall), ramp)
    find(By.ID, "photos").send_keys(f"{photo}\n{wall}")
    _shot(d, "add-person")
    _navigate(d, find(By.CSS_SELECTOR, "form.card button[type=submit]").click)
    assert find(By.TAG_NAME, "h1").text == "Lin-Manuel Miranda"
    assert "Stored 1 photo" in find(By.CSS_SELECTOR, ".message.ok").text
    refused = find(By.CSS_SELECTOR, ".message.error").text
    assert "1 photo refused" in refused and "empty-wall.jpg" in refused
    crop = find(By.CSS_SELECTOR, ".message.ok img")
    assert d.execute_script("return arguments[0].naturalWidth", crop) == 96
    assert _images_loaded(d)
    assert len(store.photos()) == 1
    _shot(d, "person")

    # The People grid shows the thumbnail.
    _navigate(d, find(By.LINK_TEXT, "People").click)
    thumb = find(By.CSS_SELECTOR, ".person img")
    assert thumb.get_attribute("alt") == "Face of Lin-Manuel Miranda"
    assert d.execute_script("return arguments[0].naturalWidth", thumb) == 96

    # Greetings, after a REAL greeter run on a video (the Hamilton clip, where he faces the
    # camera) against the same store.
    now = dt.datetime.now(dt.UTC)
    video = facing_video(shared_dir / "data" / "video" / "short_hamilton_clip.mp4",
                         tmp_path / "facing.mp4")  # fmt: skip
    _greeter_run(f"sqlite:///{tmp_path / 'library.db'}", enroller, video)
    greeting = store.events(kinds=["greeting"])[0]
    assert greeting.kiosk == "lobby" and greeting.names == ["Lin-Manuel Miranda"]
    _navigate(d, d.refresh)
    assert "Last greeted: never" not in find(By.CSS_SELECTOR, ".person").text
    _navigate(d, find(By.LINK_TEXT, "Greetings").click)
    rows = d.find_elements(By.CSS_SELECTOR, "tbody tr")
    # every event of the run (an "unknown visitor" row too if a frame of him was not close enough)
    assert len(rows) == len(store.events(kinds=["greeting", "unknown"]))
    greeted = [r.text for r in rows if "Lin-Manuel Miranda" in r.text]
    assert len(greeted) == 1 and f"{greeting.distances[0]:.2f}" in greeted[0]  # once (cooldown)
    assert "lobby" in find(By.TAG_NAME, "h2").text
    _shot(d, "greetings")
    _navigate(d, find(By.LINK_TEXT, "Kiosks").click)
    kiosks = find(By.TAG_NAME, "table").text
    assert "lobby" in kiosks and "0.81" in kiosks  # its heartbeat (threshold)
    _shot(d, "kiosks")

    # Recent recognitions: the face the kiosk kept of his visit, added to his photos; the next
    # run greets him nearer (the door's own camera now enrolled beside his portrait).
    _navigate(d, find(By.LINK_TEXT, "Recognitions").click)
    (seen,) = d.find_elements(By.CSS_SELECTOR, ".recognition")
    assert "Greeted as Lin-Manuel Miranda" in seen.text
    assert f"{greeting.distances[0]:.2f}" in seen.text and _images_loaded(d)
    _shot(d, "recognitions")
    _navigate(d, seen.find_element(By.XPATH, ".//button[normalize-space()='Add this face']").click)
    assert d.current_url.endswith("/recognitions")
    assert "No recognitions are kept" in find(By.TAG_NAME, "main").text
    assert store.person("Lin-Manuel Miranda").photos == 2
    _greeter_run(f"sqlite:///{tmp_path / 'library.db'}", enroller, video, kiosk="side door")
    again = store.events(kinds=["greeting"], kiosk="side door")[0]
    assert again.names == ["Lin-Manuel Miranda"]
    assert again.distances[0] < greeting.distances[0] - 0.1, (again.distances, greeting.distances)

    # A visitor crop (a real aligned face kept by a kiosk) assigned to a new person.
    alex = cv2.imread(str(shared_dir / "data" / "video" / "alex-lacamoire.png"))
    face, encoding = enroller.enroll(alex, "alex")
    store.keep_visitor("side door", png_bytes(face), encoding, "visit-1", days=7,
                       model_key=enroller.model_key)  # fmt: skip
    other = np.ascontiguousarray(cv2.flip(face, 1))
    store.keep_visitor("lobby", png_bytes(other), None, "visit-2", days=7,
                       time=now - dt.timedelta(minutes=20))  # fmt: skip
    counter = store.change_counter()
    _navigate(d, find(By.LINK_TEXT, "Visitors").click)
    assert len(d.find_elements(By.CSS_SELECTOR, ".visitor")) == 2
    assert _images_loaded(d)
    _shot(d, "visitors")
    first = find(By.CSS_SELECTOR, ".visitor")
    Select(first.find_element(By.TAG_NAME, "select")).select_by_index(0)
    first.find_element(By.CSS_SELECTOR, "input[type=text]").send_keys("Alex Lacamoire")
    _navigate(d, first.find_element(By.XPATH, ".//button[normalize-space()='Enrol']").click)
    assert find(By.TAG_NAME, "h1").text == "Alex Lacamoire"
    assert store.change_counter() > counter  # the kiosks pick it up through the counter
    assert sorted(p.name for p in store.people()) == ["Alex Lacamoire", "Lin-Manuel Miranda"]
    _navigate(d, find(By.LINK_TEXT, "People").click)
    assert len(d.find_elements(By.CSS_SELECTOR, ".person img")) == 2 and _images_loaded(d)
    _shot(d, "people")
    # The other one is dismissed.
    _navigate(d, find(By.LINK_TEXT, "Visitors").click)
    _navigate(d, find(By.XPATH, "//button[starts-with(normalize-space(), 'Dismiss')]").click)
    assert "No visitor faces are kept" in find(By.TAG_NAME, "main").text
    assert store.visitors(verdicts=["stranger"]) == []  # his recognitions are not visitors

    # Delete a person, through the confirmation step.
    _navigate(d, find(By.LINK_TEXT, "People").click)
    _navigate(d, find(By.PARTIAL_LINK_TEXT, "Lin-Manuel Miranda").click)
    _navigate(d, find(By.PARTIAL_LINK_TEXT, "Delete Lin-Manuel Miranda").click)
    assert find(By.TAG_NAME, "h1").text == "Delete Lin-Manuel Miranda?"
    _shot(d, "confirm-delete")
    _navigate(
        d, find(By.XPATH, "//button[normalize-space()='Yes, delete Lin-Manuel Miranda']").click
    )
    assert d.current_url.endswith("/people")
    assert "Lin-Manuel Miranda" not in find(By.TAG_NAME, "main").text
    assert [p.name for p in store.people()] == ["Alex Lacamoire"]

    # At a phone's width, the grid still fits (no horizontal scrolling).
    d.set_window_size(390, 844)
    d.get(f"{live_url}/people")
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(d, "people-phone")
