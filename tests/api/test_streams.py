"""The API's thread pools: request work on few threads, bodies read on their own pool."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
from fastapi.testclient import TestClient

from api.app import create_app
from api.streams import in_stream_threads


def test_the_pools_are_sized_from_the_settings(make_settings):
    app = create_app(make_settings(api_threads=3, api_stream_threads=5))
    with TestClient(app) as client:  # runs the lifespan
        assert client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens) == 3
        assert app.state.stream_limiter.total_tokens == 5
        assert client.get("/healthz").status_code == 200
    app.state.services.engine.dispose()


def test_a_body_is_read_on_the_stream_pool_and_its_source_closed_when_the_client_stops():
    closed, borrowed = [], []
    limiter = anyio.CapacityLimiter(1)

    def source():
        try:
            for i in range(5):
                assert threading.current_thread() is not threading.main_thread()
                borrowed.append(limiter.borrowed_tokens)
                yield bytes([i]) * 3
        finally:
            closed.append(True)

    async def whole() -> list[bytes]:
        return [c async for c in in_stream_threads(source(), limiter)]

    assert anyio.run(whole) == [bytes([i]) * 3 for i in range(5)]
    assert closed == [True] and borrowed == [1] * 5

    async def first_only() -> bytes:
        body = in_stream_threads(source(), limiter)
        chunk = await body.__anext__()
        await body.aclose()  # what a response does when the client goes away
        assert limiter.borrowed_tokens == 0
        return chunk

    assert anyio.run(first_only) == b"\x00" * 3
    assert closed == [True, True]


def test_the_next_chunk_is_read_while_the_last_is_being_sent():
    asked = []

    def source():
        for i in range(3):
            asked.append(i)
            yield bytes([i])

    async def consume() -> list[bytes]:
        body = in_stream_threads(source(), anyio.CapacityLimiter(1))
        got = [await body.__anext__()]
        with anyio.fail_after(5):  # "sending" chunk 0: chunk 1 is read meanwhile, unasked
            while len(asked) < 2:
                await anyio.sleep(0.005)
        got += [c async for c in body]
        return got

    assert anyio.run(consume) == [b"\x00", b"\x01", b"\x02"]
