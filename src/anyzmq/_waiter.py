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
        # A generator rather than a coroutine: one frame less per waiting call.
        import trio

        if self._done:
            yield from trio.lowlevel.checkpoint().__await__()  # noqa: ASYNC105 (awaited)
            return
        self._task = trio.lowlevel.current_task()
        yield from trio.lowlevel.wait_task_rescheduled(self._abort).__await__()  # noqa: ASYNC105

    def _abort(self, _: Any) -> Any:
        import trio

        self._task = None
        return trio.lowlevel.Abort.SUCCEEDED
