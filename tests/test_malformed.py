"""Malformed input from peers is dropped and logged; everyone else is still served."""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import AsyncIterator, Callable

import anyio
import msgpack
import pytest
import zmq

from anyzmq import _wire, rpc
from anyzmq._context import shared_context
from anyzmq._wire import reply_header

from .support import LOOPBACK, SAFETY, Recorder, endpoint, raw_socket, rpc_pair

pytestmark = pytest.mark.anyio

HEADER = struct.pack("<HHLd", 1, 2, 7, 0.0)
GOOD_ARGS = msgpack.packb([1, 2])
GOOD_KWARGS = msgpack.packb({})


class Handler(rpc.AttrHandler):
    @rpc.method
    def add(self, a: int, b: int) -> int:
        return a + b


async def raw_call(sock: zmq.Socket[bytes], frames: list[bytes]) -> tuple[int, bool, object]:
    """Send a request from a raw DEALER; return the request id, error flag and
    answer of the next reply (received in a worker thread, the loop keeps serving)."""
    sock.send_multipart(frames)
    header, body = await anyio.to_thread.run_sync(sock.recv_multipart)
    request_id = struct.unpack("<HHLd?", header)[2]
    return request_id, bool(header[-1]), msgpack.unpackb(body, use_list=False)


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(SAFETY):
        while not condition():
            await anyio.lowlevel.checkpoint()


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [b"only"],
        [HEADER, b"add", GOOD_ARGS],
        [b"short", b"add", GOOD_ARGS, GOOD_KWARGS],
        [HEADER + b"x", b"add", GOOD_ARGS, GOOD_KWARGS],
    ],
    ids=["empty", "one-frame", "three-frames", "short-header", "long-header"],
)
async def test_rpc_server_drops_unanswerable_requests(
    frames: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="anyzmq.rpc"):
        async with rpc_pair(Handler()) as (server, client):
            raw = raw_socket(zmq.DEALER, endpoint(server))
            try:
                if frames:
                    raw.send_multipart(frames)
                else:
                    raw.send(b"")
                await wait_until(lambda: server.dropped_messages == 1)
                # The garbage got no answer: the first reply is to the next good call.
                good = struct.pack("<HHLd", 1, 2, 99, 0.0)
                answer = await raw_call(raw, [good, b"add", GOOD_ARGS, GOOD_KWARGS])
                assert answer == (99, False, 3)
                assert await client.call.add(1, 2) == 3
            finally:
                raw.close()
    assert any("dropped a message" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        ([HEADER, b"\xff\xfe", GOOD_ARGS, GOOD_KWARGS], "aiozmq.rpc.base.NotFoundError"),
        ([HEADER, b"add", b"\xc1", GOOD_KWARGS], "aiozmq.rpc.base.ParametersError"),
        ([HEADER, b"add", GOOD_ARGS, b"\x92\x01"], "aiozmq.rpc.base.ParametersError"),
        ([HEADER, b"add", msgpack.packb({"a": 1}), GOOD_KWARGS], "aiozmq.rpc.base.ParametersError"),
        ([HEADER, b"add", GOOD_ARGS, msgpack.packb([1])], "aiozmq.rpc.base.ParametersError"),
        ([HEADER, b"add", GOOD_ARGS, msgpack.packb({1: 2})], "aiozmq.rpc.base.ParametersError"),
        (
            [HEADER, b"add", msgpack.packb([msgpack.ExtType(5, b"x"), 1]), GOOD_KWARGS],
            "aiozmq.rpc.base.ParametersError",
        ),
        ([HEADER, b"add", GOOD_ARGS + b"\x00", GOOD_KWARGS], "aiozmq.rpc.base.ParametersError"),
        # Frames of 64 KiB or more arrive as views of ZeroMQ's message, not bytes.
        ([HEADER, b"\xff" * (1 << 17), GOOD_ARGS, GOOD_KWARGS], "aiozmq.rpc.base.NotFoundError"),
        ([HEADER, b"a" * (1 << 17), GOOD_ARGS, GOOD_KWARGS], "aiozmq.rpc.base.NotFoundError"),
        ([HEADER, b"add", b"\xc1" * (1 << 17), GOOD_KWARGS], "aiozmq.rpc.base.ParametersError"),
    ],
    ids=[
        "non-utf8-name",
        "invalid-msgpack",
        "truncated-kwargs",
        "args-not-array",
        "kwargs-not-map",
        "int-keyed-kwargs",
        "unknown-ext",
        "trailing-bytes",
        "large-non-utf8-name",
        "large-unknown-name",
        "large-invalid-msgpack",
    ],
)
async def test_rpc_server_answers_bad_calls_with_an_error(frames: list[bytes], error: str) -> None:
    async with rpc_pair(Handler()) as (server, client):
        raw = raw_socket(zmq.DEALER, endpoint(server))
        try:
            request_id, is_error, answer = await raw_call(raw, frames)
        finally:
            raw.close()
        assert request_id == 7
        assert is_error
        assert isinstance(answer, tuple)
        assert answer[0] == error
        assert await client.call.add(1, 2) == 3


