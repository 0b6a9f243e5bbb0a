"""Property-based: random frames thrown at each server and at the RPC client's
reply path never stop them; a well-formed call afterwards still works."""

from __future__ import annotations

import struct
from typing import Any

import anyio
import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyzmq import rpc
from anyzmq._wire import reply_header

from .support import LOOPBACK, Recorder, as_received, endpoint, raw_socket, rpc_pair

pytestmark = pytest.mark.anyio

GOOD_ID = 0xFFFFFFFF
GOOD_REQUEST = [
    struct.pack("<HHLd", 1, 2, GOOD_ID, 0.0),
    b"add",
    msgpack.packb([20, 22]),
    msgpack.packb({}),
]

# Frames that get past the first checks, mixed with random bytes.
interesting_frames = st.sampled_from(
    [
        b"",
        b"add",
        b"record",
        b"ns.x",
        b"\xff\xfe",
        struct.pack("<HHLd", 1, 2, 3, 0.0),
        reply_header(1, is_error=False),
        reply_header(1, is_error=True),
        msgpack.packb([]),
        msgpack.packb({}),
        msgpack.packb([1, 2]),
        msgpack.packb({"a": 1}),
        msgpack.packb(["x", [1], "y"]),
        msgpack.packb([msgpack.ExtType(126, b"\x80\x05garbage")]),
        msgpack.packb([msgpack.ExtType(3, b"x")]),
        b"\xc1",
        b"\x92\x01",
    ]
)
frame = st.binary(max_size=40) | interesting_frames
message = st.lists(frame, min_size=1, max_size=6)
messages = st.lists(message, min_size=1, max_size=8)
fuzz_settings = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Handler(rpc.AttrHandler):
    @rpc.method
    def add(self, a: int, b: int) -> int:
        return a + b

    @rpc.method
    async def record(self, *args: Any, **kwargs: Any) -> None:
        await anyio.lowlevel.checkpoint()


def answer_to_good_request(sock: zmq.Socket[bytes]) -> tuple[bool, Any]:
    """Receive (blocking, in a worker thread) until the answer to GOOD_ID."""
    while True:
        *_envelope, header, body = sock.recv_multipart()  # garbage may carry an envelope
        _pid, _rnd, request_id, _sent, is_error = struct.unpack("<HHLd?", header)
        if request_id == GOOD_ID:
            return bool(is_error), msgpack.unpackb(body)


@fuzz_settings
@given(garbage=messages)
async def test_rpc_server_survives_random_frames(garbage: list[list[bytes]]) -> None:
    async with rpc.serve_rpc(Handler(), bind=LOOPBACK) as server:
        raw = raw_socket(zmq.DEALER, endpoint(server))
        try:
            for frames in garbage:
                raw.send_multipart(frames)
            raw.send_multipart(GOOD_REQUEST)
            outcome = await anyio.to_thread.run_sync(answer_to_good_request, raw)
        finally:
            raw.close()
        assert outcome == (False, 42)
        assert server.running_calls == 0


@fuzz_settings
@given(garbage=messages)
async def test_pipeline_server_survives_random_frames(garbage: list[list[bytes]]) -> None:
    recorder = Recorder()
    async with rpc.serve_pipeline(recorder, bind=LOOPBACK) as server:
        raw = raw_socket(zmq.PUSH, endpoint(server))
        try:
            for frames in garbage:
                raw.send_multipart(frames)
            raw.send_multipart([b"record", msgpack.packb(["last"]), msgpack.packb({})])
            while (call := await recorder.next()) != ("record", "last"):
                assert call[0] in {"record", "record_later", "probe", "forever cancelled"}
        finally:
            raw.close()


@fuzz_settings
@given(garbage=messages)
async def test_pubsub_server_survives_random_frames(garbage: list[list[bytes]]) -> None:
    recorder = Recorder()
    async with rpc.serve_pubsub(recorder, bind=LOOPBACK, subscribe="") as server:
        raw = raw_socket(zmq.PUB, endpoint(server))
        try:
            probe = [b"t", b"probe", msgpack.packb([]), msgpack.packb({})]
            with anyio.fail_after(10):
                while True:  # until the subscription has reached the raw publisher
                    raw.send_multipart(probe)
                    try:
                        await recorder.next(timeout=0.01)
                        break
                    except TimeoutError:
                        continue
            for frames in garbage:
                raw.send_multipart(frames)
            raw.send_multipart([b"t", b"record", msgpack.packb(["last"]), msgpack.packb({})])
            while (call := await recorder.next()) != ("record", "last"):
                assert call[0] in {"record", "record_later", "probe", "forever cancelled"}
        finally:
            raw.close()


async def call_into(client: rpc.RPCClient, outcome: list[Any]) -> None:
    """Make a call and put its result, or what it raised, in ``outcome``."""
    try:
        outcome.append(await client.call.anything())
    except Exception as exc:  # garbage can translate to any exception
        outcome.append(exc)


@fuzz_settings
@given(garbage=messages)
async def test_client_reply_path_survives_random_frames(garbage: list[list[bytes]]) -> None:
    async with rpc.connect_rpc(bind=LOOPBACK, timeout=10) as client:
        router = raw_socket(zmq.ROUTER, endpoint(client))
        try:
            for attempt in range(2):
                outcome: list[Any] = []
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call_into, client, outcome)
                    identity, *request = await anyio.to_thread.run_sync(router.recv_multipart)
                    request_id = struct.unpack("<HHLd", request[-4])[2]
                    if attempt == 0:
                        for frames in garbage:
                            router.send_multipart([identity, *frames])
                    router.send_multipart(
                        [identity, reply_header(request_id, is_error=False), msgpack.packb("ok")]
                    )
                assert len(outcome) == 1
            # The second call, with nothing but its answer, gets it.
            assert outcome == ["ok"]
            assert client.pending_calls == 0
        finally:
            router.close()


msgpackable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.datetimes(timezones=st.none() | st.timezones()),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.binary(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


class Echo(rpc.AttrHandler):
    @rpc.method
    def echo(self, value: Any, *, again: Any = None) -> Any:
        return [value, again]


@fuzz_settings
@given(value=msgpackable)
async def test_any_msgpackable_value_round_trips_over_rpc(value: Any) -> None:
    async with rpc_pair(Echo(), timeout=10) as (_, client):
        result = await client.call.echo(value, again=value)
    expected = as_received(value)
    assert result == (expected, expected)
