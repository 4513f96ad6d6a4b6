"""Debian's headless Chromium through its chromedriver (Selenium), for the browser tests.

The tests never download a browser: ``$CHROMIUM`` and ``$CHROMEDRIVER`` (default: Debian's
``chromium`` and ``chromium-driver`` packages) must be installed; without them the test skips,
and fails under ``CI=true`` (:func:`tests.helpers.needs.unavailable`)."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

from tests.helpers.needs import unavailable

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))


@contextlib.contextmanager
def chromium(width: int, height: int):
    """A headless Chromium window of ``width`` x ``height`` CSS pixels (scale 1, no
    scrollbars) on a throw-away profile, removed afterwards; pages load within 60 s."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install selenium)")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            unavailable(f"{path} not found: apt-get install chromium chromium-driver")
    offline = mock.patch.dict(os.environ, {"SE_OFFLINE": "true"})  # Selenium Manager must
    offline.start()  # never download a driver
    profile = tempfile.mkdtemp(prefix="test-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", f"--window-size={width},{height}",
        "--force-device-scale-factor=1", "--hide-scrollbars",
    ):  # fmt: skip
        options.add_argument(argument)
    try:
        try:
            driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        except WebDriverException as error:
            unavailable(f"Chromium did not start: {error.msg}")
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
        offline.stop()