@pytest.mark.parametrize(
    "frames",
    [[b"a", b"b"], [b"record", b"\xc1", GOOD_KWARGS], [b"\xff", GOOD_ARGS, GOOD_KWARGS]],
    ids=["frame-count", "invalid-msgpack", "non-utf8-name"],
)
async def test_pipeline_server_survives_garbage(frames: list[bytes]) -> None:
    handler = Recorder()
    async with rpc.serve_pipeline(handler, bind=LOOPBACK) as server:
        raw = raw_socket(zmq.PUSH, endpoint(server))
        try:
            raw.send_multipart(frames)
            raw.send_multipart([b"record", msgpack.packb(["fine"]), GOOD_KWARGS])
            assert await handler.next() == ("record", "fine")
        finally:
            raw.close()


async def test_pubsub_server_survives_garbage() -> None:
    handler = Recorder()
    async with rpc.serve_pubsub(handler, bind=LOOPBACK, subscribe="") as server:
        raw: zmq.Socket[bytes] = shared_context().socket(zmq.PUB)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(endpoint(server))
        try:
            # Keep sending garbage and one good call until the subscription is in.
            while True:
                raw.send_multipart([b"t", b"x"])
                raw.send_multipart([b"t", b"probe", b"\xc1", GOOD_KWARGS])
                raw.send_multipart([b"t", b"probe", msgpack.packb([]), GOOD_KWARGS])
                try:
                    assert await handler.next(timeout=0.01) == ("probe", None)
                    break
                except TimeoutError:
                    continue
            assert server.dropped_messages >= 1
        finally:
            raw.close()


async def answer_one_call(
    client: rpc.RPCClient, replies: Callable[[bytes, int], list[list[bytes]]]
) -> object:
    """Make one call, answer it from a raw ROUTER with ``replies(identity, request_id)``
    and return what the call returned or raised."""
    router: zmq.Socket[bytes] = shared_context().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.RCVTIMEO, 5000)
    router.connect(endpoint(client))
    outcome: list[object] = []

    async def call() -> None:
        try:
            outcome.append(await client.call.anything())
        except Exception as exc:
            outcome.append(exc)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            identity, *request = await anyio.to_thread.run_sync(router.recv_multipart)
            header = request[-4]  # after the call frame: [call frame, header, name, args, kwargs]
            for frames in replies(identity, struct.unpack("<HHLd", header)[2]):
                router.send_multipart(frames)
    finally:
        router.close()
    (result,) = outcome
    return result


async def test_client_drops_bad_answers_and_fails_undecodable_ones() -> None:
    good = msgpack.packb("answer")

    def replies(identity: bytes, request_id: int) -> list[list[bytes]]:
        return [
            [identity, b"one frame"],
            [identity, b"short", good],
            [identity, reply_header(request_id + 1, is_error=False), good],
            [identity, reply_header(request_id, is_error=False), b"\xc1"],
            [identity, reply_header(request_id, is_error=False), good],  # late
        ]

    async with rpc.connect_rpc(bind=LOOPBACK) as client:
        assert isinstance(await answer_one_call(client, replies), rpc.ProtocolError)
        assert client.pending_calls == 0


