"""Malformed input from peers is dropped and logged; everyone else is still served."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

import anyio
import msgpack
import pytest
import zmq

from anyzmq import rpc
from anyzmq._context import shared_context
from anyzmq._wire import reply_header

from .support import LOOPBACK, Recorder, endpoint, raw_socket, rpc_pair

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
    with anyio.fail_after(5):
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
        async with rpc_pair(Handler(), timeout=5) as (server, client):
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
    ],
)
async def test_rpc_server_answers_bad_calls_with_an_error(frames: list[bytes], error: str) -> None:
    async with rpc_pair(Handler(), timeout=5) as (server, client):
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

    async with rpc.connect_rpc(bind=LOOPBACK, timeout=5) as client:
        assert isinstance(await answer_one_call(client, replies), rpc.ProtocolError)
        assert client.pending_calls == 0


async def test_client_reports_malformed_error_answers() -> None:
    def replies(identity: bytes, request_id: int) -> list[list[bytes]]:
        return [[identity, reply_header(request_id, is_error=True), msgpack.packb(42)]]

    async with rpc.connect_rpc(bind=LOOPBACK, timeout=5) as client:
        assert isinstance(await answer_one_call(client, replies), rpc.ProtocolError)


class ExplodingLookup(rpc.AbstractHandler):
    def __getitem__(self, key: str) -> object:
        if key == "add":
            return Handler().add
        raise RuntimeError(f"lookup of {key!r} exploded")


async def test_handler_lookup_errors_reach_the_caller_and_the_server_goes_on() -> None:
    async with rpc_pair(ExplodingLookup(), timeout=5) as (_, client):
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
        async with rpc.connect_rpc(connect=endpoint(server), timeout=5) as doomed:
            with anyio.move_on_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(doomed.call.wait)
                    await handler.started.wait()
                    tg.cancel_scope.cancel()
        # The caller is gone: its answer fails to route (EHOSTUNREACH once the
        # server has seen the disconnection, silently before) and the server goes on.
        handler.gate.set()
        await wait_until(lambda: server.running_calls == 0)
        async with rpc.connect_rpc(connect=endpoint(server), timeout=5) as client:
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
        async with rpc_pair(Handler(), timeout=5) as (server, client):
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
