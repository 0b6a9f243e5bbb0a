"""Client call deadlines: one task per client expires overdue calls."""

from __future__ import annotations

import anyio
import pytest

from anyzmq import rpc
from anyzmq._deadlines import Deadlines

from .support import SAFETY, rpc_pair

pytestmark = pytest.mark.anyio


class Call:
    def __init__(self) -> None:
        self.active = True
        self.expired = anyio.Event()

    def expire(self) -> None:
        self.active = False
        self.expired.set()


async def test_calls_expire_in_deadline_order_and_earlier_ones_wake_the_task() -> None:
    deadlines = Deadlines()
    late, early = Call(), Call()
    async with anyio.create_task_group() as tg:
        tg.start_soon(deadlines.run)
        now = anyio.current_time()
        deadlines.add(late, now + 60, live=2)
        await anyio.lowlevel.checkpoint()  # the task now sleeps until +60 s
        deadlines.add(early, now + 0.01, live=2)
        with anyio.fail_after(SAFETY):
            await early.expired.wait()
        assert late.active
        tg.cancel_scope.cancel()


async def test_later_deadlines_and_compaction_leave_the_sleeping_task_alone() -> None:
    deadlines = Deadlines()
    async with anyio.create_task_group() as tg:
        tg.start_soon(deadlines.run)
        now = anyio.current_time()
        first = Call()
        deadlines.add(first, now + 60, live=1)
        await anyio.wait_all_tasks_blocked()  # the task sleeps until +60 s
        sleeping_on = deadlines._wakeup
        assert sleeping_on is not None
        first.active = False  # answered, as sequential calls are
        for _ in range(1_000):  # compacted many times, each later call at the top
            call = Call()
            deadlines.add(call, now + 61, live=1)
            call.active = False
        assert not sleeping_on.is_set()
        assert deadlines._wakeup is sleeping_on
        tg.cancel_scope.cancel()


async def test_finished_calls_are_skipped_and_compacted() -> None:
    deadlines = Deadlines()
    now = anyio.current_time()
    for _ in range(10_000):
        call = Call()
        deadlines.add(call, now + 60, live=1)
        call.active = False  # answered
    assert len(deadlines) < 200


class Slow(rpc.AttrHandler):
    @rpc.method
    async def forever(self) -> None:
        await anyio.sleep_forever()

    @rpc.method
    def ping(self) -> str:
        return "pong"


async def test_a_shorter_timeout_after_a_longer_one_still_fires_first() -> None:
    async with rpc_pair(Slow(), timeout=60) as (_, client):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call.forever)  # a deadline 60 s away
            with anyio.fail_after(SAFETY), pytest.raises(TimeoutError):
                await client.with_timeout(0.05).call.forever()
            tg.cancel_scope.cancel()
        assert client.pending_calls == 0
        assert await client.call.ping() == "pong"
