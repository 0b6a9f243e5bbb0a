"""Streams: async-generator methods read with ``client.stream``, with flow control."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import anyio
import msgpack
import pytest
import zmq

from anyzmq import _wire, rpc
from anyzmq._context import shared_context

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

MIB = 1024 * 1024


class Boom(Exception):
    pass


class Sub(rpc.AttrHandler):
    @rpc.method
    async def squares(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i * i


class Streams(rpc.AttrHandler):
    """Stream methods that record what they produced and whether they were closed."""

    def __init__(self) -> None:
        self.ns = Sub()
        self.produced = 0
        self.closed = 0  # generators whose finally ran
        self.all_closed = anyio.Event()
        self.expect_closed = 1
        self.served = 0  # streams this server completed

    def _close(self) -> None:
        self.closed += 1
        if self.closed >= self.expect_closed:
            self.all_closed.set()

    @rpc.method
    async def count(self, n: int, size: int = 0) -> AsyncIterator[object]:
        for i in range(n):
            yield (i, b"x" * size) if size else i
        self.served += 1

    @rpc.method
    async def endless(self, size: int = 0) -> AsyncIterator[object]:
        try:
            while True:
                self.produced += 1
                yield (self.produced, b"x" * size) if size else self.produced
        finally:
            self._close()

    @rpc.method
    async def then_fail(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        raise Boom("after", n)

    @rpc.method
    async def then_hang(self) -> AsyncIterator[int]:
        try:
            yield 1
            await anyio.sleep_forever()
        finally:
            self._close()

    @rpc.method
    async def unpackable(self) -> AsyncIterator[object]:
        yield 1
        yield object()

    @rpc.method
    async def deadline(self) -> AsyncIterator[float]:
        yield rpc.current_call().deadline
        yield anyio.current_effective_deadline()

    @rpc.method
    def plain(self) -> int:
        return 1

    @rpc.method
    async def ping(self) -> str:
        return "pong"


async def read_into(stream: rpc.Stream, got: list[object]) -> None:
    """Read ``stream`` to its end, appending each item to ``got``."""
    async with stream as items:
        async for item in items:
            got.append(item)


async def test_items_come_in_order_then_the_stream_ends() -> None:
    async with rpc_pair(Streams()) as (server, client):
        async with client.stream.count(100) as items:
            got = [item async for item in items]
        assert got == list(range(100))
        async with client.stream.ns.squares(5) as items:
            assert [item async for item in items] == [0, 1, 4, 9, 16]
        async with client.stream.count(0) as items:
            assert [item async for item in items] == []
        await wait_until(lambda: server.running_calls == 0)


async def test_ten_thousand_items() -> None:
    async with rpc_pair(Streams()) as (_server, client):
        async with client.stream.count(10_000) as items:
            got = [item async for item in items]
        assert got == list(range(10_000))


async def test_twenty_concurrent_streams_and_calls_on_one_client() -> None:
    results: dict[int, list[object]] = {}
    answers: list[object] = []

    async def read(index: int, client: rpc.RPCClient) -> None:
        async with client.stream.count(500 + index) as items:
            results[index] = [item async for item in items]

    async def call(client: rpc.RPCClient) -> None:
        for _ in range(50):
            answers.append(await client.call.ping())

    async with rpc_pair(Streams(), stream_window=16) as (server, client):
        async with anyio.create_task_group() as tg:
            for index in range(20):
                tg.start_soon(read, index, client)
            for _ in range(5):
                tg.start_soon(call, client)
        await wait_until(lambda: server.running_calls == 0)
    assert results == {index: list(range(500 + index)) for index in range(20)}
    assert answers == ["pong"] * 250


async def test_an_error_comes_after_the_items_before_it() -> None:
    table = {f"{__name__}.Boom": Boom}
    async with rpc_pair(Streams(), error_table=table) as (_server, client):
        got: list[object] = []
        with pytest.raises(Boom) as info:
            await read_into(client.stream.then_fail(5), got)
        assert got == [0, 1, 2, 3, 4]
        assert info.value.args == ("after", 5)
        # The client carries on.
        assert await client.call.ping() == "pong"


async def test_an_item_that_cannot_be_serialized_ends_the_stream_with_type_error() -> None:
    async with rpc_pair(Streams()) as (_server, client):
        got: list[object] = []
        with pytest.raises(TypeError, match="cannot be serialized"):
            await read_into(client.stream.unpackable(), got)
        assert got == [1]


@pytest.mark.parametrize("how", ["break", "exception", "cancel"])
async def test_leaving_early_closes_the_generator_on_the_server(how: str) -> None:
    handler = Streams()
    async with rpc_pair(handler, stream_window=4) as (server, client):
        taken = 0
        with anyio.CancelScope() as scope:
            try:
                async with client.stream.endless() as items:
                    async for _item in items:
                        taken += 1
                        if taken < 10:
                            continue
                        if how == "break":
                            break
                        if how == "exception":
                            raise Boom
                        scope.cancel()
                        await anyio.lowlevel.checkpoint()
            except Boom:
                assert how == "exception"
        assert taken == 10
        with anyio.fail_after(20):
            await handler.all_closed.wait()
        await wait_until(lambda: server.running_calls == 0)
        assert await client.call.ping() == "pong"


async def test_leaving_early_closes_the_generator_of_a_server_that_connected_to_us() -> None:
    # A client that binds sends no cancels for calls; a stream's cancel must still
    # go, or the generator waits for credit forever and keeps its call slot.
    handler = Streams()
    async with rpc.connect_rpc(bind=LOOPBACK, stream_window=2) as client:  # noqa: SIM117
        async with rpc.serve_rpc(handler, connect=endpoint(client)) as server:
            async with client.stream.endless() as items:
                assert await items.__anext__() == 1
            with anyio.fail_after(20):
                await handler.all_closed.wait()
            await wait_until(lambda: server.running_calls == 0)


async def test_a_stream_whose_cancel_was_lost_ends_when_the_server_asks() -> None:
    # Behind a proxy with several servers, a stream's cancel may reach another
    # server. Here it is dropped outright: the server, starving for credit, asks
    # every heartbeat whether the stream is still read, and the client, which no
    # longer has it, answers with a cancel.
    handler = Streams()
    async with rpc_pair(handler, server={"heartbeat": 0.05}, stream_window=2) as (
        server,
        client,
    ):
        lost: list[int] = []
        client._call_abandoned = lambda link, request_id, **_: lost.append(request_id)  # type: ignore[method-assign]
        async with client.stream.endless() as items:
            assert await items.__anext__() == 1
        assert len(lost) == 1  # left early, and its cancel went nowhere
        with anyio.fail_after(SAFETY):
            await handler.all_closed.wait()
        await wait_until(lambda: server.running_calls == 0, within=SAFETY)
        assert server.abandoned_calls == 1
        assert await client.call.ping() == "pong"


async def test_a_client_answers_a_probe_only_for_a_stream_it_no_longer_has() -> None:
    router: zmq.Socket[bytes] = shared_context().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(LOOPBACK)

    async def next_message() -> list[bytes]:
        await wait_until(lambda: router.poll(0) != 0, within=SAFETY)
        return router.recv_multipart()

    try:
        async with rpc.connect_rpc(connect=router.getsockopt_string(zmq.LAST_ENDPOINT)) as client:
            async with client.stream.endless():
                envelope, *request = await next_message()
                request_id = _wire.request_id_of(request[1])
                router.send_multipart([envelope, _wire.HELLO])
                router.send_multipart([envelope, _wire.probe_frame(request_id)])  # still read
                router.send_multipart([envelope, _wire.probe_frame(request_id + 1)])  # unknown
                assert await next_message() == [envelope, _wire.cancel_frame(request_id + 1)]
            # Left early: the client cancels the stream, and answers a probe of it too.
            assert await next_message() == [envelope, _wire.cancel_frame(request_id)]
            router.send_multipart([envelope, _wire.probe_frame(request_id)])
            assert await next_message() == [envelope, _wire.cancel_frame(request_id)]
    finally:
        router.close(linger=0)


async def test_the_timeout_bounds_each_wait_for_an_item() -> None:
    handler = Streams()
    async with rpc_pair(handler) as (server, client):
        got: list[object] = []
        with pytest.raises(TimeoutError, match="then_hang"):
            await read_into(client.with_timeout(0.2).stream.then_hang(), got)
        assert got == [1]
        with anyio.fail_after(20):
            await handler.all_closed.wait()
        await wait_until(lambda: server.running_calls == 0)


async def test_a_slow_item_stream_is_not_cut_by_the_per_item_timeout() -> None:
    # Each item comes well within the timeout, though the whole stream takes longer.
    class Slowish(rpc.AttrHandler):
        @rpc.method
        async def tick(self, n: int) -> AsyncIterator[int]:
            for i in range(n):
                await anyio.sleep(0.4)
                yield i

    async with (
        rpc_pair(Slowish(), timeout=2) as (_server, client),
        client.stream.tick(6) as items,
    ):
        assert [item async for item in items] == list(range(6))


async def test_the_callers_scope_bounds_the_whole_stream() -> None:
    handler = Streams()
    async with rpc_pair(handler) as (server, client):
        got: list[object] = []
        with anyio.move_on_after(0.3) as scope:
            await read_into(client.stream.then_hang(), got)
        assert scope.cancelled_caught
        assert got == [1]
        with anyio.fail_after(20):
            await handler.all_closed.wait()
        await wait_until(lambda: server.running_calls == 0)
        assert server.abandoned_calls == 1


async def test_the_callers_deadline_reaches_the_stream_method() -> None:
    async with rpc_pair(Streams()) as (_server, client):
        with anyio.fail_after(30):
            limit = anyio.current_time() + 30
            async with client.stream.deadline() as items:
                call_deadline, scope_deadline = [item async for item in items]
        assert call_deadline == scope_deadline
        assert call_deadline != math.inf
        # The two clocks are the same here: the server's deadline is no later.
        assert call_deadline <= limit + 1


async def test_the_server_timeout_bounds_the_whole_stream() -> None:
    handler = Streams()
    async with rpc_pair(handler, server={"timeout": 0.3}) as (server, client):
        got: list[object] = []
        with pytest.raises(TimeoutError, match="server's timeout"):
            await read_into(client.stream.then_hang(), got)
        assert got == [1]
        with anyio.fail_after(20):
            await handler.all_closed.wait()
        await wait_until(lambda: server.running_calls == 0)


async def test_a_running_stream_counts_as_one_call() -> None:
    handler = Streams()
    handler.expect_closed = 2
    async with rpc_pair(handler, server={"max_concurrent_calls": 2}) as (server, client):
        async with client.stream.then_hang() as first, client.stream.then_hang() as second:
            assert await first.__anext__() == 1
            assert await second.__anext__() == 1
            assert server.running_calls == 2
            with anyio.move_on_after(0.3) as scope:
                await client.call.ping()  # waits behind the two streams
            assert scope.cancelled_caught
        with anyio.fail_after(20):
            await handler.all_closed.wait()
        assert await client.call.ping() == "pong"
        await wait_until(lambda: server.running_calls == 0)


async def test_credit_is_read_while_requests_wait_behind_a_starved_stream() -> None:
    # The stream waits for credit and a request waits behind max_concurrent_calls:
    # the server must keep reading, or the credit would never come.
    handler = Streams()
    async with rpc_pair(handler, server={"max_concurrent_calls": 1}, stream_window=2) as (
        server,
        client,
    ):
        async with anyio.create_task_group() as tg, client.stream.endless() as items:
            assert await items.__anext__() == 1
            await wait_until(lambda: handler.produced == 2)
            tg.start_soon(client.call.ping)
            await wait_until(lambda: server.transport is not None and len(server._waiting) == 1)
            for expected in range(2, 12):
                assert await items.__anext__() == expected
        with anyio.fail_after(20):
            await handler.all_closed.wait()
        await wait_until(lambda: server.running_calls == 0)


async def test_a_server_whose_streams_starve_reads_on_and_refuses_what_it_cannot_queue() -> None:
    # Every call slot is a stream waiting for credit and 200 calls come behind it:
    # the server must keep reading (the credit is behind them), so it queues what
    # fits and answers the rest at once with ServiceClosedError, saying it is busy.
    handler = Streams()
    outcomes: list[str] = []

    async def ping() -> None:
        try:
            outcomes.append(await client.call.ping())
        except rpc.ServiceClosedError as exc:
            outcomes.append("busy" if "busy" in str(exc) else repr(exc))

    async with (
        rpc_pair(handler, server={"max_concurrent_calls": 1, "grace": 0}, stream_window=2) as (
            _,
            client,
        ),
        anyio.create_task_group() as tg,
    ):
        async with client.stream.endless() as items:
            assert await items.__anext__() == 1
            await wait_until(lambda: handler.produced == 2)
            for _ in range(200):  # more than twice the queue limit of 64
                tg.start_soon(ping)
            await wait_until(lambda: outcomes.count("busy") == 200 - 128)
            with anyio.fail_after(SAFETY):
                for expected in range(2, 12):  # past the window: credit must be read
                    assert await items.__anext__() == expected
        with anyio.fail_after(SAFETY):
            await handler.all_closed.wait()
        await wait_until(lambda: len(outcomes) == 200, within=SAFETY)
        assert sorted(set(outcomes)) == ["busy", "pong"]
        assert outcomes.count("busy") == 200 - 128


async def test_a_stream_left_early_while_its_server_is_in_grace_is_cancelled() -> None:
    handler = Streams()
    async with (
        rpc_pair(handler, server={"grace": None}, stream_window=2) as (server, client),
        anyio.create_task_group() as tg,
    ):
        async with client.stream.endless() as items:
            assert await items.__anext__() == 1
            tg.start_soon(server.shutdown)  # waits for the stream, without bound
            await wait_until(lambda: not server._grace.accepting)
            for expected in range(2, 6):  # credit is still read in grace
                assert await items.__anext__() == expected
        with anyio.fail_after(SAFETY):  # the cancel is read too
            await handler.all_closed.wait()
            await server.wait_closed()


async def test_a_stream_starved_of_credit_past_the_grace_ends_with_service_closed() -> None:
    handler = Streams()
    async with (
        rpc_pair(handler, server={"grace": 0.1}, stream_window=2) as (server, client),
        client.stream.endless() as items,
    ):
        assert await items.__anext__() == 1
        await wait_until(lambda: handler.produced == 3)  # 2 and 3 sent: no room
        await server.shutdown()
        assert handler.closed == 1
        assert [await items.__anext__(), await items.__anext__()] == [2, 3]
        with anyio.fail_after(SAFETY), pytest.raises(rpc.ServiceClosedError, match="grace"):
            await items.__anext__()


async def test_a_stream_whose_client_connection_is_lost_is_cancelled_on_the_server() -> None:
    handler = Streams()
    async with rpc.serve_rpc(handler, bind=LOOPBACK, heartbeat=0.2) as server:
        # Items over the client's max_message_size make its ZeroMQ drop the connection.
        async with rpc.connect_rpc(
            connect=endpoint(server), stream_window=2, max_message_size=1000
        ) as client:
            with pytest.raises(rpc.ConnectionLostError), anyio.fail_after(SAFETY):
                await read_into(client.stream.endless(2000), [])
        with anyio.fail_after(SAFETY):
            await handler.all_closed.wait()
        await wait_until(lambda: server.running_calls == 0 and server.abandoned_calls == 1)


def _ran_ahead(handler: Streams, taken: int, least: int) -> bool:
    return handler.produced - taken >= least


async def _held_back(handler: Streams, client: rpc.RPCClient, size: int, window: int) -> None:
    """Take items slowly from an endless producer and check it stays within
    ``window`` items of what was taken, and stops there."""
    taken = 0
    async with client.stream.endless(size) as items:
        async for item in items:
            taken += 1
            if size:
                number, body = item
                assert len(body) == size
            else:
                number = item
            assert number == taken
            assert handler.produced - taken <= window
            if taken == 20:
                break
            # Let the producer run as far as it is allowed, then check it stopped.
            await wait_until(partial(_ran_ahead, handler, taken, window - window // 2 - 1))
            for _ in range(3):
                assert await client.call.ping() == "pong"
            assert handler.produced - taken <= window
    with anyio.fail_after(20):
        await handler.all_closed.wait()
    assert handler.produced <= taken + window


async def test_a_slow_consumer_holds_back_an_endless_producer_of_small_items() -> None:
    handler = Streams()
    async with rpc_pair(handler, stream_window=8) as (_server, client):
        await _held_back(handler, client, 0, 8)


async def test_a_slow_consumer_holds_back_an_endless_producer_of_large_items() -> None:
    handler = Streams()
    async with rpc_pair(handler) as (_server, client):  # the default windows
        # 16 MiB hold 15 items of 1 MiB and a bit; the 16th fills the window.
        await _held_back(handler, client, MIB, 16)


async def test_a_stopped_consumer_holds_the_producer_exactly_at_the_window() -> None:
    handler = Streams()
    async with (
        rpc_pair(handler, stream_window=10) as (_server, client),
        client.stream.endless() as items,
    ):
        assert await items.__anext__() == 1
        await wait_until(lambda: handler.produced == 10)
        for _ in range(3):
            assert await client.call.ping() == "pong"
        assert handler.produced == 10  # one taken, none credited yet
        for expected in range(2, 6):
            assert await items.__anext__() == expected
        # Five taken: half the window is credited back, five more may go.
        await wait_until(lambda: handler.produced == 15)
        for _ in range(3):
            assert await client.call.ping() == "pong"
        assert handler.produced == 15


async def test_an_item_larger_than_the_byte_window_still_goes() -> None:
    async with rpc_pair(Streams(), stream_window_bytes=1000) as (_server, client):
        async with client.stream.count(5, 10_000) as items:
            got = [item async for item in items]
        assert [item[0] for item in got] == list(range(5))


async def test_a_slow_stream_does_not_hold_up_other_streams_on_the_socket() -> None:
    handler = Streams()
    async with (
        rpc_pair(handler, stream_window=4) as (_server, client),
        client.stream.endless() as stalled,
    ):
        assert await stalled.__anext__() == 1
        async with client.stream.count(1000) as items:
            assert [item async for item in items] == list(range(1000))
        assert await stalled.__anext__() == 2


async def test_streams_reach_every_server_and_complete(tmp_path: Path) -> None:
    handlers = [Streams() for _ in range(3)]
    addresses = [f"ipc://{tmp_path}/server-{index}" for index in range(3)]
    async with AsyncExitStack() as stack:
        # The client first, so that it sees each connection come up.
        client = await stack.enter_async_context(
            rpc.connect_rpc(connect=addresses, stream_window=4)
        )
        for handler, address in zip(handlers, addresses, strict=True):
            await stack.enter_async_context(rpc.serve_rpc(handler, bind=address))
        await wait_until(lambda: len(client.connected_endpoints) == 3)
        results: list[list[object]] = []

        async def read() -> None:
            async with client.stream.count(200) as items:
                results.append([item async for item in items])

        async with anyio.create_task_group() as tg:
            for _ in range(15):
                tg.start_soon(read)
    assert results == [list(range(200))] * 15
    assert [handler.served for handler in handlers] == [5, 5, 5]


async def test_call_of_a_stream_method_raises_at_once() -> None:
    async with rpc_pair(Streams()) as (server, client):
        with anyio.fail_after(20), pytest.raises(rpc.StreamMismatchError, match=r"client\.stream"):
            await client.call.count(3)
        assert server.running_calls == 0


async def test_stream_of_a_plain_method_raises_at_once() -> None:
    async with rpc_pair(Streams()) as (_server, client):
        with anyio.fail_after(20), pytest.raises(rpc.StreamMismatchError, match=r"client\.call"):
            await read_into(client.stream.plain(), [])


async def test_stream_errors_of_lookup_and_arguments_are_as_for_calls() -> None:
    async with rpc_pair(Streams()) as (_server, client):
        with pytest.raises(rpc.NotFoundError):
            await read_into(client.stream.missing(), [])
        with pytest.raises(rpc.ParameterError):
            await read_into(client.stream.count(), [])
        with pytest.raises(TypeError):
            await read_into(client.stream.count(object()), [])
        assert client.pending_calls == 0
        with pytest.raises(ValueError, match="empty"):
            client.stream()


async def test_connection_lost_mid_stream_raises_after_the_items_received() -> None:
    handler = Streams()
    async with rpc.connect_rpc(stream_window=4) as client:
        server = rpc.serve_rpc(handler, bind=LOOPBACK)
        async with server:
            client.transport.connect(endpoint(server))
            async with client.stream.then_hang() as items:
                assert await items.__anext__() == 1
                server.close()
                with anyio.fail_after(30), pytest.raises(rpc.ConnectionLostError):
                    await items.__anext__()


async def test_closing_the_client_mid_stream_raises_service_closed() -> None:
    async with rpc_pair(Streams()) as (_server, client), client.stream.then_hang() as items:
        assert await items.__anext__() == 1
        client.close()
        with pytest.raises(rpc.ServiceClosedError):
            await items.__anext__()


async def test_iterating_outside_the_block_or_entering_twice_is_an_error() -> None:
    async with rpc_pair(Streams()) as (_server, client):
        stream = client.stream.count(1)
        with pytest.raises(RuntimeError, match="async with"):
            await stream.__anext__()
        async with stream:
            with pytest.raises(RuntimeError, match="once"):
                await stream.__aenter__()


async def test_windows_are_checked() -> None:
    with pytest.raises(ValueError, match="stream_window"):
        rpc.connect_rpc(stream_window=0)
    with pytest.raises(TypeError, match="stream_window_bytes"):
        rpc.connect_rpc(stream_window_bytes=1.5)  # type: ignore[arg-type]


def test_a_sync_generator_cannot_be_a_method() -> None:
    with pytest.raises(TypeError, match="async generator"):

        @rpc.method
        def numbers() -> object:
            yield 1


async def test_a_live_caller_that_reads_slowly_is_not_taken_for_gone() -> None:
    # A raw client opens a stream with a window of one item and then only counts
    # what arrives: the server asks, every 50 ms, whether it is still connected
    # and reading the stream (a client that is, answers nothing).
    handler = Streams()
    async with rpc.serve_rpc(handler, bind=LOOPBACK, heartbeat=0.05) as server:
        dealer = raw_socket(zmq.DEALER, endpoint(server))
        try:
            request = [
                _wire.stream_frame(math.inf, 1, 1 << 20, "endless"),
                request_header(7),
                b"",
                msgpack.packb([]),
                msgpack.packb({}),
            ]
            dealer.send_multipart(request)
            probes = items = 0

            def arrived() -> bool:
                nonlocal probes, items
                while dealer.poll(0):
                    frames = dealer.recv_multipart()
                    probes += frames == [_wire.probe_frame(7)]
                    items += frames[0] == _wire.ITEM_MARK
                return probes >= 5 and items == 1

            await wait_until(arrived, within=SAFETY)  # probed again and again, still there
            assert server.running_calls == 1
            assert server.abandoned_calls == 0
            dealer.send(_wire.credit_frame(7, 1, 1 << 10))
            await wait_until(lambda: not arrived() and items == 2, within=SAFETY)
            dealer.send(_wire.cancel_frame(7))
            with anyio.fail_after(SAFETY):
                await handler.all_closed.wait()
        finally:
            dealer.close(linger=0)
