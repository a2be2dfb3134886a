"""The search and recording pages: filters in the URL, grid and table, the player, and the acts a
role may do (offered on the page exactly when the API allows them)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from selenium.webdriver.common.by import By

from api.web import items as item_pages
from ingest import worker
from tests.api.conftest import denials, events
from tests.api.web.conftest import click_through, page_client, shot, sign_in, wait_for


def open_case(world, name: str, number: str) -> int:
    r = world["clients"][name].post("/api/v1/cases", json={"number": number, "title": f"case {number}"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def shown(html: str) -> list[int]:
    """The ids of the recordings a results page lists."""
    return [int(i) for i in re.findall(r'<(?:li|tr) [^>]*data-item-id="(\d+)"', html)]


def form_ids(html: str) -> set[str]:
    return set(re.findall(r'<form [^>]*id="([a-z-]+)"', html))


# -- search (server side) ---------------------------------------------------------------------


def test_every_filter_is_a_query_parameter(world):
    a, b = world["ids"]["a"], world["ids"]["b"]
    rev1 = page_client(world, "rev1", lang=None)
    assert shown(rev1.get("/items").text) == [a]  # U1's recordings only
    # item a: recorder ZFY0001, officer 110001, recorded 2026-11-01 16:00 station time, uploaded late
    for query, expected in (
        ("device=ZFY0001", [a]),
        ("officer=110001&unit=U1&station=ST01", [a]),
        ("recorded_from=2026-11-01&recorded_to=2026-11-01", [a]),
        ("recorded_from=2026-11-02", []),
        ("recorded_to=2026-10-31", []),
        ("on_time=false", [a]),
        ("on_time=true", []),
        ("status=ready", [a]),
        ("status=expired", []),
    ):
        r = rev1.get(f"/items?{query}")
        assert r.status_code == 200, (query, r.text)
        assert shown(r.text) == expected, query
    # the form shows the search it made, so it can be refined
    r = rev1.get("/items?device=ZFY0001&on_time=false&view=table")
    assert 'name="device" value="ZFY0001"' in r.text and '<option value="false" selected>' in r.text
    assert '<table data-testid="results">' in r.text and "ZFY0001" in r.text
    # marks and cases filter too, and are shown in the results
    rev1_api = world["clients"]["rev1"]
    assert rev1_api.post(f"/api/v1/items/{a}/marks", json={"kind": "tag", "value": "traffic"}).status_code == 201
    case = open_case(world, "rev1", "C-2026-7")
    linked = rev1_api.post(f"/api/v1/cases/{case}/items", json={"item_id": a, "reason": "the stop"})
    assert linked.status_code == 201
    r = rev1.get("/items?mark=traffic&case=C-2026-7&view=table")
    assert shown(r.text) == [a] and "traffic" in r.text and "C-2026-7" in r.text
    # a name this system does not know is said, not answered with "nothing matches"
    r = rev1.get("/items?device=ZFY9999")
    assert r.status_code == 422 and "ZFY9999" in r.text and 'role="alert"' in r.text
    assert shown(page_client(world, "aud", lang=None).get("/items?unit=U1").text) == [a]
    assert shown(page_client(world, "aud", lang=None).get("/items?unit=U2").text) == [b]


def test_results_come_a_page_at_a_time_and_the_next_page_keeps_the_search(world, monkeypatch):
    monkeypatch.setattr(item_pages, "PAGE_SIZE", 1)
    a, b = world["ids"]["a"], world["ids"]["b"]
    aud = page_client(world, "aud", lang=None)
    first = aud.get("/items?view=table&status=ready")
    assert shown(first.text) == [a]
    (link,) = re.findall(r'<a href="([^"]+)" rel="next"', first.text)
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert query["view"] == ["table"] and query["status"] == ["ready"] and query["cursor"]
    second = aud.get(link.replace("&amp;", "&"))
    assert shown(second.text) == [b] and 'rel="next"' not in second.text
    assert aud.get("/items?cursor=not-a-cursor").status_code == 422


def test_posters_only_for_those_who_may_see_the_media(world):
    a, b = world["ids"]["a"], world["ids"]["b"]
    rev1 = page_client(world, "rev1", lang=None).get("/items").text
    assert f'src="/api/v1/items/{a}/poster"' in rev1
    # the auditor reads every unit's metadata but sees media only where granted: no poster asked for
    aud = page_client(world, "aud", lang=None).get("/items").text
    assert shown(aud) == [a, b] and "/poster" not in aud
    assert denials(world["rt"], "view_media") == []


def test_officers_see_only_their_own(world):
    a, b = world["ids"]["a"], world["ids"]["b"]
    off1 = page_client(world, "off1", lang=None)
    assert shown(off1.get("/items").text) == [a]
    assert shown(off1.get("/items?unit=U2").text) == []
    r = off1.get(f"/items/{b}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    (denied,) = denials(world["rt"], "view_metadata")
    assert "user=off1" in denied["agent"]
    # their own: the player, but none of the reviewers' acts
    page = off1.get(f"/items/{a}").text
    assert f'src="/api/v1/items/{a}/proxy"' in page
    assert form_ids(page) & {"link-form", "clip-form", "tag-form", "original-form", "hold-form", "excuse-form"} == set()
    assert 'data-testid="custody"' not in page


def test_a_role_that_may_not_link_gets_no_form_and_the_api_refuses(world):
    a = world["ids"]["a"]
    case = open_case(world, "sup1", "C-2026-8")
    for name in ("aud", "off1"):
        page = page_client(world, name, lang=None).get(f"/items/{a}").text
        assert "link-form" not in page and "clip-form" not in page
        r = world["clients"][name].post(f"/api/v1/cases/{case}/items", json={"item_id": a, "reason": "try"})
        assert r.status_code in (403, 404), (name, r.text)
    page = page_client(world, "rev1", lang=None).get(f"/items/{a}").text
    assert "link-form" in page and f'<option value="{case}">C-2026-8' in page


def test_an_auditor_reads_facts_and_custody_but_gets_no_media_or_download(world):
    a = world["ids"]["a"]
    page = page_client(world, "aud", lang=None).get(f"/items/{a}").text
    assert 'data-testid="custody"' in page and 'data-testid="no-media"' in page
    assert "/proxy" not in page and "/poster" not in page and "original-form" not in page
    assert world["clients"]["aud"].get(f"/api/v1/items/{a}/original", params={"reason": "audit"}).status_code == 403
    # granted the recording by its supervisor, the auditor may watch it (but still not download)
    grant = world["clients"]["sup1"].post(f"/api/v1/items/{a}/grants", json={"username": "aud", "reason": "audit"})
    assert grant.status_code == 201
    page = page_client(world, "aud", lang=None).get(f"/items/{a}").text
    assert f'src="/api/v1/items/{a}/proxy"' in page and "original-form" not in page


def test_lateness_and_holds_are_offered_to_the_units_supervisor_only(world):
    a = world["ids"]["a"]
    rev1 = page_client(world, "rev1", lang=None).get(f"/items/{a}").text
    assert "excuse-form" not in rev1 and "hold-form" not in rev1 and "original-form" in rev1
    assert world["clients"]["rev1"].post(f"/api/v1/items/{a}/hold", json={"reason": "keep"}).status_code == 403
    sup1 = page_client(world, "sup1", lang=None)
    page = sup1.get(f"/items/{a}").text
    assert {"excuse-form", "hold-form"} <= form_ids(page)
    assert re.search(r'data-testid="deadline">\s*<span class="late">', page)
    sup1_api = world["clients"]["sup1"]
    assert sup1_api.post(f"/api/v1/items/{a}/excuses", json={"reason": "recorder dock broken"}).status_code == 201
    assert sup1_api.post(f"/api/v1/items/{a}/hold", json={"reason": "complaint filed"}).status_code == 201
    page = sup1.get(f"/items/{a}").text
    assert "excuse-form" not in page and "recorder dock broken" in page
    assert "hold-form" not in page and "release-form" in page and "complaint filed" in page


def test_the_item_page_logs_nothing_itself_and_media_views_are_the_apis(world):
    a = world["ids"]["a"]
    rt = world["rt"]
    before = len(events(rt, a, "media_viewed"))
    rev1 = page_client(world, "rev1", lang=None)
    assert rev1.get(f"/items/{a}").status_code == 200
    assert len(events(rt, a, "media_viewed")) == before  # the page itself: no media, no event
    assert rev1.get(f"/api/v1/items/{a}/proxy", headers={"Range": "bytes=0-99"}).status_code == 206  # the cookie
    assert len(events(rt, a, "media_viewed")) == before + 1


# -- in the browser -----------------------------------------------------------------------------


def test_search_in_the_browser_then_open_a_recording(browser, live):
    a = live.world["ids"]["a"]
    sign_in(browser, live, "sup1")
    browser.get(live.at("/items?device=ZFY0001"))
    card = browser.find_element(By.CSS_SELECTOR, f'li.card[data-item-id="{a}"]')
    poster = card.find_element(By.TAG_NAME, "img")
    wait_for(browser, lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", poster))
    shot(browser, "items-grid")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "a[data-view=table]"))
    assert "view=table" in browser.current_url and "device=ZFY0001" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, "[name=device]").get_attribute("value") == "ZFY0001"
    shot(browser, "items-table")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, f'tr[data-item-id="{a}"] a'))
    assert browser.current_url == live.at(f"/items/{a}")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(f"录像 {a}")


def test_play_seek_clip_and_link_on_the_recording_page(browser, live):
    world = live.world
    a = world["ids"]["a"]
    case = open_case(world, "rev1", "C-2026-9")
    sign_in(browser, live, "rev1")
    browser.get(live.at(f"/items/{a}"))
    video = browser.find_element(By.ID, "player")
    wait_for(browser, lambda b: b.execute_script("return arguments[0].readyState >= 1", video))
    # seek to the middle and play: the proxy is served in ranges, so the player can jump there
    middle = browser.execute_script(
        "const v = arguments[0]; v.muted = true; v.currentTime = v.duration / 2; v.play(); return v.duration / 2",
        video,
    )
    wait_for(browser, lambda b: b.execute_script("return arguments[0].currentTime", video) > middle)
    browser.execute_script("arguments[0].pause()", video)

    # link the recording to the case
    browser.find_element(By.ID, "link-reason").send_keys("seen at the scene")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "#link-form button[type=submit]"))
    assert "C-2026-9" in browser.find_element(By.CSS_SELECTOR, "[data-testid=cases]").text

    # a clip: in and out points read from the player
    video = browser.find_element(By.ID, "player")
    wait_for(browser, lambda b: b.execute_script("return arguments[0].readyState >= 1", video))
    for point, button in ((0.4, "set-in"), (1.6, "set-out")):
        browser.execute_script("arguments[0].currentTime = arguments[1]", video, point)
        wait_for(browser, lambda b, p=point: abs(b.execute_script("return arguments[0].currentTime", video) - p) < 0.05)
        browser.find_element(By.ID, button).click()
    assert float(browser.find_element(By.ID, "clip-in").get_attribute("value")) == 0.4
    assert float(browser.find_element(By.ID, "clip-out").get_attribute("value")) == 1.6
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "#clip-form button[type=submit]"))
    request = browser.find_element(By.CSS_SELECTOR, "[data-clip-request]")
    assert "0.40 – 1.60" in request.text
    request_id = int(request.get_attribute("data-clip-request"))
    rev1 = world["clients"]["rev1"]
    assert rev1.get(f"/api/v1/clips/{request_id}").json()["case_id"] == case

    worker.drain(world["rt"])  # the worker cuts it
    done = rev1.get(f"/api/v1/clips/{request_id}").json()
    assert done["status"] == "done", done
    browser.get(live.at(f"/items/{a}"))
    made = browser.find_element(By.CSS_SELECTOR, f'[data-clip-request="{request_id}"] a')
    assert made.get_attribute("href") == live.at(f"/items/{done['item_id']}")
    assert done["item_id"] in rev1.get(f"/api/v1/cases/{case}").json()["item_ids"]
    browser.find_element(By.ID, "tag-value").send_keys("scene")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "#tag-form button[type=submit]"))
    assert "scene" in browser.find_element(By.CSS_SELECTOR, "[data-testid=marks]").text
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "item")


def test_the_player_and_the_clip_points_work_from_the_keyboard(browser, live):
    from selenium.webdriver.common.keys import Keys

    a = live.world["ids"]["a"]
    sign_in(browser, live, "rev1")
    browser.get(live.at(f"/items/{a}"))
    video = browser.find_element(By.ID, "player")
    wait_for(browser, lambda b: b.execute_script("return arguments[0].readyState >= 1", video))
    # slowed down, so that the 2 s clip cannot end between two keys on a busy machine
    browser.execute_script("arguments[0].muted = true; arguments[0].playbackRate = 0.2; arguments[0].focus()", video)
    at = lambda: browser.execute_script("return arguments[0].currentTime", video)  # noqa: E731
    video.send_keys("l")  # forward 5 s: the 2 s clip's end
    wait_for(browser, lambda b: at() > 1.9)
    video.send_keys("j")  # back 5 s: the start
    wait_for(browser, lambda b: at() == 0)
    for _ in range(10):
        video.send_keys(".")  # one frame forward each
    wait_for(browser, lambda b: abs(at() - 0.4) < 0.05)
    video.send_keys("i")
    assert abs(float(browser.find_element(By.ID, "clip-in").get_attribute("value")) - 0.4) < 0.05
    paused = lambda: browser.execute_script("return arguments[0].paused", video)  # noqa: E731
    video.send_keys("k")  # play
    wait_for(browser, lambda b: not paused())
    video.send_keys("k")  # pause
    wait_for(browser, lambda b: paused())
    video.send_keys("o")
    assert float(browser.find_element(By.ID, "clip-out").get_attribute("value")) >= 0.4
    video.send_keys(Keys.SPACE)  # the browser's own key: play
    wait_for(browser, lambda b: not paused())
