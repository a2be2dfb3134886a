"""The access log: one line per request (method, path, status, bytes, time, user), never a secret."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

LINE = re.compile(
    r'^(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r"(?P<ms>\d+\.\d)ms user=(?P<user>\S+)$"
)


def lines(caplog) -> list[dict]:
    found = [LINE.match(r.getMessage()) for r in caplog.records if r.name == "evidence.access"]
    assert all(found), [r.getMessage() for r in caplog.records if r.name == "evidence.access"]
    return [m.groupdict() for m in found]


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.INFO, logger="evidence.access")
    return caplog


def test_each_request_is_logged_with_its_user_and_no_secret(world, logged):
    rev1 = world["clients"]["rev1"]
    item = world["ids"]["a"]
    token = rev1.headers["Authorization"].split()[1]
    assert rev1.get("/api/v1/me").status_code == 200
    media = rev1.get(f"/api/v1/items/{item}/proxy")
    assert media.status_code == 200
    assert rev1.get(f"/api/v1/items/{item}?token=sneaky-query-secret").status_code == 200
    assert world["clients"]["off2"].get(f"/api/v1/items/{item}").status_code == 404
    fresh = TestClient(world["app"])
    fresh.post("/api/v1/auth/token", data={"username": "sup1", "password": world["passwords"]["sup1"]})
    fresh.get("/api/v1/me")

    me, proxy, meta, refused, signin, anonymous = lines(logged)
    assert me == {**me, "method": "GET", "path": "/api/v1/me", "status": "200", "user": "rev1"}
    assert int(me["bytes"]) > 0 and float(me["ms"]) >= 0
    assert proxy["path"] == f"/api/v1/items/{item}/proxy" and proxy["user"] == "rev1"
    assert int(proxy["bytes"]) == len(media.content), "a streamed body is counted in full"
    assert meta["path"] == f"/api/v1/items/{item}" and meta["user"] == "rev1"
    assert refused["status"] == "404" and refused["user"] == "off2"
    assert signin["method"] == "POST" and signin["status"] == "200" and signin["user"] == "-"
    assert anonymous["status"] == "401" and anonymous["user"] == "-"
    text = "\n".join(r.getMessage() for r in logged.records)
    assert token not in text and "sneaky-query-secret" not in text
    assert world["passwords"]["sup1"] not in text


def test_a_path_cannot_forge_a_log_line(make_settings, logged):
    client = TestClient(create_app(make_settings()))
    client.get('/nowhere%0A127.0.0.1 "GET /forged" 200 1 1.0ms user=admin')
    (line,) = lines(logged)
    assert line["status"] == "404" and "\n" not in line["path"] and " " not in line["path"]


def test_the_access_log_can_be_switched_off(make_settings, logged):
    client = TestClient(create_app(make_settings(access_log=False)))
    assert client.get("/healthz").status_code == 200
    assert lines(logged) == []
