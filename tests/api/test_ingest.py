"""GET /api/v1/ingest/skipped: what ingest leaves alone on the stations' disks, for supervisors,
auditors and admins."""

from __future__ import annotations

import os

import pytest

from evidence import skipped
from evidence.skipped import Skip, SkipKind
from evidence.unit_of_work import transaction


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_the_skipped_list_is_for_supervisors_auditors_and_admins(world):
    rt = world["rt"]
    point = rt.settings.points[0]
    with transaction(rt.sessions) as session:
        skipped.reconcile(
            session,
            point.station_id,
            str(point.path),
            [
                Skip("ZFY0001/link.mp4", SkipKind.LINK, "symbolic link to /etc/passwd: links are never followed"),
                Skip(os.fsdecode(b"ZFY0001/\xff\n.mp4"), SkipKind.UNREADABLE, "unreadable: Permission denied"),
            ],
        )
    for name in ("sup1", "aud", "adm"):
        r = world["clients"][name].get("/api/v1/ingest/skipped")
        assert r.status_code == 200, r.text
        assert [(s["kind"], s["path"]) for s in r.json()] == [
            ("link", "ZFY0001/link.mp4"),
            ("unreadable", "ZFY0001/\\xff\\x0a.mp4"),
        ]
        assert r.json()[0]["station_id"] == point.station_id and r.json()[0]["first_seen"].endswith("Z")
    for name in ("off1", "rev1"):
        r = world["clients"][name].get("/api/v1/ingest/skipped")
        assert r.status_code == 403 and "supervisors, auditors and admins" in r.json()["error"]["message"]
