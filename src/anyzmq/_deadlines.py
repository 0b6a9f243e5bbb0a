"""Call deadlines, kept by one task per client (its calls' timeouts) and per server
(its own ``timeout``).

A cancel scope per call (``anyio.fail_after``) costs about 2 KiB and a timer per
pending call. Instead each service keeps its calls' deadlines in a heap and one
task, in the service's task group, wakes at the earliest one and fails the calls
that are overdue with :class:`TimeoutError`. Finished calls are left in the heap
and skipped (the heap is compacted when they outnumber the live ones); the task is
woken only for a deadline earlier than the one it sleeps until.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Final, Protocol, final

import anyio

__all__ = ["Deadlines", "Expirable"]

_SLACK: Final = 64


class Expirable(Protocol):
    @property
    def active(self) -> bool:
        """False once the call has an answer or its caller has gone."""

    def expire(self) -> None:
        """Fail the call with :class:`TimeoutError`."""


@final
class Deadlines:
    __slots__ = ("_heap", "_order", "_until", "_wakeup")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Expirable]] = []
        self._order = itertools.count()
        self._wakeup: anyio.Event | None = None
        self._until = math.inf  # when the task wakes by itself

    def add(self, call: Expirable, deadline: float, live: int) -> None:
        """Expire ``call`` at ``deadline`` (in :func:`anyio.current_time`'s clock);
        ``live`` is how many calls are active now (for compaction)."""
        heap = self._heap
        heapq.heappush(heap, (deadline, next(self._order), call))
        if len(heap) > 2 * live + _SLACK:
            self._heap = heap = [entry for entry in heap if entry[2].active]
            heapq.heapify(heap)
        if deadline < self._until and self._wakeup is not None:
            self._until = deadline
            self._wakeup.set()  # earlier than what the task sleeps for

    def __len__(self) -> int:
        return len(self._heap)

    async def run(self) -> None:
        """Expire calls as their deadlines pass, until cancelled."""
        while True:
            now = anyio.current_time()
            heap = self._heap
            while heap and heap[0][0] <= now:
                call = heapq.heappop(heap)[2]
                if call.active:
                    call.expire()
            self._wakeup = wakeup = anyio.Event()
            if heap:
                self._until = until = heap[0][0]
                with anyio.move_on_after(until - now):
                    await wakeup.wait()
            else:
                self._until = math.inf
                await wakeup.wait()
