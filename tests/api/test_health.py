from fastapi.testclient import TestClient

from api.app import create_app


def test_health_without_daemon(make_settings):
    assert TestClient(create_app(make_settings())).get("/healthz").json() == {"status": "ok"}


def test_health_reports_the_daemon(make_settings):
    state = {"database_ok": False}
    client = TestClient(create_app(make_settings(), lambda: state))
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "degraded"
    state["database_ok"] = True
    assert client.get("/healthz").status_code == 200


def test_health_degrades_when_the_daemon_thread_died(make_settings):
    client = TestClient(create_app(make_settings(), lambda: {"database_ok": True, "running": False}))
    assert client.get("/healthz").status_code == 503


def test_a_database_not_yet_migrated_is_503_not_500(make_settings):
    client = TestClient(create_app(make_settings(), migrate_db=False))
    r = client.post("/api/v1/auth/token", data={"username": "x", "password": "y"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
