"""Where and how a server runs its methods: one task receives, every call starts
from the server's context, limits hold under any interleaving, nothing starts
after close(), stray cancellations are errors of their call, timeouts answer on
time, and synchronous methods get the same environment on every backend."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable

import anyio
import pytest
import zmq

from anyzmq import rpc

from .support import LOOPBACK, SAFETY, Recorder, endpoint, raw_socket, request_header, rpc_pair

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pump_arm")]

_seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def wait_for(condition: Callable[[], bool], timeout: float = SAFETY) -> None:
    """Let other tasks run until ``condition`` holds (the timeout is only a safety net)."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.lowlevel.checkpoint()


class Concurrency(rpc.AttrHandler):
    """Counts how many calls run at once, and what context each starts from."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.leaks = 0
        self.started = 0

    def _enter(self, tag: str) -> None:
        self.started += 1
        if _seen.get() != "unset":
            self.leaks += 1
        _seen.set(tag)
        self.now += 1
        self.most = max(self.most, self.now)

    @rpc.method
    async def slow(self, tag: str, turns: int) -> str:
        self._enter(tag)
        try:
            for _ in range(turns):
                await anyio.lowlevel.checkpoint()
            return _seen.get()
        finally:
            self.now -= 1

    @rpc.method
    def quick(self, tag: str) -> str:
        if _seen.get() != "unset":
            self.leaks += 1
        _seen.set(tag)
        return _seen.get()


async def test_max_concurrent_calls_is_a_bound_under_any_interleaving() -> None:
    handler = Concurrency()
    async with rpc_pair(handler, server={"max_concurrent_calls": 2}, timeout=60) as (
        server,
        client,
    ):
        results: list[str] = []

        async def call(n: int) -> None:
            results.append(await client.call.slow(f"s{n}", n % 7))

        async with anyio.create_task_group() as tg:
            for n in range(200):
                tg.start_soon(call, n)
                if n % 3 == 0:
                    tg.start_soon(client.call.quick, f"q{n}")
        assert sorted(results) == sorted(f"s{n}" for n in range(200))
        assert handler.most == 2
        assert server.running_calls == 0


async def test_every_call_starts_from_the_servers_context() -> None:
    handler = Concurrency()
    async with rpc_pair(handler, server={"max_concurrent_calls": None}, timeout=60) as (_, client):
        answers: dict[str, str] = {}

        async def call(n: int) -> None:
            tag = f"s{n}" if n % 2 else f"q{n}"
            if n % 2:
                answers[tag] = await client.call.slow(tag, n % 5)
            else:
                answers[tag] = await client.call.quick(tag)

        async with anyio.create_task_group() as tg:
            for n in range(2000):
                tg.start_soon(call, n)
        assert handler.leaks == 0
        assert all(tag == seen for tag, seen in answers.items())
        assert len(answers) == 2000


async def test_no_handler_starts_after_close() -> None:
    class Stopper(rpc.AttrHandler):
        def __init__(self) -> None:
            self.server: rpc.RPCServer | None = None
            self.after = 0

        @rpc.method
        def stop(self) -> None:
            assert self.server is not None
            self.server.close()

        @rpc.method
        def work(self) -> None:
            self.after += 1

        @rpc.method
        async def async_work(self) -> None:
            self.after += 1

    handler = Stopper()
    async with rpc.serve_rpc(handler, bind=LOOPBACK) as server:
        handler.server = server
        dealer = raw_socket(zmq.DEALER, endpoint(server))
        try:
            header = request_header(1)
            for name in (b"stop", *[b"work", b"async_work"] * 50):
                dealer.send_multipart([header, name, b"\x90", b"\x80"])
            await server.wait_closed()
        finally:
            dealer.close()
    assert handler.after == 0


async def test_sync_methods_can_use_cancel_scopes_and_know_their_task() -> None:
    class UsesAnyio(rpc.AttrHandler):
        @rpc.method
        def scoped(self) -> str:
            with anyio.move_on_after(5) as scope:  # noqa: ASYNC100 (a sync method)
                pass
            task = anyio.get_current_task()
            return f"{scope.cancelled_caught} {bool(task.name)}"

        @rpc.method
        def deadline(self) -> bool:
            with anyio.fail_after(5):  # noqa: ASYNC100 (a sync method)
                return anyio.current_effective_deadline() < anyio.current_time() + 6

    async with rpc_pair(UsesAnyio()) as (_, client):
        assert await client.call.scoped() == "False True"
        assert await client.call.deadline() is True


async def test_stray_cancelled_error_is_an_error_of_its_call(
    anyio_backend_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    if anyio_backend_name != "asyncio":
        pytest.skip("a CancelledError that is not a cancellation exists on asyncio only")

    class Shared(rpc.AttrHandler):
        """Awaits a future that something else cancelled, as a shared fetch would be."""

        @rpc.method
        async def shared_fetch(self) -> None:
            future = asyncio.get_running_loop().create_future()
            future.cancel()
            await future

        @rpc.method
        def sync_result(self) -> None:
            future = asyncio.get_running_loop().create_future()
            future.cancel()
            future.result()

        @rpc.method
        def ping(self) -> str:
            return "pong"

    caplog.set_level(logging.ERROR, logger="anyzmq.rpc")
    reached_end = False
    async with rpc_pair(Shared()) as (server, client):
        for name in ("shared_fetch", "sync_result"):
            with pytest.raises(rpc.GenericError) as info:
                await getattr(client.call, name)()
            assert info.value.exc_type == "asyncio.exceptions.CancelledError"
            assert await client.call.ping() == "pong"
        assert server.running_calls == 0
        reached_end = True
    assert reached_end
    logged = [r for r in caplog.records if "nothing cancelled the call" in r.getMessage()]
    assert [r.exc_info is not None for r in logged] == [True, True]


class Blocking(rpc.AttrHandler):
    """Synchronous methods that block their thread until released."""

    def __init__(self, parties: int = 2) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)
        self.release = threading.Event()
        self.entered = 0

    @rpc.method
    def meet(self) -> str:
        self.entered += 1
        self.barrier.wait()
        return "met"

    @rpc.method
    def hold(self) -> str:
        self.entered += 1
        if not self.release.wait(30):
            raise RuntimeError("never released")
        return "released"

    @rpc.method
    async def hold_uncancellable(self) -> str:
        return await anyio.to_thread.run_sync(self.hold)

    @rpc.method
    def ping(self) -> str:
        return "pong"


async def test_sync_handler_threads_run_blocking_methods_side_by_side() -> None:
    handler = Blocking(parties=2)
    async with rpc_pair(handler, server={"sync_handler_threads": 2}, timeout=30) as (
        server,
        client,
    ):
        results: list[str] = []
        async with anyio.create_task_group() as tg:
            for _ in range(2):

                async def meet() -> None:
                    results.append(await client.call.meet())

                tg.start_soon(meet)
        # Two calls that can only finish together did: they ran at once.
        assert results == ["met", "met"]
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call.hold)
            await wait_for(lambda: handler.entered == 3)
            assert server.running_calls == 1
            # The event loop is free while a thread blocks.
            assert await client.call.ping() == "pong"
            handler.release.set()
        assert server.running_calls == 0


async def test_sync_handler_threads_count_against_max_concurrent_calls() -> None:
    handler = Blocking()
    async with rpc_pair(
        handler, server={"sync_handler_threads": 4, "max_concurrent_calls": 1}, timeout=30
    ) as (server, client):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call.hold)
            tg.start_soon(client.call.hold)
            await wait_for(lambda: handler.entered == 1)
            await anyio.wait_all_tasks_blocked()
            assert server.running_calls == 1
            assert handler.entered == 1
            handler.release.set()
        assert handler.entered == 2


async def test_server_timeout_answers_on_time_whatever_the_method_does() -> None:
    handler = Blocking()
    async with rpc_pair(handler, server={"timeout": 0.5}, timeout=30) as (server, client):
        with pytest.raises(TimeoutError, match=r"'hold_uncancellable'.*0\.5 s"):
            await client.call.hold_uncancellable()
        # The answer came while the method still ran; its late result is dropped.
        assert not handler.release.is_set()
        assert server.running_calls == 1
        handler.release.set()
        await wait_for(lambda: server.running_calls == 0)
        assert await client.call.ping() == "pong"
        assert client.pending_calls == 0


async def test_one_way_server_timeout_is_logged_on_time(caplog: pytest.LogCaptureFixture) -> None:
    class Held(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()

        @rpc.method
        async def hold(self) -> None:
            await anyio.to_thread.run_sync(self.release.wait, 30)
            self.put(("hold done", None))

    handler = Held()
    caplog.set_level(logging.ERROR, logger="anyzmq.rpc")
    async with (
        rpc.serve_pipeline(handler, bind=LOOPBACK, timeout=0.3, log_exceptions=True) as server,
        rpc.connect_pipeline(connect=endpoint(server)) as client,
    ):
        await client.notify.hold()
        await wait_for(lambda: any("TimeoutError" in r.getMessage() for r in caplog.records))
        assert not handler.release.is_set()
        handler.release.set()
        assert await handler.next() == ("hold done", None)
