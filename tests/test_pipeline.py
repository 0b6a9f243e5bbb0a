"""Pipeline: notifications over PUSH/PULL."""

from __future__ import annotations

import logging

import anyio
import pytest

from anyzmq import rpc

from .support import LOOPBACK, Recorder, endpoint

pytestmark = pytest.mark.anyio


class Failing(Recorder):
    @rpc.method
    def fail(self, text: str) -> None:
        self.put(("fail", text))
        raise RuntimeError(text)

    @rpc.method
    def returns(self) -> int:
        self.put(("returns", None))
        return 5


async def test_notifications_arrive_in_order() -> None:
    handler = Recorder()
    async with (
        rpc.serve_pipeline(handler, bind=LOOPBACK) as server,
        rpc.connect_pipeline(connect=endpoint(server)) as client,
    ):
        for i in range(100):
            assert await client.notify.record(i) is None
        await client.notify.record_later([1, 2])
        assert [await handler.next() for _ in range(100)] == [("record", i) for i in range(100)]
        assert await handler.next() == ("record_later", (1, 2))


async def test_server_connects_to_bound_client() -> None:
    handler = Recorder()
    async with (
        rpc.connect_pipeline(bind=LOOPBACK) as client,
        rpc.serve_pipeline(handler, connect=endpoint(client)),
    ):
        await client.notify.record("hi")
        assert await handler.next() == ("record", "hi")


async def test_errors_are_logged_on_the_server(caplog: pytest.LogCaptureFixture) -> None:
    handler = Failing()
    with caplog.at_level(logging.WARNING, logger="anyzmq.rpc"):
        async with (
            rpc.serve_pipeline(handler, bind=LOOPBACK, log_exceptions=True) as server,
            rpc.connect_pipeline(connect=endpoint(server)) as client,
        ):
            await client.notify.missing()
            await client.notify.record()  # missing argument
            await client.notify.fail("oops")
            await client.notify.returns()
            await client.notify.record("last")
            assert await handler.next() == ("fail", "oops")
            assert await handler.next() == ("returns", None)
            assert await handler.next() == ("record", "last")
    messages = [r.getMessage() for r in caplog.records if r.name == "anyzmq.rpc"]
    assert any("'missing'" in m and "NotFoundError" in m for m in messages)
    assert any("'record'" in m and "ParameterError" in m for m in messages)
    assert any("RuntimeError('oops')" in m for m in messages)
    assert any("'returns' returned not None" in m for m in messages)


async def test_server_timeout_cancels_handler() -> None:
    handler = Failing()
    async with (
        rpc.serve_pipeline(handler, bind=LOOPBACK, timeout=0.05) as server,
        rpc.connect_pipeline(connect=endpoint(server)) as client,
    ):
        await client.notify.forever()
        assert await handler.next() == ("forever cancelled", None)
        assert server.running_calls == 0


async def test_handler_cancelled_when_server_exits() -> None:
    handler = Failing()
    async with rpc.connect_pipeline(bind=LOOPBACK) as client:
        async with rpc.serve_pipeline(handler, connect=endpoint(client), grace=0) as server:
            await client.notify.forever()
            await client.notify.record("started")
            assert await handler.next() == ("record", "started")
            assert server.running_calls == 1
        assert await handler.next() == ("forever cancelled", None)


async def test_notify_waits_for_a_peer_and_can_be_cancelled() -> None:
    # A bound PUSH socket with no peer has nowhere to queue: sends wait.
    async with rpc.connect_pipeline(bind=LOOPBACK) as client:
        with anyio.move_on_after(0.05) as scope:
            await client.notify.record("cancelled")
        assert scope.cancelled_caught
        handler = Recorder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.notify.record, "waited")
            async with rpc.serve_pipeline(handler, connect=endpoint(client)):
                # The blocked send resumes once the server connects; the
                # cancelled one was never sent.
                assert await handler.next() == ("record", "waited")


async def test_unserializable_argument_raises() -> None:
    async with rpc.connect_pipeline(connect="tcp://127.0.0.1:9") as client:
        with pytest.raises(TypeError, match="cannot serialize"):
            await client.notify.record(object())


async def test_notify_on_closed_client_raises() -> None:
    client = rpc.connect_pipeline(connect="tcp://127.0.0.1:9")
    with pytest.raises(rpc.ServiceClosedError):
        await client.notify.record(1)
    async with client:
        pass
    with pytest.raises(rpc.ServiceClosedError):
        await client.notify.record(1)


async def test_notify_in_a_cancelled_scope_sends_nothing() -> None:
    handler = Recorder()
    async with (
        rpc.serve_pipeline(handler, bind=LOOPBACK) as server,
        rpc.connect_pipeline(connect=endpoint(server)) as client,
    ):
        with anyio.CancelScope() as scope:
            scope.cancel()
            await client.notify.record("cancelled")
        assert scope.cancelled_caught
        await client.notify.record("sent")
        assert await handler.next() == ("record", "sent")


async def test_a_burst_of_notifications_lets_other_tasks_run() -> None:
    ran = 0

    async def other() -> None:
        nonlocal ran
        while True:
            ran += 1
            await anyio.lowlevel.checkpoint()

    async with (
        rpc.connect_pipeline(connect="tcp://127.0.0.1:9") as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(other)
        await anyio.lowlevel.checkpoint()
        before = ran
        for i in range(500):
            await client.notify.record(i)
        assert ran > before
        tg.cancel_scope.cancel()
