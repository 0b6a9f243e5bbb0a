"""No call waits forever for a server that is gone: killed, frozen or never there,
and calls and cancels go to the server they belong to when there are several."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from anyzmq import rpc

from .support import LOOPBACK, endpoint, wait_until

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).with_name("peers") / "anyzmq_server.py"
FAST = 0.2  # heartbeat interval: a silent server is found out after 0.8 s


class ServerProcess:
    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None
        self._stdout = BufferedByteReceiveStream(process.stdout)

    async def line(self) -> str:
        with anyio.fail_after(30):
            data = await self._stdout.receive_until(b"\n", 1 << 16)
        return data.decode()


@asynccontextmanager
async def server_process(address: str = LOOPBACK) -> AsyncIterator[tuple[ServerProcess, str]]:
    """An anyzmq RPC server in another process, and its endpoint."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = await anyio.open_process(
        [sys.executable, "-W", "error", str(SERVER), address], stderr=None, env=env
    )
    async with process:
        try:
            server = ServerProcess(process)
            yield server, await server.line()
        finally:
            if process.returncode is None:
                with suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)  # in case it is stopped
                    process.kill()
            with anyio.fail_after(30):
                await process.wait()


async def test_call_fails_when_the_server_process_dies() -> None:
    async with (
        server_process() as (server, address),
        rpc.connect_rpc(connect=address, heartbeat=FAST) as client,
    ):
        assert await client.call.add(1, 2) == 3

        async def kill_when_started() -> None:
            assert await server.line() == "started hold"
            server.process.kill()

        async with anyio.create_task_group() as tg:
            tg.start_soon(kill_when_started)
            with pytest.raises(rpc.ConnectionLostError, match="'hold'"), anyio.fail_after(30):
                await client.call.hold()  # no timeout


async def test_call_fails_when_the_server_freezes_and_works_when_it_thaws() -> None:
    async with (
        server_process() as (server, address),
        rpc.connect_rpc(connect=address, heartbeat=FAST) as client,
    ):
        assert await client.call.add(1, 2) == 3

        async def freeze_when_started() -> None:
            assert await server.line() == "started hold"
            os.kill(server.process.pid, signal.SIGSTOP)

        async with anyio.create_task_group() as tg:
            tg.start_soon(freeze_when_started)
            with pytest.raises(rpc.ConnectionLostError), anyio.fail_after(30):
                await client.call.hold()
        os.kill(server.process.pid, signal.SIGCONT)
        with anyio.fail_after(30):
            assert await client.call.add(2, 3) == 5  # the client is usable again


async def _read_into(stream: rpc.Stream, received: list[int]) -> None:
    async for item in stream:
        received.append(item)


@pytest.mark.parametrize("how", ["kill", "freeze"])
async def test_a_stream_fails_when_its_server_dies_or_freezes(how: str) -> None:
    async with (
        server_process() as (server, address),
        rpc.connect_rpc(connect=address, heartbeat=FAST, stream_window=4) as client,
    ):
        async with client.stream.numbers() as numbers:
            assert await numbers.__anext__() == 1
            assert await server.line() == "started numbers"
            if how == "kill":
                server.process.kill()
            else:
                os.kill(server.process.pid, signal.SIGSTOP)
            received: list[int] = []
            with pytest.raises(rpc.ConnectionLostError), anyio.fail_after(30):
                await _read_into(numbers, received)  # no timeout: the loss ends it
            assert received == list(range(2, 2 + len(received)))
            assert len(received) <= 4  # what the window let the server send
        if how == "freeze":
            os.kill(server.process.pid, signal.SIGCONT)
            with anyio.fail_after(30):
                assert await client.call.add(2, 3) == 5


async def test_client_recovers_when_the_server_comes_back() -> None:
    async with (
        server_process() as (server, address),
        rpc.connect_rpc(connect=address, heartbeat=FAST) as client,
    ):
        assert await client.call.add(1, 2) == 3
        server.process.kill()
        await server.process.wait()
        async with server_process(address) as (_, again):
            assert again == address
            with anyio.fail_after(30):
                assert await client.call.add(3, 4) == 7


def _unused_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


class Counting(rpc.AttrHandler):
    def __init__(self) -> None:
        self.calls = 0
        self.started = 0
        self.ended = 0

    @rpc.method
    def add(self, a: int, b: int) -> int:
        self.calls += 1
        return a + b

    @rpc.method
    async def hold(self) -> None:
        self.started += 1
        try:
            await anyio.sleep_forever()
        finally:
            self.ended += 1


async def test_an_unreachable_server_gets_no_calls_while_others_are_up() -> None:
    handlers = [Counting(), Counting()]
    async with (
        rpc.serve_rpc(handlers[0], bind=LOOPBACK) as first,
        rpc.serve_rpc(handlers[1], bind=LOOPBACK) as second,
    ):
        live = {endpoint(first), endpoint(second)}
        dead = _unused_endpoint()
        async with rpc.connect_rpc(connect=[endpoint(first), dead, endpoint(second)]) as client:
            await wait_until(lambda: client.connected_endpoints == live)
            with anyio.fail_after(30):  # a call sent to the dead endpoint would wait forever
                for n in range(30):
                    assert await client.call.add(n, 1) == n + 1
            assert client.connected_endpoints == live
    assert handlers[0].calls + handlers[1].calls == 30
    assert handlers[0].calls > 0
    assert handlers[1].calls > 0


async def test_cancel_reaches_the_server_that_runs_the_call() -> None:
    handlers = [Counting(), Counting(), Counting()]
    async with (
        rpc.serve_rpc(handlers[0], bind=LOOPBACK) as one,
        rpc.serve_rpc(handlers[1], bind=LOOPBACK) as two,
        rpc.serve_rpc(handlers[2], bind=LOOPBACK) as three,
    ):
        servers = (one, two, three)
        addresses = [endpoint(server) for server in servers]
        async with rpc.connect_rpc(connect=addresses) as client:
            await wait_until(lambda: client.connected_endpoints == set(addresses))
            async with anyio.create_task_group() as keep:
                async with anyio.create_task_group() as abandoned:
                    abandoned.start_soon(client.call.hold)
                    await wait_until(lambda: sum(h.started for h in handlers) == 1)
                    keep.start_soon(client.call.hold)
                    keep.start_soon(client.call.hold)
                    await wait_until(lambda: [h.started for h in handlers] == [1, 1, 1])
                    abandoned.cancel_scope.cancel()
                # Exactly the server that ran the abandoned call cancels it.
                await wait_until(lambda: sum(h.ended for h in handlers) == 1)
                assert sorted(server.running_calls for server in servers) == [0, 1, 1]
                assert sum(server.abandoned_calls for server in servers) == 1
                keep.cancel_scope.cancel()
            await wait_until(lambda: all(server.running_calls == 0 for server in servers))


async def test_long_calls_are_not_mistaken_for_lost_ones() -> None:
    class Slow(rpc.AttrHandler):
        @rpc.method
        async def slow(self, seconds: float) -> str:
            await anyio.sleep(seconds)
            return "done"

    async with (
        rpc.serve_rpc(Slow(), bind=LOOPBACK, heartbeat=0.25) as server,
        rpc.connect_rpc(connect=endpoint(server), heartbeat=0.25) as client,
    ):
        # Three heartbeat timeouts (1 s each) pass while the server works.
        assert await client.call.slow(3 * 4 * 0.25) == "done"
