import pytest
from fastapi.testclient import TestClient

from api.app import create_app


def test_health_without_daemon(make_settings):
    assert TestClient(create_app(make_settings())).get("/healthz").json() == {
        "status": "ok",
        "fixity": {"items_in_alarm": 0},
    }


def test_health_reports_the_daemon_and_stays_200_while_it_runs(make_settings):
    """Alive is not ready: a daemon waiting for its database is degraded in the body, still 200
    (a monitor restarting it would mend nothing; /readyz says it cannot work now)."""
    state = {"database_ok": False}
    client = TestClient(create_app(make_settings(), lambda: state))
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "degraded" and r.json()["ingest"] == state
    state["database_ok"] = True
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("report", [{"database_ok": True, "running": False}, {"database_ok": True, "failure": "x"}])
def test_health_is_503_down_when_the_daemon_ended_or_gave_up(make_settings, report):
    r = TestClient(create_app(make_settings(), lambda: report)).get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "down"


def test_a_database_not_yet_migrated_is_503_not_500(make_settings):
    client = TestClient(create_app(make_settings(), migrate_db=False))
    r = client.post("/api/v1/auth/token", data={"username": "x", "password": "y"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"


def test_health_says_degraded_with_the_last_error_when_a_part_restarts(make_settings):
    report = {"database_ok": True, "degraded": True, "last_error": "worker: disk on fire", "running": True}
    r = TestClient(create_app(make_settings(), lambda: report)).get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "degraded", "ingest": report, "fixity": {"items_in_alarm": 0}}


def test_a_file_name_that_is_not_utf8_never_makes_health_a_500(make_settings):
    """A non-UTF-8 file name (surrogate escapes) in the last error once made /healthz answer 500 until restart."""
    name = b"/upload/ZFY0001/\xff\xfe.mp4".decode("utf-8", "surrogateescape")
    report = {"database_ok": True, "last_error": f"{name}: unreadable", "running": True}
    r = TestClient(create_app(make_settings(), lambda: report)).get("/healthz")
    assert r.status_code == 200
    assert r.json()["ingest"]["last_error"].endswith(".mp4: unreadable")


@pytest.mark.parametrize(
    "report, says",
    [
        (lambda: 1 / 0, "ZeroDivisionError"),  # the report itself fails
        (lambda: ["not", "a", "dict"], "AttributeError"),
    ],
    ids=["raises", "not-a-dict"],
)
def test_a_broken_health_report_is_a_503_with_its_error_never_a_500(make_settings, report, says):
    r = TestClient(create_app(make_settings(), report)).get("/healthz")
    assert r.status_code == 503 and r.headers["content-type"] == "application/json"
    assert r.json()["status"] == "down" and says in r.json()["error"]


def test_values_json_cannot_hold_are_shown_as_text(make_settings):
    report = {"database_ok": True, "since": {3}}
    r = TestClient(create_app(make_settings(), lambda: report)).get("/healthz")
    assert r.status_code == 200 and r.json()["ingest"]["since"] == "{3}"
