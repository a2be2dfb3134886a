"""The admin page: accounts (add, with the one-time password shown once; the new user signs in with
it and must choose their own), recorders and their assignments, shifts; only for administrators."""

from __future__ import annotations

from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from tests.api.conftest import denials
from tests.api.web.conftest import click_through, csrf_of, page_client, shot, sign_in, wait_for


def test_only_admins_get_the_page_and_its_link(world):
    adm = page_client(world, "adm")
    page = adm.get("/admin")
    assert page.status_code == 200, page.text
    for shown in ("off1", "110001", "ZFY0001", "ZFY0002", 'href="/admin"'):
        assert shown in page.text
    for name in ("aud", "sup1", "rev1", "off1"):
        c = page_client(world, name)
        refused = c.get("/admin")
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        assert 'href="/admin"' not in refused.text  # not in their header either
        # nor does the API do for them what the page would
        api = world["clients"][name]
        assert api.post("/api/v1/users", json={"username": "z", "roles": ["admin"], "unit": "U1"}).status_code == 403
        assert api.post("/api/v1/devices/ZFY0001/assignments", json={"officer_id": "110001"}).status_code == 403
        shift = {"officer_id": "110001", "starts": "2027-03-01T08:00", "ends": "2027-03-01T20:00"}
        assert c.post("/admin/shifts", data={"csrf_token": csrf_of(world, name), **shift}).status_code == 403
    assert len(denials(world["rt"], "admin_page")) == 4 and len(denials(world["rt"], "admin_add_shift")) == 4
    assert world["clients"]["adm"].get("/api/v1/shifts").json() == []
    assert page_client(world, "adm").get("/admin", follow_redirects=False).status_code == 200
    nobody = TestClient(world["app"]).get("/admin", follow_redirects=False)
    assert nobody.status_code == 303 and nobody.headers["location"].startswith("/?next=")


def test_an_admin_adds_a_shift_in_station_time(world):
    adm = page_client(world, "adm")
    form = {"csrf_token": csrf_of(world, "adm"), "officer_id": "110001"}
    r = adm.post(
        "/admin/shifts", data={**form, "starts": "2027-03-01T08:00", "ends": "2027-03-01T20:00"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin#shifts"
    [shift] = world["clients"]["adm"].get("/api/v1/shifts", params={"officer": "110001"}).json()
    assert (shift["from"], shift["to"], shift["hours"]) == ("2027-03-01T00:00:00Z", "2027-03-01T12:00:00Z", 12.0)
    assert shift["created_by"] == "adm"
    clash = adm.post("/admin/shifts", data={**form, "starts": "2027-03-01T19:00", "ends": "2027-03-01T22:00"})
    assert clash.status_code == 422 and "The shift was not added" in clash.text
    assert 'value="2027-03-01T19:00"' in clash.text  # the form keeps what was typed
    backwards = adm.post("/admin/shifts", data={**form, "starts": "2027-03-02T08:00", "ends": "2027-03-02T07:00"})
    assert backwards.status_code == 422
    no_token = adm.post(
        "/admin/shifts", data={"officer_id": "110001", "starts": "2027-03-03T08:00", "ends": "2027-03-03T09:00"}
    )
    assert no_token.status_code == 403
    assert len(world["clients"]["adm"].get("/api/v1/shifts", params={"officer": "110001"}).json()) == 1


def test_an_admin_adds_a_user_who_signs_in_with_the_one_time_password(browser, live):
    sign_in(browser, live, "adm")
    browser.get(live.at("/admin"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "系统管理"
    browser.find_element(By.ID, "nu-username").send_keys("rev9")
    browser.find_element(By.ID, "nu-unit").send_keys("U1")
    browser.find_element(By.ID, "nu-role-reviewer").click()
    browser.find_element(By.CSS_SELECTOR, "#add-user button[type=submit]").click()
    secret = wait_for(browser, ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid=one-time-password]")))
    password = secret.text
    assert len(password) >= 12
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "admin")
    browser.get(live.at("/admin"))  # shown once: not on the page again
    assert password not in browser.page_source and "rev9" in browser.page_source
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/signout'] button"))
    sign_in(browser, live, "rev9", password)
    assert browser.current_url == live.at("/password")
