"""Named retry policies: every wait-and-try-again in the system is one of these, configured here once.

A policy is exponential backoff: ``first_s`` after the first failure, twice that after the second,
and so on up to ``cap_s``. In-process retries (a transaction) use ``retrying()``, a tenacity
``Retrying``; retries that are scheduled rather than slept (a job's ``run_after``, a source file's
next try, a daemon part's restart) ask ``delay(failures)``.

Not here: the sign-in throttle (``evidence/users.py``), whose growing wait is a penalty on a
guesser, not a retry of ours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_never, wait_exponential

# 2**60 seconds is beyond any cap; keeps the arithmetic in floats however long a failure lasts
_MAX_EXPONENT = 60


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff from ``first_s`` to ``cap_s``; ``attempts`` tries in all (None: no limit)."""

    name: str
    first_s: float
    cap_s: float
    attempts: int | None = None

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
        return min(self.cap_s, self.first_s * 2.0 ** min(max(failures - 1, 0), _MAX_EXPONENT))

    def after(self, failures: int) -> Backoff:
        """The rest of this policy once ``failures`` tries have failed: later delays, fewer tries."""
        attempts = None if self.attempts is None else max(self.attempts - failures, 0)
        return Backoff(self.name, self.delay(failures + 1), self.cap_s, attempts)

    def retrying(self, retry_if: Callable[[BaseException], bool]) -> Retrying:
        """A tenacity ``Retrying`` that sleeps this policy's delays between tries of errors ``retry_if`` accepts."""
        return Retrying(
            retry=retry_if_exception(retry_if),
            stop=stop_never if self.attempts is None else stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.first_s, exp_base=2, min=self.first_s, max=self.cap_s),
            reraise=True,
        )


# A transaction that failed on a lost connection, a lock or a serialisation failure: 0.2, 0.4, 0.8 s.
DATABASE = Backoff("database", first_s=0.2, cap_s=5.0, attempts=4)
# One request to the S3 server that failed in transport or with a 5xx: again at once, then 1, 2, 4 s
# (urllib3 does the waiting, inside the adapter's HTTP client; the caller sees StoreUnavailable after).
STORE_REQUEST = Backoff("store request", first_s=0.5, cap_s=8.0, attempts=5)
# The daemon waiting for its database at start-up: 1, 2, 4 ... 30 s, until it is stopped.
DATABASE_AT_START = Backoff("database at start-up", first_s=1.0, cap_s=30.0)
# A source file that could not be read or released: 2, 4, 8 ... 300 s, while it stays on the skipped list.
SOURCE_FILE = Backoff("source file", first_s=2.0, cap_s=300.0)
# A job that failed (store or database outage, tool timeout): 2, 4, 8 ... 300 s; the job's kind bounds attempts.
JOB = Backoff("job", first_s=2.0, cap_s=300.0)
# A daemon part that failed: 1, 2, 4 ... 60 s; EVIDENCE_RESTART_LIMIT bounds failures in a row.
PART_RESTART = Backoff("part restart", first_s=1.0, cap_s=60.0)
