"""Faults and load: a server restarted under its clients, many clients against one
and three servers, and many timeouts, all leaving no state behind.

``ANYZMQ_SOAK=1`` runs the soak variants (ten times the load), skipped by default.
"""

from __future__ import annotations

import os
from collections import Counter

import anyio
import pytest

from anyzmq import rpc

from .support import LOOPBACK, SAFETY, endpoint

pytestmark = pytest.mark.anyio

SOAK = os.environ.get("ANYZMQ_SOAK") == "1"
soak = pytest.mark.skipif(not SOAK, reason="soak variant: set ANYZMQ_SOAK=1")


class Handler(rpc.AttrHandler):
    def __init__(self, name: str = "server") -> None:
        self.name = name
        self.gate = anyio.Event()
        self.started = anyio.Event()

    @rpc.method
    async def echo(self, client: int, call: int) -> list[object]:
        await anyio.lowlevel.checkpoint()
        return [client, call, self.name]

    @rpc.method
    def ping(self) -> str:
        return self.name

    @rpc.method
    async def hold(self) -> None:
        self.started.set()
        await self.gate.wait()


async def test_clients_survive_a_server_restart(free_tcp_port: int) -> None:
    address = f"tcp://127.0.0.1:{free_tcp_port}"
    async with (
        rpc.connect_rpc(connect=address, timeout=0.5) as client,
        anyio.create_task_group() as tg,
    ):
        first = Handler("first")
        async with rpc.serve_rpc(first, bind=address) as server:
            assert await client.with_timeout(None).call.ping() == "first"

            async def in_flight() -> None:
                # The connection it went over is lost: it fails, it does not wait.
                with pytest.raises(rpc.ConnectionLostError, match="'hold'"):
                    await client.with_timeout(None).call.hold()

            tg.start_soon(in_flight)
            await first.started.wait()
            server.close()  # it goes away at once (leaving normally would answer the call)
        # A call made while the server goes away waits (here: times out), or fails
        # if a connection to the closing server was made and lost meanwhile.
        with pytest.raises((TimeoutError, rpc.ConnectionLostError)):
            await client.call.ping()
        async with rpc.serve_rpc(Handler("second"), bind=address):
            # ZeroMQ reconnects on its own; the same client object is used.
            assert await client.with_timeout(None).call.ping() == "second"
    assert client.pending_calls == 0


async def run_load(servers: int, clients: int, calls: int, in_flight: int) -> None:
    handlers = [Handler(f"s{n}") for n in range(servers)]
    answers: Counter[tuple[int, int]] = Counter()
    served_by: Counter[object] = Counter()
    async with anyio.create_task_group() as outer:
        services = [rpc.serve_rpc(h, bind=LOOPBACK) for h in handlers]
        for service in services:
            await service.__aenter__()
        try:
            addresses = [endpoint(service) for service in services]
            connected = [rpc.connect_rpc(connect=addresses, timeout=60) for _ in range(clients)]
            for client in connected:
                await client.__aenter__()
            try:

                async def worker(number: int, client: rpc.RPCClient, first: int) -> None:
                    for call in range(first, calls, in_flight):
                        got_client, got_call, server = await client.call.echo(number, call)
                        assert (got_client, got_call) == (number, call)
                        answers[number, call] += 1
                        served_by[server] += 1

                async with anyio.create_task_group() as tg:
                    for number, client in enumerate(connected):
                        for first in range(in_flight):
                            tg.start_soon(worker, number, client, first)
                for client in connected:
                    assert client.pending_calls == 0
            finally:
                for client in reversed(connected):
                    await client.__aexit__(None, None, None)
            for service in services:
                assert service.running_calls == 0
        finally:
            for service in reversed(services):
                await service.__aexit__(None, None, None)
        outer.cancel_scope.cancel()
    assert len(answers) == clients * calls, "some calls were not answered"
    assert set(answers.values()) == {1}, "some answers were duplicated"
    assert sum(served_by.values()) == clients * calls
    assert set(served_by) == {h.name for h in handlers}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("servers", [1, 3])
async def test_fifty_clients_two_thousand_calls_each(servers: int) -> None:
    await run_load(servers=servers, clients=50, calls=2000, in_flight=10)


@soak
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("servers", [1, 3])
async def test_soak_many_clients(servers: int) -> None:
    await run_load(servers=servers, clients=100, calls=10_000, in_flight=20)


async def run_timeouts(count: int) -> None:
    handler = Handler()
    async with (
        rpc.serve_rpc(handler, bind=LOOPBACK) as server,
        rpc.connect_rpc(connect=endpoint(server), timeout=0.5) as client,
    ):
        timed_out = 0

        async def call() -> None:
            nonlocal timed_out
            try:
                await client.call.hold()
            except TimeoutError:
                timed_out += 1

        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(call)
        assert timed_out == count
        assert client.pending_calls == 0
        handler.gate.set()
        with anyio.fail_after(SAFETY):
            while server.running_calls:
                await anyio.lowlevel.checkpoint()
        # The late answers are all dropped, and the client still works (once the
        # server has worked through the requests still queued before this one).
        assert await client.with_timeout(None).call.ping() == "server"
        assert client.pending_calls == 0


@pytest.mark.timeout(120)
async def test_ten_thousand_timeouts_leave_nothing_pending() -> None:
    await run_timeouts(10_000)


@soak
@pytest.mark.timeout(3600)
async def test_soak_timeouts() -> None:
    await run_timeouts(100_000)
