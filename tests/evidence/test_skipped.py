"""The skipped list on SQLite and PostgreSQL: rescans keep it current, names of any bytes fit."""

import os

from evidence import skipped
from evidence.skipped import Skip, SkipKind
from evidence.unit_of_work import transaction

POINT = "/srv/dock1"
ODD = os.fsdecode(b"ZFY0001/\xff\nx.mp4")


def reconcile(sessions, found, keep=()):
    with transaction(sessions) as session:
        return skipped.reconcile(session, "ST01", POINT, found, keep)


def listing(sessions):
    with transaction(sessions) as session:
        return skipped.listing(session)


def test_rescans_add_keep_and_drop_entries(any_sessions):
    link = Skip("ZFY0001/link.mp4", SkipKind.LINK, "symbolic link to /etc/passwd: never followed")
    odd = Skip(ODD, SkipKind.SPECIAL, "not a regular file: a FIFO (named pipe)")
    assert reconcile(any_sessions, [link, odd]) == [link, odd]
    assert reconcile(any_sessions, [link, odd]) == []  # seen before: not news, nothing to log again
    rows = listing(any_sessions)
    assert [r["path"] for r in rows] == ["ZFY0001/link.mp4", "ZFY0001/\\xff\\x0ax.mp4"]
    assert rows[0]["kind"] == "link" and rows[0]["station_id"] == "ST01"
    assert rows[0]["first_seen"] <= rows[0]["last_seen"]

    with transaction(any_sessions) as session:
        assert skipped.note(session, "ST01", POINT, Skip("ZFY0002/a.mp4", SkipKind.UNREADABLE, "unreadable: EIO"))
    # the FIFO is gone; the failing file is not in the scan's skips but is kept while it fails
    assert reconcile(any_sessions, [link], keep=["ZFY0002/a.mp4"]) == []
    assert [r["path"] for r in listing(any_sessions)] == ["ZFY0001/link.mp4", "ZFY0002/a.mp4"]
    with transaction(any_sessions) as session:
        skipped.clear(session, POINT, "ZFY0002/a.mp4")
        assert skipped.count(session) == 1
    reconcile(any_sessions, [])
    assert listing(any_sessions) == []
