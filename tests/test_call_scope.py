"""The caller's scope is the call's scope on the server: deadlines travel with each
request, abandoned calls are cancelled there, and handlers can see their call."""

from __future__ import annotations

import math
import struct

import anyio
import pytest
import zmq

from anyzmq import _rpc, _wire, rpc
from anyzmq._context import shared_context
from anyzmq._wire import call_frame

from .support import (
    LOOPBACK,
    SAFETY,
    endpoint,
    raw_socket,
    request_header,
    rpc_pair,
    wait_until,
)

pytestmark = pytest.mark.anyio


class Seen(rpc.AttrHandler):
    """Records what handlers see of their call; ``hold`` waits until released."""

    def __init__(self) -> None:
        self.deadlines: list[float] = []
        self.effective: list[float] = []
        self.names: list[str] = []
        self.started = 0
        self.ended = 0
        self.running = anyio.Event()
        self.finished = anyio.Event()
        self.release = anyio.Event()

    @rpc.method
    async def look(self) -> None:
        call = rpc.current_call()
        self.names.append(call.name)
        self.deadlines.append(call.deadline)
        self.effective.append(anyio.current_effective_deadline())

    @rpc.method
    def look_sync(self) -> str:
        call = rpc.current_call()
        self.deadlines.append(call.deadline)
        return call.name

    @rpc.method
    async def hold(self) -> str:
        self.started += 1
        self.running.set()
        try:
            await self.release.wait()
            return "released"
        finally:
            self.ended += 1
            self.finished.set()


async def test_handler_sees_the_callers_deadline() -> None:
    handler = Seen()
    async with rpc_pair(handler) as (_, client):
        with anyio.fail_after(30):
            caller_deadline = anyio.current_effective_deadline()
            await client.call.look()
        # The server's deadline is the caller's plus the time the request travelled.
        assert caller_deadline - 1e-6 <= handler.deadlines[0] < caller_deadline + 10
        assert handler.effective == handler.deadlines
        assert handler.names == ["look"]


async def test_client_timeout_is_a_deadline_too() -> None:
    handler = Seen()
    async with rpc_pair(handler, timeout=40) as (_, client):
        before = anyio.current_time()
        await client.call.look()
        await client.with_timeout(None).call.look()
        assert before + 40 <= handler.deadlines[0] <= anyio.current_time() + 40
        assert handler.deadlines[1] == math.inf
        assert handler.effective[1] == math.inf


async def test_earlier_server_timeout_wins() -> None:
    handler = Seen()
    async with rpc_pair(handler, server={"timeout": 5}, timeout=60) as (_, client):
        before = anyio.current_time()
        await client.call.look()
        assert before + 5 <= handler.deadlines[0] <= anyio.current_time() + 5


async def test_sync_handler_sees_its_call() -> None:
    handler = Seen()
    async with rpc_pair({"ns": handler}) as (_, client):
        with anyio.fail_after(30):
            deadline = anyio.current_effective_deadline()
            assert await client.call.ns.look_sync() == "ns.look_sync"
        assert deadline - 1e-6 <= handler.deadlines[0] < deadline + 10


async def test_current_call_outside_a_handler_raises_lookup_error() -> None:
    with pytest.raises(LookupError, match="inside a handler"):
        rpc.current_call()


async def test_nested_calls_inherit_the_deadline() -> None:
    inner = Seen()

    class Outer(rpc.AttrHandler):
        def __init__(self, client: rpc.RPCClient) -> None:
            self.client = client

        @rpc.method
        async def relay(self) -> None:
            await self.client.call.look()  # no timeout of its own

    async with (
        rpc.serve_rpc(inner, bind=LOOPBACK) as inner_server,
        rpc.connect_rpc(connect=endpoint(inner_server)) as inner_client,
        rpc_pair(Outer(inner_client)) as (_, client),
    ):
        with anyio.fail_after(30):
            deadline = anyio.current_effective_deadline()
            await client.call.relay()
        assert deadline - 1e-6 <= inner.deadlines[0] < deadline + 10


async def test_expired_deadline_cancels_the_handler() -> None:
    handler = Seen()
    async with rpc_pair(handler) as (server, client):
        with pytest.raises(TimeoutError):
            await client.with_timeout(0.2).call.hold()
        with anyio.fail_after(20):
            await handler.finished.wait()  # cancelled: its finally ran
        await wait_until(lambda: server.running_calls == 0)
        assert server.abandoned_calls == 1
        assert handler.ended == 1


async def test_cancel_reaches_the_server_and_spares_other_calls() -> None:
    handler = Seen()
    async with rpc_pair(handler) as (server, client):
        results: list[str] = []

        async def keep() -> None:
            results.append(await client.call.hold())

        async with anyio.create_task_group() as tg:
            tg.start_soon(keep)
            await wait_until(lambda: handler.started == 1)
            async with anyio.create_task_group() as abandoned:
                abandoned.start_soon(client.call.hold)
                await wait_until(lambda: handler.started == 2)
                abandoned.cancel_scope.cancel()
            with anyio.fail_after(20):
                await handler.finished.wait()
            assert handler.ended == 1
            assert server.running_calls == 1  # the first call still runs
            assert server.abandoned_calls == 1
            handler.release.set()
        assert results == ["released"]
        assert server.running_calls == 0


