"""The cases pages: the list of cases one may see, and one case with its footage, clips, exports and hold.

Actions on a case are the JSON API's (called by static/case.js or ``form[data-api]``); the page
offers each only to those evidence/access.py lets do it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import guard
from api.deps import ClientDep, IdPath, IdQuery, ServicesDep
from api.web.render import N_, render
from api.web.signed_in import PageUser
from evidence import case_overview, cases

router = APIRouter(include_in_schema=False)
PAGE = 50

# shown for a case's, a clip's or an export's state
STATES = {
    "open": N_("Open"),
    "closed": N_("Closed"),
    "queued": N_("Queued"),
    "running": N_("Running"),
    "done": N_("Ready"),
    "failed": N_("Failed"),
}


@router.get("/cases")
def cases_page(
    svc: ServicesDep,
    request: Request,
    who: PageUser,
    client: ClientDep,
    status: Literal["open", "closed"] | None = None,
    after: IdQuery = None,
) -> Response:
    rows = guard.run(svc, who, client, lambda s: cases.visible_page(s, who, status, PAGE + 1, after), svc.reads)
    shown = rows[:PAGE]
    return render(
        request,
        "cases.html",
        who=who,
        cases=shown,
        filter_status=status,
        next_after=shown[-1]["id"] if len(rows) > PAGE else None,
        may_open=case_overview.may_open_case(who),
        states=STATES,
    )


@router.get("/cases/{case_id}")
def case_page(
    svc: ServicesDep,
    request: Request,
    who: PageUser,
    client: ClientDep,
    case_id: IdPath,
) -> Response:
    view = guard.run(svc, who, client, lambda s: case_overview.overview_for(s, who, case_id), svc.reads)
    return render(request, "case.html", who=who, o=view, c=view.case, states=STATES)
