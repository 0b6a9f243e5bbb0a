"""Large values through every service: frames of 64 KiB or more are received as
views of ZeroMQ's messages and sent from the packers' own buffers; many such
messages in flight at once must each arrive whole and unchanged."""

from __future__ import annotations

import os

import anyio
import pytest

from anyzmq import rpc

from .support import LOOPBACK, Recorder, endpoint, rpc_pair
from .test_pubsub import wait_until_subscribed

pytestmark = pytest.mark.anyio

MiB = 1 << 20


class Echo(rpc.AttrHandler):
    @rpc.method
    def echo(self, value: bytes) -> bytes:
        return value

    @rpc.method
    async def echo_later(self, value: bytes, *, tail: bytes = b"") -> bytes:
        await anyio.lowlevel.checkpoint()  # answers of other calls go out meanwhile
        return value + tail

    @rpc.method
    def size(self, value: bytes) -> int:
        return len(value)


async def test_concurrent_large_calls_each_get_their_own_answer() -> None:
    payloads = [os.urandom(MiB + index) for index in range(6)]
    tails = [os.urandom(70_000 + index) for index in range(6)]
    answers: dict[int, bytes] = {}
    async with rpc_pair(Echo(), timeout=30, max_message_size=64 * MiB) as (_, client):

        async def call(index: int) -> None:
            answers[index] = await client.call.echo_later(payloads[index], tail=tails[index])

        async with anyio.create_task_group() as tg:
            for index in range(len(payloads)):
                tg.start_soon(call, index)
    assert answers == {i: payload + tails[i] for i, payload in enumerate(payloads)}


async def test_sequential_large_calls_of_changing_sizes() -> None:
    async with rpc_pair(Echo(), timeout=30) as (_, client):
        for size in (4 * MiB, 64 << 10, 1, 2 * MiB, (64 << 10) - 1, 8 * MiB):
            payload = os.urandom(size)
            assert await client.call.echo(payload) == payload
            assert await client.call.size(payload) == size


async def test_large_notifications_arrive_whole() -> None:
    payloads = [os.urandom(2 * MiB + index) for index in range(4)]
    handler = Recorder()
    async with (
        rpc.serve_pipeline(handler, bind=LOOPBACK) as server,
        rpc.connect_pipeline(connect=endpoint(server)) as client,
    ):
        for payload in payloads:
            await client.notify.record(payload)
        received = [await handler.next(timeout=30) for _ in payloads]
    assert received == [("record", payload) for payload in payloads]


async def test_large_published_calls_arrive_whole() -> None:
    payload = os.urandom(3 * MiB)
    handler = Recorder()
    async with (
        rpc.serve_pubsub(handler, bind=LOOPBACK, subscribe="t") as server,
        rpc.connect_pubsub(connect=endpoint(server)) as client,
    ):
        await wait_until_subscribed(client, "t", handler)
        await client.publish("t").record(payload)
        while (item := await handler.next(timeout=30))[0] == "probe":
            pass  # a late probe
    assert item == ("record", payload)
