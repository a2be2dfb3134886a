"""Browser sessions live and die with the user's tokens: sign-out, `users passwd`, `users disable`."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.web import session as web_session
from evidence import users
from evidence.unit_of_work import transaction


def _signed_in(app, name: str, password: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    done = client.post("/", data={"username": name, "password": password, "csrf_token": nonce}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert client.cookies.get(web_session.COOKIE)
    return client


@pytest.mark.parametrize("admin_act", ["disable", "reset_password"])
def test_a_session_ends_when_an_administrator_resets_or_disables_the_user(world, admin_act):
    client = _signed_in(world["app"], "rev1", world["passwords"]["rev1"])
    assert client.get("/password").status_code == 200
    with transaction(world["rt"].sessions) as session:
        getattr(users, admin_act)(session, "rev1")
    page = client.get("/password", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/?next=")
    assert client.get("/api/v1/me").status_code == 401


def test_a_one_time_password_leads_to_choosing_ones_own(world):
    with transaction(world["rt"].sessions) as session:
        _, one_time = users.add_user(session, "newbie", ["reviewer"], "U1", None)
    client = _signed_in(world["app"], "newbie", one_time)
    assert client.get("/items", follow_redirects=False).headers["location"] == "/password"
    page = client.get("/password")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    mismatch = client.post(
        "/password",
        data={"current_password": one_time, "new_password": "a", "confirm_password": "b", "csrf_token": csrf},
    )
    assert mismatch.status_code == 422
    chosen = "Correct-Horse-9-Battery"
    done = client.post(
        "/password",
        data={"current_password": one_time, "new_password": chosen, "confirm_password": chosen, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/items"
    assert client.get("/api/v1/me").json()["username"] == "newbie"  # the session was kept


def test_next_only_leads_to_this_site(world):
    client = _signed_in(world["app"], "aud", world["passwords"]["aud"])
    for target, expected in (
        ("/audit?x=1", "/audit?x=1"),
        ("//evil.example/", "/audit"),
        ("https://evil.example", "/audit"),
    ):
        assert client.get("/", params={"next": target}, follow_redirects=False).headers["location"] == expected
