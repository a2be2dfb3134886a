"""A world for API tests: users of two units, device assignments, clips ingested for real."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from minio.commonconfig import CopySource
from sqlalchemy import select, text

from api.app import create_app
from evidence import devices, users
from evidence.models import CustodyEvent, Item
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from storage_config.provision import open_store, provision
from storage_config.settings import Settings
from tests.media import drop
from tests.servers import create_pg_database, drop_pg_database
from tests.settings import settings_for

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


@dataclass
class Snapshot:
    """A world built once per session (per xdist worker), for each test to copy."""

    settings: Settings
    ids: dict[str, int]
    passwords: dict[str, str]
    tokens: dict[str, str]
    database: str | None = None  # PostgreSQL: the template database holding the world


def _populate(settings: Settings, clips: dict[str, Path], scratch: Path) -> Snapshot:
    """Devices, users and two clips ingested for real (proxies made by ffmpeg), everyone signed in."""
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
    variant = scratch / "b.mp4"
    variant.write_bytes(clips["h264"].read_bytes() + b"unit-2")
    ids = {}
    for key, src, rel in (("a", clips["h264"], "ZFY0001/a.mp4"), ("b", variant, "ZFY0002/b.mp4")):
        result = ingest_file(rt, settings.points[0], drop(src, upload, rel))
        worker.drain(rt, item_ids=[result.item_id])
        ids[key] = result.item_id
    app = create_app(settings)
    tokens = {}
    for name, password in passwords.items():
        client = TestClient(app)
        r = client.post("/api/v1/auth/token", data={"username": name, "password": password})
        assert r.status_code == 200, r.text
        tokens[name] = r.json()["access_token"]  # stored hashed: valid in every copy for 8 hours
        client.close()
    app.state.services.engine.dispose()
    rt.close()
    return Snapshot(settings, ids, passwords, tokens)


@pytest.fixture(scope="session")
def world_file(clips, tmp_path_factory) -> Snapshot:
    root = tmp_path_factory.mktemp("world-file")
    return _populate(settings_for(root / "home"), clips, root)


@pytest.fixture(scope="session")
def world_pg(clips, tmp_path_factory, pg_template) -> Snapshot:
    root = tmp_path_factory.mktemp("world-pg")
    name, url = create_pg_database(template=pg_template, prefix="evidence_world")
    snapshot = _populate(settings_for(root / "home", database_url=url), clips, root)
    snapshot.database = name
    yield snapshot
    drop_pg_database(name)


@pytest.fixture(scope="session")
def world_s3(clips, tmp_path_factory, moto) -> Snapshot:
    root = tmp_path_factory.mktemp("world-s3")
    return _populate(settings_for(root / "home", storage_url=moto.url()), clips, root)


def _copy_bucket(source: Settings, target: Settings) -> None:
    """Server-side copies of every object, into the target's new (provisioned, versioned) bucket."""
    src, dst = open_store(source), open_store(target)
    provision(dst)
    for key, _ in src.list_keys(""):
        dst.client.copy_object(bucket_name=dst.bucket, object_name=key, source=CopySource(src.bucket, key))


def _rehome(rt, old: Path, new: Path) -> None:
    """Point the copied receipts at this test's upload point (custody events keep the snapshot's
    paths: they are hash-chained history)."""
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE receipts SET upload_point = replace(upload_point, :old, :new),"
                " source_disposition = replace(source_disposition, :old, :new)"
            ),
            {"old": str(old), "new": str(new)},
        )


@pytest.fixture
def world(request, make_settings, clips):
    """Two clips from two units' officers, ingested for real, and one signed-in client per person.

    The folder store and SQLite by default; some tests also run on S3 or PostgreSQL
    (indirect parametrization: "s3", "pg"). Each test gets its own copy of a world built once
    per session: the home folder copied, the database file or template copied, the bucket copied.
    """
    backend = getattr(request, "param", "file")
    snapshot: Snapshot = request.getfixturevalue(f"world_{backend}")
    extra = {}
    if backend == "s3":
        extra["storage_url"] = request.getfixturevalue("moto").url()
    if backend == "pg":
        database, extra["database_url"] = create_pg_database(template=snapshot.database)
        request.addfinalizer(lambda: drop_pg_database(database))
    settings = make_settings(**extra)
    shutil.copytree(snapshot.settings.home, settings.home)
    if backend == "s3":
        _copy_bucket(snapshot.settings, settings)
    rt = open_runtime(settings, "test")
    _rehome(rt, snapshot.settings.home, settings.home)
    app = create_app(settings)
    clients = {}
    for name, token in snapshot.tokens.items():
        client = TestClient(app)
        client.headers["Authorization"] = f"Bearer {token}"
        clients[name] = client
    yield {
        "rt": rt,
        "app": app,
        "ids": dict(snapshot.ids),
        "clients": clients,
        "passwords": dict(snapshot.passwords),
        "clips": clips,
    }
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
