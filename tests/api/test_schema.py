"""Property-based run of the whole OpenAPI spec (schemathesis), authorised as each role:
no 5xx, and every response matches the documented status codes, content types and schemas."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from evidence import devices, users
from evidence.db import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from storage_config.settings import load_settings
from tests.media import drop

ROLES = {
    "officer": (["officer"], "U1", "110001"),
    "reviewer": (["reviewer"], "U1", None),
    "supervisor": (["supervisor"], "U1", None),
    "auditor": (["auditor"], "U9", None),
    "admin": (["admin"], "U1", None),
}


# The app must exist when the module is collected (schemathesis reads its schema then), so its
# home is made here; the fixture below fills it with users and a real recording before any test.
HOME = Path(tempfile.mkdtemp(prefix="evidence-schema-"))
SETTINGS = load_settings(home=HOME, station_id="ST01", timezone="Asia/Shanghai", max_upload_bytes=1_000_000)
APP = create_app(SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def tokens(clips):
    rt = open_runtime(SETTINGS, "test")
    issued = {}
    with transaction(rt.sessions) as session:
        devices.assign(session, "ZFY0001", "110001", datetime(2026, 1, 1, tzinfo=UTC), "U1")
        for role, (roles, unit, officer) in ROLES.items():
            user, _ = users.add_user(session, role, roles, unit, officer)
            user.must_change_password = False
            issued[role] = users.issue_token(session, user)[0]
    point = SETTINGS.points[0]
    result = ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4"))
    worker.drain(rt, item_ids=[result.item_id])
    yield issued
    rt.close()
    APP.state.services.engine.dispose()
    shutil.rmtree(HOME, ignore_errors=True)


def _conformance_test(role: str):
    @schema.parametrize()
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    def test(case, tokens):
        case.call_and_validate(headers={"Authorization": f"Bearer {tokens[role]}"}, checks=CHECKS)

    return test


# one test per role: a parametrized fixture does not combine with schemathesis' own parametrization
test_api_conforms_as_officer = _conformance_test("officer")
test_api_conforms_as_reviewer = _conformance_test("reviewer")
test_api_conforms_as_supervisor = _conformance_test("supervisor")
test_api_conforms_as_auditor = _conformance_test("auditor")
test_api_conforms_as_admin = _conformance_test("admin")
