"""Helpers shared by the tests."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyzmq import rpc

LOOPBACK = "tcp://127.0.0.1:*"


def endpoint(service: rpc.Service) -> str:
    """The one endpoint ``service`` is bound to."""
    (bound,) = service.transport.bindings()
    return bound


class Recorder(rpc.AttrHandler):
    """A handler for one-way services that records every call it gets."""

    def __init__(self) -> None:
        self.send: MemoryObjectSendStream[tuple[str, Any]]
        self.received: MemoryObjectReceiveStream[tuple[str, Any]]
        self.send, self.received = anyio.create_memory_object_stream(math.inf)

    @rpc.method
    def record(self, value: Any) -> None:
        self.send.send_nowait(("record", value))

    @rpc.method
    async def record_later(self, value: Any) -> None:
        await anyio.lowlevel.checkpoint()
        self.send.send_nowait(("record_later", value))

    @rpc.method
    def probe(self) -> None:
        self.send.send_nowait(("probe", None))

    async def next(self, timeout: float = 5) -> tuple[str, Any]:
        with anyio.fail_after(timeout):
            return await self.received.receive()

    def close(self) -> None:
        self.send.close()
        self.received.close()


@asynccontextmanager
async def rpc_pair(
    handler: rpc.AbstractHandler, *, server: dict[str, Any] | None = None, **client: Any
) -> AsyncIterator[tuple[rpc.RPCServer, rpc.RPCClient]]:
    """A server for ``handler`` on loopback and a client connected to it."""
    async with rpc.serve_rpc(handler, bind=LOOPBACK, **(server or {})) as srv:
        async with rpc.connect_rpc(connect=endpoint(srv), **client) as cli:
            yield srv, cli
