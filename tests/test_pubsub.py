"""Pub-sub: published calls over PUB/SUB, with topics."""

from __future__ import annotations

import logging

import anyio
import pytest

from anyzmq import rpc

from .support import LOOPBACK, SAFETY, Recorder, endpoint

pytestmark = pytest.mark.anyio


async def wait_until_subscribed(client: rpc.PubSubClient, topic: str, handler: Recorder) -> None:
    """Publish probes until one arrives (subscriptions reach the publisher late),
    then a marker, and take every call up to it: no late probe is left behind."""
    with anyio.fail_after(SAFETY):
        while True:
            await client.publish(topic).probe()
            with anyio.move_on_after(0.01):
                assert await handler.next() == ("probe", None)
                break
        await client.publish(topic).record("subscribed")
        while await handler.next() != ("record", "subscribed"):
            pass


async def test_publish_reaches_subscribed_topics_only() -> None:
    handler = Recorder()
    async with (
        rpc.serve_pubsub(handler, bind=LOOPBACK, subscribe=["news", b"sport"]) as server,
        rpc.connect_pubsub(connect=endpoint(server)) as client,
    ):
        await wait_until_subscribed(client, "news", handler)
        await client.publish("weather").record("dropped")
        await client.publish("news").record(1)
        await client.publish(b"sport").record_later(2)
        await client.publish("newsflash").record(3)  # prefix match, as ZeroMQ does
        got = {await handler.next() for _ in range(3)}
        assert got == {("record", 1), ("record_later", 2), ("record", 3)}
        await client.publish("news").record("last")
        assert await handler.next() == ("record", "last")  # "weather" never came


async def test_subscribe_and_unsubscribe_at_run_time() -> None:
    handler = Recorder()
    async with (
        rpc.serve_pubsub(handler, bind=LOOPBACK) as server,
        rpc.connect_pubsub(connect=endpoint(server)) as client,
    ):
        server.subscribe("a")
        await wait_until_subscribed(client, "a", handler)
        server.subscribe(b"b")
        await wait_until_subscribed(client, "b", handler)
        server.unsubscribe("a")
        # After the unsubscription reaches the publisher, "a" is dropped and "b" still flows.
        with anyio.fail_after(SAFETY):
            while True:
                await client.publish("a").record("a")
                await client.publish("b").record("b")
                if await handler.next() == ("record", "b"):
                    break
        await client.publish("a").record("a-late")
        await client.publish("b").record("b-last")
        got = await handler.next()
        while got == ("record", "b"):
            got = await handler.next()
        assert got == ("record", "b-last")


async def test_empty_topic_and_none() -> None:
    handler = Recorder()
    async with (
        rpc.serve_pubsub(handler, bind=LOOPBACK, subscribe="") as server,
        rpc.connect_pubsub(connect=endpoint(server)) as client,
    ):
        await wait_until_subscribed(client, "anything", handler)
        await client.publish(None).record("none")
        assert await handler.next() == ("record", "none")


async def test_topic_types_are_checked() -> None:
    handler = Recorder()
    with pytest.raises(TypeError, match="subscribe"):
        rpc.serve_pubsub(handler, subscribe=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="topic"):
        rpc.serve_pubsub(handler, subscribe=["ok", 42])  # type: ignore[list-item]
    async with rpc.serve_pubsub(handler, bind=LOOPBACK) as server:
        with pytest.raises(TypeError, match="topic"):
            server.subscribe(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="topic"):
            server.unsubscribe(None)  # type: ignore[arg-type]
        async with rpc.connect_pubsub(connect=endpoint(server)) as client:
            with pytest.raises(TypeError, match="topic"):
                client.publish(1.5)  # type: ignore[arg-type]
    with pytest.raises(rpc.ServiceClosedError):
        server.subscribe("late")


async def test_publishing_without_subscribers_does_not_block() -> None:
    async with rpc.connect_pubsub(bind=LOOPBACK) as client:
        for i in range(2000):
            await client.publish("t").record(i)


class Failing(Recorder):
    @rpc.method
    def fail(self) -> None:
        self.put(("fail", None))
        raise RuntimeError("published failure")


async def test_errors_are_logged_and_timeouts_cancel(caplog: pytest.LogCaptureFixture) -> None:
    handler = Failing()
    with caplog.at_level(logging.WARNING, logger="anyzmq.rpc"):
        async with (
            rpc.serve_pubsub(
                handler, bind=LOOPBACK, subscribe="", log_exceptions=True, timeout=0.05
            ) as server,
            rpc.connect_pubsub(connect=endpoint(server)) as client,
        ):
            await wait_until_subscribed(client, "t", handler)
            await client.publish("t").missing()
            await client.publish("t").fail()
            await client.publish("t").forever()
            assert await handler.next() == ("fail", None)
            assert await handler.next() == ("forever cancelled", None)
            assert server.running_calls == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "anyzmq.rpc"]
    assert any("'missing'" in m and "NotFoundError" in m for m in messages)
    assert any("published failure" in m for m in messages)
    assert any("TimeoutError" in m and "'forever'" in m for m in messages)
