"""Accounts through the API: administrators add users (one-time password answered once), give new
one-time passwords and disable accounts; everyone else is refused and the refusal recorded."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import denials


def _sign_in(world, name: str, password: str):
    client = TestClient(world["app"])
    r = client.post("/api/v1/auth/token", data={"username": name, "password": password})
    client.close()
    return r


def test_an_admin_adds_a_user_who_signs_in_with_the_one_time_password(world):
    adm = world["clients"]["adm"]
    r = adm.post("/api/v1/users", json={"username": "off3", "roles": ["officer"], "unit": "U1", "officer_id": "110003"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"] == {
        "username": "off3",
        "unit": "U1",
        "roles": ["officer"],
        "officer_id": "110003",
        "disabled": False,
        "password_change_required": True,
        "last_sign_in_at": None,
    }
    password = body["one_time_password"]
    assert len(password) >= 12
    signed = _sign_in(world, "off3", password)
    assert signed.status_code == 200 and signed.json()["password_change_required"] is True
    listed = {u["username"]: u for u in adm.get("/api/v1/users").json()}
    assert listed["off3"]["officer_id"] == "110003"

    again = adm.post("/api/v1/users", json={"username": "off3", "roles": ["reviewer"], "unit": "U1"})
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    for bad in (
        {"username": "x1", "roles": ["officer"], "unit": "U1"},  # an officer needs a 警号
        {"username": "x2", "roles": ["chief"], "unit": "U1"},
        {"username": "x3", "roles": [], "unit": "U1"},
        {"username": "", "roles": ["auditor"], "unit": "U1"},
        {"username": "x4", "roles": ["auditor"], "unit": "  "},
        {"username": "x" * 65, "roles": ["auditor"], "unit": "U1"},
    ):
        refused = adm.post("/api/v1/users", json=bad)
        assert refused.status_code == 422, (bad, refused.text)
    assert {u["username"] for u in adm.get("/api/v1/users").json()} >= {"off3"}
    assert not {"x1", "x2", "x3", "x4"} & {u["username"] for u in adm.get("/api/v1/users").json()}


def test_an_admin_resets_a_password_and_disables_an_account(world):
    adm, rt = world["clients"], world["rt"]
    old = world["passwords"]["rev2"]
    r = adm["adm"].post("/api/v1/users/rev2/password")
    assert r.status_code == 200, r.text
    fresh = r.json()["one_time_password"]
    assert r.json()["user"]["password_change_required"] is True
    assert adm["rev2"].get("/api/v1/me").status_code == 401  # the old token is revoked
    assert _sign_in(world, "rev2", old).status_code == 401
    assert _sign_in(world, "rev2", fresh).status_code == 200

    d = adm["adm"].post("/api/v1/users/rev3/disable")
    assert d.status_code == 200 and d.json()["disabled"] is True
    assert adm["rev3"].get("/api/v1/me").status_code == 401
    assert _sign_in(world, "rev3", world["passwords"]["rev3"]).status_code == 401

    assert adm["adm"].post("/api/v1/users/nobody/password").status_code == 404
    assert adm["adm"].post("/api/v1/users/nobody/disable").status_code == 404
    own = adm["adm"].post("/api/v1/users/adm/disable")
    assert own.status_code == 422 and adm["adm"].get("/api/v1/me").status_code == 200

    before = len(denials(rt, "add_user"))
    for name in ("sup1", "aud", "rev1", "off1"):
        c = adm[name]
        assert c.post("/api/v1/users", json={"username": "z", "roles": ["admin"], "unit": "U1"}).status_code == 403
        assert c.post("/api/v1/users/off2/password").status_code == 403
        assert c.post("/api/v1/users/off2/disable").status_code == 403
    assert len(denials(rt, "add_user")) == before + 4
    assert len(denials(rt, "reset_password")) == 4 and len(denials(rt, "disable_user")) == 4
    assert adm["off2"].get("/api/v1/me").status_code == 200  # untouched by the refused calls