async def test_closing_the_client_cancels_its_calls_on_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The client may close before the server's hello reached it: let it wait for the
    # hello however loaded the machine is.
    monkeypatch.setattr(_rpc, "_HELLO_WAIT_ON_CLOSING", SAFETY)
    handler = Seen()
    async with rpc.serve_rpc(handler, bind=LOOPBACK) as server:
        async with rpc.connect_rpc(connect=endpoint(server)) as client:

            async def call() -> None:
                with pytest.raises(rpc.ServiceClosedError):
                    await client.call.hold()

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await wait_until(lambda: handler.started == 1)
                client.close()
        with anyio.fail_after(20):
            await handler.finished.wait()
        await wait_until(lambda: server.running_calls == 0)


async def test_a_client_closing_before_the_hello_came_waits_for_it_to_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server greets when it reads the first call; a client that closes before
    # the hello arrives still learns that the server takes cancels, and sends them.
    monkeypatch.setattr(_rpc, "_HELLO_WAIT_ON_CLOSING", SAFETY)  # however slow the machine
    router: zmq.Socket[bytes] = shared_context().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    try:
        router.bind(LOOPBACK)
        server = router.getsockopt_string(zmq.LAST_ENDPOINT)

        async def next_message() -> list[bytes]:
            await wait_until(lambda: router.poll(0) != 0)
            return router.recv_multipart()

        async with rpc.connect_rpc(connect=server) as client:

            async def call() -> None:
                with pytest.raises(rpc.ServiceClosedError):
                    await client.call.hold()

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                envelope, *request = await next_message()
                request_id = _wire.request_id_of(request[1])
                client.close()  # before the hello: the client has not heard from us
                with anyio.move_on_after(0.3):  # a client that did not wait closes now
                    await client.wait_closed()
                router.send_multipart([envelope, _wire.HELLO])
        assert await next_message() == [envelope, _wire.cancel_frame(request_id)]
    finally:
        router.close(linger=0)


def _raw_request(request_id: int, name: bytes, budget: float) -> list[bytes]:
    return [call_frame(budget), request_header(request_id), name, b"\x90", b"\x80"]


async def test_request_whose_caller_has_gone_never_starts() -> None:
    handler = Seen()
    async with rpc.serve_rpc(handler, bind=LOOPBACK) as server:
        dealer = raw_socket(zmq.DEALER, endpoint(server))
        try:
            dealer.send_multipart(_raw_request(1, b"hold", 0.0))
            dealer.send_multipart(_raw_request(2, b"hold", -1.0))
            dealer.send_multipart(_raw_request(3, b"look", math.inf))
            # The third is answered: the first two were read, and dropped, before it.
            answer = await anyio.to_thread.run_sync(dealer.recv_multipart)
            while len(answer) == 1:  # the server's hello
                answer = await anyio.to_thread.run_sync(dealer.recv_multipart)
            assert struct.unpack("<HHLd?", answer[1])[2] == 3
        finally:
            dealer.close()
        assert handler.started == 0
        assert server.abandoned_calls == 2


async def test_queued_call_whose_deadline_passes_never_starts() -> None:
    handler = Seen()
    async with rpc.serve_rpc(handler, bind=LOOPBACK, max_concurrent_calls=1) as server:
        dealer = raw_socket(zmq.DEALER, endpoint(server))
        try:
            dealer.send_multipart(_raw_request(1, b"hold", math.inf))
            await wait_until(lambda: handler.started == 1)
            dealer.send_multipart(_raw_request(2, b"hold", 0.05))  # waits behind the first
            dealer.send_multipart(_raw_request(3, b"look", math.inf))
            await wait_until(lambda: server.queued_calls == 2)
            await anyio.sleep(0.1)  # the second one's budget runs out while it waits
            handler.release.set()
            await wait_until(lambda: handler.names == ["look"])
        finally:
            dealer.close()
        assert handler.started == 1  # the second never ran
        assert server.abandoned_calls == 1


async def test_cancel_of_a_queued_call_is_seen_while_it_waits() -> None:
    handler = Seen()
    async with rpc_pair(handler, server={"max_concurrent_calls": 1}) as (server, client):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call.hold)
            await wait_until(lambda: handler.started == 1)
            async with anyio.create_task_group() as abandoned:
                abandoned.start_soon(client.call.hold)
                await wait_until(lambda: client.pending_calls == 2)
                abandoned.cancel_scope.cancel()
            await wait_until(lambda: server.abandoned_calls == 1)
            handler.release.set()
        assert handler.started == 1
        assert server.running_calls == 0


async def test_one_way_handlers_see_their_call() -> None:
    seen: list[rpc.CallInfo] = []
    arrived = anyio.Event()

    class Handler(rpc.AttrHandler):
        @rpc.method
        async def note(self) -> None:
            seen.append(rpc.current_call())
            arrived.set()

    async with (
        rpc.serve_pipeline(Handler(), bind=LOOPBACK) as server,
        rpc.connect_pipeline(connect=endpoint(server)) as client,
    ):
        await client.notify.note()
        with anyio.fail_after(20):
            await arrived.wait()
    assert seen == [rpc.CallInfo("note", math.inf, None)]
