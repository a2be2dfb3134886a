"""The cases pages: the list, one case with its recordings, clips, exports and hold; who is offered what."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from evidence import case_overview, users
from evidence.unit_of_work import transaction
from evidence.users import Principal
from ingest import worker
from tests.api.conftest import denials
from tests.api.web.conftest import click_through, page_client, shot, sign_in, wait_for


def _link_and_clip(world, case_id: int) -> dict:
    """Item a linked to the case by rev1, and a clip of it cut by the worker (real ffmpeg)."""
    c, a = world["clients"], world["ids"]["a"]
    r = c["rev1"].post(f"/api/v1/cases/{case_id}/items", json={"item_id": a, "reason": "seen at the scene"})
    assert r.status_code == 201, r.text
    r = c["rev1"].post(f"/api/v1/items/{a}/clips", json={"start_s": 0.5, "end_s": 1.5, "case_id": case_id})
    assert r.status_code == 202, r.text
    worker.drain(world["rt"])
    clip = c["rev1"].get(f"/api/v1/clips/{r.json()['clip_request_id']}").json()
    assert clip["status"] == "done", clip
    return {"id": case_id, "clip_request": clip["clip_request_id"], "clip_item": clip["item_id"]}


def _case_with_clip(world, number: str = "C-WEB") -> dict:
    case = world["clients"]["rev1"].post("/api/v1/cases", json={"number": number, "title": "码头 纠纷"}).json()
    return _link_and_clip(world, case["id"])


@pytest.fixture
def made(world):
    return _case_with_clip(world)


def test_open_a_case_see_its_recording_and_clip_and_export_it(browser, live):
    a = live.world["ids"]["a"]
    sign_in(browser, live, "sup1")
    browser.get(live.at("/cases"))
    browser.find_element(By.ID, "case-number").send_keys("C-WEB")
    browser.find_element(By.ID, "case-title").send_keys("码头 纠纷")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "form[data-api='/api/v1/cases'] button"))
    case_id = int(browser.current_url.rsplit("/", 1)[1])  # the new case's page
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=case-status]").text == "办理中"
    made = _link_and_clip(live.world, case_id)
    browser.get(live.at("/cases"))
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-case='{made['id']}']")
    assert row.find_element(By.CSS_SELECTOR, "[data-testid=item-count]").text == "2"  # a and its clip
    assert "办理中" in row.text
    shot(browser, "cases")

    click_through(browser, row.find_element(By.LINK_TEXT, "C-WEB"))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("案件 C-WEB")
    card = browser.find_element(By.CSS_SELECTOR, f"[data-item='{a}']")
    assert card.find_element(By.TAG_NAME, "a").get_attribute("href") == live.at(f"/items/{a}")
    poster = card.find_element(By.TAG_NAME, "img")
    wait_for(browser, lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", poster))
    clip = browser.find_element(By.CSS_SELECTOR, f"tr[data-clip='{made['clip_request']}']")
    assert "就绪" in clip.text and clip.find_element(By.LINK_TEXT, f"#{made['clip_item']}")
    assert clip.find_element(By.CSS_SELECTOR, f"form[action='/api/v1/items/{made['clip_item']}/original']")

    browser.find_element(By.ID, "export-button").click()
    fresh = "#export-rows tr[data-export]:not([data-export=''])"
    queued = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, fresh))
    assert queued[0].find_element(By.TAG_NAME, "progress").is_displayed()
    worker.drain(live.world["rt"])  # the worker makes the package while the page polls
    link = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#export-rows .export-link a"))[0]
    export_id = queued[0].get_attribute("data-export")
    assert link.get_attribute("href") == live.at(f"/api/v1/cases/{made['id']}/exports/{export_id}/download")
    assert queued[0].get_attribute("data-state") == "done" and "就绪" in queued[0].text
    assert not queued[0].find_element(By.TAG_NAME, "progress").is_displayed()
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "case")
    got = live.world["clients"]["sup1"].get(f"/api/v1/cases/{made['id']}/exports/{export_id}/download")
    assert got.status_code == 200 and got.headers["content-type"] == "application/x-tar"


def test_each_role_is_offered_only_what_it_may_do(world, made):
    path = f"/cases/{made['id']}"
    pages = {name: page_client(world, name).get(path) for name in ("sup1", "rev1", "aud", "rev2", "off1")}
    for name in ("sup1", "rev1", "aud"):
        assert pages[name].status_code == 200, (name, pages[name].text)
        assert f'data-item="{world["ids"]["a"]}"' in pages[name].text
    sup, rev, aud = pages["sup1"].text, pages["rev1"].text, pages["aud"].text
    assert 'id="export-form"' in sup and 'id="assign-form"' in sup and 'id="hold-form"' in sup
    assert 'id="export-form"' in rev and 'id="assign-form"' not in rev and 'id="hold-form"' not in rev
    # the auditor reads the case, but is offered no export, and the API refuses one (recorded)
    assert 'id="export-form"' not in aud and 'id="assign-form"' not in aud and 'id="hold-form"' not in aud
    assert "/poster" not in aud  # media only where granted: no poster to show
    before = len(denials(world["rt"], "case_export"))
    assert world["clients"]["aud"].post(f"/api/v1/cases/{made['id']}/exports", json={}).status_code == 403
    assert len(denials(world["rt"], "case_export")) == before + 1
    # a case of another unit does not exist for them, nor for an officer
    assert pages["rev2"].status_code == 404 and "Not found" in pages["rev2"].text
    assert pages["off1"].status_code == 404
    listed = page_client(world, "rev2").get("/cases")
    assert listed.status_code == 200 and "C-WEB" not in listed.text


def test_the_list_offers_opening_a_case_to_reviewers_and_supervisors_only(world, made):
    for name, offered in (("sup1", True), ("rev1", True), ("aud", False)):
        page = page_client(world, name).get("/cases")
        assert page.status_code == 200 and "C-WEB" in page.text
        assert ('data-api="/api/v1/cases"' in page.text) is offered, name
    assert 'data-case="' not in page_client(world, "rev2").get("/cases?status=open").text
    assert "C-WEB" not in page_client(world, "sup1").get("/cases?status=closed").text
    r = world["clients"]["aud"].post("/api/v1/cases", json={"number": "C-AUD", "title": "no"})
    assert r.status_code == 403


def test_supervisor_places_and_releases_the_hold_on_the_page(browser, live, made):
    sign_in(browser, live, "sup1")
    browser.get(live.at(f"/cases/{made['id']}"))
    browser.find_element(By.ID, "hold-reason").send_keys("法院保全令 17")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "#hold-form button"))
    assert "法院保全令 17" in browser.find_element(By.CSS_SELECTOR, "[data-testid=hold]").text
    browser.find_element(By.ID, "release-reason").send_keys("保全令已撤销")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "#release-form button"))
    assert browser.find_element(By.ID, "hold-form")
    held = live.world["clients"]["sup1"].get(f"/api/v1/cases/{made['id']}/custody").json()
    kinds = [e["kind"] for e in held]
    assert kinds.count("hold_placed") == 1 and kinds.count("hold_released") == 1


def test_the_page_shows_the_hold_placed_through_the_api(world, made):
    c, path = world["clients"]["sup1"], f"/api/v1/cases/{made['id']}/hold"
    page = page_client(world, "sup1")
    assert c.post(path, json={"reason": "court order 17"}).status_code == 201
    held = page.get(f"/cases/{made['id']}").text
    assert "court order 17" in held and 'id="release-form"' in held and 'id="hold-form"' not in held
    assert c.delete(path, params={"reason": "order lifted"}).status_code == 200
    assert 'id="hold-form"' in page.get(f"/cases/{made['id']}").text


def _principal(world, session, name: str) -> Principal:
    token = world["clients"][name].headers["Authorization"].split()[1]
    return users.signed_in(session.connection(), token)


def test_overview_lists_items_clip_requests_and_what_the_reader_may_do(world, made):
    with transaction(world["rt"].sessions) as session:
        view = case_overview.overview_for(session, _principal(world, session, "rev1"), made["id"])
        assert [i.id for i in view.items] == [world["ids"]["a"], made["clip_item"]]
        assert view.items[1].derived_from == world["ids"]["a"] and view.items[0].poster
        assert [(k.id, k.state, k.item_id, k.download) for k in view.clips] == [
            (made["clip_request"], "done", made["clip_item"], True)
        ]
        assert view.may_export and not view.may_manage and not view.may_hold and view.hidden_items == 0
        audit = case_overview.overview_for(session, _principal(world, session, "aud"), made["id"])
        assert not audit.may_export and not any(i.poster or i.download for i in audit.items)
        assert not audit.clips[0].download
