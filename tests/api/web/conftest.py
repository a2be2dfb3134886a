"""Browser tests: the app served for real on loopback, driven by Debian's headless chromium.

The world is the API tests' (``world`` in tests/api/conftest.py: users of two units, clips ingested for real),
served by uvicorn in a thread of the test process; chromium is driven through Debian's
``chromedriver`` (Selenium is told where it is, so it never downloads one). Each test signs in
afresh (cookies are cleared), and may save screenshots with ``shot`` into ``SCREENSHOTS``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.web import i18n
from api.web import session as web_session

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[3]
# where the tests leave a screenshot of each page (README: "Screenshots of the pages")
SCREENSHOTS = Path(os.environ.get("EVIDENCE_SCREENSHOTS", ROOT / "screenshots"))
WAIT_S = 15


@dataclass
class Live:
    """The app of a ``world``, served on loopback."""

    url: str
    world: dict
    server: uvicorn.Server

    def at(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def live(world) -> Iterator[Live]:
    config = uvicorn.Config(world["app"], host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Live(f"http://127.0.0.1:{port}", world, server)
    server.should_exit = True
    thread.join(WAIT_S)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """One headless chromium per test process (xdist worker)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver must be installed under CI (./dev.sh test installs them)")
        pytest.skip("chromium or chromedriver not installed (apt install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the suite may run as root (containers)
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1366,900",
        "--no-first-run",
        "--disable-background-networking",  # offline: nothing to fetch, no update checks
        "--disable-component-update",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-audio-output",  # a playing video opens no sound server (libpulse leaves a folder in TMPDIR)
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, live):
    """The session's chromium with no cookies: nobody signed in, the default language."""
    chromium.delete_all_cookies()
    chromium.get(live.at("/static/app.css"))  # a page on the origin, so its cookies can be cleared
    chromium.delete_all_cookies()
    yield chromium
    chromium.delete_all_cookies()


def page_client(world: dict, name: str, lang: str | None = "en") -> TestClient:
    """A client holding ``name``'s browser session (the cookie, not a bearer token), in ``lang``
    (None: the default language)."""
    token = world["clients"][name].headers["Authorization"].removeprefix("Bearer ")
    cookies = {web_session.COOKIE: token} | ({i18n.COOKIE: lang} if lang else {})
    return TestClient(world["app"], cookies=cookies)


def csrf_of(world: dict, name: str) -> str:
    """The CSRF token of ``name``'s session."""
    return web_session.csrf_token(world["clients"][name].headers["Authorization"].removeprefix("Bearer "))


def sign_in(browser, live: Live, name: str, password: str | None = None, next_path: str = "") -> None:
    """Sign in through the form, as a person would; waits for the page after it."""
    from selenium.webdriver.common.by import By

    browser.get(live.at("/" + (f"?next={next_path}" if next_path else "")))
    browser.find_element(By.NAME, "username").send_keys(name)
    browser.find_element(By.NAME, "password").send_keys(password or live.world["passwords"][name])
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert browser.get_cookie("evidence_session"), f"{name} could not sign in"


def shot(browser, name: str) -> Path:
    """Save a screenshot of the whole page as ``SCREENSHOTS/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height, chrome = browser.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    browser.set_window_size(1366, max(900, min(int(height) + int(chrome), 4000)))
    browser.save_screenshot(str(path))
    browser.set_window_size(1366, 900)
    return path


def wait_for(browser, condition, timeout: float = WAIT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


def click_through(browser, element) -> None:
    """Click ``element`` and wait for the page it leads to (the old page gone)."""
    from selenium.webdriver.common.by import By

    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    wait_for(browser, lambda _: _gone(page))


def _gone(element) -> bool:
    """True once ``element``'s page has been replaced. Mid-navigation chromedriver may answer
    "node does not belong to the document" (an unknown error, not a stale element): gone too."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False
