"""Items: metadata, custody log, poster, proxy streaming (Range) and original download."""

from __future__ import annotations

import base64
import urllib.parse
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api import guard
from api.deps import DENIED, NO_NUL, BearerToken, ClientDep, CurrentUser, IdPath, IdQuery, ServicesDep
from api.pages import decode_cursor, encode_cursor
from api.ranges import http_date, if_range_holds, parse_range
from api.services import Services
from api.streams import stream_body
from evidence import cases, custody, custody_checkpoints, item_search
from evidence.access import Action
from evidence.custody import EventKind
from evidence.errors import Gone, InvalidInput, NotFound
from evidence.items import item_view
from evidence.models import ItemStatus
from evidence.retention import RetentionClass

router = APIRouter(prefix="/api/v1/items", tags=["items"])


class MediaOut(BaseModel):
    container: str | None
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    fps: float | None


class MarkOut(BaseModel):
    id: int
    kind: str
    value: str | None
    created_by: str
    created_at: str


class MarkIn(BaseModel):
    kind: Literal["important", "tag"]
    value: str | None = Field(None, max_length=100, pattern=NO_NUL)


class GrantIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    reason: str = Field(min_length=3, max_length=500, pattern=NO_NUL)


class GrantOut(BaseModel):
    id: int
    username: str
    reason: str


class RetentionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    class_: str | None = Field(
        alias="class", description="ordinary | important | case | hold (the longest rule wins); null: not assessed yet"
    )
    keep_until: str | None = Field(description="when it may expire; null: kept permanently (or not assessed yet)")
    because: str | None
    expired_at: str | None = None
    purged_at: str | None = None


class FixityOut(BaseModel):
    alarm: bool = Field(
        description="a fixity audit found the stored object changed or missing; stays set until resolved"
    )
    checked_at: str | None = Field(description="when the stored object was last re-read and hashed; null: never")


class ItemOut(BaseModel):
    id: int
    sha256: str
    size_bytes: int
    original_filename: str
    source_path: str
    source_path_hex: str | None = Field(
        None,
        description="the name's exact bytes in hex, where source_path had "
        "to escape them (not UTF-8, or control characters); else null",
    )
    device_serial: str | None
    unattributed: bool
    officer_id: str | None
    unit: str | None
    station_id: str
    recorded_start: str | None
    recorded_end: str | None
    duration_s: float | None
    time_source: str | None
    received_at: str
    stored_at: str
    upload_deadline: str | None
    on_time: bool | None
    late_by_s: float | None
    status: str
    media: MediaOut
    proxy_available: bool
    error: str | None
    retention: RetentionOut
    fixity: FixityOut
    marks: list[MarkOut] = []
    cases: list[str] = []


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None


class CustodyEventOut(BaseModel):
    seq: int
    item_id: int | None
    case_id: int | None
    kind: str
    outcome: str
    agent: str
    tool: str | None
    occurred_at: str  # when the step happened
    recorded_at: str  # when the event was written
    details: dict[str, Any]
    format: int  # 2: the leaf is the event's RFC 8785 JSON; 1: written before the Merkle log
    prev_hash: str
    hash: str


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    hashes: list[str]  # hex, RFC 9162 audit path from the leaf up


class ProvenEventOut(CustodyEventOut):
    leaf: str  # the leaf bytes (UTF-8): SHA-256(0x00 + leaf) is the leaf hash
    proof: InclusionProofOut | None  # null: newer than the newest checkpoint


class CheckpointOut(BaseModel):
    tree_size: int
    root_hash: str
    made_at: str
    origin: str
    note: str  # the C2SP signed note


class CustodyProofOut(BaseModel):
    item_id: int
    checkpoint: CheckpointOut | None
    public_key: str  # note form: name+keyid+base64
    events: list[ProvenEventOut]


