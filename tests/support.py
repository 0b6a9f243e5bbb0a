"""Helpers shared by the tests."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import zmq

from anyzmq import rpc
from anyzmq._context import shared_context

LOOPBACK = "tcp://127.0.0.1:*"


def as_received(value: Any) -> Any:
    """``value`` as a peer decodes it: lists become tuples."""
    if isinstance(value, list | tuple):
        return tuple(as_received(item) for item in value)
    if isinstance(value, dict):
        return {key: as_received(item) for key, item in value.items()}
    return value


def raw_socket(kind: int, address: str, *, rcvhwm: int | None = None) -> zmq.Socket[bytes]:
    """A plain pyzmq socket connected to ``address``, for speaking raw frames."""
    sock: zmq.Socket[bytes] = shared_context().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if rcvhwm is not None:
        sock.setsockopt(zmq.RCVHWM, rcvhwm)
    sock.setsockopt(zmq.RCVTIMEO, 10_000)
    sock.connect(address)
    return sock


def endpoint(service: rpc.Service) -> str:
    """The one endpoint ``service`` is bound to."""
    (bound,) = service.transport.bindings()
    return bound


class Recorder(rpc.AttrHandler):
    """A handler for one-way services that records every call it gets."""

    def __init__(self) -> None:
        self._items: deque[tuple[str, Any]] = deque()
        self._arrived: anyio.Event | None = None

    def put(self, item: tuple[str, Any]) -> None:
        self._items.append(item)
        if self._arrived is not None:
            self._arrived.set()

    @rpc.method
    def record(self, value: Any) -> None:
        self.put(("record", value))

    @rpc.method
    async def record_later(self, value: Any) -> None:
        await anyio.lowlevel.checkpoint()
        self.put(("record_later", value))

    @rpc.method
    def probe(self) -> None:
        self.put(("probe", None))

    @rpc.method
    async def forever(self) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            self.put(("forever cancelled", None))

    async def next(self, timeout: float = 5) -> tuple[str, Any]:
        """The next recorded call, waiting for it up to ``timeout`` seconds."""
        with anyio.fail_after(timeout):
            while not self._items:
                self._arrived = anyio.Event()
                await self._arrived.wait()
        return self._items.popleft()


@asynccontextmanager
async def rpc_pair(
    handler: rpc.HandlerLike, *, server: dict[str, Any] | None = None, **client: Any
) -> AsyncIterator[tuple[rpc.RPCServer, rpc.RPCClient]]:
    """A server for ``handler`` on loopback and a client connected to it."""
    async with rpc.serve_rpc(handler, bind=LOOPBACK, **(server or {})) as srv:  # noqa: SIM117
        async with rpc.connect_rpc(connect=endpoint(srv), **client) as cli:
            yield srv, cli


def request_header(request_id: int) -> bytes:
    """A request header as an anyzmq or aiozmq client sends it."""
    from anyzmq._wire import RequestIds

    return RequestIds().header(request_id)


async def wait_until(condition: Callable[[], bool], *, within: float = 20) -> None:
    """Wait until ``condition()`` holds, looking again after each short pause.

    For states that no event announces (a counter on the far side of a socket);
    ``within`` is only a safety net against a hang, far above what it takes.
    """
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110 (no event announces these states)
            await anyio.sleep(0.002)
