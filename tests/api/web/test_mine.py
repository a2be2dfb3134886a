"""The officer's page: their own recordings, and an upload followed until ingest has preserved it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By

from evidence import devices, my_recordings, users
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from ingest.scan import scan
from tests.api.web.conftest import page_client, shot, sign_in, wait_for


def _ingest_web_uploads(world) -> list:
    """What the daemon does with the web upload point (as tests/api/test_uploads.py drives it)."""
    rt = world["rt"]
    point = rt.settings.web_point
    results = [ingest_file(rt, point, path) for path in scan(point.path, rt.settings.archive_dirname)]
    worker.drain(rt)
    return results


def test_an_officer_uploads_a_recording_and_sees_it_arrive(browser, live, tmp_path):
    a = live.world["ids"]["a"]
    sign_in(browser, live, "off1")
    assert browser.current_url == live.at("/mine")  # an officer's home page
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-item='{a}']")
    assert "a.mp4" in row.text and "2026-11-01 16:00:00" in row.text  # recorded at, station time
    # recorded weeks before the world was built: late, by days
    assert re.fullmatch(r"逾期 \d+ 天 \d+ 小时", row.find_element(By.CSS_SELECTOR, "[data-testid=on-time]").text)
    assert not browser.find_elements(By.CSS_SELECTOR, f"tr[data-item='{live.world['ids']['b']}']")

    clip = tmp_path / "现场 02.mp4"
    clip.write_bytes(live.world["clips"]["h264"].read_bytes() + b"from the browser")
    assert browser.find_element(By.ID, "upload-device").get_attribute("value") == "ZFY0001"
    browser.find_element(By.ID, "upload-file").send_keys(str(clip))
    browser.find_element(By.ID, "upload-button").click()
    panel = browser.find_element(By.ID, "upload-panel")
    wait_for(browser, lambda b: panel.get_attribute("data-upload"))  # the API took the whole file
    assert browser.find_element(By.ID, "upload-progress").get_attribute("value") == "100"
    assert "等待入库" in browser.find_element(By.ID, "upload-status").text

    (result,) = _ingest_web_uploads(live.world)  # the daemon's work, while the page polls
    assert result.outcome == "new"
    fresh = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, f"tr[data-item='{result.item_id}']"))
    assert "现场 02.mp4" in fresh[0].text and "ZFY0001" in fresh[0].text
    status = browser.find_element(By.ID, "upload-status")
    assert "已入库" in status.text and status.find_element(By.LINK_TEXT, f"#{result.item_id}")
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "mine")


def test_the_page_shows_only_ones_own_and_offers_upload_to_uploaders(world):
    a, b = world["ids"]["a"], world["ids"]["b"]
    off1 = page_client(world, "off1").get("/mine")
    assert off1.status_code == 200
    assert f'data-item="{a}"' in off1.text and f'data-item="{b}"' not in off1.text
    assert 'id="upload-form"' in off1.text and '<option value="ZFY0001">' in off1.text
    off2 = page_client(world, "off2").get("/mine").text
    assert f'data-item="{b}"' in off2 and f'data-item="{a}"' not in off2
    # an auditor is offered no upload, and the API refuses one
    aud = page_client(world, "aud").get("/mine")
    assert aud.status_code == 200 and 'id="upload-form"' not in aud.text and f'data-item="{a}"' not in aud.text
    mp4 = world["clips"]["h264"].read_bytes()
    assert world["clients"]["aud"].post("/api/v1/uploads", params={"filename": "x.mp4"}, content=mp4).status_code == 403
    # no session: to sign in first
    assert TestClient(world["app"]).get("/mine", follow_redirects=False).headers["location"] == "/?next=%2Fmine"


def test_recorders_of_an_officer_are_those_assigned_now(world):
    with transaction(world["rt"].sessions) as session:
        assert my_recordings.recorders_of(session, "110001") == ["ZFY0001"]
        assert my_recordings.recorders_of(session, None) == []
        # ZFY0001 goes to officer 220002: no longer off1's to name
        devices.assign(session, "ZFY0001", "220002", datetime(2026, 6, 1, tzinfo=UTC), "U2")
        assert my_recordings.recorders_of(session, "110001") == []
        assert my_recordings.recorders_of(session, "110001", datetime(2026, 3, 1, tzinfo=UTC)) == ["ZFY0001"]
        assert my_recordings.recorders_of(session, "220002") == ["ZFY0001", "ZFY0002"]
        token = world["clients"]["off1"].headers["Authorization"].split()[1]
        mine = my_recordings.of(session, users.signed_in(session.connection(), token), 1)
        assert [i.id for i in mine.items] == [world["ids"]["a"]] and mine.older is None and mine.may_upload