@router.get("", response_model=ItemPage, responses={401: {}, 422: {}})
def list_items(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    officer: Annotated[str | None, Query(max_length=64, description="警号")] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    device: Annotated[str | None, Query(max_length=64, description="recorder serial")] = None,
    station: Annotated[str | None, Query(max_length=64)] = None,
    status: ItemStatus | None = None,
    on_time: bool | None = None,
    unattributed: Annotated[bool | None, Query(description="true: only footage with no recorder known")] = None,
    recorded_from: datetime | None = None,
    recorded_to: datetime | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    case: Annotated[str | None, Query(max_length=64, description="case number")] = None,
    case_id: IdQuery = None,
    mark: Annotated[str | None, Query(max_length=100, description="'important' or a tag")] = None,
    retention_class: RetentionClass | None = None,
    fixity_alarm: Annotated[bool | None, Query(description="true: only items in fixity alarm")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ItemPage:
    """Items the caller may see, oldest first; ``next_cursor`` fetches the next page.

    A filter naming an officer, unit, device, station, case or tag that is not known is a 422.
    """
    wanted = item_search.ItemFilter(
        officer=officer,
        unit=unit,
        device=device,
        station=station,
        status=status and status.value,
        on_time=on_time,
        unattributed=unattributed,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
        received_from=received_from,
        received_to=received_to,
        case=case,
        case_id=case_id,
        mark=mark,
        retention_class=retention_class and retention_class.value,
        fixity_alarm=fixity_alarm,
    )
    after = decode_cursor("id", cursor) if cursor else 0
    found, more = guard.run(svc, who, client, lambda s: item_search.page(s, who, wanted, limit, after), svc.reads)
    return ItemPage(
        items=[ItemOut(**item_view(f.item), marks=[MarkOut(**m) for m in f.marks], cases=f.cases) for f in found],
        next_cursor=encode_cursor("id", found[-1].item.id) if more else None,
    )


@router.get("/{item_id}", response_model=ItemOut, responses=DENIED)
def get_one(svc: ServicesDep, token: BearerToken, client: ClientDep, item_id: IdPath) -> Response:
    _, row, (marks, numbers) = guard.signed_in_item(
        svc,
        token,
        client,
        item_id,
        Action.VIEW_METADATA,
        lambda s, _: (cases.marks_of(s, item_id), cases.cases_of_item(s, item_id)),
    )
    # Built and serialised here: a returned model would be validated a second time, on another
    # thread-pool hop (FastAPI does that for sync routes). The schema is still ItemOut's.
    body = ItemOut(**item_view(row), marks=[MarkOut(**m) for m in marks], cases=numbers)
    return Response(body.model_dump_json(), media_type="application/json")


@router.post("/{item_id}/marks", response_model=MarkOut, status_code=201, responses={**DENIED, 409: {}, 422: {}})
def add_mark(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: IdPath, body: MarkIn) -> MarkOut:
    """Mark an item ``important`` (重要) or tag it; a custody event."""
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    return MarkOut(
        **guard.run(
            svc, who, client, lambda s: cases.mark_for(s, who, item_id, body.kind, body.value, agent, rules=rules)
        )
    )


@router.delete("/{item_id}/marks/{mark_id}", status_code=204, responses={**DENIED, 404: {}})
def remove_mark(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: IdPath, mark_id: IdPath) -> Response:
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    guard.run(svc, who, client, lambda s: cases.unmark_for(s, who, item_id, mark_id, agent, rules=rules))
    return Response(status_code=204)


@router.post("/{item_id}/grants", response_model=GrantOut, status_code=201, responses={**DENIED, 422: {}})
def grant_access(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: IdPath, body: GrantIn) -> GrantOut:
    """A supervisor lets a user of another unit (or an auditor) see this recording, with a reason."""
    agent = guard.agent_of(who, client)
    made = guard.run(svc, who, client, lambda s: cases.grant_for(s, who, item_id, body.username, body.reason, agent))
    return GrantOut(id=made.id, username=body.username, reason=made.reason)


@router.get("/{item_id}/custody", response_model=list[CustodyEventOut] | CustodyProofOut, responses=DENIED)
def custody_log(
    svc: ServicesDep,
    token: BearerToken,
    client: ClientDep,
    item_id: IdPath,
    proof: Annotated[
        bool, Query(description="each event with its inclusion proof against the newest checkpoint")
    ] = False,
) -> list[CustodyEventOut] | CustodyProofOut:
    if proof:
        _, _, bundle = guard.signed_in_item(
            svc,
            token,
            client,
            item_id,
            Action.VIEW_CUSTODY,
            lambda conn, _: custody_checkpoints.item_proofs_on(conn, item_id, svc.verifier),
        )
        return CustodyProofOut(**bundle)
    _, _, events = guard.signed_in_item(
        svc, token, client, item_id, Action.VIEW_CUSTODY, lambda conn, _: custody.item_log(conn, item_id)
    )
    return [CustodyEventOut(**e) for e in events]


# Evidence media is not kept in browser caches (a shared workstation's disk is not the evidence
# store), and each use reaches the server, so views are logged.
NO_STORE = "private, no-store"


def _stream(
    svc: Services,
    request: Request,
    key: str,
    media_type: str,
    etag: str,
    modified: datetime,
    extra: dict[str, str] | None = None,
) -> tuple[Response, tuple[int, int] | None]:
    """GET or HEAD of a stored object: whole, or one byte range (RFC 9110 Range and If-Range).

    HEAD answers GET's status and headers without reading the body from the store.
    """
    size = svc.store.size(key)
    if size is None:
        raise NotFound("the stored object is missing")
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(modified),
        "Cache-Control": NO_STORE,
        **(extra or {}),
    }
    span = None
    if if_range_holds(request.headers.get("if-range"), etag, modified):  # else: the whole representation
        span = parse_range(request.headers.get("range"), size)
    first, length, status = 0, size, 200
    if span is not None:
        first, length, status = span[0], span[1] - span[0] + 1, 206
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type), span
    chunks = svc.store.iter_chunks(key) if span is None else svc.store.iter_chunks(key, first, length)
    return StreamingResponse(stream_body(request.app, chunks), status, headers, media_type), span


