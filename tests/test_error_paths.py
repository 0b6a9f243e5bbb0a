"""Error paths on every backend: calls over a decoding budget, deeply nested
values in bad calls and in bad error answers, and exception classes of a server
run as a script."""

from __future__ import annotations

import datetime
import pickle
import struct
from typing import Any

import msgpack
import pytest
import zmq

from anyzmq import rpc
from anyzmq._wire import reply_header

from .support import LOOPBACK, endpoint, raw_socket, rpc_pair
from .test_malformed import answer_one_call, raw_call

pytestmark = pytest.mark.anyio

HEADER = struct.pack("<HHLd", 1, 2, 7, 0.0)
# As deep as msgpack decodes (1024 levels): deeper than repr() can print.
DEEP = b"\x91" * 1000 + b"\xc0"


class Handler(rpc.AttrHandler):
    @rpc.method
    def add(self, a: int, b: int) -> int:
        return a + b

    @rpc.method
    def scripted(self) -> None:
        raise ScriptError("from a script", 1)


class ScriptError(Exception):
    pass


ScriptError.__module__ = "__main__"  # as if the server ran as `python server.py`


class LocalScriptError(Exception):
    pass


DATE = msgpack.ExtType(127, pickle.dumps(datetime.date(2000, 1, 1)))
OVER_BUDGET = {
    "extension values": msgpack.packb([DATE] * 10_001),
    "maps": b"\xdd" + (300_000).to_bytes(4, "big") + b"\x80" * 300_000,
}


@pytest.mark.parametrize("args", OVER_BUDGET.values(), ids=OVER_BUDGET.keys())
async def test_calls_over_a_decoding_budget_are_answered_with_parameter_error(
    args: bytes,
) -> None:
    async with rpc_pair(Handler()) as (server, client):
        raw = raw_socket(zmq.DEALER, endpoint(server))
        try:
            request_id, is_error, answer = await raw_call(
                raw, [HEADER, b"add", args, msgpack.packb({})]
            )
        finally:
            raw.close()
        assert (request_id, is_error) == (7, True)
        assert isinstance(answer, tuple)
        assert answer[0] == "aiozmq.rpc.base.ParametersError"
        assert "cannot decode the arguments: more than" in answer[1][0]
        assert await client.call.add(1, 2) == 3


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(DEEP, msgpack.packb({})), (msgpack.packb([]), DEEP)],
    ids=["deep-args", "deep-kwargs-not-a-map"],
)
async def test_deeply_nested_arguments_are_answered_with_parameter_error(
    args: bytes, kwargs: bytes
) -> None:
    async with rpc_pair(Handler()) as (server, client):
        raw = raw_socket(zmq.DEALER, endpoint(server))
        try:
            request_id, is_error, answer = await raw_call(raw, [HEADER, b"add", args, kwargs])
        finally:
            raw.close()
        assert (request_id, is_error) == (7, True)
        assert isinstance(answer, tuple)
        assert answer[0] == "aiozmq.rpc.base.ParametersError"
        assert len(answer[1][0]) < 500
        assert await client.call.add(1, 2) == 3


async def test_deeply_nested_malformed_error_answer_fails_the_call_with_protocol_error() -> None:
    def replies(identity: bytes, request_id: int) -> list[list[bytes]]:
        return [[identity, reply_header(request_id, is_error=True), DEEP]]

    async with rpc.connect_rpc(bind=LOOPBACK) as client:
        outcome = await answer_one_call(client, replies)
        assert isinstance(outcome, rpc.ProtocolError), outcome
        assert client.pending_calls == 0


async def test_exception_from_a_script_travels_as_main_and_any_module_key_maps_it() -> None:
    async with rpc_pair(Handler()) as (_, client):
        with pytest.raises(rpc.GenericError) as info:
            await client.call.scripted()
    assert info.value.exc_type == "__main__.ScriptError"
    assert str(info.value) == "__main__.ScriptError: ('from a script', 1)"
    tables: list[dict[str, Any]] = [
        {"__main__.ScriptError": LocalScriptError},
        {"*.ScriptError": LocalScriptError},
    ]
    for table in tables:
        async with rpc_pair(Handler(), error_table=table) as (_, client):
            with pytest.raises(LocalScriptError) as raised:
                await client.call.scripted()
        assert raised.value.args == ("from a script", 1)