async def test_client_reports_malformed_error_answers() -> None:
    def replies(identity: bytes, request_id: int) -> list[list[bytes]]:
        return [[identity, reply_header(request_id, is_error=True), msgpack.packb(42)]]

    async with rpc.connect_rpc(bind=LOOPBACK) as client:
        assert isinstance(await answer_one_call(client, replies), rpc.ProtocolError)


class ExplodingLookup(rpc.AbstractHandler):
    def __getitem__(self, key: str) -> object:
        if key == "add":
            return Handler().add
        raise RuntimeError(f"lookup of {key!r} exploded")


async def test_handler_lookup_errors_reach_the_caller_and_the_server_goes_on() -> None:
    async with rpc_pair(ExplodingLookup()) as (_, client):
        with pytest.raises(RuntimeError, match="exploded"):
            await client.call.boom()
        assert await client.call.add(1, 2) == 3


class Gated(rpc.AttrHandler):
    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.started = anyio.Event()

    @rpc.method
    async def wait(self) -> str:
        self.started.set()
        await self.gate.wait()
        return "done"

    @rpc.method
    def ping(self) -> str:
        return "pong"


async def test_server_survives_answering_a_vanished_peer_with_router_mandatory() -> None:
    handler = Gated()
    async with rpc.serve_rpc(handler, bind=LOOPBACK) as server:
        server.transport.setsockopt(zmq.ROUTER_MANDATORY, 1)
        async with rpc.connect_rpc(connect=endpoint(server)) as doomed:
            with anyio.move_on_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(doomed.call.wait)
                    await handler.started.wait()
                    tg.cancel_scope.cancel()
        # The caller is gone: its answer fails to route (EHOSTUNREACH once the
        # server has seen the disconnection, silently before) and the server goes on.
        handler.gate.set()
        await wait_until(lambda: server.running_calls == 0)
        async with rpc.connect_rpc(connect=endpoint(server)) as client:
            assert await client.call.ping() == "pong"


class RunsCode:
    def __reduce__(self) -> tuple[object, ...]:
        import os

        return (os.system, ("echo pwned > /dev/null",))


