"""The review API over real ingested clips: sign-in, the role table, Range streaming, downloads, custody."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from evidence import users
from evidence.unit_of_work import transaction
from tests.api.conftest import events, stored

ACTIONS = {
    "metadata": lambda i: f"/api/v1/items/{i}",
    "custody": lambda i: f"/api/v1/items/{i}/custody",
    "proxy": lambda i: f"/api/v1/items/{i}/proxy",
    "poster": lambda i: f"/api/v1/items/{i}/poster",
    "original": lambda i: f"/api/v1/items/{i}/original?reason=case+review",
}
# item "a" belongs to officer 110001 of unit U1
EXPECTED = {
    "off1": {"metadata": 200, "custody": 403, "proxy": 200, "poster": 200, "original": 403},
    "off2": dict.fromkeys(ACTIONS, 404),
    "rev1": dict.fromkeys(ACTIONS, 200),
    "rev2": dict.fromkeys(ACTIONS, 404),
    "rev3": dict.fromkeys(ACTIONS, 404),
    "sup1": dict.fromkeys(ACTIONS, 200),
    "aud": {"metadata": 200, "custody": 200, "proxy": 403, "poster": 403, "original": 403},
    "adm": dict.fromkeys(ACTIONS, 404),
}


@pytest.mark.parametrize("person", sorted(EXPECTED))
def test_role_table(world, person):
    client, item = world["clients"][person], world["ids"]["a"]
    got = {action: client.get(path(item)).status_code for action, path in ACTIONS.items()}
    assert got == EXPECTED[person]
    denials = len([c for c in got.values() if c in (403, 404)])
    assert len(events(world["rt"], item, "access_denied")) == denials, "every refusal is logged"


def test_denials_say_why_in_the_error_format(world):
    r = world["clients"]["aud"].get(f"/api/v1/items/{world['ids']['a']}/proxy")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    (event,) = events(world["rt"], world["ids"]["a"], "access_denied")
    assert "user=aud" in event.agent and json.loads(event.details)["action"] == "view_media"


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_lists_show_only_what_the_caller_may_see_and_page_with_cursors(world):
    a, b = world["ids"]["a"], world["ids"]["b"]
    assert [i["id"] for i in world["clients"]["off1"].get("/api/v1/items").json()["items"]] == [a]
    assert [i["id"] for i in world["clients"]["rev2"].get("/api/v1/items").json()["items"]] == [b]
    assert world["clients"]["adm"].get("/api/v1/items").json()["items"] == []
    aud = world["clients"]["aud"]
    first = aud.get("/api/v1/items", params={"limit": 1}).json()
    assert [i["id"] for i in first["items"]] == [a] and first["next_cursor"]
    second = aud.get("/api/v1/items", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [i["id"] for i in second["items"]] == [b] and second["next_cursor"] is None
    assert [i["id"] for i in aud.get("/api/v1/items", params={"device": "ZFY0002"}).json()["items"]] == [b]
    assert [i["id"] for i in aud.get("/api/v1/items", params={"unit": "U1"}).json()["items"]] == [a]
    assert aud.get("/api/v1/items", params={"on_time": True}).json()["items"] == []  # November 1st footage
    window = {"recorded_from": "2026-11-01T07:00:00Z", "recorded_to": "2026-11-01T09:00:00Z"}
    assert len(aud.get("/api/v1/items", params=window).json()["items"]) == 2


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "bm9wZQ"},
        {"limit": 0},
        {"limit": 1000},
        {"recorded_from": "2026-11-01T07:00:00"},
        {"on_time": "maybe"},
        {"recorded_from": "9999-12-31T23:00:00-05:00"},
        {"received_to": "0001-01-01T00:00:00+05:00"},
    ],
)
def test_bad_list_parameters_are_422_json(world, params):
    r = world["clients"]["aud"].get("/api/v1/items", params=params)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize("world", ["file", "s3"], indirect=True)
def test_range_requests(world):
    client, item = world["clients"]["rev1"], world["ids"]["a"]
    body = stored(world["rt"], item, "proxy_key")
    size = len(body)
    url = f"/api/v1/items/{item}/proxy"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == body
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["etag"]
    assert whole.headers["content-type"] == "video/mp4"
    cases = {
        "bytes=0-99": (0, 99),
        "bytes=100-": (100, size - 1),
        "bytes=-50": (size - 50, size - 1),
        f"bytes=10-{size * 10}": (10, size - 1),
        f"bytes={size - 1}-{size - 1}": (size - 1, size - 1),
    }
    for header, (first, last) in cases.items():
        r = client.get(url, headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["content-range"] == f"bytes {first}-{last}/{size}", header
        assert r.content == body[first : last + 1], header
        assert int(r.headers["content-length"]) == last - first + 1
    for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0"):
        r = client.get(url, headers={"Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"
        assert r.json()["error"]["code"] == "range_not_satisfiable"
    for ignorable in ("bytes=0-1,5-9", "items=0-5", "bytes=9-3"):
        assert client.get(url, headers={"Range": ignorable}).status_code == 200, ignorable


@pytest.mark.parametrize("world", ["file", "s3"], indirect=True)
def test_a_video_element_seek_sequence_is_served_and_logged_once(world):
    """What a <video> element does: open at 0, read the index, then seek to the middle and near the end."""
    client, item = world["clients"]["off1"], world["ids"]["a"]
    body = stored(world["rt"], item, "proxy_key")
    size, url = len(body), f"/api/v1/items/{item}/proxy"
    opening = client.get(url, headers={"Range": "bytes=0-"})
    assert opening.status_code == 206 and opening.content == body
    for start in (size // 2, size - 4096, size // 3):
        r = client.get(url, headers={"Range": f"bytes={start}-"})
        assert r.status_code == 206 and r.content == body[start:]
    viewed = events(world["rt"], item, "media_viewed")
    assert len(viewed) == 1 and "user=off1" in viewed[0].agent and "client=testclient" in viewed[0].agent


@pytest.mark.parametrize("world", ["file", "s3"], indirect=True)
def test_original_download_is_exact_and_needs_a_reason(world):
    client, item = world["clients"]["sup1"], world["ids"]["a"]
    url = f"/api/v1/items/{item}/original"
    missing = client.get(url)
    assert missing.status_code == 422 and "reason" in missing.json()["error"]["message"]
    assert client.get(url, params={"reason": "   "}).status_code == 422
    r = client.get(url, params={"reason": "court bundle 2026-17"})
    assert r.status_code == 200
    assert r.content == world["clips"]["h264"].read_bytes()
    assert r.headers["x-evidence-sha256"] == hashlib.sha256(r.content).hexdigest()
    assert "attachment" in r.headers["content-disposition"]
    (event,) = events(world["rt"], item, "original_downloaded")
    assert json.loads(event.details)["reason"] == "court bundle 2026-17" and "user=sup1" in event.agent


def test_poster_is_a_jpeg(world):
    r = world["clients"]["rev1"].get(f"/api/v1/items/{world['ids']['a']}/poster")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8" and r.headers["content-type"] == "image/jpeg"


def test_item_metadata_has_the_show_fields(world):
    r = world["clients"]["rev1"].get(f"/api/v1/items/{world['ids']['a']}")
    body = r.json()
    assert body["unit"] == "U1" and body["officer_id"] == "110001" and body["proxy_available"] is True
    assert body["sha256"] == hashlib.sha256(world["clips"]["h264"].read_bytes()).hexdigest()
    log = world["clients"]["rev1"].get(f"/api/v1/items/{world['ids']['a']}/custody").json()
    assert log[0]["kind"] == "received" and all(len(e["hash"]) == 64 for e in log)


def test_unknown_item_and_route_are_404_json(world):
    client = world["clients"]["aud"]
    assert client.get("/api/v1/items/999999").json()["error"]["code"] == "not_found"
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/items/abc").status_code == 422


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_sign_in_failures_tokens_and_throttling(world):
    app, rt = world["app"], world["rt"]
    anon = TestClient(app)
    assert anon.get("/api/v1/items").status_code == 401
    assert anon.get("/api/v1/items", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    item = world["ids"]["a"]
    for path in ("", "/custody", "/proxy", "/poster", "/original?reason=court+order"):  # token read in-route
        for headers in ({}, {"Authorization": "Bearer nonsense"}):
            r = anon.get(f"/api/v1/items/{item}{path}", headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (path, headers)
    bad = anon.post("/api/v1/auth/token", data={"username": "rev1", "password": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
    assert anon.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"}).status_code == 401
    statuses = [
        anon.post("/api/v1/auth/token", data={"username": "rev2", "password": "wrong"}).status_code for _ in range(6)
    ]
    assert statuses[:4] == [401] * 4 and 429 in statuses[4:]
    locked = anon.post("/api/v1/auth/token", data={"username": "rev2", "password": world["passwords"]["rev2"]})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    # throttled per client address: the owner, elsewhere, still signs in
    elsewhere = TestClient(app, client=("10.9.8.7", 50000))
    owner = elsewhere.post("/api/v1/auth/token", data={"username": "rev2", "password": world["passwords"]["rev2"]})
    assert owner.status_code == 200, owner.text

    client = world["clients"]["rev1"]
    assert client.get("/api/v1/me").json()["roles"] == ["reviewer"]
    assert client.post("/api/v1/auth/revoke").status_code == 204
    assert client.get("/api/v1/me").status_code == 401

    with transaction(rt.sessions) as session:
        token, _ = users.issue_token(session, users.get_user(session, "aud"), ttl=timedelta(seconds=-1))
    assert anon.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    with transaction(rt.sessions) as session:
        users.disable(session, "sup1")
    assert world["clients"]["sup1"].get("/api/v1/me").status_code == 401


def test_passwords_are_stored_only_as_scrypt_hashes(world):
    with transaction(world["rt"].sessions) as session:
        user = users.get_user(session, "rev1")
        assert user.password_hash.startswith("scrypt$") and world["passwords"]["rev1"] not in user.password_hash


OUT_OF_RANGE = [2**31, 2**63 - 1, 2**63, 2**64, 0, -1]


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_out_of_range_ids_are_json_4xx_everywhere(world):
    """Ids of 2^63 once overflowed the SQLite driver into a plain-text 500 (and 2^31 PostgreSQL's INTEGER)."""
    aud, a = world["clients"]["aud"], world["ids"]["a"]
    for big in OUT_OF_RANGE:
        cursor = base64.urlsafe_b64encode(f"id:{big}".encode()).decode().rstrip("=")
        for method, url, params in (
            ("GET", f"/api/v1/items/{big}", None),
            ("GET", f"/api/v1/items/{big}/custody", None),
            ("GET", f"/api/v1/items/{big}/proxy", None),
            ("GET", f"/api/v1/items/{big}/poster", None),
            ("DELETE", f"/api/v1/items/{a}/marks/{big}", None),
            ("GET", f"/api/v1/cases/{big}", None),
            ("GET", "/api/v1/cases", {"after": big}),
            ("GET", "/api/v1/items", {"case_id": big}),
            ("GET", "/api/v1/items", {"cursor": cursor}),
            ("GET", f"/api/v1/clips/{big}", None),
            ("GET", "/api/v1/custody/events", {"item": big}),
            ("GET", "/api/v1/items", {"limit": big}),
        ):
            r = aud.request(method, url, params=params)
            assert r.status_code in (404, 422), (url, params, r.status_code, r.text)
            assert r.json()["error"]["code"] in ("not_found", "invalid_input"), (url, params)
    sup = world["clients"]["sup1"]
    case = sup.post("/api/v1/cases", json={"number": "C-1", "title": "t"}).json()
    for big in OUT_OF_RANGE:  # in a body
        r = sup.post(f"/api/v1/cases/{case['id']}/items", json={"item_id": big, "reason": "why"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", (big, r.text)


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_lists_carry_marks_and_cases_like_the_item(world):
    a, b = world["ids"]["a"], world["ids"]["b"]
    sup1 = world["clients"]["sup1"]
    case = sup1.post("/api/v1/cases", json={"number": "C-7", "title": "market"}).json()
    assert sup1.post(f"/api/v1/cases/{case['id']}/items", json={"item_id": a, "reason": "shows it"}).status_code == 201
    assert sup1.post(f"/api/v1/items/{a}/marks", json={"kind": "important"}).status_code == 201
    assert sup1.post(f"/api/v1/items/{a}/marks", json={"kind": "tag", "value": "vendor"}).status_code == 201
    aud = world["clients"]["aud"]
    listed = {i["id"]: i for i in aud.get("/api/v1/items").json()["items"]}
    assert listed[a] == aud.get(f"/api/v1/items/{a}").json()
    assert listed[a]["cases"] == ["C-7"] and [m["kind"] for m in listed[a]["marks"]] == ["important", "tag"]
    assert listed[b]["cases"] == [] and listed[b]["marks"] == []
    by_number = aud.get("/api/v1/items", params={"case": "C-7"}).json()["items"]
    by_id = aud.get("/api/v1/items", params={"case_id": case["id"]}).json()["items"]
    assert [i["id"] for i in by_number] == [i["id"] for i in by_id] == [a]
    assert [i["id"] for i in aud.get("/api/v1/items", params={"mark": "vendor"}).json()["items"]] == [a]
    assert [i["id"] for i in aud.get("/api/v1/items", params={"mark": "important"}).json()["items"]] == [a]


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_filters_naming_something_unknown_are_422(world):
    sup1, aud = world["clients"]["sup1"], world["clients"]["aud"]
    case = sup1.post("/api/v1/cases", json={"number": "C-7", "title": "market"}).json()
    assert aud.get("/api/v1/items", params={"case": "C-7"}).status_code == 200
    # once silently []: a case id given where the number goes, and other names nothing carries
    for params in (
        {"case": str(case["id"])},
        {"case": "C-404"},
        {"case_id": case["id"] + 1},
        {"case": "C-7", "case_id": case["id"] + 1},
        {"mark": "no-such-tag"},
        {"officer": "999999"},
        {"unit": "U404"},
        {"device": "ZFY9999"},
        {"station": "ST99"},
        {"status": "lost"},
    ):
        r = aud.get("/api/v1/items", params=params)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", (params, r.text)
    # a case the caller may not see is as unknown as one that does not exist (no leak of its existence)
    r = world["clients"]["rev2"].get("/api/v1/items", params={"case": "C-7"})
    assert r.status_code == 422 and "C-7" in r.json()["error"]["message"]
    # known names that match nothing visible are an empty page, not an error
    assert world["clients"]["off1"].get("/api/v1/items", params={"device": "ZFY0002"}).json()["items"] == []
    for params in ({"officer": "220002"}, {"unit": "U2"}, {"station": "ST01"}, {"status": "ready"}):
        assert aud.get("/api/v1/items", params=params).status_code == 200, params
