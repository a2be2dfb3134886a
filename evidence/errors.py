"""The project's exception hierarchy, in one place.

Foreign errors (SQLAlchemy, minio, subprocess) are turned into these at the
boundary with ``raise X(...) from exc``; the CLI maps them to exit codes and the
API to HTTP statuses, each in one table.

    EvidenceError
    ├── ConfigError            a setting is missing or invalid
    │   └── JobRegistryInvalid  a job kind without one handler, or a next step that is no kind
    ├── NotFound               no such item, event or device
    │   └── Gone               the item's media was purged by the retention rules (its record stays)
    ├── AuthFailed             sign-in refused, or a token unknown, expired or revoked
    ├── Forbidden              signed in, but this act is not allowed
    │   └── PasswordChangeRequired  signed in with a one-time password: choose your own first
    ├── InvalidInput           the caller gave something unusable
    │   ├── RejectedFile       a file that cannot become evidence (zero bytes)
    │   ├── Conflict           the act clashes with the current state (already linked, duplicate number)
    │   │   └── TransitionRefused  an item's status cannot move from where it is to the status asked for
    │   ├── TooLarge           more bytes than the configured limit
    │   └── KeyMalformed       a verifier or signing key string that is not in the signed-note format
    ├── Unavailable            a dependency is down; retrying later is safe
    │   ├── StoreUnavailable   object store unreachable or erroring
    │   └── DatabaseUnavailable
    ├── IntegrityFailure       stored bytes do not match their recorded hash
    │   ├── FixityAlarm        a fixity audit found an object changed or missing (its own exit code)
    │   └── ObjectExists       a write-once key in the store already holds different bytes
    ├── SourceChanged          the source file changed while it was being read
    ├── SourceUnreadable       a source file cannot be opened or read (permissions, I/O error)
    ├── SourceNotReleased      a stored source cannot be moved or deleted (immutable, permissions)
    ├── MediaError             ffprobe/ffmpeg could not read or convert the media
    │   └── ToolTimeout        an external tool ran past its time limit and was killed
    ├── InvalidJobPayload      a job's stored parameters do not fit its kind
    ├── LeaseLost              a worker's lease on a job was taken over: its result is not written
    ├── JobAbandoned           a job whose workers kept dying under it (leases lapsed): parked failed
    ├── CustodyBroken          the custody chain does not verify
    │   └── NoteRejected       a signed note (a checkpoint) cannot be trusted
    │       ├── NoteMalformed  not a signed note or checkpoint in the C2SP format
    │       ├── UnknownKey     no signature by the trusted key (its name and key ID)
    │       └── BadSignature   a signature by the trusted key does not verify
    └── DaemonFailed           a part of the ingest daemon kept failing; the daemon gave up
"""

from __future__ import annotations


class EvidenceError(Exception):
    """Base of every error this project raises on purpose."""

    exit_code = 1


class ConfigError(EvidenceError):
    exit_code = 78  # EX_CONFIG


class NotFound(EvidenceError):
    exit_code = 4


class Gone(NotFound):
    pass


class AuthFailed(EvidenceError):
    exit_code = 77  # EX_NOPERM

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(EvidenceError):
    exit_code = 77


class PasswordChangeRequired(Forbidden):
    pass


class InvalidInput(EvidenceError):
    exit_code = 2


class RejectedFile(InvalidInput):
    exit_code = 3


class Conflict(InvalidInput):
    exit_code = 2


class TransitionRefused(Conflict):
    pass


class TooLarge(InvalidInput):
    exit_code = 2


class KeyMalformed(InvalidInput):
    pass


class Unavailable(EvidenceError):
    exit_code = 75  # EX_TEMPFAIL: try again later


class StoreUnavailable(Unavailable):
    pass


class DatabaseUnavailable(Unavailable):
    pass


class IntegrityFailure(EvidenceError):
    exit_code = 65  # EX_DATAERR


class FixityAlarm(IntegrityFailure):
    """A stored original or clip no longer matches its recorded hash and size, or is gone."""

    exit_code = 9  # its own code, next to the custody chain's 8: a scheduled audit tells an alarm apart


class ObjectExists(IntegrityFailure):
    """Nothing overwrites a stored original or record: a second write with other bytes is refused."""


class SourceChanged(Unavailable):
    """Not a fault: the file was still being written; it will be taken again once settled."""


class SourceUnreadable(EvidenceError):
    """The file stays where it is and is tried again with backoff; it is on the skipped list meanwhile."""

    exit_code = 74  # EX_IOERR


class SourceNotReleased(EvidenceError):
    """The copy is stored and recorded; only the release waits, tried again with backoff."""

    exit_code = 74


class MediaError(EvidenceError):
    exit_code = 65


class ToolMissing(Unavailable):
    """ffmpeg or ffprobe cannot be run on this machine: a fault of the machine, not a verdict on the media;
    the job is retried with backoff, and once the tool is installed a parked one is retried by hand."""


class ToolTimeout(MediaError):
    pass


class InvalidJobPayload(EvidenceError):
    exit_code = 65  # EX_DATAERR


class JobRegistryInvalid(ConfigError):
    """Checked at start-up: the process refuses to start rather than run jobs it cannot handle."""

    exit_code = 70  # EX_SOFTWARE: the code is wrong, not the data


class LeaseLost(EvidenceError):
    """This worker no longer holds the job (its lease lapsed and another worker took it, or it was
    released): the unit of work that would record its result is rolled back and the result dropped."""

    exit_code = 75  # EX_TEMPFAIL


class JobAbandoned(EvidenceError):
    """Every try of a job ended with its worker gone (killed, out of memory): it is not tried again."""

    exit_code = 70


class CustodyBroken(EvidenceError):
    exit_code = 8  # its own code: a scheduled check tells a broken chain from an ordinary failure


class NoteRejected(CustodyBroken):
    """A checkpoint or other signed note that proves nothing: the custody it vouches for is unproven."""


class NoteMalformed(NoteRejected):
    pass


class UnknownKey(NoteRejected):
    pass


class BadSignature(NoteRejected):
    pass


class DaemonFailed(EvidenceError):
    exit_code = 70  # EX_SOFTWARE
