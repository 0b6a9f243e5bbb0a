"""Deadlines, cancels and streams through ``anyzmq proxy rpc`` (a subprocess, as a
user runs it), with library servers and clients in the test process."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import pytest

from anyzmq import rpc

from .support import LOOPBACK, SAFETY, wait_until
from .test_cli import running

pytestmark = pytest.mark.anyio


class Probe(rpc.AttrHandler):
    def __init__(self) -> None:
        self.started = anyio.Event()
        self.finished = anyio.Event()

    @rpc.method
    async def deadline(self) -> float:
        return rpc.current_call().deadline

    @rpc.method
    async def hold(self) -> None:
        self.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.finished.set()

    @rpc.method
    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @rpc.method
    async def endless(self) -> AsyncIterator[int]:
        i = 0
        while True:
            yield i
            i += 1


@asynccontextmanager
async def proxy() -> AsyncIterator[tuple[str, str]]:
    """``anyzmq proxy rpc`` on loopback: its frontend and backend. It must exit 0
    on SIGTERM at the end."""
    argv = ("proxy", "rpc", "--frontend", LOOPBACK, "--backend", LOOPBACK)
    async with running(*argv) as process:
        frontend, backend = (line.strip() for line in await process.lines(2))
        yield frontend, backend
        assert await process.stop() == 0


async def test_the_callers_deadline_reaches_the_handler_through_the_proxy() -> None:
    async with (
        proxy() as (frontend, backend),
        rpc.serve_rpc(Probe(), connect=backend),
        rpc.connect_rpc(connect=frontend) as client,
    ):
        with anyio.fail_after(30):
            caller = anyio.current_effective_deadline()
            seen = await client.call.deadline()
    assert math.isfinite(seen)
    # The budget is relative: it counts again from the server's arrival.
    assert caller - 1e-6 <= seen < caller + 10


async def test_an_abandoned_call_is_cancelled_through_the_proxy() -> None:
    handler = Probe()
    async with (
        proxy() as (frontend, backend),
        rpc.serve_rpc(handler, connect=backend) as server,
        rpc.connect_rpc(connect=frontend) as client,
    ):
        async with anyio.create_task_group() as group:
            group.start_soon(client.call.hold)
            with anyio.fail_after(30):
                await handler.started.wait()
            group.cancel_scope.cancel()
        with anyio.fail_after(30):
            await handler.finished.wait()  # cancelled on the server: its finally ran
        await wait_until(lambda: server.running_calls == 0)
        assert server.abandoned_calls == 1


async def test_a_stream_needing_credit_arrives_whole_through_the_proxy() -> None:
    async with (
        proxy() as (frontend, backend),
        rpc.serve_rpc(Probe(), connect=backend),
        rpc.connect_rpc(connect=frontend, stream_window=4) as client,
    ):
        with anyio.fail_after(30):
            async with client.stream.count(100) as items:
                assert [item async for item in items] == list(range(100))


@pytest.mark.parametrize("servers", [2, 3])
async def test_a_stream_completes_when_its_credits_reach_other_servers(servers: int) -> None:
    """The proxy's DEALER hands each credit to the next server in turn. A credit
    carries totals, so the next one that reaches the stream's server makes up for
    those that did not (two servers); a reader left waiting sends its last credit
    again until one gets there (three). Without that the stream stalls for ever."""
    async with proxy() as (frontend, backend), AsyncExitStack() as stack:
        for _ in range(servers):
            await stack.enter_async_context(rpc.serve_rpc(Probe(), connect=backend))
        client = await stack.enter_async_context(
            rpc.connect_rpc(connect=frontend, stream_window=8)  # no timeout
        )
        for _ in range(2):
            with anyio.fail_after(30):
                async with client.stream.count(100) as items:
                    assert [item async for item in items] == list(range(100))


async def test_a_stream_left_early_ends_on_its_server_behind_several() -> None:
    """The stream's cancel may go to the other server; the stream's server, waiting
    for credit, probes the caller through the proxy, and the client answers each
    probe with a cancel until one reaches it."""
    async with proxy() as (frontend, backend), AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(rpc.serve_rpc(Probe(), connect=backend, heartbeat=0.1))
            for _ in range(2)
        ]
        # Taking one item of a window of 4 sends no credit: the request and its
        # cancel are two messages in a row, which the proxy hands to two servers.
        client = await stack.enter_async_context(rpc.connect_rpc(connect=frontend, stream_window=4))
        for _ in range(4):
            async with client.stream.endless() as items:
                assert await items.__anext__() == 0
            await wait_until(
                lambda: all(server.running_calls == 0 for server in servers), within=SAFETY
            )
        assert sum(server.abandoned_calls for server in servers) == 4
