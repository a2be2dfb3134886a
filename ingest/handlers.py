"""The job handlers: probe, proxy and clip, each given its job and typed payload.

Each does its slow work (tools, the store) first and then records the outcome in one unit of work,
which may run twice and so only touches the database. A media failure (corrupt, truncated,
unsupported) is recorded on the item here; other failures reach the worker, which retries or gives up.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from evidence import (
    cases,
    clips,
    custody,
    devices,
    export,
    export_store,
    item_status,
    jobs,
    report_rollup,
    retention,
    unit_of_work,
)
from evidence.custody import EventKind, Outcome
from evidence.deadlines import check_deadline
from evidence.errors import LeaseLost, MediaError, ToolTimeout, Unavailable
from evidence.items import get_item, iso
from evidence.models import Item, ItemStatus, Job, utcnow
from evidence.objectstore import ObjectStore, derived_key
from evidence.recording_times import parse_container_time, recording_times, time_from_filename
from ingest import probe as probing
from ingest import reading
from ingest.clips import cut
from ingest.pipeline import store_and_verify
from ingest.probe import MediaInfo
from ingest.proxy import ProxyProfile, ProxyResult, can_remux, make_poster, make_proxy
from ingest.runtime import Runtime
from ingest.tools import tool_version

log = logging.getLogger(__name__)


def _assess_clip(rt: Runtime, session, item: Item, source_id: int, info: MediaInfo | None) -> None:
    """A clip's times follow its source; the upload deadline is for originals, not for later clips."""
    source = get_item(session, source_id)
    start = end = None
    if source.recorded_start is not None:
        start = source.recorded_start + timedelta(seconds=item.clip_start_s or 0)
        length = info.duration_s if info and info.duration_s else (item.clip_end_s or 0) - (item.clip_start_s or 0)
        end = start + timedelta(seconds=length)
    item.recorded_start, item.recorded_end, item.time_source = start, end, source.time_source
    item.upload_deadline, item.on_time, item.late_by_s = None, None, None
    custody.append(
        session,
        EventKind.TIMES_ASSESSED,
        agent=rt.agent(item.station_id),
        item_id=item.id,
        details={
            "derived_from": source.id,
            "recorded_start": iso(start),
            "recorded_end": iso(end),
            "time_source": source.time_source,
            "note": "clip of an item already stored; the upload deadline does not apply",
        },
    )


def _assess(rt: Runtime, session, item: Item, info: MediaInfo | None) -> None:
    """Recording times, the upload deadline and the officer, recorded as custody events."""
    if item.derived_from is not None:
        _assess_clip(rt, session, item, item.derived_from, info)
        return
    before = report_rollup.contribution(session, item)  # the deadline report's rollup, kept exact
    s = rt.settings
    times = recording_times(
        container_time=parse_container_time(info.creation_time if info else None, s.zone, s.container_time == "local"),
        filename_time=time_from_filename(item.original_filename, s.filename_patterns, s.zone),
        mtime=item.source_mtime,
        duration_s=info.duration_s if info else None,
        received_at=item.received_at,
    )
    check = check_deadline(times.end, item.received_at, s.deadline_hours, attributed=item.device_serial is not None)
    item.recorded_start, item.recorded_end, item.time_source = times.start, times.end, times.source.value
    item.upload_deadline, item.on_time, item.late_by_s = check.deadline, check.on_time, check.late_by_s
    agent = rt.agent(item.station_id)
    custody.append(
        session,
        EventKind.TIMES_ASSESSED,
        agent=agent,
        item_id=item.id,
        outcome=Outcome.SUCCESS if check.on_time else Outcome.WARNING,
        details={
            "recorded_start": iso(times.start),
            "recorded_end": iso(times.end),
            "time_source": times.source.value,
            "received_at": iso(item.received_at),
            "upload_deadline": iso(check.deadline),
            "deadline_hours": s.deadline_hours,
            "on_time": check.on_time,
            "late_by_s": check.late_by_s,
        },
    )
    assignment = devices.assignment_at(session, item.device_serial, times.start) if item.device_serial else None
    item.officer_id = assignment.officer_id if assignment else None
    item.unit = assignment.unit if assignment else None
    if assignment:
        details = {
            "officer_id": assignment.officer_id,
            "unit": assignment.unit,
            "device_serial": item.device_serial,
            "assignment_since": iso(assignment.since),
        }
    elif item.device_serial:
        details = {
            "officer_id": None,
            "problem": f"no officer assigned to device {item.device_serial} at {iso(times.start)}",
        }
    else:
        details = {"officer_id": None, "problem": "file not in a device folder: recorder serial unknown"}
    custody.append(
        session,
        EventKind.ATTRIBUTED,
        agent=agent,
        item_id=item.id,
        outcome=Outcome.SUCCESS if assignment else Outcome.WARNING,
        details=details,
    )
    report_rollup.update(session, before, item)


