"""Signing the custody log as it grows: a checkpoint every ``checkpoint_seconds`` when it grew."""

from __future__ import annotations

import logging
import threading

from evidence import custody_checkpoints, unit_of_work
from evidence.errors import StoreUnavailable
from evidence.models import CustodyCheckpoint
from ingest.runtime import Runtime

log = logging.getLogger(__name__)


def checkpoint_once(rt: Runtime) -> CustodyCheckpoint | None:
    """Sign the log as it stands (copies into the object store first); None when it has not grown."""
    signer, store = rt.signer(), rt.ready_store()
    made = unit_of_work.run(rt.sessions, lambda s: custody_checkpoints.make(s, signer, store))
    if made is not None:
        log.info("custody checkpoint: %d events, root %s", made.tree_size, made.root_hash)
    return made


def run(rt: Runtime, stop: threading.Event) -> None:
    """Checkpoint at start, then every interval until ``stop``."""
    while True:
        _try(rt)
        if stop.wait(rt.settings.checkpoint_seconds):
            return


def _try(rt: Runtime) -> None:
    try:
        checkpoint_once(rt)
    except StoreUnavailable as exc:  # the next round retries; events stay verifiable meanwhile
        log.warning("custody checkpoint not made: %s", exc)


def at_stop(rt: Runtime) -> None:
    """The last checkpoint, once every other part has stopped appending."""
    try:
        _try(rt)
    except Exception:  # a failing database at shutdown: the next start signs what is left
        log.exception("custody checkpoint at stop failed")
