"""Property-based run of the whole OpenAPI spec (schemathesis), authorised as each role:
no 5xx, every error is JSON in the one error format, and every response matches the documented
status codes, content types and schemas.

The run once revoked its own token early on (POST /auth/revoke), so every later request was a 401
that proved nothing; and hypothesis draws mostly small integers, so it never tried an id of 2^63
(which overflowed the database driver into a plain-text 500). Now sign-out gets a throwaway token,
a 401 fails the run, and every generated request may have one of its integers, times or texts
(path, query or top-level body field) swapped for an extreme value. One role runs on PostgreSQL too.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, text

from api.app import create_app
from api.services import open_services
from evidence import cases, devices, users
from evidence.models import Item
from evidence.retention import Rules
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from storage_config.settings import load_settings
from tests.hygiene import scratch_dir
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
HOME = scratch_dir("evidence-schema-")  # removed at the session's end even if no test here runs
SETTINGS = load_settings(home=HOME, station_id="ST01", timezone="Asia/Shanghai", max_upload_bytes=1_000_000)
APP = create_app(SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
EXTREMES = {
    int: [0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1],
    "time": ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"],  # overflowing into UTC
    str: ["a\x00b"],
}  # PostgreSQL can neither store nor compare text holding a NUL


@schema.hook
def flatmap_case(_context, case):
    """The case as generated, or with one integer, time or text of it swapped for an extreme value."""
    parts = {
        part: values for part in ("path_parameters", "query", "body") if isinstance(values := getattr(case, part), dict)
    }
    slots = [
        (part, key, "time" if type(value) is str and _is_time(value) else type(value))
        for part, values in parts.items()
        for key, value in values.items()
        if type(value) in (int, str)
    ]
    if not slots:
        return st.just(case)

    def swap(slot):
        part, key, kind = slot
        return st.sampled_from(EXTREMES[kind]).map(lambda value: _with(part, key, value))

    def _with(part, key, value):
        setattr(case, part, {**parts[part], key: value})
        return case

    return st.one_of(st.just(case), st.sampled_from(slots).flatmap(swap))


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return "T" in text


def errors_are_json(_ctx, response, case) -> None:
    """No 5xx at all, and every error answers ``{"error": {"code", "message"}}`` as JSON."""
    assert response.status_code < 500, f"{case.operation.label}: {response.status_code} {response.text[:300]}"
    # The run once revoked its own token early on (POST /auth/revoke), and every later request
    # was a 401 that proved nothing: a signed-in run must stay signed in.
    assert response.status_code != 401 or case.operation.path.startswith("/api/v1/auth/"), response.text[:300]
    if response.status_code >= 400:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.text[:300]
        if case.method.upper() == "HEAD":  # the headers of GET, with no body (RFC 9110 9.3.2)
            assert response.content == b""
            return
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


CHECKS = [
    not_a_server_error,
    errors_are_json,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def populate(settings, clips):
    """Users of every role, a real recording in a case with a tag; the runtime and a token maker
    (a throwaway token for sign-out, which revokes the token it carries)."""
    rt = open_runtime(settings, "test")
    issued = {}
    with transaction(rt.sessions) as session:
        devices.assign(session, "ZFY0001", "110001", datetime(2026, 1, 1, tzinfo=UTC), "U1")
        for role, (roles, unit, officer) in ROLES.items():
            user, _ = users.add_user(session, role, roles, unit, officer)
            user.must_change_password = False
            issued[role] = users.issue_token(session, user)[0]
    point = settings.points[0]
    result = ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4"))
    worker.drain(rt, item_ids=[result.item_id])
    with transaction(rt.sessions) as session:  # a case, a link and a tag, so filters and case routes reach deep
        item = session.get(Item, result.item_id)
        case = cases.open_case(session, "C-1", "schema run", "U1", "supervisor", "test")
        cases.link(session, case, item, "schema run", "supervisor", "test", rules=Rules())
        cases.add_mark(session, item, "tag", "t", "supervisor", "test", rules=Rules())

    def token(role: str, case) -> str:
        if case.operation.path != "/api/v1/auth/revoke":
            return issued[role]
        with transaction(rt.sessions) as session:
            return users.issue_token(session, users.get_user(session, role))[0]

    return rt, token


@pytest.fixture(scope="module")
def sqlite_world(clips):
    rt, token = populate(SETTINGS, clips)
    yield APP.state.services, token
    rt.close()
    APP.state.services.engine.dispose()
    shutil.rmtree(HOME, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_world(clips, pg_database, tmp_path_factory):
    """The same world on PostgreSQL (which refuses values SQLite takes, such as a NUL or 2^31)."""
    engine = create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    pg = SETTINGS.model_copy(update={"home": tmp_path_factory.mktemp("schema-pg"), "database_url": pg_database})
    services = open_services(pg, migrate_db=True)
    rt, token = populate(pg, clips)
    yield services, token
    rt.close()
    services.engine.dispose()


def _conformance_test(role: str, on_postgresql: bool = False):
    def run(case, world) -> None:
        services, token = world
        # the schema is bound to the one app: point it at this world's database for the call
        saved, APP.state.services = APP.state.services, services
        try:
            case.call_and_validate(headers={"Authorization": f"Bearer {token(role, case)}"}, checks=CHECKS)
        finally:
            APP.state.services = saved

    if on_postgresql:

        @schema.parametrize()
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        def test(case, pg_world):
            run(case, pg_world)
    else:

        @schema.parametrize()
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        def test(case, sqlite_world):
            run(case, sqlite_world)

    return test


# one test per role: a parametrized fixture does not combine with schemathesis' own parametrization
test_api_conforms_as_officer = _conformance_test("officer")
test_api_conforms_as_reviewer = _conformance_test("reviewer")
test_api_conforms_as_supervisor = _conformance_test("supervisor")
test_api_conforms_as_auditor = _conformance_test("auditor")
test_api_conforms_as_admin = _conformance_test("admin")
# the role that reaches the most routes, once more on PostgreSQL
test_api_conforms_as_supervisor_on_postgresql = _conformance_test("supervisor", on_postgresql=True)
