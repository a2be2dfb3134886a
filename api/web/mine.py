"""The officer's page: their own recordings (attributed to their 警号) and an upload without a dock."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import guard
from api.deps import ClientDep, IdQuery, ServicesDep
from api.web.render import render
from api.web.signed_in import PageUser
from evidence import my_recordings

router = APIRouter(include_in_schema=False)
PAGE = 50


@router.get("/mine")
def mine_page(svc: ServicesDep, request: Request, who: PageUser, client: ClientDep, before: IdQuery = None) -> Response:
    mine = guard.run(svc, who, client, lambda s: my_recordings.of(s, who, PAGE, before), svc.reads)
    return render(
        request,
        "mine.html",
        who=who,
        mine=mine,
        before=before,
        max_upload=svc.settings.max_upload_bytes,
    )
