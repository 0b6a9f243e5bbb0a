"""Streams meet aiozmq.rpc 1.0 peers: neither side hangs, both get an error they
understand, and the peers keep working afterwards."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

import anyio
import pytest

from anyzmq import rpc

from ..support import LOOPBACK, endpoint
from .test_aiozmq import aiozmq_peer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        importlib.util.find_spec("aiozmq") is None,
        reason="aiozmq 1.0 is not installed (it installs on Python 3.11 only)",
    ),
]


class Handler(rpc.AttrHandler):
    def __init__(self) -> None:
        self.started = 0

    @rpc.method
    async def numbers(self, a: int, b: int) -> AsyncIterator[int]:
        self.started += 1
        yield a
        yield b

    @rpc.method
    def add(self, a: int, b: int) -> int:
        return a + b


async def test_aiozmq_client_calling_a_stream_method_gets_an_error() -> None:
    handler = Handler()
    async with (
        rpc.serve_rpc(handler, bind=LOOPBACK) as server,
        aiozmq_peer("stream-client", endpoint(server)) as peer,
    ):
        lines = [await peer.line() for _ in range(2)]
    assert lines[0].startswith(
        "raised aiozmq.rpc.base.GenericError ('anyzmq.rpc.StreamMismatchError'"
    )
    assert "client.stream" in lines[0]
    assert lines[1] == "3"
    assert handler.started == 0


async def test_anyzmq_stream_from_an_aiozmq_server_fails_clearly() -> None:
    async with (
        aiozmq_peer("rpc-server") as peer,
        rpc.connect_rpc(connect=await peer.line(), timeout=10) as client,
    ):
        for _ in range(2):
            with (
                anyio.fail_after(20),
                pytest.raises(rpc.StreamMismatchError, match="does not stream"),
            ):
                async with client.stream.echo(1) as items:
                    await items.__anext__()
        assert await client.call.add(1, b=2) == 3
        async with client.stream.ns.double(2) as items:
            with pytest.raises(rpc.StreamMismatchError, match="does not stream"):
                await items.__anext__()
        assert await client.call.ns.double(21) == 42
