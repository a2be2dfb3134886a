"""The HTTP access log: one line per request with method, path, status, bytes, time and user.

Never a secret: the query string is left out, and tokens and passwords travel in headers and
bodies, which are not logged. The user is named by the routes that resolve one anyway
(``note_user``), so the log adds no database query to any request.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("evidence.access")
# A list shared by the request's task and the worker threads its dependencies run in
# (they see copies of the context, but the same list).
_user: ContextVar[list[str] | None] = ContextVar("evidence_access_user", default=None)


def note_user(username: str) -> None:
    """Name the signed-in user in this request's log line (nothing happens when the log is off)."""
    holder = _user.get()
    if holder is not None:
        holder.append(username)


class AccessLog:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware, and it leaves streaming alone)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        holder: list[str] = []
        token = _user.set(holder)
        status, sent = 500, 0  # what the client gets if the app fails before answering

        async def counted(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            _user.reset(token)
            client = scope.get("client")
            # quoted: a path with a newline or control characters cannot forge a log line
            log.info(
                '%s "%s %s" %d %d %.1fms user=%s',
                client[0] if client else "-",
                scope["method"],
                quote(scope["path"], safe="/:@!$&'()*+,;=~"),
                status,
                sent,
                (time.perf_counter() - began) * 1000,
                holder[-1] if holder else "-",
            )
