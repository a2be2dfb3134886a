"""The daemon signs the custody log as it grows, and once more when it stops."""

from __future__ import annotations

import threading

from sqlalchemy import select

from evidence import custody, unit_of_work
from evidence.custody import EventKind
from evidence.models import CustodyCheckpoint
from ingest import checkpointing
from ingest.runtime import open_runtime


def test_a_checkpoint_each_interval_when_the_log_grew_and_one_at_stop(make_settings):
    rt = open_runtime(make_settings(checkpoint_seconds=0.2), "test")
    stop = threading.Event()

    def append(n):
        def work(s):
            for _ in range(n):
                custody.append(s, EventKind.RECEIVED, agent="t")

        unit_of_work.run(rt.sessions, work)

    def sizes():
        return unit_of_work.run(
            rt.sessions,
            lambda s: list(s.scalars(select(CustodyCheckpoint.tree_size).order_by(CustodyCheckpoint.id))),
        )

    try:
        append(3)
        thread = threading.Thread(target=checkpointing.run, args=(rt, stop))
        thread.start()
        for _ in range(50):
            if sizes() == [3]:
                break
            stop.wait(0.1)
        stop.wait(0.5)
        assert sizes() == [3]  # not again while the log stands still
        append(2)
        for _ in range(50):
            if sizes() == [3, 5]:
                break
            stop.wait(0.1)
        assert sizes() == [3, 5]
        stop.set()
        thread.join(10)
        append(1)
        checkpointing.at_stop(rt)
        assert sizes() == [3, 5, 6]
        notes = [k for k, _ in rt.store.list_keys("custody/checkpoints/") if k.endswith(".note")]
        assert len(notes) == 3
    finally:
        stop.set()
        rt.close()
