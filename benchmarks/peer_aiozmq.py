"""aiozmq.rpc 1.0 as a benchmark peer (asyncio): ``serve KIND`` or ``client WORKLOAD
N SERVICE CONTROL``. The workloads are the same code anyzmq runs (anyio on asyncio)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiozmq.rpc as rpc
import anyio
import zmq
from control import ControlServer, Counter
from handlers import make_handlers
from workloads import MAX_MESSAGE_SIZE, WORKLOADS, Call, Endpoints

LOOPBACK = "tcp://127.0.0.1:*"


RPCHandler, Receiver = make_handlers(rpc, asyncio.Event)


def unlimited(service: Any) -> None:
    service.transport.setsockopt(zmq.SNDHWM, 0)
    service.transport.setsockopt(zmq.RCVHWM, 0)
    service.transport.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_SIZE)  # as for every peer


async def serve(kind: str) -> None:
    if kind == "rpc":
        counters = [Counter()]
        server = await rpc.serve_rpc(RPCHandler(counters[0]))
        unlimited(server)
        endpoint = await server.transport.bind(LOOPBACK)
    elif kind == "pipeline":
        counters = [Counter()]
        server = await rpc.serve_pipeline(Receiver(counters[0]))
        endpoint = await server.transport.bind(LOOPBACK)
    else:
        counters = [Counter() for _ in range(4)]
        endpoints = []
        for counter in counters:
            sub = await rpc.serve_pubsub(Receiver(counter), subscribe="t")
            unlimited(sub)
            endpoints.append(await sub.transport.bind(LOOPBACK))
        endpoint = ",".join(endpoints)
    control = ControlServer(counters)
    print(endpoint, control.endpoint, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class Adapter:
    @asynccontextmanager
    async def rpc(self, endpoint: str, count: int) -> AsyncIterator[list[Call]]:
        clients = []
        for _ in range(count):
            client = await rpc.connect_rpc(timeout=60)
            client.transport.setsockopt(zmq.SNDHWM, 0)
            client.transport.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_SIZE)
            await client.transport.connect(endpoint)
            clients.append(client)
        try:
            yield [_caller(client) for client in clients]
        finally:
            for client in clients:
                client.close()
                await client.wait_closed()

    @asynccontextmanager
    async def notifier(self, endpoint: str) -> AsyncIterator[Call]:
        client = await rpc.connect_pipeline(connect=endpoint)

        async def send(name: str, *args: Any) -> None:
            await getattr(client.notify, name)(*args)

        try:
            yield send
        finally:
            client.close()
            await client.wait_closed()

    @asynccontextmanager
    async def publisher(self, endpoint: str) -> AsyncIterator[Call]:
        client = await rpc.connect_pubsub()
        client.transport.setsockopt(zmq.SNDHWM, 0)
        for address in endpoint.split(","):
            await client.transport.connect(address)

        async def publish(name: str, *args: Any) -> None:
            await getattr(client.publish("t"), name)(*args)

        try:
            yield publish
        finally:
            client.close()
            await client.wait_closed()


def _caller(client: Any) -> Call:
    async def call(name: str, *args: Any) -> Any:
        return await getattr(client.call, name)(*args)

    return call


def main() -> None:
    role = sys.argv[1]
    if role == "serve":
        asyncio.run(serve(sys.argv[2]))
    else:
        workload, n, service, control = sys.argv[2:6]
        driver = WORKLOADS[workload]
        result = anyio.run(driver, Adapter(), Endpoints(service, control), int(n))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
