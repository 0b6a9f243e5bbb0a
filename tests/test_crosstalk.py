"""With several servers, only the server a call or stream went to can answer it:
another server (a rogue one, or one confused about request ids) that sends
answers, items or ends for request ids it never got is ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import msgpack
import pytest
import zmq

from anyzmq import _wire, rpc
from anyzmq._context import shared_context

from .support import LOOPBACK, SAFETY, endpoint, wait_until

pytestmark = pytest.mark.anyio


class Gated(rpc.AttrHandler):
    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.started = anyio.Event()

    @rpc.method
    async def real(self) -> str:
        self.started.set()
        await self.gate.wait()
        return "real"

    @rpc.method
    async def items(self) -> AsyncIterator[str]:
        self.started.set()
        await self.gate.wait()
        yield "real item"


def forgeries(envelope: list[bytes], ids: range) -> list[list[bytes]]:
    """An answer, an item and an end for each id, as an anyzmq server sends them."""
    messages = []
    for request_id in ids:
        ok = _wire.reply_header(request_id, is_error=False)
        messages.append([*envelope, _wire.REPLY_MARK, ok, msgpack.packb("forged")])
        messages.append([*envelope, _wire.ITEM_MARK, ok, msgpack.packb("forged item")])
    return messages


@pytest.mark.parametrize("kind", ["call", "stream"])
async def test_another_server_cannot_answer_a_call_or_stream(kind: str) -> None:
    rogue: zmq.Socket[bytes] = shared_context().socket(zmq.ROUTER)
    rogue.setsockopt(zmq.LINGER, 0)
    rogue.bind(LOOPBACK)
    rogue_endpoint = rogue.getsockopt_string(zmq.LAST_ENDPOINT)
    handler = Gated()
    results: list[object] = []
    try:
        async with (
            rpc.serve_rpc(handler, bind=LOOPBACK) as server,
            rpc.connect_rpc(connect=[endpoint(server), rogue_endpoint], timeout=None) as client,
            anyio.create_task_group() as tg,
        ):
            await wait_until(lambda: len(client.connected_endpoints) == 2, within=SAFETY)

            async def one() -> None:
                if kind == "call":
                    results.append(await client.call.real())
                else:
                    async with client.stream.items() as items:
                        results.extend([item async for item in items])

            # Calls go round-robin over the two servers: one to each.
            tg.start_soon(one)
            tg.start_soon(one)
            with anyio.fail_after(SAFETY):
                await handler.started.wait()
            await wait_until(lambda: bool(rogue.poll(0)), within=SAFETY)
            envelope, *frames = rogue.recv_multipart()
            own_id = _wire.request_id_of(frames[1])
            # Answers, items and ends for every other id: all are ignored...
            for message in forgeries([envelope], range(1, 20)):
                if _wire.parse_reply_header(message[2]).request_id != own_id:
                    rogue.send_multipart(message)
            # ...while the rogue's answer to its own request is taken, after them.
            own = _wire.reply_header(own_id, is_error=False)
            if kind == "call":
                rogue.send_multipart([envelope, _wire.REPLY_MARK, own, msgpack.packb("own")])
            else:
                rogue.send_multipart([envelope, _wire.ITEM_MARK, own, msgpack.packb("own")])
                rogue.send_multipart([envelope, _wire.REPLY_MARK, own, msgpack.packb(None)])
            await wait_until(lambda: bool(results), within=SAFETY)
            assert results == ["own"]
            handler.gate.set()
            await wait_until(lambda: len(results) == 2, within=SAFETY)
            assert results == ["own", "real" if kind == "call" else "real item"]
    finally:
        rogue.close(linger=0)
