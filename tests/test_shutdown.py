"""Leaving a server's block: ``grace``, ``shutdown()`` and ``close()``."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import anyio
import pytest

from anyzmq import rpc

from .support import LOOPBACK, endpoint

pytestmark = pytest.mark.anyio


class Slow(rpc.AttrHandler):
    """Calls that run until the test lets them go, and tell when they run and end."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.gate = anyio.Event()
        self.cancelled = anyio.Event()
        self.done: list[object] = []

    @rpc.method
    async def wait(self, value: object) -> object:
        self.started.set()
        try:
            await self.gate.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise
        self.done.append(value)
        return value

    @rpc.method
    def ping(self) -> str:
        return "pong"


@pytest.fixture
def address() -> Iterator[str]:
    """An endpoint for a client to bind before its server connects.

    The RPC clients here bind: a client with a binding never takes the loss of a
    connection for the loss of its calls, so each call ends with what the server
    answered even when the server closes right after answering."""
    with tempfile.TemporaryDirectory(prefix="anyzmq-") as directory:
        yield f"ipc://{directory}/server"


Outcome = list[tuple[str, Any]]


def recording(
    outcome: Outcome, call: Callable[[], Awaitable[Any]]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """``call`` as a task that appends ``("result", value)`` or ``("error", exc)``."""

    async def run() -> None:
        try:
            outcome.append(("result", await call()))
        except Exception as exc:
            outcome.append(("error", exc))

    return run


async def begin_shutdown(tg: anyio.abc.TaskGroup, server: rpc.RPCServer) -> None:
    """``server.shutdown()`` in a task of ``tg``, returning once it has begun."""
    tg.start_soon(server.shutdown)
    await anyio.wait_all_tasks_blocked()


async def refused(client: rpc.RPCClient) -> None:
    """A new call is answered at once with ServiceClosedError: the server is
    shutting down."""
    with pytest.raises(rpc.ServiceClosedError, match="shutting down: 'ping' was not started"):
        await client.call.ping()


async def test_normal_exit_lets_a_running_call_finish_and_refuses_new_ones(address: str) -> None:
    handler = Slow()
    outcome: Outcome = []
    async with rpc.connect_rpc(bind=address) as client, anyio.create_task_group() as tg:
        async with rpc.serve_rpc(handler, connect=address, grace=3600) as server:
            tg.start_soon(recording(outcome, lambda: client.call.wait("kept")))
            await handler.started.wait()

            async def then_release() -> None:
                await refused(client)
                assert server.running_calls == 1
                handler.gate.set()

            tg.start_soon(then_release)
        # The block's exit waited for the call.
        assert handler.done == ["kept"]
        assert server.running_calls == 0
        assert not handler.cancelled.is_set()
        with pytest.raises(rpc.ServiceClosedError):
            server.transport  # noqa: B018
    assert outcome == [("result", "kept")]  # and its answer went out before the close


async def test_a_call_that_overruns_the_grace_is_cancelled_and_answered() -> None:
    handler = Slow()
    outcome: Outcome = []
    async with (
        rpc.connect_rpc(bind=LOOPBACK) as client,
        rpc.serve_rpc(handler, connect=endpoint(client), grace=0.1) as server,
    ):
        async with anyio.create_task_group() as tg:
            tg.start_soon(recording(outcome, lambda: client.call.wait("late")))
            await handler.started.wait()
            await server.shutdown()  # while the block runs on
        assert handler.cancelled.is_set()
        assert handler.done == []
        ((kind, error),) = outcome
        assert kind == "error"
        assert isinstance(error, rpc.ServiceClosedError)
        assert "shut down before 'wait' finished (grace of 0.1 s)" in str(error)
        assert server.running_calls == 0
        await server.shutdown()  # idempotent, and at once once closed


async def test_grace_zero_cancels_at_once_and_answers() -> None:
    handler = Slow()
    outcome: Outcome = []
    async with (
        rpc.connect_rpc(bind=LOOPBACK) as client,
        rpc.serve_rpc(handler, connect=endpoint(client), grace=0) as server,
    ):
        async with anyio.create_task_group() as tg:
            tg.start_soon(recording(outcome, lambda: client.call.wait("cut")))
            await handler.started.wait()
            await server.shutdown()
        assert handler.cancelled.is_set()
        ((kind, error),) = outcome
        assert kind == "error"
        assert isinstance(error, rpc.ServiceClosedError)


async def test_grace_none_waits_for_every_call() -> None:
    handler = Slow()
    outcome: Outcome = []
    async with (
        rpc.connect_rpc(bind=LOOPBACK) as client,
        rpc.serve_rpc(handler, connect=endpoint(client), grace=None) as server,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(recording(outcome, lambda: client.call.wait("all")))
        await handler.started.wait()
        await begin_shutdown(tg, server)
        await refused(client)  # shutting down, and still waiting for the call
        assert server.running_calls == 1
        handler.gate.set()
        await server.wait_closed()
        assert handler.done == ["all"]
    assert outcome == [("result", "all")]  # answered before the server closed


async def test_shutdown_twice_at_once_and_before_entering() -> None:
    handler = Slow()
    async with (
        rpc.connect_rpc(bind=LOOPBACK) as client,
        rpc.serve_rpc(handler, connect=endpoint(client), grace=3600) as server,
    ):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call.wait, "x")
            await handler.started.wait()
            tg.start_soon(server.shutdown)
            await begin_shutdown(tg, server)
            await refused(client)
            handler.gate.set()
        assert handler.done == ["x"]
    never_entered = rpc.serve_pipeline(handler)
    await never_entered.shutdown()
    with pytest.raises(RuntimeError, match="entered only once"):
        async with never_entered:
            pass


async def test_new_calls_are_refused_even_at_max_concurrent_calls() -> None:
    handler = Slow()
    async with (
        rpc.connect_rpc(bind=LOOPBACK) as client,
        rpc.serve_rpc(
            handler, connect=endpoint(client), grace=3600, max_concurrent_calls=1
        ) as server,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.call.wait, "x")
        await handler.started.wait()  # the server stopped reading: one call is the limit
        await begin_shutdown(tg, server)
        await refused(client)
        handler.gate.set()


async def test_an_exception_in_the_block_cancels_at_once(address: str) -> None:
    handler = Slow()
    outcome: Outcome = []
    async with rpc.connect_rpc(bind=address) as client, anyio.create_task_group() as tg:
        with pytest.raises(ZeroDivisionError):  # noqa: PT012
            async with rpc.serve_rpc(handler, connect=address, grace=None):
                tg.start_soon(recording(outcome, lambda: client.call.wait("x")))
                await handler.started.wait()
                1 / 0  # noqa: B018
        assert handler.cancelled.is_set()  # no wait for the calls, however long the grace
        client.close()
    # Nothing answered the call: the server closed at once.
    ((kind, error),) = outcome
    assert kind == "error"
    assert isinstance(error, rpc.ServiceClosedError | rpc.ConnectionLostError)


async def test_cancelling_the_block_cancels_at_once(address: str) -> None:
    handler = Slow()
    outcome: Outcome = []
    async with rpc.connect_rpc(bind=address) as client, anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            async with rpc.serve_rpc(handler, connect=address, grace=None):
                tg.start_soon(recording(outcome, lambda: client.call.wait("x")))
                await handler.started.wait()
                scope.cancel()
                await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert handler.cancelled.is_set()
        client.close()
    # The call got no answer: the server went away, or the client closed first.
    ((kind, error),) = outcome
    assert kind == "error"
    assert isinstance(error, rpc.ServiceClosedError | rpc.ConnectionLostError)


async def test_cancelling_a_normal_exit_that_waits_makes_it_immediate(address: str) -> None:
    handler = Slow()
    outcome: Outcome = []
    async with rpc.connect_rpc(bind=address) as client, anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            async with rpc.serve_rpc(handler, connect=address, grace=None):
                tg.start_soon(recording(outcome, lambda: client.call.wait("x")))
                await handler.started.wait()

                async def cancel_while_waiting() -> None:
                    await refused(client)  # the exit is waiting for the call
                    scope.cancel()

                tg.start_soon(cancel_while_waiting)
        assert scope.cancelled_caught
        assert handler.cancelled.is_set()
        assert handler.done == []
        client.close()
    # The call got no answer: the server went away, or the client closed first.
    ((kind, error),) = outcome
    assert kind == "error"
    assert isinstance(error, rpc.ServiceClosedError | rpc.ConnectionLostError)


async def test_close_during_the_grace_is_immediate() -> None:
    handler = Slow()
    outcome: Outcome = []
    async with (
        rpc.connect_rpc(bind=LOOPBACK) as client,
        rpc.serve_rpc(handler, connect=endpoint(client), grace=None) as server,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(recording(outcome, lambda: client.call.wait("x")))
        await handler.started.wait()
        await begin_shutdown(tg, server)
        await refused(client)
        server.close()
        await server.wait_closed()
        assert handler.cancelled.is_set()
        client.close()
    # The call got no answer: the server went away, or the client closed first.
    ((kind, error),) = outcome
    assert kind == "error"
    assert isinstance(error, rpc.ServiceClosedError | rpc.ConnectionLostError)


async def test_a_cancelled_shutdown_wait_does_not_cancel_the_shutdown() -> None:
    handler = Slow()
    async with (
        rpc.connect_rpc(bind=LOOPBACK) as client,
        rpc.serve_rpc(handler, connect=endpoint(client), grace=None) as server,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.call.wait, "x")
        await handler.started.wait()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await server.shutdown()
        await refused(client)
        handler.gate.set()
        await server.wait_closed()
        assert handler.done == ["x"]


async def test_refusals_are_not_logged_as_method_errors(caplog: pytest.LogCaptureFixture) -> None:
    handler = Slow()
    async with (
        rpc.connect_rpc(bind=LOOPBACK) as client,
        rpc.serve_rpc(handler, connect=endpoint(client), grace=3600, log_exceptions=True) as server,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.call.wait, "x")
        await handler.started.wait()
        await begin_shutdown(tg, server)
        await refused(client)
        handler.gate.set()
    assert not [r for r in caplog.records if r.name == "anyzmq.rpc" and r.levelname == "ERROR"]


@pytest.mark.parametrize("kind", ["pipeline", "pubsub"])
async def test_one_way_servers_finish_running_calls_and_start_no_new_one(kind: str) -> None:
    handler = Slow()
    if kind == "pipeline":
        client: Any = rpc.connect_pipeline(bind=LOOPBACK)
        server: Any = rpc.serve_pipeline
        options: dict[str, Any] = {}
    else:
        client = rpc.connect_pubsub(bind=LOOPBACK)
        server = rpc.serve_pubsub
        options = {"subscribe": ""}
    async with client, anyio.create_task_group() as tg:

        def send(value: str) -> Awaitable[None]:
            if kind == "pipeline":
                return client.notify.wait(value)  # type: ignore[no-any-return]
            return client.publish("").wait(value)  # type: ignore[no-any-return]

        async with server(handler, connect=endpoint(client), grace=3600, **options) as srv:
            while not handler.started.is_set():  # pub-sub: until the subscription is in
                await send("first")
                with anyio.move_on_after(0.01):
                    await handler.started.wait()
            tg.start_soon(srv.shutdown)
            await anyio.wait_all_tasks_blocked()  # the shutdown has begun
            await send("during the grace")
            handler.gate.set()
        assert handler.done
        assert set(handler.done) == {"first"}
        assert srv.running_calls == 0


async def test_the_one_way_overrun_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    handler = Slow()
    async with (
        rpc.connect_pipeline(bind=LOOPBACK) as client,
        rpc.serve_pipeline(handler, connect=endpoint(client), grace=0.05) as server,
    ):
        await client.notify.wait("x")
        await handler.started.wait()
        await server.shutdown()
        assert handler.cancelled.is_set()
    assert any(
        "PipelineServer shutting down: 1 call(s) still running after the grace of 0.05 s"
        in record.getMessage()
        for record in caplog.records
    )


@pytest.mark.parametrize("grace", [-1, float("nan"), "1", True])
async def test_bad_grace_is_refused(grace: object) -> None:
    for factory in (rpc.serve_rpc, rpc.serve_pipeline, rpc.serve_pubsub):
        with pytest.raises((TypeError, ValueError), match="grace"):
            factory(Slow(), grace=grace)  # type: ignore[arg-type]
