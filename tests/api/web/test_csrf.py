"""Requests another page makes the browser send: refused unless they carry the session's CSRF token."""

from __future__ import annotations

import http.server
import threading

import pytest
from selenium.webdriver.common.by import By

from api.web import session as web_session
from tests.api.web.conftest import sign_in, wait_for


@pytest.fixture
def forger():
    """Another site on loopback (same host, another port: the same *site*, so the cookie goes along,
    which is the hard case; SameSite=Strict stops other hosts' requests already)."""
    pages: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield pages, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_a_forged_cross_site_post_is_refused(browser, live, forger):
    pages, origin = forger
    item = live.world["ids"]["a"]
    pages["/forge"] = f"""<!doctype html><form id=f method=post action="{live.at("/signout")}"></form>
        <form id=g method=post enctype=text/plain action="{live.at(f"/api/v1/items/{item}/marks")}">
        <input name='{{"kind":"important","x":"' value='"}}'></form>
        <script>fetch("{live.at(f"/api/v1/items/{item}/marks")}", {{method: "POST", credentials: "include",
          mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body: '{{"kind": "important"}}'}})
          .finally(() => document.getElementById("f").submit())</script>""".encode()
    sign_in(browser, live, "rev1")
    token = browser.get_cookie("evidence_session")["value"]
    browser.get(origin + "/forge")
    wait_for(browser, lambda b: b.current_url.startswith(live.url))
    assert "CSRF" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    client = live.world["clients"]["rev1"]
    still = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert still.status_code == 200  # the forged sign-out did nothing
    marks = client.get(f"/api/v1/items/{item}").json().get("marks", [])
    assert marks == []  # nor did the forged API call


def test_the_api_takes_the_cookie_with_its_csrf_token_only(live):
    client = live.world["clients"]["rev1"]
    form = client.get("/")
    nonce = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post(
        "/",
        data={"username": "rev1", "password": live.world["passwords"]["rev1"], "csrf_token": nonce},
        headers={"Authorization": ""},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    token = signed.cookies.get(web_session.COOKIE) or client.cookies.get(web_session.COOKIE)
    item = live.world["ids"]["a"]
    del client.headers["Authorization"]
    assert client.get("/api/v1/me").json()["username"] == "rev1"  # reads: the cookie is enough
    refused = client.post(f"/api/v1/items/{item}/marks", json={"kind": "important"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    wrong = client.post(f"/api/v1/items/{item}/marks", json={"kind": "important"}, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    done = client.post(
        f"/api/v1/items/{item}/marks",
        json={"kind": "important"},
        headers={"X-CSRF-Token": web_session.csrf_token(token)},
    )
    assert done.status_code in (200, 201), done.text


def test_the_sign_in_form_refuses_a_post_without_its_nonce(live):
    client = live.world["clients"]["rev1"]
    del client.headers["Authorization"]
    forged = client.post("/", data={"username": "rev1", "password": live.world["passwords"]["rev1"]})
    assert forged.status_code == 403
    assert web_session.COOKIE not in forged.cookies
