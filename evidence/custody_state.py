"""The custody log's state at a glance: its size, the newest signed checkpoint (quickly checked against
the database) and the last checkpoint a full verification proved. For the auditors' dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import custody_checkpoints, custody_tree
from evidence.checkpoint import VerifierKey, open_checkpoint
from evidence.errors import EvidenceError
from evidence.models import CustodyCheckpoint


def newest_agrees(session: Session, row: CustodyCheckpoint, verifier: VerifierKey) -> str | None:
    """A quick check of the newest checkpoint (logarithmic in the log's size, not the full verify):
    its note's signature, and the database's stored tree giving the root it signed. None when both
    hold, else what is wrong."""
    try:
        signed = open_checkpoint(row.note, verifier, verifier.name)
    except EvidenceError as exc:
        return f"signature: {exc}"
    if signed.size != row.tree_size or signed.root_hash.hex() != row.root_hash:
        return "the signed note differs from the checkpoint's row"
    try:
        root = custody_tree.StoredTree(session).root(row.tree_size)
    except LookupError as exc:
        return str(exc)
    if root.hex() != row.root_hash:
        return "the database's tree no longer gives the signed root: run a full verification"
    return None


def state(session: Session, verifier: VerifierKey) -> dict[str, Any]:
    """The custody log's size, its newest signed checkpoint (quickly checked against the database)
    and the last one a verification proved."""
    newest = custody_checkpoints.newest(session)
    verified = session.scalars(
        select(CustodyCheckpoint)
        .where(CustodyCheckpoint.verified_at.is_not(None))
        .order_by(CustodyCheckpoint.verified_at.desc(), CustodyCheckpoint.id.desc())
        .limit(1)
    ).first()
    size = custody_checkpoints.log_size(session)

    def view(row: CustodyCheckpoint | None) -> dict[str, Any] | None:
        if row is None:
            return None
        return {
            "tree_size": row.tree_size,
            "root_hash": row.root_hash,
            "made_at": row.made_at,
            "verified_at": row.verified_at,
            "stored": row.stored_key is not None,
        }

    return {
        "log_size": size,
        "newest": view(newest),
        "verified": view(verified),
        "unsigned": size - (newest.tree_size if newest else 0),
        "problem": newest_agrees(session, newest, verifier) if newest else None,
    }