async def test_pickle_that_would_run_code_is_refused_logged_once_and_answered(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import pickle

    evil = msgpack.packb([msgpack.ExtType(126, pickle.dumps(RunsCode())), 1])
    ran: list[object] = []
    monkeypatch.setattr(os, "system", lambda *args: ran.append(args))
    with caplog.at_level(logging.WARNING, logger="anyzmq.rpc"):
        async with rpc_pair(Handler()) as (server, client):
            raw = raw_socket(zmq.DEALER, endpoint(server))
            try:
                request_id, is_error, answer = await raw_call(
                    raw, [HEADER, b"add", evil, GOOD_KWARGS]
                )
            finally:
                raw.close()
            assert await client.call.add(1, 2) == 3
    assert ran == []
    assert (request_id, is_error) == (7, True)
    assert isinstance(answer, tuple)
    assert answer[0] == "aiozmq.rpc.base.ParametersError"
    assert "refused to load posix.system" in answer[1][0]
    refusals = [r for r in caplog.records if "refused a value" in r.getMessage()]
    assert len(refusals) == 1


class Counter(rpc.AttrHandler):
    @rpc.method
    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @rpc.method
    def ping(self) -> str:
        return "pong"


def _header(request_id: int) -> bytes:
    return struct.pack("<HHLd", 1, 2, request_id, 0.0)


async def test_rpc_server_survives_hostile_stream_credit_and_cancel_frames() -> None:
    args, kwargs = msgpack.packb([3]), msgpack.packb({})
    openings = [
        _wire.stream_frame(math.nan, 0, 0, "count"),  # no budget, empty windows: 1 and 1
        _wire.stream_frame(-math.inf, 1, 1, "count"),  # caller gone: never runs
        _wire.stream_frame(math.inf, _wire.MAX_WINDOW_ITEMS, _wire.MAX_WINDOW_BYTES, "count"),
        _wire.stream_frame(math.inf, 1, 1, "count")[:25],  # no name: not a stream frame
        _wire.stream_frame(math.inf, 1, 1, "x" * 70_000),  # arrives as a memoryview
        _wire.stream_frame(math.inf, 1, 1, "count") + b"\xff",  # not UTF-8
    ]
    follow_ups = [
        _wire.credit_frame(999, 5, 5),  # unknown stream
        _wire.credit_frame(10, _wire.MAX_WINDOW_ITEMS, _wire.MAX_WINDOW_BYTES),
        _wire.credit_frame(12, _wire.MAX_WINDOW_ITEMS, _wire.MAX_WINDOW_BYTES),  # finished
        _wire.credit_frame(12, 1, 1)[:-1],
        _wire.cancel_frame(12)[:-1],
        _wire.MAGIC + b"\x07" + bytes(70_000),  # a long "credit"
        _wire.MAGIC + b"\x05" + bytes(70_000),  # a long "stream frame", alone
    ]
    async with rpc_pair(Counter()) as (server, client):
        raw = raw_socket(zmq.DEALER, endpoint(server))
        try:
            for request_id, opening in enumerate(openings, 10):
                raw.send_multipart([opening, _header(request_id), b"", args, kwargs])
            for frame in follow_ups:
                raw.send_multipart([frame])
            raw.send_multipart([_wire.call_frame(math.inf), _header(99), b"ping", b"\x90", kwargs])
            with anyio.fail_after(SAFETY):
                while True:  # the stream items and answers before it are skipped
                    frames = await anyio.to_thread.run_sync(raw.recv_multipart)
                    if len(frames) != 3 or frames[0] != _wire.REPLY_MARK:
                        continue
                    if _wire.parse_reply_header(frames[1]).request_id == 99:
                        assert msgpack.unpackb(frames[2]) == "pong"
                        break
            async with client.stream.count(5) as items:
                assert [item async for item in items] == list(range(5))
            raw.send_multipart([_wire.cancel_frame(10)])  # it waits for credit
            await wait_until(lambda: server.running_calls == 0)
        finally:
            raw.close()


async def test_client_drops_stream_marks_it_cannot_use_and_ends_on_an_undecodable_item() -> None:
    item = _wire.ITEM_MARK
    answers: list[object] = []
    outcome: list[object] = []

    async def call() -> None:
        answers.append(await client.call.anything())

    async def stream() -> None:
        try:
            async with client.stream.items() as items:
                async for value in items:
                    outcome.append(value)
        except rpc.ProtocolError as exc:
            outcome.append(exc)

    async with rpc.connect_rpc(bind=LOOPBACK, stream_window=4) as client:
        router: zmq.Socket[bytes] = shared_context().socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.RCVTIMEO, 10_000)
        router.connect(endpoint(client))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                identity, *request = await anyio.to_thread.run_sync(router.recv_multipart)
                call_id = struct.unpack("<HHLd", request[-4])[2]
                tg.start_soon(stream)
                identity, *request = await anyio.to_thread.run_sync(router.recv_multipart)
                stream_id = struct.unpack("<HHLd", request[-4])[2]
                large = msgpack.packb(b"y" * 70_000)
                for frames in [
                    [item, reply_header(call_id, is_error=False), msgpack.packb(1)],  # a call
                    [item, b"short", msgpack.packb(1)],
                    [item, reply_header(stream_id, is_error=False), large],  # a memoryview
                    [item + bytes(70_000), reply_header(stream_id, is_error=False), large],
                    [_wire.REPLY_MARK, reply_header(call_id, is_error=False), msgpack.packb("ok")],
                    [item, reply_header(stream_id, is_error=False), msgpack.packb(2)],
                    [item, reply_header(stream_id, is_error=False), b"\xc1"],
                    [item, reply_header(stream_id, is_error=False), msgpack.packb(3)],
                ]:
                    router.send_multipart([identity, *frames])
        finally:
            router.close()
        assert answers == ["ok"]
        assert outcome[:2] == [b"y" * 70_000, 2]
        assert isinstance(outcome[2], rpc.ProtocolError)
        assert len(outcome) == 3
        assert client.pending_calls == 0
