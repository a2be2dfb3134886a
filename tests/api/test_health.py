from fastapi.testclient import TestClient

from api.app import create_app


def test_health_without_daemon():
    assert TestClient(create_app()).get("/healthz").json() == {"status": "ok"}


def test_health_reports_the_daemon():
    state = {"database_ok": False}
    client = TestClient(create_app(lambda: state))
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "degraded"
    state["database_ok"] = True
    assert client.get("/healthz").status_code == 200


def test_health_degrades_when_the_daemon_thread_died():
    client = TestClient(create_app(lambda: {"database_ok": True, "running": False}))
    assert client.get("/healthz").status_code == 503
