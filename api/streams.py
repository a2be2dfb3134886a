"""Thread pools of the API: few threads for request work, a separate pool for streaming bodies.

Python threads contend for the interpreter lock: with SQLite, one or two threads per
process serve twice the requests that forty do (see docs/benchmarks.md), so request work
(sync routes and dependencies, i.e. database work) runs on ``api_threads`` threads. Reading
a body from the store can block for long on a slow S3 server; those reads use their own
pool, so a few slow downloads cannot starve everyone else's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI

_END = object()
T = TypeVar("T")


@contextlib.asynccontextmanager
async def thread_pools(app: FastAPI) -> AsyncIterator[None]:
    """Lifespan: size the request pool and make the streaming pool (per process)."""
    settings = app.state.services.settings
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
    app.state.stream_limiter = anyio.CapacityLimiter(settings.api_stream_threads)
    yield


def _stream_pool(app: FastAPI) -> anyio.CapacityLimiter | None:
    # None (anyio's default pool) where the lifespan did not run, as under a bare ASGI client
    return getattr(app.state, "stream_limiter", None)


async def run_io(app: FastAPI, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` on the streaming pool: disk or store I/O that may block for long."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=_stream_pool(app))


def stream_body(app: FastAPI, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A response body of ``chunks``, read on the streaming pool (see ``in_stream_threads``)."""
    return in_stream_threads(chunks, _stream_pool(app))


async def in_stream_threads(chunks: Iterator[bytes], limiter: anyio.CapacityLimiter | None) -> AsyncIterator[bytes]:
    """Yield ``chunks`` read on the streaming pool, one chunk ahead; the source is closed however it ends.

    Reading ahead overlaps the store's latency (an S3 GET) with sending the previous chunk.
    """
    ahead: asyncio.Future[object] | None = None
    try:
        ahead = asyncio.ensure_future(anyio.to_thread.run_sync(next, chunks, _END, limiter=limiter))
        while True:
            chunk = await asyncio.shield(ahead)  # a cancelled response must not abandon a running read
            if chunk is _END:
                return
            ahead = asyncio.ensure_future(anyio.to_thread.run_sync(next, chunks, _END, limiter=limiter))
            yield chunk  # type: ignore[misc]
    finally:
        with anyio.CancelScope(shield=True):
            if ahead is not None and not ahead.done():
                await asyncio.wait([ahead])  # a generator can't be closed while a thread runs it
            if ahead is not None and ahead.done() and not ahead.cancelled():
                ahead.exception()  # retrieved: a read failing after the client left is not news
            close = getattr(chunks, "close", None)
            if close is not None:
                await anyio.to_thread.run_sync(close, limiter=limiter)
