"""A client's connection monitors never stall the library: ZeroMQ's I/O thread,
which every anyzmq socket shares, blocks for good when it reports an event to a
monitor nobody reads any more. A closed socket still reports while it lingers."""

from __future__ import annotations

import os

import anyio
import pytest
import zmq

from anyzmq import rpc
from anyzmq._context import shared_context

from .support import LOOPBACK, SAFETY, rpc_pair, wait_until

pytestmark = pytest.mark.anyio

PAYLOAD = 1 << 20
CALLS = 32  # 32 MiB: more than loopback TCP buffers hold, so most stays queued


class Echo(rpc.AttrHandler):
    @rpc.method
    def echo(self, value: int) -> int:
        return value


async def test_a_client_lingering_after_exit_reports_to_a_live_monitor() -> None:
    # A server that reads one message and then nothing: the client's calls stay
    # queued in its socket, which therefore lingers after a normal exit.
    stalled: zmq.Socket[bytes] = shared_context().socket(zmq.ROUTER)
    stalled.setsockopt(zmq.LINGER, 0)
    stalled.setsockopt(zmq.RCVHWM, 1)
    stalled.bind(LOOPBACK)
    address = stalled.getsockopt_string(zmq.LAST_ENDPOINT)
    try:
        async with (
            rpc.connect_rpc(connect=address, timeout=None) as client,
            anyio.create_task_group() as calls,
        ):
            for _ in range(CALLS):
                calls.start_soon(client.call.take, os.urandom(PAYLOAD))
            await wait_until(lambda: bool(stalled.poll(0) & zmq.POLLIN), within=SAFETY)
            calls.cancel_scope.cancel()
        # The lingering socket's connection breaks now: ZeroMQ reports it.
    finally:
        stalled.close(linger=0)

    # Nothing of the context is stuck: a new pair connects and answers.
    async with rpc_pair(Echo()) as (_, client):
        with anyio.fail_after(SAFETY):
            assert await client.call.echo(7) == 7