def _info_of(item: Item) -> MediaInfo:
    return MediaInfo(
        container=item.container,
        video_codec=item.video_codec,
        audio_codec=item.audio_codec,
        pix_fmt=item.pix_fmt,
        width=item.width,
        height=item.height,
        fps=item.fps,
        duration_s=item.duration_s,
        creation_time=None,
    )


def handle_probe(rt: Runtime, job: Job, _: jobs.Nothing) -> None:
    s = rt.settings
    item = load_item(rt, jobs.item_of(job))
    error: MediaError | None = None
    info: MediaInfo | None = None
    # on S3, ffprobe reads a presigned URL (a download only when that fails: ingest/reading.py)
    try:
        info = reading.run_on(
            rt.ready_store(),
            item.object_key,
            s.probe_timeout_seconds,
            lambda src: probing.probe(src, s.ffprobe, s.probe_timeout_seconds),
        )
    except ToolTimeout:
        raise
    except MediaError as exc:
        error = exc
    probed_at = utcnow()  # the event's occurred_at: when ffprobe answered, not when it is recorded

    tool = tool_version(s.ffprobe)

    def write(session: Session) -> None:
        jobs.fence(session, job)  # first: a worker whose lease was taken over records nothing (LeaseLost)
        row = get_item(session, jobs.item_of(job))
        agent = rt.agent(row.station_id)
        if info is not None:
            row.container, row.video_codec, row.audio_codec = info.container, info.video_codec, info.audio_codec
            row.pix_fmt, row.width, row.height, row.fps = info.pix_fmt, info.width, info.height, info.fps
            row.duration_s = info.duration_s
            row.creation_time = parse_container_time(info.creation_time, s.zone, s.container_time == "local")
            custody.append(
                session,
                EventKind.PROBED,
                agent=agent,
                item_id=row.id,
                tool=tool,
                details=info.as_dict(),
                occurred_at=probed_at,
            )
        else:
            item_status.move(row, ItemStatus.MEDIA_ERROR, f"probe: {error}")
            custody.append(
                session,
                EventKind.PROBED,
                agent=agent,
                item_id=row.id,
                outcome=Outcome.FAILURE,
                tool=tool,
                details={"error": str(error), "note": "original kept as evidence; no proxy can be made"},
                occurred_at=probed_at,
            )
        _assess(rt, session, row, info)
        retention.refresh(session, [row.id], s.retention, agent)
        jobs.complete(session, job, advance=info is not None)

    unit_of_work.run(rt.sessions, write)


def handle_proxy(rt: Runtime, job: Job, _: jobs.Nothing) -> None:
    s = rt.settings
    item = load_item(rt, jobs.item_of(job))
    info = _info_of(item)
    profile = ProxyProfile(
        max_height=s.proxy_max_height,
        transcode_height=s.transcode_height,
        preset=s.transcode_preset,
        threads=s.transcode_threads,
    )
    if not s.transcoding and not can_remux(info, profile):
        _skip_proxy(rt, job, "needs a transcode and transcoding is off (EVIDENCE_TRANSCODING=false)")
        return
    store = rt.ready_store()
    tag = f"{job.id}-{job.attempts}"
    error: MediaError | None = None
    # on S3, ffmpeg reads the original through a presigned URL for the proxy and the poster alike
    # (each falls back to a download on its own when that fails: ingest/reading.py)
    try:
        result, proxy_key, proxy_digest = store_proxy(
            store,
            item.object_key,
            item.sha256,
            info,
            profile,
            ffmpeg_bin=s.ffmpeg,
            timeout=s.tool_timeout_seconds,
            transcode=s.transcoding,
            tag=tag,
        )
        poster_args, poster_key, poster_digest = store_poster(
            store, item.object_key, item.sha256, info, ffmpeg_bin=s.ffmpeg, timeout=s.probe_timeout_seconds, tag=tag
        )
    except ToolTimeout:
        raise
    except MediaError as exc:
        error = exc
    made_at = utcnow()  # proxy and poster stored (or the attempt failed)

    tool = tool_version(s.ffmpeg)

    def write(session: Session) -> None:
        jobs.fence(session, job)  # first: a worker whose lease was taken over records nothing (LeaseLost)
        row = get_item(session, jobs.item_of(job))
        agent = rt.agent(row.station_id)
        if error is None:
            row.proxy_key, row.poster_key, row.proxy_method = proxy_key, poster_key, result.method
            item_status.move(row, ItemStatus.READY)
            custody.append(
                session,
                EventKind.PROXY_MADE,
                agent=agent,
                item_id=row.id,
                tool=tool,
                occurred_at=made_at,
                details={
                    "method": result.method,
                    "proxy_key": proxy_key,
                    "proxy_sha256": proxy_digest.sha256,
                    "proxy_size_bytes": proxy_digest.size_bytes,
                    "poster_key": poster_key,
                    "poster_sha256": poster_digest.sha256,
                    "poster_size_bytes": poster_digest.size_bytes,
                    "args": reading.portable_args(result.args, item.object_key),
                    "poster_args": reading.portable_args(poster_args, item.object_key),
                    "fallback_from": result.fallback_from,
                    "note": "derived copy for viewing; the original is unchanged",
                },
            )
        else:
            item_status.move(row, ItemStatus.MEDIA_ERROR, f"proxy: {error}")
            custody.append(
                session,
                EventKind.PROXY_MADE,
                agent=agent,
                item_id=row.id,
                outcome=Outcome.FAILURE,
                tool=tool,
                details={"error": str(error)},
                occurred_at=made_at,
            )
        jobs.complete(session, job)

    unit_of_work.run(rt.sessions, write)


