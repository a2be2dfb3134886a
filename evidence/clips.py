"""Evidence clips: a time range of an item, cut from the original, kept as a new item with provenance.

The API checks a request (``check_request``) and queues a clip job; the worker
cuts it with ffmpeg and records it here (``record_clip``). The original is never
touched: the clip is a new file with its own SHA-256 (SWGDE: processed copies are
new items with their own integrity record).
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import access, custody, item_status, jobs
from evidence.access import Action, CaseAction
from evidence.custody import EventKind
from evidence.errors import InvalidInput, NotFound
from evidence.intake import StoredCopy
from evidence.items import ItemLike, iso
from evidence.models import Item, ItemStatus, Job
from evidence.users import Principal

TOLERANCE_S = 0.001  # container durations are rounded to the millisecond
FALLBACK_FPS = 25.0  # where the probe found no frame rate: the most common recorder rate
_SLACK = 1e-3  # of a frame: float noise in a request (2.52 * 25 = 62.999…) does not move a cut by a frame


def fps_of(item: ItemLike) -> float:
    return item.fps if item.fps and item.fps > 0 else FALLBACK_FPS


def check_request(item: ItemLike, start_s: float, end_s: float) -> None:
    """Refuse ranges that cannot be cut, saying why: at least one frame, inside the recording."""
    if item.status == ItemStatus.MEDIA_ERROR.value or item.video_codec is None or not item.duration_s:
        raise InvalidInput(f"item {item.id} has no decodable video to clip ({item.error or item.status})")
    if not (math.isfinite(start_s) and math.isfinite(end_s)):
        raise InvalidInput("start_s and end_s must be finite numbers of seconds")
    if start_s < 0:
        raise InvalidInput("start_s must not be negative")
    if end_s <= start_s:
        raise InvalidInput("end_s must be after start_s")
    frame = 1 / fps_of(item)
    if end_s - start_s < frame * (1 - _SLACK):
        raise InvalidInput(f"the clip must be at least one frame long ({frame:.6f} s at {fps_of(item):g} fps)")
    if end_s > item.duration_s + TOLERANCE_S:
        raise InvalidInput(f"end_s {end_s} is past the end of the recording ({item.duration_s} s)")
    cut_points(item, start_s, end_s)


def cut_points(item: ItemLike, start_s: float, end_s: float) -> tuple[float, float]:
    """The frame-exact cut: from the first frame at or after ``start_s`` to the first at or after ``end_s``.

    Frames are taken to be at k / fps (the probe's rate). These are the times the clip is cut at
    and recorded with; a request between two frames moves to the next one, never to a keyframe.
    """
    if item.duration_s is None:
        raise InvalidInput("the recording's duration is not known: no clip can be cut from it")
    fps = fps_of(item)
    first = math.ceil(start_s * fps - _SLACK)
    last = min(math.ceil(end_s * fps - _SLACK), math.ceil(item.duration_s * fps - _SLACK))  # exclusive
    if last <= first:
        raise InvalidInput(f"no whole frame of the recording starts in [{start_s}, {end_s}) s")
    return first / fps, last / fps


def record_clip(
    session: Session,
    source: Item,
    copy: StoredCopy,
    *,
    filename: str,
    start_s: float,
    end_s: float,
    requested_by: str,
    agent: str,
    tool: str,
    provenance: dict[str, Any],
) -> tuple[Item, bool]:
    """The clip as an item (a new one, or the same bytes cut before), with events on both items."""
    existing = session.scalars(select(Item).where(Item.sha256 == copy.sha256)).first()
    details = {
        "derived_from": source.id,
        "source_sha256": source.sha256,
        "start_s": start_s,
        "end_s": end_s,
        "requested_by": requested_by,
        **provenance,
    }
    if existing is not None:
        custody.append(
            session,
            EventKind.CLIP_MADE,
            agent=agent,
            item_id=existing.id,
            tool=tool,
            details={**details, "note": "the same bytes were cut before; no new item"},
        )
        return existing, False
    clip = Item(
        sha256=copy.sha256,
        size_bytes=copy.size_bytes,
        object_key=copy.object_key,
        original_filename=filename,
        source_path=f"clips/{source.id}/{filename}",
        source_mtime=copy.stored_at,
        device_serial=source.device_serial,
        officer_id=source.officer_id,
        unit=source.unit,
        station_id="clip",
        uploaded_by=requested_by,
        received_at=copy.stored_at,
        stored_at=copy.stored_at,
        status=item_status.INITIAL.value,
        derived_from=source.id,
        clip_start_s=start_s,
        clip_end_s=end_s,
    )
    session.add(clip)
    session.flush()
    for kind, item_id, tool_name, extra, occurred_at in (
        (
            EventKind.HASHED,
            clip.id,
            copy.hash_tool,
            {"algorithm": "sha256", "sha256": copy.sha256, "size_bytes": copy.size_bytes, "at": iso(copy.hashed_at)},
            copy.hashed_at,
        ),
        (
            EventKind.STORED,
            clip.id,
            None,
            {"store": copy.store, "key": copy.object_key, "at": iso(copy.stored_at)},
            copy.stored_at,
        ),
        (
            EventKind.VERIFIED,
            clip.id,
            copy.hash_tool,
            {"method": copy.verify_method, "sha256": copy.sha256, "at": iso(copy.verified_at)},
            copy.verified_at,
        ),
        (EventKind.CLIP_MADE, clip.id, tool, details, None),
        (
            EventKind.CLIP_MADE,
            source.id,
            tool,
            {
                **details,
                "clip_item_id": clip.id,
                "clip_sha256": copy.sha256,
                "note": "the original was read, not changed",
            },
            None,
        ),
    ):
        custody.append(
            session, kind, agent=agent, item_id=item_id, tool=tool_name, details=extra, occurred_at=occurred_at
        )
    jobs.enqueue(session, clip.id, jobs.FIRST_JOB)
    return clip, True


def request(
    session: Session, who: Principal, item_id: int, start_s: float, end_s: float, case_id: int, agent: str
) -> Job:
    """Queue a clip of [start_s, end_s) of the item, to be linked to case ``case_id``; a custody event."""
    item = access.item_for(session.connection(), who, item_id, Action.CURATE)
    check_request(item, start_s, end_s)
    access.case_for(session, who, case_id, CaseAction.LINK)
    payload = {"start_s": start_s, "end_s": end_s, "case_id": case_id, "requested_by": who.username, "agent": agent}
    job = jobs.enqueue_with_payload(session, item.id, jobs.JobKind.CLIP, payload)
    custody.append(
        session,
        EventKind.CLIP_REQUESTED,
        agent=agent,
        item_id=item.id,
        case_id=case_id,
        details={"clip_request_id": job.id, "start_s": start_s, "end_s": end_s},
    )
    return job


def request_for(session: Session, who: Principal, clip_request_id: int) -> Job:
    """The clip request, if ``who`` made it (or audits); else NotFound, or a ``Refused`` hiding it."""
    missing = f"no clip request {clip_request_id}"
    job = session.get(Job, clip_request_id)
    if job is None or job.kind != jobs.JobKind.CLIP.value:
        raise NotFound(missing)
    requested_by = json.loads(job.payload or "{}").get("requested_by")
    decision = access.decide_request_status(who, requested_by, "clip request")
    access.require(decision, "clip_status", missing, item_id=job.item_id)
    return job
