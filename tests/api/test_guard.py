"""Refusals for lack of rights: decided in evidence/access.py, each one an access_denied custody event."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import denials

ROUTES = Path(__file__).resolve().parents[2] / "api" / "routes"


# What a route may not do itself: decide on roles or refuse (a refusal there would go unrecorded),
# query the database, or open a transaction of its own (one unit of work per request, in evidence/).
FORBIDDEN_IN_ROUTES = (
    "Forbidden",
    "Role.",
    "& who.roles",
    "who.role ",
    "select(",
    "session.get(",
    "session.scalar",
    "from sqlalchemy import",
    "transaction(",
    "with_db_retry",
    ".begin()",
)


def test_routes_leave_the_decision_to_access():
    """No route decides on roles or reads the database itself: it calls a domain function through the door."""
    names = sorted(p.name for p in ROUTES.glob("*.py"))
    assert "cases.py" in names and "items.py" in names
    for name in names:
        text = (ROUTES / name).read_text()
        found = [word for word in FORBIDDEN_IN_ROUTES if word in text]
        assert not found, (name, found)


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_every_refusal_is_a_custody_event(world):
    c, a, rt = world["clients"], world["ids"]["a"], world["rt"]
    case = c["sup1"].post("/api/v1/cases", json={"number": "C-1", "title": "t"}).json()
    upload = c["off1"].post("/api/v1/uploads", params={"filename": "a.mp4"}, content=b"abc").json()
    clip = c["rev1"].post(f"/api/v1/items/{a}/clips", json={"start_s": 0, "end_s": 1, "case_id": case["id"]}).json()
    refused = [
        # (who, method, url, keyword arguments, status, recorded action)
        ("off1", "POST", "/api/v1/cases", {"json": {"number": "C-9", "title": "x"}}, 403, "open_case"),
        ("aud", "POST", "/api/v1/uploads", {"params": {"filename": "a.mp4"}, "content": b"x"}, 403, "upload"),
        (
            "off1",
            "POST",
            "/api/v1/uploads",
            {"params": {"filename": "a.mp4", "device": "ZFY0002"}, "content": b"x"},
            403,
            "upload",
        ),
        ("off2", "GET", f"/api/v1/uploads/{upload['upload_id']}", {}, 404, "upload_status"),
        ("rev2", "GET", f"/api/v1/clips/{clip['clip_request_id']}", {}, 404, "clip_status"),
        ("rev1", "GET", "/api/v1/custody/events", {}, 403, "search_custody"),
        ("off1", "GET", "/api/v1/custody/events", {"params": {"kind": "received"}}, 403, "search_custody"),
        ("rev1", "PATCH", f"/api/v1/cases/{case['id']}", {"json": {"status": "closed"}}, 403, "case_manage"),
        ("aud", "POST", f"/api/v1/items/{a}/grants", {"json": {"username": "rev2", "reason": "why not"}}, 403, "grant"),
        ("off1", "GET", f"/api/v1/items/{a}/custody", {}, 403, "view_custody"),
        ("rev2", "GET", f"/api/v1/cases/{case['id']}", {}, 404, "case_view"),
        ("rev1", "GET", "/api/v1/users", {}, 403, "list_users"),
        ("off1", "GET", "/api/v1/ingest/skipped", {}, 403, "see_skipped"),
    ]
    for who, method, url, kwargs, status, action in refused:
        before = len(denials(rt, action))
        r = c[who].request(method, url, **kwargs)
        assert r.status_code == status and r.json()["error"]["code"] in ("forbidden", "not_found"), (url, r.text)
        recorded = denials(rt, action)
        assert len(recorded) == before + 1, (who, url)
        assert f"user={who};" in recorded[-1]["agent"] and recorded[-1]["reason"]
