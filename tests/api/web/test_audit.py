"""The audit dashboard: compliance over time, late uploads, overdue recorders, excuses, the custody
log's checkpoints, fixity alarms; CSV downloads; auditors see every unit, supervisors their own."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import text

from evidence import custody_checkpoints, devices, excuses
from evidence.models import Item
from evidence.unit_of_work import transaction
from tests.api.conftest import denials
from tests.api.web.conftest import click_through, page_client, shot, sign_in
from tests.evidence.reporting import recording


def stage(world) -> dict[str, int]:
    """On 2027-11-02 (``WEEK``): a U1 recording two hours late (excused by its supervisor), one on
    time, a U2 one late; a U1 recorder handed out long ago that never docked; item a in fixity alarm;
    a verified checkpoint."""
    rt = world["rt"]
    end = datetime(2027, 11, 2, 6, tzinfo=UTC)
    with transaction(rt.sessions) as s:
        ids = {
            "late": recording(s, end, late_s=7200).id,
            "on_time": recording(s, end + timedelta(minutes=10), late_s=-600).id,
            "u2_late": recording(s, end, late_s=60, officer="220002", unit="U2", device="ZFY0002").id,
        }
        devices.assign(s, "ZFY0009", "110009", datetime(2026, 1, 1, tzinfo=UTC), "U1")
        s.get(Item, world["ids"]["a"]).fixity_alarm = True
    with transaction(rt.sessions) as s:
        excuses.excuse_item(s, excuses.approver(s, "sup1"), ids["late"], reason="电池耗尽，次日上传", agent="test")
    with transaction(rt.sessions) as s:
        cp = custody_checkpoints.make(s, rt.signer(), rt.ready_store())
        custody_checkpoints.mark_verified(s, [cp.id])
    return ids


WEEK = {"from": "2027-11-01", "to": "2027-11-07"}


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_the_dashboard_shows_figures_for_the_readers_scope_and_links_them(world):
    ids = stage(world)
    aud = page_client(world, "aud")
    page = aud.get("/audit", params=WEEK)
    assert page.status_code == 200, page.text
    html = page.text
    assert "<svg" in html and 'class="bar' in html  # the chart, drawn on the server
    assert f'href="/items/{ids["late"]}"' in html and f'href="/items/{ids["u2_late"]}"' in html
    assert "ZFY0009" in html and "110009" in html  # the overdue recorder
    assert "电池耗尽，次日上传" in html  # the excuse
    assert f'href="/items/{world["ids"]["a"]}"' in html  # the fixity alarm
    assert "/items?fixity_alarm=true" in html
    assert "on_time=false" in html and "recorded_from=" in html
    # supervisors: their unit only, and the links narrowed to it
    sup = page_client(world, "sup1").get("/audit", params=WEEK).text
    assert f'href="/items/{ids["late"]}"' in sup and f'href="/items/{ids["u2_late"]}"' not in sup
    assert "unit=U1" in sup and "ZFY0009" in sup
    assert 'data-testid="log-size"' in html and 'data-testid="log-size"' not in sup  # the whole log: auditors
    # everyone else: no dashboard, and the refusal recorded
    for name in ("rev1", "off1", "adm"):
        refused = page_client(world, name).get("/audit")
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert len(denials(world["rt"], "deadline_report")) == 3
    # a period backwards, or longer than the page shows, is refused on an HTML page
    assert aud.get("/audit", params={"from": "2027-11-07", "to": "2027-11-01"}).status_code == 422
    assert aud.get("/audit", params={"from": "2020-01-01", "to": "2027-11-01"}).status_code == 422
    assert aud.get("/audit", params={"from": "2027-11-01"}).status_code == 200  # a future start: its own days


def test_a_late_figure_links_to_the_late_recordings_of_its_period(world):
    stage(world)
    html = page_client(world, "aud").get("/audit", params={**WEEK, "by": "week"}).text
    start = html.index('data-testid="late-count"')
    href = html[html.rindex('href="', 0, start) + 6 : html.index('"', html.rindex('href="', 0, start) + 6)]
    query = parse_qs(urlsplit(href.replace("&amp;", "&")).query)
    assert query["on_time"] == ["false"]
    # the same filters give the late recordings through the search API (the search page's source)
    found = world["clients"]["aud"].get("/api/v1/items", params={k: v[0] for k, v in query.items()})
    assert found.status_code == 200, found.text
    assert {i["late_by_s"] > 0 for i in found.json()["items"]} == {True} and len(found.json()["items"]) == 2


@pytest.mark.parametrize("table", ["late", "overdue", "excuses", "fixity", "compliance"])
def test_each_table_downloads_as_csv_with_a_bom(world, table):
    ids = stage(world)
    r = page_client(world, "aud").get(f"/audit/{table}.csv", params=WEEK)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    if table == "late":
        assert {int(row["id"]) for row in rows} == {ids["late"], ids["u2_late"]}
        late = next(row for row in rows if int(row["id"]) == ids["late"])
        assert float(late["late_by_s"]) == 7200 and late["excused"] == "True"
        assert late["excuse_reason"] == "电池耗尽，次日上传"
    elif table == "overdue":
        assert [row["device_serial"] for row in rows] == ["ZFY0009"]
    elif table == "excuses":
        assert [int(row["item_id"]) for row in rows] == [ids["late"]]
    elif table == "fixity":
        assert [int(row["id"]) for row in rows] == [world["ids"]["a"]]
    else:
        assert len(rows) == 7 and sum(int(row["late"]) for row in rows) == 1  # the excused one is not late
    if table == "late":
        mine = page_client(world, "sup1").get("/audit/late.csv", params=WEEK)
        assert [int(row["id"]) for row in csv.DictReader(io.StringIO(mine.content.decode("utf-8-sig")))] == [
            ids["late"]
        ]
        assert page_client(world, "rev1").get("/audit/late.csv", params=WEEK).status_code == 403
        assert page_client(world, "aud").get("/audit/nothing.csv").status_code == 404


def test_the_auditor_sees_a_late_upload_and_an_overdue_recorder(browser, live):
    ids = stage(live.world)
    sign_in(browser, live, "aud")
    browser.get(live.at("/audit?from=2027-11-01&to=2027-11-07"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "审计"
    late = browser.find_element(By.CSS_SELECTOR, "[data-testid=late-table]")
    assert f"#{ids['late']}" in late.text and "2.0 小时" in late.text
    overdue = browser.find_element(By.CSS_SELECTOR, "[data-testid=overdue-table]")
    assert "ZFY0009" in overdue.text and "110009" in overdue.text
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=checkpoint]").text
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart a rect.bar")
    shot(browser, "audit")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "[data-testid=late-count]"))
    assert "/items?" in browser.current_url and "on_time=false" in browser.current_url


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_the_newest_checkpoint_is_checked_quickly_against_the_database(world):
    stage(world)
    aud = page_client(world, "aud")
    assert "signature holds and the database" in aud.get("/audit", params=WEEK).text
    with transaction(world["rt"].sessions) as s:
        size = custody_checkpoints.newest(s).tree_size
        s.execute(text("UPDATE custody_events SET hash = :h WHERE seq = :seq"), {"h": "ab" * 32, "seq": size})
    html = aud.get("/audit", params=WEEK).text
    assert "does not agree with the database" in html and "no longer gives the signed root" in html
