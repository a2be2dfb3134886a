"""The job queue on SQLite and PostgreSQL: distinct claims, priority order, leases, fencing, requeue."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from evidence import jobs
from evidence.errors import Conflict, LeaseLost
from evidence.jobs import JobKind
from evidence.models import Job
from evidence.unit_of_work import run, transaction


def queue(sessions, *kinds: JobKind) -> list[int]:
    """Jobs of no item (the claim does not look at items), in this order of age."""
    ids = []
    with transaction(sessions) as session:
        for n, kind in enumerate(kinds):
            job = Job(
                key=f"t:{n}:{kind.value}",
                kind=kind.value,
                item_id=None,
                state="queued",
                attempts=0,
                run_after=jobs.utcnow(),
                priority=jobs.SPECS[kind].priority,
            )
            session.add(job)
            session.flush()
            ids.append(job.id)
    return ids


def claim(sessions, owner="w1", lease_s=60.0, kinds=None):
    return run(sessions, lambda s: jobs.claim(s, owner, lease_s, kinds=kinds))


def row(sessions, job_id: int) -> Job:
    with transaction(sessions) as session:
        return session.get(Job, job_id)


def test_two_workers_take_distinct_jobs(any_sessions):
    ids = queue(any_sessions, *[JobKind.PROXY] * 2)
    first, second = claim(any_sessions, "w1"), claim(any_sessions, "w2")
    assert {first.id, second.id} == set(ids)
    assert first.lease_token and second.lease_token and first.lease_token != second.lease_token
    assert claim(any_sessions, "w3") is None


def test_many_workers_racing_take_each_job_exactly_once(any_sessions):
    ids = queue(any_sessions, *[JobKind.PROXY] * 30)
    taken: list[int] = []
    lock = threading.Lock()

    def work(owner: str) -> None:
        while (job := claim(any_sessions, owner)) is not None:
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken) == sorted(ids)  # none twice, none left


def test_postgresql_skips_a_row_another_transaction_has_locked(any_sessions):
    if any_sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: there is no second transaction to skip past")
    ids = queue(any_sessions, JobKind.PROXY, JobKind.PROXY)
    with transaction(any_sessions) as a:
        held = jobs.claim(a, "w1", 60)  # not committed yet: its row stays locked
        started = time.monotonic()
        with transaction(any_sessions) as b:
            other = jobs.claim(b, "w2", 60)
        assert time.monotonic() - started < 2  # did not wait for the lock
        assert {held.id, other.id} == set(ids)


def test_reviewer_waits_go_first_then_the_backlog_then_by_age(any_sessions):
    ids = queue(any_sessions, JobKind.PROBE, JobKind.PROXY, JobKind.CLIP, JobKind.PROBE, JobKind.EXPORT)
    order = [claim(any_sessions).id for _ in ids]
    assert order == [ids[2], ids[4], ids[0], ids[1], ids[3]]
    assert jobs.SPECS[JobKind.CLIP].priority < jobs.SPECS[JobKind.PROXY].priority < jobs.AUDIT < jobs.HOUSEKEEPING


def test_a_claim_can_be_limited_to_kinds(any_sessions):
    ids = queue(any_sessions, JobKind.CLIP, JobKind.PROXY)
    assert claim(any_sessions, kinds=[JobKind.PROXY, JobKind.PROBE]).id == ids[1]
    assert claim(any_sessions, kinds=[JobKind.PROBE]) is None


def test_a_lapsed_lease_is_taken_over_and_the_first_workers_completion_is_refused(any_sessions):
    (job_id,) = queue(any_sessions, JobKind.PROXY)
    first = claim(any_sessions, "host-a:1", lease_s=0.05)
    assert claim(any_sessions, "host-b:2") is None  # still held
    time.sleep(0.1)
    second = claim(any_sessions, "host-b:2")  # another host: no pid check, the lease lapsed
    assert second.id == job_id and second.attempts == 2 and second.lease_token != first.lease_token
    for late in (
        lambda s: jobs.complete(s, first),
        lambda s: jobs.retry_later(s, first, "late", 5),
        lambda s: jobs.give_up(s, first, "late"),
        lambda s: jobs.release(s, first),
    ):
        with pytest.raises(LeaseLost, match=f"job {job_id}"):
            run(any_sessions, late)
    assert run(any_sessions, lambda s: jobs.heartbeat(s, first, 60)) is False
    held = row(any_sessions, job_id)
    assert (held.state, held.owner, held.lease_token) == ("running", "host-b:2", second.lease_token)
    run(any_sessions, lambda s: jobs.complete(s, second))
    done = row(any_sessions, job_id)
    assert done.state == "done" and done.lease_token is None
    with pytest.raises(LeaseLost, match="now done"):
        run(any_sessions, lambda s: jobs.complete(s, second))  # twice is refused too


def test_a_refused_completion_rolls_back_the_whole_unit_of_work(any_sessions):
    (job_id,) = queue(any_sessions, JobKind.PROXY)
    first = claim(any_sessions, lease_s=0.01)
    time.sleep(0.05)
    claim(any_sessions, "w2")

    def late_result(session) -> None:
        session.add(Job(key="written-by-a-late-worker", kind="probe", state="queued", attempts=0))
        session.flush()
        jobs.complete(session, first)

    with pytest.raises(LeaseLost):
        run(any_sessions, late_result)
    with transaction(any_sessions) as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.key == "written-by-a-late-worker")) == 0


def test_a_heartbeat_keeps_the_lease(any_sessions):
    (job_id,) = queue(any_sessions, JobKind.PROXY)
    job = claim(any_sessions, lease_s=0.3)
    for _ in range(4):
        time.sleep(0.1)
        assert run(any_sessions, lambda s: jobs.heartbeat(s, job, 0.3)) is True
    assert claim(any_sessions, "w2") is None  # 0.4 s after the claim, the 0.3 s lease still holds
    assert row(any_sessions, job_id).heartbeat_at is not None
    run(any_sessions, lambda s: jobs.complete(s, job))


def test_a_released_job_is_runnable_at_once_and_not_counted_as_an_attempt(any_sessions):
    (job_id,) = queue(any_sessions, JobKind.PROXY)
    job = claim(any_sessions)
    run(any_sessions, lambda s: jobs.release(s, job))
    again = claim(any_sessions, "w2")
    assert again.id == job_id and again.attempts == 1


def test_retries_park_the_job_as_failed_after_the_last_attempt_and_requeue_resets_it(any_sessions):
    (job_id,) = queue(any_sessions, JobKind.EXPORT)
    job = claim(any_sessions)
    assert run(any_sessions, lambda s: jobs.retry_later(s, job, "StoreUnavailable: down", 2)) is True
    with transaction(any_sessions) as session:
        session.get(Job, job_id).run_after = jobs.utcnow()  # skip the backoff
    job = claim(any_sessions)
    assert run(any_sessions, lambda s: jobs.retry_later(s, job, "StoreUnavailable: still down", 2)) is False
    failed = row(any_sessions, job_id)
    assert (failed.state, failed.attempts, failed.last_error) == ("failed", 2, "StoreUnavailable: still down")
    with transaction(any_sessions) as session:
        listed = jobs.list_jobs(session, jobs.JobState.FAILED, JobKind.EXPORT)
        assert [j.id for j in listed] == [job_id]
        assert jobs.list_jobs(session, jobs.JobState.FAILED, JobKind.PROXY) == []
    run(any_sessions, lambda s: jobs.requeue(s, job_id, "admin1", "test"))
    again = row(any_sessions, job_id)
    assert (again.state, again.attempts, again.finished_at) == ("queued", 0, None)
    with pytest.raises(Conflict, match="only a failed job"):
        run(any_sessions, lambda s: jobs.requeue(s, job_id, "admin1", "test"))
