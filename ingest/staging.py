"""Sweeping the store's local staging folder on worker machines.

Staging holds tool outputs waiting for upload (proxies, posters, clips) and, on S3, downloads of
originals for a tool whose read of the presigned URL failed (``*.get``). Each is removed when its job
step ends; a worker that crashes or is killed leaves them behind. A worker pool removes the ones older
than ``max_age_s`` when it starts and every ``every_s`` after: a file in use is younger than that
(a tool's output grows until the tool ends; a download is read by one tool run, within its timeout).
"""

from __future__ import annotations

import logging
import threading

from evidence.objectstore import ObjectStore
from storage_config.settings import Settings

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 600.0
# older than this many tool timeouts: nobody's (a tool run is killed after one)
TOOL_TIMEOUTS = 3


def max_age_s(settings: Settings) -> float:
    """How old a staging file must be to be a leftover."""
    return TOOL_TIMEOUTS * max(settings.tool_timeout_seconds, settings.probe_timeout_seconds)


def sweep(store: ObjectStore, older_than_s: float) -> int:
    """Remove staging leftovers older than ``older_than_s``; how many went (0, logged, when it failed)."""
    try:
        dropped = store.discard_partial(older_than_s)
    except OSError as exc:
        log.warning("could not sweep the staging folder %s: %s", store.staging_dir(), exc)
        return 0
    if dropped:
        log.info("removed %d leftover staging file(s) from %s", dropped, store.staging_dir())
    return dropped


class StagingSweeper:
    """A thread sweeping ``store``'s staging at once and every ``every_s`` until ``stop`` is set."""

    def __init__(self, store: ObjectStore, older_than_s: float, stop: threading.Event, every_s: float = SWEEP_EVERY_S):
        self.store, self.older_than_s, self.stop, self.every_s = store, older_than_s, stop, every_s
        self.thread = threading.Thread(target=self._run, name="evidence-staging-sweeper", daemon=True)

    def _run(self) -> None:
        while True:
            sweep(self.store, self.older_than_s)
            if self.stop.wait(self.every_s):
                return

    def start(self) -> StagingSweeper:
        self.thread.start()
        return self
