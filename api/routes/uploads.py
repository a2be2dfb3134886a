"""Upload without a dock: the body is streamed to disk into the web upload point, then ingested
by exactly the same pipeline as docked footage (the daemon watches that folder)."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api import guard
from api.deps import ClientDep, CurrentUser, ServicesDep
from api.streams import run_io
from evidence import uploads
from evidence.errors import InvalidInput, TooLarge
from evidence.items import iso
from evidence.models import utcnow

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])
WRITE_BATCH = 1 << 20


class UploadOut(BaseModel):
    upload_id: str
    filename: str
    size_bytes: int
    sha256: str
    received_at: str
    device_serial: str | None
    status: str  # queued | ingested | duplicate | rejected
    item_id: int | None = None
    reason: str | None = None


@router.post(
    "",
    status_code=202,
    response_model=UploadOut,
    responses={401: {}, 403: {}, 413: {}, 422: {}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    request: Request,
    filename: Annotated[str, Query(min_length=1, max_length=200)],
    device: Annotated[str | None, Query(max_length=64, description="serial of the recorder it came from")] = None,
) -> UploadOut:
    """Send the file as the raw request body. It is written to disk as it arrives (never held in memory).

    Naming a recorder assigned to another officer is refused (403), unless a supervisor of its unit uploads.
    """
    device = (device or "").strip() or None
    await run_in_threadpool(guard.run, svc, who, client, lambda s: uploads.check_uploader(s, who, device), svc.reads)
    name = uploads.safe_filename(filename, svc.settings.ignore)
    limit = svc.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the file is larger than the {limit}-byte upload limit")
    web = svc.settings.web_point.path
    upload_id = uuid.uuid4().hex
    incoming = web / uploads.INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    part = incoming / f"{upload_id}.part"
    sha, size, pending = hashlib.sha256(), 0, bytearray()

    def write(data: bytes) -> None:
        sha.update(data)
        out.write(data)

    try:
        with open(part, "wb") as out:
            # Disk writes (which can block under writeback) and hashing run on the streaming pool,
            # a MiB at a time, so the event loop only collects the body.
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the file is larger than the {limit}-byte upload limit")
                pending += chunk
                if len(pending) >= WRITE_BATCH:
                    await run_io(request.app, write, bytes(pending))
                    pending.clear()
            await run_io(request.app, write, bytes(pending))
            out.flush()
            await run_io(request.app, os.fsync, out.fileno())
        if size == 0:
            raise InvalidInput("the request body is empty: nothing to preserve")
        ticket = uploads.Ticket(
            upload_id=upload_id,
            filename=name,
            uploaded_by=who.username,
            device_serial=device,
            received_at=iso(utcnow()),
            size_bytes=size,
            sha256=sha.hexdigest(),
        )
        uploads.write_ticket(web, ticket)
        (web / upload_id).mkdir()
        os.rename(part, web / upload_id / name)
    except BaseException:  # refused, failed or the client went away: leave nothing half-written
        part.unlink(missing_ok=True)
        raise
    return UploadOut(**_ticket_fields(ticket), status="queued")


def _ticket_fields(ticket: uploads.Ticket) -> dict:
    return {
        "upload_id": ticket.upload_id,
        "filename": ticket.filename,
        "size_bytes": ticket.size_bytes,
        "sha256": ticket.sha256,
        "received_at": ticket.received_at,
        "device_serial": ticket.device_serial,
    }


@router.get("/{upload_id}", response_model=UploadOut, responses={401: {}, 404: {}})
def upload_status(
    svc: ServicesDep, who: CurrentUser, client: ClientDep, upload_id: Annotated[str, Path(max_length=64)]
) -> UploadOut:
    """Where an upload is: queued for ingest, ingested (with its item), or rejected (with the reason)."""
    web = svc.settings.web_point.path
    ticket, receipt = guard.run(svc, who, client, lambda s: uploads.status(s, who, web, upload_id), svc.reads)
    if receipt is None:
        return UploadOut(**_ticket_fields(ticket), status="queued")
    status = {"new": "ingested", "duplicate": "duplicate", "rejected": "rejected"}[receipt.outcome]
    return UploadOut(
        **_ticket_fields(ticket),
        status=status,
        item_id=receipt.item_id,
        reason=receipt.reason if receipt.outcome != "new" else None,
    )
