"""Which handler runs each kind of job, checked against the kinds in ``evidence/jobs.py`` at start-up.

The domain side (kinds, payload types, the order of the pipeline) is ``jobs.SPECS``; this module
only binds handlers. ``check`` refuses, with JobRegistryInvalid, a kind with no handler or with
two, a handler for a kind that does not exist, a next step that is not a kind, and a payload
type that cannot parse a stored payload.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from evidence import jobs
from evidence.errors import JobRegistryInvalid
from evidence.jobs import JobKind, JobSpec
from evidence.models import Job
from ingest import fixity_pass, handlers, retention_pass
from ingest.runtime import Runtime

Handler = Callable[[Runtime, Job, Any], None]

BINDINGS: tuple[tuple[JobKind, Handler], ...] = (
    (JobKind.PROBE, handlers.handle_probe),
    (JobKind.PROXY, handlers.handle_proxy),
    (JobKind.EXPORT, handlers.handle_export),
    (JobKind.FIXITY, fixity_pass.handle_batch),
    (JobKind.SWEEP, retention_pass.handle_sweep),
    (JobKind.CLIP, handlers.handle_clip),  # last: tests/ingest/test_registry.py drops it
)


def _named(kind: object) -> str:
    return kind.value if isinstance(kind, JobKind) else repr(kind)


def check(bindings: Iterable[tuple[Any, Handler]], specs: Mapping[Any, JobSpec]) -> dict[JobKind, Handler]:
    """The handler of each kind in ``specs``; JobRegistryInvalid naming every problem found."""
    bindings = list(bindings)
    bound = Counter(kind for kind, _ in bindings)
    problems = [f"{_named(kind)} has no handler" for kind in specs if kind not in bound]
    problems += [f"{_named(kind)} has {n} handlers" for kind, n in bound.items() if n > 1]
    problems += [
        f"a handler is bound to {_named(kind)}, which is not a job kind" for kind in bound if kind not in specs
    ]
    for kind, spec in specs.items():
        if spec.then is not None and spec.then not in specs:
            problems.append(f"{_named(kind)} is followed by {_named(spec.then)}, which is not a job kind")
        if not (isinstance(spec.payload, type) and issubclass(spec.payload, jobs.Payload)):
            problems.append(f"{_named(kind)}'s payload type {spec.payload!r} cannot parse a stored payload")
    if problems:
        raise JobRegistryInvalid("job registry: " + "; ".join(problems))
    return dict(bindings)


@functools.cache
def handlers_by_kind() -> dict[JobKind, Handler]:
    """The checked registry of this build, checked once per process."""
    return check(BINDINGS, jobs.SPECS)
