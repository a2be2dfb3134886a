"""The second process of ``evidence custody verify``: checks the later part of a long log on a connection of
its own (``custody_verify.check_range``), so that two CPUs share the walk.

A plain child (``python -c``), the range in and the answer out through pipes (pickled): no multiprocessing
machinery (its resource tracker outlives the call) and no fork of a process that holds connections.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from evidence.custody_verify import Helper, RangeCheck, check_range

TIMEOUT_S = 3600.0  # half of a 100-million-event log on a slow machine


class Child:
    """One helper process checking events ``after_seq < seq <= upto``."""

    def __init__(self, url: str, after_seq: int, upto: int) -> None:
        given, send = os.pipe()  # not stdin=PIPE: communicate() would later flush the pipe closed here
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from cli.custody_workers import main; main()"],
                stdin=given,
                stdout=subprocess.PIPE,
            )
        finally:
            os.close(given)
        try:
            with open(send, "wb") as pipe:  # a few hundred bytes: within the pipe's buffer, never blocks
                pipe.write(pickle.dumps((url, after_seq, upto)))
        except OSError:
            self.cancel()
            raise

    def result(self) -> RangeCheck:
        out, _ = self.proc.communicate(timeout=TIMEOUT_S)
        if self.proc.returncode != 0:
            raise RuntimeError(f"the custody verify helper failed (exit {self.proc.returncode})")
        found = pickle.loads(out)  # our own child's answer
        assert isinstance(found, RangeCheck)
        return found

    def cancel(self) -> None:
        if self.proc.returncode is None:  # not answered (``result`` reaps it): stop it, close its pipe
            self.proc.kill()
            self.proc.communicate()


def helper_for(engine: Engine) -> Helper | None:
    """A helper on ``engine``'s database, or None where another process cannot open it (in-memory SQLite)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    text = url.render_as_string(hide_password=False)
    return lambda after_seq, upto: Child(text, after_seq, upto)


def main() -> None:
    """The child's entry: the range on stdin, its ``RangeCheck`` on stdout."""
    url, after_seq, upto = pickle.loads(sys.stdin.buffer.read())
    # not make_engine: its module brings the migrations (alembic, ~0.25 s to import), and this only reads,
    # in one statement (one snapshot); the same connect timeouts
    timeouts = {"timeout": 30} if url.startswith("sqlite") else {"connect_timeout": 5}
    engine = create_engine(url, poolclass=NullPool, connect_args=timeouts)
    try:
        with engine.connect() as conn:
            found = check_range(conn, after_seq, upto)
    finally:
        engine.dispose()
    sys.stdout.buffer.write(pickle.dumps(found))
