"""Case export packages: request one (a worker makes it), follow it, download it as a tar stream."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api import guard
from api.deps import DENIED, ClientDep, CurrentUser, IdPath, ServicesDep
from api.streams import stream_body
from evidence import export

router = APIRouter(prefix="/api/v1/cases", tags=["exports"])


class ExportIn(BaseModel):
    with_proxies: bool = False


class ExportOut(BaseModel):
    id: int
    case_id: int
    case_number: str | None
    requested_by: str
    requested_at: str
    with_proxies: bool
    state: str  # queued | running | done | failed
    items: int | None = None
    bytes: int | None = None
    finished_at: str | None = None
    error: str | None = None


@router.post("/{case_id}/exports", response_model=ExportOut, status_code=202, responses={**DENIED, 422: {}})
def request_export(
    svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, body: ExportIn | None = None
) -> ExportOut:
    """Queue a signed export package of the case (its reviewers, its unit's supervisors): a custody event on
    the case and each item; a worker makes it; download it when its state is done."""
    agent, with_proxies = guard.agent_of(who, client), bool(body and body.with_proxies)
    return ExportOut(**guard.run(svc, who, client, lambda s: export.request_for(s, who, case_id, agent, with_proxies)))


@router.get("/{case_id}/exports/{export_id}", response_model=ExportOut, responses=DENIED)
def export_status(
    svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, export_id: IdPath
) -> ExportOut:
    return ExportOut(**guard.run(svc, who, client, lambda s: export.view_for(s, who, case_id, export_id), svc.reads))


@router.get(
    "/{case_id}/exports/{export_id}/download",
    response_class=StreamingResponse,
    responses={**DENIED, 409: {}, 200: {"content": {"application/x-tar": {}}}},
)
def download_export(
    svc: ServicesDep, who: CurrentUser, client: ClientDep, request: Request, case_id: IdPath, export_id: IdPath
) -> StreamingResponse:
    """The finished package as a tar stream of the bag folder (a custody event on the case)."""
    agent = guard.agent_of(who, client)
    chunks, name = guard.run(
        svc, who, client, lambda s: export.download_for(s, svc.store, who, case_id, export_id, agent)
    )
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    return StreamingResponse(stream_body(request.app, chunks), media_type="application/x-tar", headers=headers)