def _not_purged(item: Any) -> None:
    """A purged item's media is gone (410); its metadata and custody log stay."""
    if item.status == ItemStatus.PURGED.value:
        raise Gone(f"item {item.id}'s media was purged on {item.purged_at:%Y-%m-%d} by the retention rules")


def _viewing(request: Request) -> bool:
    # A HEAD is authorised (and a refusal logged) like a GET, but no bytes flow: not a view or download.
    return request.method != "HEAD"


@router.get(
    "/{item_id}/proxy",
    responses={**DENIED, 206: {"content": {"video/mp4": {}}}, 410: {}, 416: {}},
    response_class=StreamingResponse,
)
@router.head(
    "/{item_id}/proxy", name="proxy_head", responses={**DENIED, 206: {}, 416: {}}, response_class=StreamingResponse
)
def proxy(svc: ServicesDep, token: BearerToken, client: ClientDep, request: Request, item_id: int) -> Response:
    """The browser-playable proxy, with HTTP Range for seeking (and If-Range); HEAD for its headers."""
    who, item, _ = guard.signed_in_item(svc, token, client, item_id, Action.VIEW_MEDIA)
    _not_purged(item)
    if item.proxy_key is None:
        raise NotFound(f"item {item_id} has no proxy ({item.status}{': ' + item.error if item.error else ''})")
    response, span = _stream(svc, request, item.proxy_key, "video/mp4", f'"{item.sha256[:32]}-proxy"', item.stored_at)
    # A player fetches many ranges per viewing; the view is logged once, at its first byte.
    if _viewing(request) and (span is None or span[0] == 0):
        guard.record(svc, EventKind.MEDIA_VIEWED, who, client, item_id=item.id, media="proxy")
    return response


@router.get(
    "/{item_id}/poster",
    responses={**DENIED, 200: {"content": {"image/jpeg": {}}}, 410: {}},
    response_class=StreamingResponse,
)
@router.head("/{item_id}/poster", name="poster_head", responses=DENIED, response_class=StreamingResponse)
def poster(svc: ServicesDep, token: BearerToken, client: ClientDep, request: Request, item_id: int) -> Response:
    who, item, _ = guard.signed_in_item(svc, token, client, item_id, Action.VIEW_MEDIA)
    _not_purged(item)
    if item.poster_key is None:
        raise NotFound(f"item {item_id} has no poster")
    response, _ = _stream(svc, request, item.poster_key, "image/jpeg", f'"{item.sha256[:32]}-poster"', item.stored_at)
    if _viewing(request):
        guard.record(svc, EventKind.MEDIA_VIEWED, who, client, item_id=item.id, media="poster")
    return response


@router.get(
    "/{item_id}/original",
    responses={**DENIED, 200: {"content": {"application/octet-stream": {}}}, 410: {}},
    response_class=StreamingResponse,
)
@router.head("/{item_id}/original", name="original_head", responses=DENIED, response_class=StreamingResponse)
def original(
    svc: ServicesDep,
    token: BearerToken,
    client: ClientDep,
    request: Request,
    item_id: int,
    reason: Annotated[str, Query(min_length=3, max_length=500, description="Why the original is needed")],
) -> Response:
    """Exactly the stored bytes; the SHA-256 is in ``X-Evidence-SHA256`` and ``Repr-Digest``."""
    if not reason.strip():
        raise InvalidInput("reason: say why the original is needed")
    who, item, _ = guard.signed_in_item(svc, token, client, item_id, Action.DOWNLOAD_ORIGINAL)
    _not_purged(item)
    digest = base64.b64encode(bytes.fromhex(item.sha256)).decode()
    name = urllib.parse.quote(item.original_filename)
    response, span = _stream(
        svc,
        request,
        item.object_key,
        "application/octet-stream",
        f'"{item.sha256}"',
        item.stored_at,
        {
            "X-Evidence-SHA256": item.sha256,
            "Repr-Digest": f"sha-256=:{digest}:",
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        },
    )
    if _viewing(request):
        guard.record(
            svc,
            EventKind.ORIGINAL_DOWNLOADED,
            who,
            client,
            item_id=item.id,
            reason=reason.strip(),
            range=None if span is None else f"{span[0]}-{span[1]}",
        )
    return response
