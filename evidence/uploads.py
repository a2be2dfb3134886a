"""Browser uploads: the ticket that travels beside an uploaded file into the ingest pipeline.

The API streams the body into the web upload point (``<web>/<upload_id>/<name>``)
and writes a ticket (``<web>/.uploads/<upload_id>.json``) saying who uploaded it,
for which recorder, and when the upload completed; ingest reads it back.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import access, devices
from evidence.errors import InvalidInput, NotFound
from evidence.models import Receipt, utcnow
from evidence.names import name_reason, printable
from evidence.users import Principal

TICKETS = ".uploads"
INCOMING = ".incoming"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Ticket:
    upload_id: str
    filename: str
    uploaded_by: str
    device_serial: str | None
    received_at: str  # ISO 8601 UTC: when the upload completed
    size_bytes: int
    sha256: str

    @property
    def received(self) -> datetime:
        return datetime.fromisoformat(self.received_at.replace("Z", "+00:00"))


def safe_filename(name: str, ignore: Sequence[str] = ()) -> str:
    """The name a browser upload is stored under; refuses paths, control characters, and names that
    ingest leaves alone (hidden, temporary, or matching ``ignore``: the upload would never be ingested)."""
    name = (name or "").strip()
    if not name or "/" in name or "\\" in name or name in {".", ".."} or "\x00" in name:
        raise InvalidInput("filename: give a plain file name, without folders")
    if printable(name) != name:
        raise InvalidInput(f"filename: control characters are not allowed ({printable(name)})")
    why = name_reason(name, ignore, last=True)
    if why:
        raise InvalidInput(f"filename: ingest would leave it alone ({why})")
    if len(name.encode()) > 200:
        raise InvalidInput("filename: longer than 200 bytes")
    return name


def write_ticket(web_root: Path, ticket: Ticket) -> None:
    folder = web_root / TICKETS
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{ticket.upload_id}.json.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(asdict(ticket), f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, folder / f"{ticket.upload_id}.json")


def read_ticket(web_root: Path, upload_id: str) -> Ticket | None:
    if not _UPLOAD_ID.match(upload_id):
        return None
    try:
        data = json.loads((web_root / TICKETS / f"{upload_id}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Ticket(**data)


def check_uploader(session: Session, who: Principal, device: str | None) -> None:
    """Go on if ``who`` may upload naming recorder ``device`` (assigned to them now, or their unit's
    for a supervisor); else ``Refused``."""
    holder = devices.assignment_at(session, device, utcnow()) if device else None
    access.require(access.decide_upload(who, device, holder), "upload")


def status(session: Session, who: Principal, web_root: Path, upload_id: str) -> tuple[Ticket, Receipt | None]:
    """The upload's ticket and, once ingest has seen its file, the latest receipt for it."""
    ticket = read_ticket(web_root, upload_id)
    if ticket is None:
        raise NotFound(f"no upload {upload_id}")
    decision = access.decide_request_status(who, ticket.uploaded_by, "upload")
    access.require(decision, "upload_status", f"no upload {upload_id}")
    receipt = session.scalars(
        select(Receipt)
        .where(Receipt.upload_point == str(web_root), Receipt.rel_path.startswith(f"{upload_id}/", autoescape=True))
        .order_by(Receipt.id.desc())
    ).first()
    return ticket, receipt
