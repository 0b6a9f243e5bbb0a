"""What the pipeline and pub-sub servers log: aiozmq's texts, tracebacks, and at
most a few bounded records however many bad calls arrive."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest

from anyzmq import rpc

from .support import LOOPBACK, Recorder, endpoint

pytestmark = pytest.mark.anyio

#: Sends one call named like the attribute path to the server under test.
Send = Callable[..., Awaitable[None]]


class Handler(Recorder):
    @rpc.method
    def typed(self, number: int) -> None:
        self.put(("typed", number))

    @rpc.method
    def returns(self) -> int:
        self.put(("returns", None))
        return 5


class Sender:
    """``sender.call("ns.method", *args)`` notifies or publishes one call."""

    def __init__(self, start: Callable[[], Any]) -> None:
        self._start = start

    async def call(self, name: str, *args: object) -> None:
        proxy = self._start()
        for part in name.split("."):
            proxy = getattr(proxy, part)
        await proxy(*args)


@asynccontextmanager
async def pipeline(handler: Handler) -> AsyncIterator[Sender]:
    async with (
        rpc.serve_pipeline(handler, bind=LOOPBACK) as server,
        rpc.connect_pipeline(connect=endpoint(server)) as client,
    ):
        yield Sender(lambda: client.notify)


@asynccontextmanager
async def pubsub(handler: Handler) -> AsyncIterator[Sender]:
    async with (
        rpc.serve_pubsub(handler, bind=LOOPBACK, subscribe="t") as server,
        rpc.connect_pubsub(connect=endpoint(server)) as client,
    ):
        await until_received(Sender(lambda: client.publish("t")), handler)
        yield Sender(lambda: client.publish("t"))


async def until_received(sender: Sender, handler: Handler) -> None:
    """Send probes until one arrives (a subscription reaches a publisher late, and
    PUB drops what it cannot queue), then drop any later probes."""
    with anyio.fail_after(30):
        while True:
            await sender.call("probe")
            with anyio.move_on_after(0.05):
                assert await handler.next() == ("probe", None)
                break
    await sender.call("record", "marker")
    while await handler.next(timeout=30) != ("record", "marker"):
        pass


SERVERS = [
    pytest.param((pipeline, "Pipeline"), id="pipeline"),
    pytest.param((pubsub, "PubSub"), id="pubsub"),
]
Server = tuple[Callable[[Handler], AbstractAsyncContextManager[Sender]], str]


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "anyzmq.rpc"]


@pytest.mark.parametrize("server", SERVERS)
async def test_bad_calls_are_logged_as_aiozmq_does(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    open_server, _ = server
    handler = Handler()
    with caplog.at_level(logging.DEBUG, logger="anyzmq.rpc"):
        async with open_server(handler) as sender:
            await sender.call("no.such")
            await sender.call("typed", "x")
            await until_received(sender, handler)
    missing, refused = records(caplog)
    for record, name, cls in (
        (missing, "no.such", rpc.NotFoundError),
        (refused, "typed", rpc.ParameterError),
    ):
        assert record.levelno == logging.ERROR
        assert record.msg == "Call to %r caused error: %r"
        assert isinstance(record.args, tuple)
        assert record.args[0] == name
        assert isinstance(record.args[1], cls)
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], cls)
        assert record.exc_info[2] is not None  # with its traceback


@pytest.mark.parametrize("server", SERVERS)
async def test_result_other_than_none_is_warned_about(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    open_server, kind = server
    handler = Handler()
    with caplog.at_level(logging.DEBUG, logger="anyzmq.rpc"):
        async with open_server(handler) as sender:
            await sender.call("returns")
            assert await handler.next() == ("returns", None)
            await until_received(sender, handler)
    (record,) = records(caplog)
    assert record.levelno == logging.WARNING
    assert record.msg == f"{kind} handler %r returned not None"
    assert record.args == ("returns",)
    assert record.exc_info is None


async def test_empty_method_names_are_refused_at_once() -> None:
    async with (
        rpc.connect_pipeline(connect="tcp://127.0.0.1:9") as pusher,
        rpc.connect_pubsub(connect="tcp://127.0.0.1:9") as publisher,
    ):
        with pytest.raises(ValueError, match=r"^RPC method name is empty$"):
            pusher.notify()  # type: ignore[unused-coroutine]  # raises before one exists
        with pytest.raises(ValueError, match=r"^PubSub method name is empty$"):
            publisher.publish("t")()  # type: ignore[unused-coroutine]


BAD_CALLS = 1000
LONG_NAME = "n" * 100 * 1024
MAX_RECORD = 4000  # characters of one formatted record, traceback included


@pytest.mark.parametrize("server", SERVERS)
async def test_a_flood_of_bad_calls_gives_a_few_bounded_records(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    open_server, _ = server
    handler = Handler()
    with caplog.at_level(logging.DEBUG, logger="anyzmq.rpc"):
        async with open_server(handler) as sender:
            started = time.monotonic()
            for i in range(BAD_CALLS // 2):
                await sender.call(f"{LONG_NAME}{i}")
                await sender.call("typed", LONG_NAME)
            await until_received(sender, handler)  # still serving, after all of them
            await sender.call("typed", 7)
            assert await handler.next() == ("typed", 7)
            elapsed = time.monotonic() - started
    logged = records(caplog)
    # One record per kind (unknown name, refused arguments) and second at most.
    assert 2 <= len(logged) <= 2 * (math.ceil(elapsed) + 1)
    formatter = logging.Formatter()
    for record in logged:
        assert record.levelno == logging.ERROR
        assert len(formatter.format(record)) <= MAX_RECORD
