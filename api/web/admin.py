"""The administrators' page: accounts (add with a one-time password shown once, reset, disable),
recorders and who carries them (assign), officers' shifts (list, add).

Actions go through the JSON API from the page's script (api/web/static/admin.js) with the session
cookie and its CSRF token, except adding a shift: a form posted here, so that its times are read as
station-local (the browser's clock may be in another zone)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from api import guard
from api.deps import ClientDep, ServicesDep
from api.web.render import render
from api.web.signed_in import FormCsrf, PageUser
from evidence import access, devices, shifts, users
from evidence.errors import InvalidInput
from evidence.models import utcnow
from evidence.users import Principal, Role

router = APIRouter(include_in_schema=False)

SHIFTS_BACK = timedelta(days=14)  # the page lists shifts ending after this long ago
ROLES = [r.value for r in Role]


def _read(session: Session, who: Principal) -> dict[str, Any]:
    now = utcnow()
    return {
        "accounts": [{**users.user_view(u), "last_sign_in": u.last_sign_in_at} for u in users.list_users(session)],
        "assignments": sorted(
            devices.assignments(session), key=lambda a: (a.until is not None, a.serial, -a.since.timestamp())
        ),
        "shifts": shifts.list_shifts(session, since=now - SHIFTS_BACK, who=who, limit=200),
    }


def _page(
    svc: Any,
    request: Request,
    who: Principal,
    client: str,
    status: int = 200,
    shift_error: str = "",
    shift_form: dict[str, str] | None = None,
) -> Response:
    guard.enforce(svc, who, client, access.decide_manage_users(who), "admin_page")
    data = guard.run(svc, who, client, lambda s: _read(s, who), svc.reads)
    back = SHIFTS_BACK.days
    return render(
        request,
        "admin.html",
        status=status,
        who=who,
        roles=ROLES,
        shifts_back=back,
        **data,
        shift_error=shift_error,
        shift_form=shift_form or {},
    )


@router.get("/admin")
def admin_page(svc: ServicesDep, request: Request, who: PageUser, client: ClientDep) -> Response:
    return _page(svc, request, who, client)


Text = Annotated[str, Form(max_length=64)]


@router.post("/admin/shifts", dependencies=[FormCsrf])
def add_shift(
    svc: ServicesDep,
    request: Request,
    who: PageUser,
    client: ClientDep,
    officer_id: Text,
    starts: Text,
    ends: Text,
) -> Response:
    """A shift from the page's form: times without a zone are the station's."""
    guard.enforce(svc, who, client, access.decide_manage_users(who), "admin_add_shift")
    zone = svc.settings.zone

    def add(session: Session) -> None:
        shifts.add(
            session,
            officer_id,
            shifts.parse_time(starts, zone),
            shifts.parse_time(ends, zone),
            created_by=who.username,
            source="api",
            who=who,
        )

    try:
        guard.run(svc, who, client, add)
    except InvalidInput as exc:  # and Conflict (an overlap): shown beside the form
        form = {"officer_id": officer_id, "starts": starts, "ends": ends}
        return _page(svc, request, who, client, status=422, shift_error=str(exc), shift_form=form)
    return RedirectResponse("/admin#shifts", status_code=303)
