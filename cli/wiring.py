"""What the commands are built on: settings, a runtime, units of work on the database."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from evidence import unit_of_work
from evidence.errors import InvalidInput
from evidence.items import time_filter
from storage_config.settings import Settings, get_settings

if TYPE_CHECKING:
    from ingest.runtime import Runtime

T = TypeVar("T")


def settings() -> Settings:
    return get_settings()


@contextlib.contextmanager
def runtime() -> Iterator[Runtime]:
    """A runtime for one command (database migrated, store opened), closed when the block ends."""
    from ingest.runtime import open_runtime  # not at import: `evidence --help` and `config` need no store client

    rt = open_runtime(settings(), "cli")
    try:
        yield rt
    finally:
        rt.close()


def in_database(work: Callable[[Session], T]) -> T:
    """``work(session)`` as one unit of work on a runtime of its own."""
    with runtime() as rt:
        return unit_of_work.run(rt.sessions, work)


def reading(work: Callable[[Session], T]) -> T:
    """``work(session)`` in a read-only unit of work: it takes no write lock, so ingest and the API go on."""
    from evidence.adapters.database import make_sessionmaker  # brings Alembic: only when needed

    with runtime() as rt:
        return unit_of_work.run(make_sessionmaker(rt.engine, read_only=True), work)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time given on the command line; without a zone, the station's."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings().zone)
    return time_filter(moment, text)


def operator() -> str:
    """Who is at the station's console, for custody details (the login name, where there is one)."""
    try:
        return f"station operator {getpass.getuser()}"
    except (KeyError, OSError):
        return "station operator"
