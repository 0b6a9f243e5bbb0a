"""A one-shot wake-up for the one task waiting for a call's answer.

This is the only place in anyzmq that looks past anyio: an ``anyio.Event`` costs
over 2 KiB and several allocations per call on asyncio, which dominates the memory
of a client with many calls in flight. An asyncio future, or on trio a parked task,
does the same job in about a tenth of that. Both are cancellable like any other
checkpoint, so cancel scopes and timeouts behave exactly as with an ``Event``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any, Protocol, final

__all__ = ["Waiter", "waiter_factory"]


class Waiter(Protocol):
    """What a call waits on: ``await waiter`` until ``set_result(None)``."""

    def done(self) -> bool: ...

    def set_result(self, result: None, /) -> None: ...

    def __await__(self) -> Generator[Any, None, Any]: ...


def waiter_factory() -> Callable[[], Waiter]:
    """How to make waiters in the running event loop (call it inside the loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # anyio's other backend
        return _TrioWaiter
    return loop.create_future


@final
class _TrioWaiter:
    __slots__ = ("_done", "_task")

    def __init__(self) -> None:
        self._done = False
        self._task: Any = None

    def done(self) -> bool:
        return self._done

    def set_result(self, result: None, /) -> None:
        if self._done:
            return
        self._done = True
        if self._task is not None:
            import trio

            trio.lowlevel.reschedule(self._task)
            self._task = None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()

    async def _wait(self) -> None:
        import trio

        if self._done:
            await trio.lowlevel.checkpoint()
            return
        self._task = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._task = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