@dataclass(frozen=True)
class Digest:
    """SHA-256 and size of a derived file, taken while it is still local, before it is stored."""

    sha256: str
    size_bytes: int


def digest_of(path: Path) -> Digest:
    with open(path, "rb") as f:
        return Digest(hashlib.file_digest(f, "sha256").hexdigest(), os.fstat(f.fileno()).st_size)


def store_proxy(
    store: ObjectStore,
    source_key: str,
    sha256: str,
    info: MediaInfo,
    profile: ProxyProfile,
    *,
    ffmpeg_bin: str,
    timeout: float,
    transcode: bool,
    tag: str,
) -> tuple[ProxyResult, str, Digest]:
    """Make the proxy of the original at ``source_key`` in the store's staging folder and store it
    under its derived key, with its digest."""
    staging = store.staging_dir()
    staging.mkdir(parents=True, exist_ok=True)
    out = staging / f"proxy-{tag}.mp4"
    try:
        result = reading.run_on(
            store,
            source_key,
            timeout,
            lambda src: make_proxy(
                src, out, info, profile, ffmpeg_bin=ffmpeg_bin, timeout=timeout, transcode=transcode
            ),
            # a remux that failed on the URL (and so became a transcode) may have failed on the network:
            # whether the original can be remuxed is decided on a downloaded copy, as before
            accept=lambda made: made.fallback_from is None,
        )
        key = derived_key(sha256, "proxy.mp4")
        digest = digest_of(out)  # the put may move the file away
        store.put_file(key, out, durable=False)  # derived: no fsync, it can be remade from the original
        return result, key, digest
    finally:
        out.unlink(missing_ok=True)


def store_poster(
    store: ObjectStore,
    source_key: str,
    sha256: str,
    info: MediaInfo,
    *,
    ffmpeg_bin: str,
    timeout: float,
    tag: str,
) -> tuple[list[str], str, Digest]:
    """Grab the poster frame of the original at ``source_key`` and store it under its derived key, with its digest."""
    out = store.staging_dir() / f"poster-{tag}.jpg"
    try:
        args = reading.run_on(
            store, source_key, timeout, lambda src: make_poster(src, out, info, ffmpeg_bin=ffmpeg_bin, timeout=timeout)
        )
        key = derived_key(sha256, "poster.jpg")
        digest = digest_of(out)
        store.put_file(key, out, durable=False)
        return args, key, digest
    finally:
        out.unlink(missing_ok=True)


def _skip_proxy(rt: Runtime, job: Job, why: str) -> None:
    """No proxy by configuration: the item is complete, and the custody log says why."""

    def write(session: Session) -> None:
        jobs.fence(session, job)  # first: a worker whose lease was taken over records nothing (LeaseLost)
        row = get_item(session, jobs.item_of(job))
        item_status.move(row, ItemStatus.READY)
        custody.append(
            session,
            EventKind.PROXY_MADE,
            agent=rt.agent(row.station_id),
            item_id=row.id,
            outcome=Outcome.WARNING,
            details={"skipped": why},
        )
        jobs.complete(session, job)

    unit_of_work.run(rt.sessions, write)


