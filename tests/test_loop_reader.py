"""The persistent reader the pump uses on asyncio: lifetime, scheduling, failures,
and handlers run from the loop's callback under a plain ``asyncio.run``."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio
import pytest

from anyzmq import rpc
from anyzmq._loop_reader import LoopReader

from .support import LOOPBACK, endpoint

pytestmark = pytest.mark.anyio


@contextmanager
def readable_pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    try:
        yield read_end, write_end
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_no_reader_on_trio(anyio_backend_name: str) -> None:
    with readable_pipe() as (read_end, _):
        reader = LoopReader.start(read_end, lambda: None)
        assert (reader is None) == (anyio_backend_name == "trio")
        if reader is not None:
            reader.stop()


@pytest.fixture
def asyncio_only(anyio_backend_name: str) -> None:
    if anyio_backend_name != "asyncio":
        pytest.skip("LoopReader exists on asyncio only")


@pytest.mark.usefixtures("asyncio_only")
async def test_called_while_readable_until_stopped() -> None:
    calls = 0
    drained = anyio.Event()

    with readable_pipe() as (read_end, write_end):

        def on_ready() -> None:
            nonlocal calls
            calls += 1
            os.read(read_end, 1)
            if calls == 3:
                drained.set()

        reader = LoopReader.start(read_end, on_ready)
        assert reader is not None
        os.write(write_end, b"abc")
        with anyio.fail_after(5):
            await drained.wait()
        reader.stop()
        reader.stop()  # idempotent
        os.write(write_end, b"d")
        await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(5):
            await reader.wait()  # returns once stopped
    assert calls == 3


@pytest.mark.usefixtures("asyncio_only")
async def test_scheduled_calls_coalesce_and_stop_drops_them() -> None:
    calls: list[str] = []
    with readable_pipe() as (read_end, _):
        reader = LoopReader.start(read_end, lambda: calls.append("ready"))
        assert reader is not None
        reader.schedule()
        reader.schedule()
        await wait_for(lambda: calls == ["ready"])
        reader.schedule()
        reader.stop()
        await anyio.wait_all_tasks_blocked()
    assert calls == ["ready"]


@pytest.mark.usefixtures("asyncio_only")
async def test_failure_is_raised_by_wait() -> None:
    with readable_pipe() as (read_end, _):
        reader = LoopReader.start(read_end, lambda: None)
        assert reader is not None
        reader.fail(KeyError("first"))
        reader.fail(KeyError("second"))
        try:
            with pytest.raises(KeyError, match="first"):
                await reader.wait()
        finally:
            reader.stop()


async def wait_for(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not condition():
            await anyio.lowlevel.checkpoint()


class UsesAnyio(rpc.AttrHandler):
    @rpc.method
    def now(self) -> float:
        return anyio.current_time()


async def _call_now_repeatedly() -> list[float]:
    async with rpc.serve_rpc(UsesAnyio(), bind=LOOPBACK) as server:  # noqa: SIM117
        async with rpc.connect_rpc(connect=endpoint(server), timeout=10) as client:
            return [await client.call.now() for _ in range(20)]


_LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
if importlib.util.find_spec("uvloop") is not None:
    import uvloop

    _LOOPS["uvloop"] = uvloop.new_event_loop


@pytest.mark.timeout(30)
@pytest.mark.parametrize("loop", list(_LOOPS))
def test_sync_handlers_can_use_anyio_under_plain_asyncio_run(loop: str) -> None:
    # No anyio.run: nothing names the running library but the task sniffio sees, and
    # the handlers run from the loop's callback, where there is no task.
    with asyncio.Runner(loop_factory=_LOOPS[loop]) as runner:
        times = runner.run(_call_now_repeatedly())
    assert len(times) == 20
    assert times == sorted(times)
