"""A world for API tests: users of two units, device assignments, clips ingested for real."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from evidence import devices, users
from evidence.models import CustodyEvent, Item
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.media import drop

PEOPLE = {
    # name: (roles, unit, officer id)
    "off1": (["officer"], "U1", "110001"),
    "off2": (["officer"], "U2", "220002"),
    "rev1": (["reviewer"], "U1", None),
    "rev2": (["reviewer"], "U2", None),
    "rev3": (["reviewer"], "U3", None),
    "sup1": (["supervisor"], "U1", None),
    "aud": (["auditor"], "U9", None),
    "adm": (["admin"], "U1", None),
}


@pytest.fixture
def world(request, make_settings, clips, tmp_path):
    """Two clips from two units' officers, ingested for real, and one signed-in client per person.

    The folder store and SQLite by default; some tests also run on S3 or PostgreSQL
    (indirect parametrization: "s3", "pg").
    """
    backend = getattr(request, "param", "file")
    extra = {}
    if backend == "s3":
        extra["storage_url"] = request.getfixturevalue("moto").url()
    if backend == "pg":
        extra["database_url"] = request.getfixturevalue("pg_url")
    settings = make_settings(**extra)
    rt = open_runtime(settings, "test")
    since = datetime(2026, 1, 1, tzinfo=UTC)
    passwords = {}
    with transaction(rt.sessions) as session:
        devices.assign(session, "ZFY0001", "110001", since, "U1")
        devices.assign(session, "ZFY0002", "220002", since, "U2")
        for name, (roles, unit, officer) in PEOPLE.items():
            user, passwords[name] = users.add_user(session, name, roles, unit, officer)
            user.must_change_password = False  # as if each had chosen their own (tests/api/test_auth.py)
    upload = settings.points[0].path
    variant = tmp_path / "b.mp4"
    variant.write_bytes(clips["h264"].read_bytes() + b"unit-2")
    ids = {}
    for key, src, rel in (("a", clips["h264"], "ZFY0001/a.mp4"), ("b", variant, "ZFY0002/b.mp4")):
        result = ingest_file(rt, settings.points[0], drop(src, upload, rel))
        worker.drain(rt, item_ids=[result.item_id])
        ids[key] = result.item_id
    app = create_app(settings)
    clients = {}
    for name, password in passwords.items():
        client = TestClient(app)
        r = client.post("/api/v1/auth/token", data={"username": name, "password": password})
        assert r.status_code == 200, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        clients[name] = client
    yield {"rt": rt, "app": app, "ids": ids, "clients": clients, "passwords": passwords, "clips": clips}
    for client in clients.values():
        client.close()
    app.state.services.engine.dispose()
    rt.close()


def events(rt, item_id, kind):
    with transaction(rt.sessions) as session:
        return list(
            session.scalars(select(CustodyEvent).where(CustodyEvent.item_id == item_id, CustodyEvent.kind == kind))
        )


def stored(rt, item_id, column):
    with transaction(rt.sessions) as session:
        key = getattr(session.get(Item, item_id), column)
    return b"".join(rt.store.iter_chunks(key))


def denials(rt, action: str) -> list[dict]:
    """The access_denied custody events for ``action`` (any item, case or none), as details + agent."""
    with transaction(rt.sessions) as session:
        found = session.scalars(select(CustodyEvent).where(CustodyEvent.kind == "access_denied"))
        return [{**json.loads(e.details), "agent": e.agent} for e in found if json.loads(e.details)["action"] == action]
