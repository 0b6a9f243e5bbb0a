"""anyzmq as a benchmark peer: ``serve KIND BACKEND`` or ``client WORKLOAD N SERVICE
CONTROL BACKEND`` (BACKEND: asyncio, uvloop or trio)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import zmq
from control import ControlServer, Counter
from handlers import make_handlers
from streams import STREAM_WORKLOADS, with_streams
from workloads import MAX_MESSAGE_SIZE, WORKLOADS, Call, Endpoints

from anyzmq import rpc

LOOPBACK = "tcp://127.0.0.1:*"


RPCHandler, Receiver = make_handlers(rpc, anyio.Event)


def unlimited(service: rpc.Service) -> None:
    service.transport.setsockopt(zmq.SNDHWM, 0)
    service.transport.setsockopt(zmq.RCVHWM, 0)


async def serve(kind: str) -> None:
    async with AsyncExitStack() as stack:
        if kind == "rpc":
            counters = [Counter()]
            server: rpc.Service = await stack.enter_async_context(
                rpc.serve_rpc(
                    with_streams(RPCHandler)(counters[0]),
                    max_concurrent_calls=None,
                    max_message_size=MAX_MESSAGE_SIZE,
                )
            )
            unlimited(server)
            endpoint = server.transport.bind(LOOPBACK)
        elif kind == "rpc-curve":  # the same handler over plain TCP and over CURVE
            counters = [Counter()]
            keys = rpc.curve_keypair()
            endpoints = []
            for curve in (None, rpc.CurveServer(keys)):
                server = await stack.enter_async_context(
                    rpc.serve_rpc(
                        RPCHandler(counters[0]),
                        max_concurrent_calls=None,
                        max_message_size=MAX_MESSAGE_SIZE,
                        curve=curve,
                    )
                )
                unlimited(server)
                endpoints.append(server.transport.bind(LOOPBACK))
            endpoint = ",".join([*endpoints, keys.public.decode()])
        elif kind == "pipeline":
            counters = [Counter()]
            server = await stack.enter_async_context(rpc.serve_pipeline(Receiver(counters[0])))
            endpoint = server.transport.bind(LOOPBACK)
        else:
            counters = [Counter() for _ in range(4)]
            endpoints = []
            for counter in counters:
                sub = await stack.enter_async_context(
                    rpc.serve_pubsub(Receiver(counter), subscribe="t")
                )
                unlimited(sub)
                endpoints.append(sub.transport.bind(LOOPBACK))
            endpoint = ",".join(endpoints)  # the publisher connects to every subscriber
        control = ControlServer(counters)
        print(endpoint, control.endpoint, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)


class Adapter:
    @asynccontextmanager
    async def rpc(self, endpoint: str, count: int) -> AsyncIterator[list[Call]]:
        async with AsyncExitStack() as stack:
            calls: list[Call] = []
            for _ in range(count):
                client = await stack.enter_async_context(
                    rpc.connect_rpc(timeout=60, max_message_size=MAX_MESSAGE_SIZE)
                )
                client.transport.setsockopt(zmq.SNDHWM, 0)
                client.transport.connect(endpoint)
                calls.append(_caller(client))
            yield calls

    @asynccontextmanager
    async def streams(self, endpoint: str) -> AsyncIterator[Any]:
        """An opener of streams: ``opener(name, *args)`` is ``client.stream.name(*args)``."""
        async with rpc.connect_rpc(timeout=60, max_message_size=MAX_MESSAGE_SIZE) as client:
            client.transport.connect(endpoint)
            yield lambda name, *args: getattr(client.stream, name)(*args)

    @asynccontextmanager
    async def curve_rpc(self, endpoint: str, server_key: str) -> AsyncIterator[list[Call]]:
        """One RPC client over CURVE (an ephemeral key pair; the server admits any)."""
        curve = rpc.CurveClient(server_key)
        async with rpc.connect_rpc(
            timeout=60, max_message_size=MAX_MESSAGE_SIZE, curve=curve
        ) as client:
            client.transport.setsockopt(zmq.SNDHWM, 0)
            client.transport.connect(endpoint)
            yield [_caller(client)]

    @asynccontextmanager
    async def notifier(self, endpoint: str) -> AsyncIterator[Call]:
        async with rpc.connect_pipeline(connect=endpoint) as client:

            async def send(name: str, *args: Any) -> None:
                await getattr(client.notify, name)(*args)

            yield send

    @asynccontextmanager
    async def publisher(self, endpoint: str) -> AsyncIterator[Call]:
        async with rpc.connect_pubsub() as client:
            client.transport.setsockopt(zmq.SNDHWM, 0)
            for address in endpoint.split(","):
                client.transport.connect(address)

            async def publish(name: str, *args: Any) -> None:
                await getattr(client.publish("t"), name)(*args)

            yield publish


def _caller(client: rpc.RPCClient) -> Call:
    async def call(name: str, *args: Any) -> Any:
        return await getattr(client.call, name)(*args)

    return call


def run(main: Any, backend: str, *args: Any) -> Any:
    if backend == "uvloop":
        return anyio.run(main, *args, backend="asyncio", backend_options={"use_uvloop": True})
    return anyio.run(main, *args, backend=backend)


def main() -> None:
    role = sys.argv[1]
    if role == "serve":
        run(serve, sys.argv[3], sys.argv[2])
    else:
        workload, n, service, control, backend = sys.argv[2:7]
        driver = WORKLOADS.get(workload) or STREAM_WORKLOADS[workload]
        result = run(driver, backend, Adapter(), Endpoints(service, control), int(n))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
