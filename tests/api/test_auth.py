"""Accounts through the API: one-time passwords are one-time, the password policy, the user list."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from evidence import users
from evidence.unit_of_work import transaction

GOOD = "Harbour lights 42"


def one_time_client(world, name="new1", roles=("reviewer",)):
    """A user an administrator just created, signed in with the one-time password."""
    with transaction(world["rt"].sessions) as session:
        _, password = users.add_user(session, name, list(roles), "U1")
    client = TestClient(world["app"])
    r = client.post("/api/v1/auth/token", data={"username": name, "password": password})
    assert r.status_code == 200 and r.json()["password_change_required"] is True
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client, password


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_a_one_time_password_opens_only_the_password_change_and_sign_out(world):
    client, password = one_time_client(world)
    item = world["ids"]["a"]
    for method, path in (
        ("get", "/api/v1/me"),
        ("get", "/api/v1/items"),
        ("get", f"/api/v1/items/{item}"),
        ("get", f"/api/v1/items/{item}/proxy"),
        ("get", "/api/v1/cases"),
    ):
        r = getattr(client, method)(path)
        assert r.status_code == 403, (path, r.text)
        body = r.json()
        assert body["code"] == body["error"]["code"] == "password_change_required"
        assert "/api/v1/me/password" in body["detail"] and body["detail"] == body["error"]["message"]
    # a wrong current password is refused (and counted as a failed sign-in), a weak new one explained
    wrong = client.post("/api/v1/me/password", json={"current_password": "nope", "new_password": GOOD})
    assert wrong.status_code == 403 and "current_password" in wrong.json()["error"]["message"]
    weak = client.post("/api/v1/me/password", json={"current_password": password, "new_password": "short1"})
    assert weak.status_code == 422 and "at least 12 characters" in weak.json()["error"]["message"]
    # the same token, once the owner has chosen a password, is back to normal
    done = client.post("/api/v1/me/password", json={"current_password": password, "new_password": GOOD})
    assert done.status_code == 204, done.text
    assert client.get("/api/v1/me").json()["username"] == "new1"
    assert client.get(f"/api/v1/items/{item}").status_code == 200  # a U1 reviewer, U1 footage
    anon = TestClient(world["app"])
    assert anon.post("/api/v1/auth/token", data={"username": "new1", "password": password}).status_code == 401
    fresh = anon.post("/api/v1/auth/token", data={"username": "new1", "password": GOOD}).json()
    assert fresh["password_change_required"] is False


def test_sign_out_works_with_a_one_time_password(world):
    client, _ = one_time_client(world)
    assert client.post("/api/v1/auth/revoke").status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_an_admin_reset_is_one_time_and_the_owners_change_revokes_their_other_tokens(world):
    with transaction(world["rt"].sessions) as session:
        password = users.reset_password(session, "rev1")
    assert world["clients"]["rev1"].get("/api/v1/me").status_code == 401  # the reset revoked it
    first, second = TestClient(world["app"]), TestClient(world["app"])
    for client in (first, second):
        token = client.post("/api/v1/auth/token", data={"username": "rev1", "password": password}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        assert client.get("/api/v1/me").status_code == 403
    assert (
        first.post("/api/v1/me/password", json={"current_password": password, "new_password": GOOD}).status_code == 204
    )
    assert first.get("/api/v1/me").status_code == 200
    assert second.get("/api/v1/me").status_code == 401, "the owner's change signs out their other sessions"


@pytest.mark.parametrize(
    "new, why",
    [
        ("Sh0rt", "at least 12 characters"),
        ("alllowercaseletters", "mix at least two"),
        ("123456789012345", "mix at least two"),
        ("X" * 257, "at most 256 characters"),
        ("the new1 password!", "must not contain the username"),
        ("Password1234", "too common"),
    ],
)
def test_the_password_policy_says_why(world, new, why):
    client, password = one_time_client(world)
    r = client.post("/api/v1/me/password", json={"current_password": password, "new_password": new})
    assert r.status_code == 422 and why in r.json()["error"]["message"], r.text
    assert client.get("/api/v1/me").status_code == 403, "the one-time password is still the one in force"


def test_the_new_password_must_differ_from_the_one_time_one(world):
    with transaction(world["rt"].sessions) as session:
        users.reset_password(session, "rev1", GOOD)  # an administrator may hand out any password
    client = TestClient(world["app"])
    token = client.post("/api/v1/auth/token", data={"username": "rev1", "password": GOOD}).json()
    client.headers["Authorization"] = f"Bearer {token['access_token']}"
    r = client.post("/api/v1/me/password", json={"current_password": GOOD, "new_password": GOOD})
    assert r.status_code == 422 and "must differ" in r.json()["error"]["message"]


def test_wrong_current_passwords_are_throttled_like_sign_ins(world):
    client, password = one_time_client(world)
    statuses = [
        client.post("/api/v1/me/password", json={"current_password": "guess", "new_password": GOOD}).status_code
        for _ in range(users.FREE_FAILURES + 2)
    ]
    assert statuses[: users.FREE_FAILURES] == [403] * users.FREE_FAILURES and statuses[-1] == 429
    late = client.post("/api/v1/me/password", json={"current_password": password, "new_password": GOOD})
    assert late.status_code == 429 and int(late.headers["retry-after"]) >= 1


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_admins_list_users_with_their_last_sign_in(world):
    one_time_client(world, "new1")
    with transaction(world["rt"].sessions) as session:
        users.add_user(session, "never", ["officer"], "U2", "220009")
        users.disable(session, "off2")
    r = world["clients"]["adm"].get("/api/v1/users")
    assert r.status_code == 200, r.text
    listed = {u["username"]: u for u in r.json()}
    assert set(listed) == {*world["clients"], "new1", "never"}
    assert listed["off1"] == {
        **listed["off1"],
        "unit": "U1",
        "roles": ["officer"],
        "officer_id": "110001",
        "disabled": False,
        "password_change_required": False,
    }
    assert listed["off1"]["last_sign_in_at"].endswith("Z")
    assert listed["never"]["last_sign_in_at"] is None and listed["never"]["password_change_required"] is True
    assert listed["new1"]["password_change_required"] is True and listed["new1"]["last_sign_in_at"]
    assert listed["off2"]["disabled"] is True
    for name in ("sup1", "aud", "rev1", "off1"):
        denied = world["clients"][name].get("/api/v1/users")
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