def load_item(rt: Runtime, item_id: int) -> Item:
    """The item as it is now, detached from its session (it keeps its loaded columns)."""
    return unit_of_work.run(rt.sessions, lambda session: get_item(session, item_id))


def handle_clip(rt: Runtime, job: Job, request: jobs.ClipRequest) -> None:
    """Cut the requested range from the original, store it as a new item, link it to the case."""
    s = rt.settings
    asked = request.start_s, request.end_s
    source = load_item(rt, jobs.item_of(job))
    start, end = clips.cut_points(source, *asked)  # on frames; the clip is recorded with these
    store = rt.ready_store()
    store.staging_dir().mkdir(parents=True, exist_ok=True)
    # on S3, ffmpeg reads the original through a presigned URL (a download when that fails): the
    # clip is bit-exact, the same bytes either way (ingest/reading.py)
    made, path = reading.run_on(
        store,
        source.object_key,
        s.tool_timeout_seconds,
        lambda src: cut(
            src,
            store.staging_dir(),
            f"clip-{job.id}-{job.attempts}",
            start,
            end,
            source.audio_codec is not None,
            ffmpeg_bin=s.ffmpeg,
            timeout=s.tool_timeout_seconds,
        ),
    )
    try:
        copy = store_and_verify(rt, path, os.stat(path))
    finally:
        path.unlink(missing_ok=True)
    filename = f"{Path(source.original_filename).stem}_clip_{start:.3f}-{end:.3f}.{made.extension}"
    agent = f"{request.agent}; executed by evidence worker {rt.owner}"
    tool = tool_version(s.ffmpeg)

    def write(session: Session) -> None:
        jobs.fence(session, job)  # first: a worker whose lease was taken over records nothing (LeaseLost)
        clip, _ = clips.record_clip(
            session,
            get_item(session, source.id),
            copy,
            filename=filename,
            start_s=start,
            end_s=end,
            requested_by=request.requested_by,
            agent=agent,
            tool=tool,
            provenance={
                "method": made.method,
                "args": reading.portable_args(made.args, source.object_key),
                "requested_start_s": asked[0],
                "requested_end_s": asked[1],
                "fps": clips.fps_of(source),
                # hashed from the local cut as it streamed into the store (then read back and verified)
                "clip_sha256": copy.sha256,
                "clip_size_bytes": copy.size_bytes,
            },
        )
        case = cases.get_case(session, request.case_id)
        if cases.active_link(session, case.id, clip.id) is None:
            cases.link(
                session,
                case,
                clip,
                f"evidence clip of item {source.id}, {start:.3f}-{end:.3f} s",
                request.requested_by,
                agent,
                rules=s.retention,
            )
        done = request.model_copy(update={"result_item_id": clip.id, "cut_start_s": start, "cut_end_s": end})
        jobs.complete(session, job, payload=done)

    unit_of_work.run(rt.sessions, write)


def handle_export(rt: Runtime, job: Job, request: jobs.ExportRequest) -> None:
    """Make a requested case export package and publish it to the store, where every API replica finds it;
    a permanent failure is recorded on the export too."""
    if unit_of_work.run(rt.sessions, lambda s: export.state_of(s, request.export_id)) == "done":
        unit_of_work.run(rt.sessions, lambda s: jobs.complete(s, job))  # made before a crash
        return
    run = uuid.uuid4().hex  # this run's own folder and store prefix: a lapsed worker never writes over another
    out = rt.ready_store().staging_dir() / f"export-{request.export_id}-{run}"
    agent = f"{rt.agent()}; executed by evidence worker {rt.owner}"
    try:
        export.run(
            rt.sessions,
            rt.ready_store(),
            rt.signer(),
            request.export_id,
            out,
            agent=agent,
            zone=rt.settings.zone,
            publish_to=export_store.prefix_for(request.export_id, run),
            guard=lambda session: jobs.fence(session, job),  # first: a lapsed worker records nothing (LeaseLost)
        )
    except (Unavailable, ToolTimeout, LeaseLost):
        raise  # retried by the worker, or the job is another's now
    except BaseException as exc:
        export.fail(rt.sessions, request.export_id, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        shutil.rmtree(out, ignore_errors=True)
    unit_of_work.run(rt.sessions, lambda s: jobs.complete(s, job))
