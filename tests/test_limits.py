"""Limits a server operator sets: message size and handler calls at once."""

from __future__ import annotations

import anyio
import pytest

from anyzmq import rpc
from anyzmq._server import MIN_QUEUED_CALLS

from .support import LOOPBACK, SAFETY, endpoint, rpc_pair, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pump_arm")]


class Gated(rpc.AttrHandler):
    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.entered = 0
        self.left = 0
        self._changed = anyio.Event()

    @rpc.method
    async def wait(self, n: int) -> int:
        self.entered += 1
        self._notify()
        try:
            await self.gate.wait()
        finally:
            self.left += 1
            self._notify()
        return n

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, *, entered: int = 0, left: int = 0) -> None:
        """Wait until ``entered`` calls have started and ``left`` have ended.

        The server counts a call out in the same step as it returns, so once
        ``left`` calls have ended, its ``running_calls`` no longer counts them."""
        with anyio.fail_after(SAFETY):
            while self.entered < entered or self.left < left:
                await self._changed.wait()

    @rpc.method
    def ping(self) -> str:
        return "pong"

    @rpc.method
    def size(self, data: bytes) -> int:
        return len(data)


async def test_oversized_request_is_refused_and_others_are_served() -> None:
    async with rpc_pair(Gated(), server={"max_message_size": 4096}, timeout=30) as (
        server,
        client,
    ):
        assert await client.call.size(b"x" * 1000) == 1000
        # ZeroMQ drops the connection instead: the call fails when the client hears
        # of it (under load ZeroMQ has been seen not to report the disconnection when
        # the server drops it in the middle of the send: then the call times out).
        with pytest.raises((rpc.ConnectionLostError, TimeoutError)):
            await client.with_timeout(5).call.size(b"x" * 10_000)
        async with rpc.connect_rpc(connect=endpoint(server), timeout=30) as other:
            assert await other.call.ping() == "pong"
        # The client recovers on its own.
        assert await client.call.ping() == "pong"


async def test_oversized_answer_is_refused_by_the_client() -> None:
    class Big(rpc.AttrHandler):
        @rpc.method
        def make(self, n: int) -> bytes:
            return b"x" * n

    async with rpc_pair(Big(), max_message_size=4096, timeout=30) as (_, client):
        assert await client.call.make(100) == b"x" * 100
        # ZeroMQ drops the connection, and would never connect again by itself.
        with pytest.raises(rpc.ConnectionLostError, match="'make'"):
            await client.call.make(10_000)
        for _ in range(3):
            assert await client.call.make(100) == b"x" * 100
        assert client.pending_calls == 0


async def test_concurrent_calls_beyond_the_limit_wait() -> None:
    handler = Gated()
    async with rpc_pair(handler, server={"max_concurrent_calls": 2}) as (server, client):
        results: list[int] = []
        async with anyio.create_task_group() as tg:
            for n in range(5):

                async def call(n: int = n) -> None:
                    results.append(await client.call.wait(n))

                tg.start_soon(call)
            await handler.until(entered=2)
            # The others wait in the server's queue; it reads on, so a synchronous
            # call still gets in.
            await wait_until(lambda: server.queued_calls == 3)
            assert await client.call.ping() == "pong"
            assert server.running_calls == 2
            assert handler.entered == 2
            handler.gate.set()
        assert sorted(results) == [0, 1, 2, 3, 4]
        assert await client.call.ping() == "pong"
        assert server.running_calls == 0


async def test_a_full_queue_stops_the_server_reading() -> None:
    handler = Gated()
    async with rpc_pair(handler, server={"max_concurrent_calls": 1}) as (server, client):
        async with anyio.create_task_group() as tg:
            for n in range(1 + MIN_QUEUED_CALLS):
                tg.start_soon(client.call.wait, n)
            await wait_until(lambda: server.queued_calls == MIN_QUEUED_CALLS)
            # Not even a synchronous call gets in now: it waits in ZeroMQ's queue.
            with pytest.raises(TimeoutError):
                await client.with_timeout(0.1).call.ping()
            assert server.running_calls == 1
            handler.gate.set()
        assert await client.call.ping() == "pong"
        assert server.queued_calls == 0


async def test_no_limit() -> None:
    handler = Gated()
    async with (
        rpc_pair(handler, server={"max_concurrent_calls": None}) as (server, client),
        anyio.create_task_group() as tg,
    ):
        for n in range(1500):
            tg.start_soon(client.call.wait, n)
        await handler.until(entered=1500)
        assert server.running_calls == 1500
        handler.gate.set()


@pytest.mark.parametrize("value", [0, -1, 1.5, "10", True])
async def test_bad_limits_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="max_concurrent_calls"):
        rpc.serve_rpc(Gated(), max_concurrent_calls=value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_message_size"):
        rpc.serve_pipeline(Gated(), max_message_size=value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_message_size"):
        rpc.connect_rpc(max_message_size=value)  # type: ignore[arg-type]


async def test_pipeline_limit_applies_too() -> None:
    handler = Gated()
    async with (
        rpc.serve_pipeline(handler, bind=LOOPBACK, max_concurrent_calls=3) as server,
        rpc.connect_pipeline(connect=endpoint(server)) as client,
    ):
        for n in range(10):
            await client.notify.wait(n)
        await handler.until(entered=3)
        # Without the limit one drain of the queue would have started all ten.
        assert server.running_calls == 3
        handler.gate.set()
        await handler.until(entered=10, left=10)
        assert server.running_calls == 0
