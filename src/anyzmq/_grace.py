"""How a server leaves gracefully: it stops starting calls, lets the running ones
finish for up to its grace period, then has the rest cancelled and closes.

One :class:`Grace` per server holds the calls running as tasks and, in a task of
the server's own, waits for the shutdown to be asked for and then for those calls.
What stopping, cancelling and closing mean is the server's business: it passes
them in as callbacks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, Generic, TypeVar, final

import anyio

__all__ = ["DEFAULT_GRACE", "Grace", "check_grace"]

#: Default ``grace``: seconds running calls may take to finish when a server leaves.
DEFAULT_GRACE: Final = 5.0

_C = TypeVar("_C")


def check_grace(grace: float | None) -> float | None:
    """``grace`` checked: a number of seconds >= 0, or None (wait for every call).

    Raises:
        TypeError: ``grace`` is not a number or None.
        ValueError: ``grace`` is negative or NaN.
    """
    if grace is None:
        return None
    if isinstance(grace, bool) or not isinstance(grace, int | float):
        raise TypeError(f"grace must be a number of seconds or None, got {grace!r}")
    if not grace >= 0:
        raise ValueError(f"grace must be a number of seconds >= 0, got {grace!r}")
    return float(grace)


@final
class Grace(Generic[_C]):
    """The running calls of one server, and its graceful shutdown."""

    __slots__ = ("_idle", "_period", "_requested", "_running", "accepting")

    def __init__(self, period: float | None) -> None:
        self._period = period
        self._running: set[_C] = set()
        self._requested: anyio.Event | None = None  # made in the server's event loop
        self._idle: anyio.Event | None = None
        #: False once the shutdown has been asked for: no new call may start.
        self.accepting = True

    @property
    def period(self) -> float | None:
        return self._period

    def open(self) -> None:
        """Called in the server's event loop when it is entered."""
        self._requested = anyio.Event()

    def request(self) -> None:
        """Ask for the shutdown (idempotent)."""
        assert self._requested is not None
        self.accepting = False
        self._requested.set()

    def started(self, call: _C) -> None:
        self._running.add(call)

    def finished(self, call: _C) -> None:
        self._running.discard(call)
        if not self._running and self._idle is not None:
            self._idle.set()

    async def run(
        self,
        stop: Callable[[], None],
        cancel: Callable[[list[_C]], None],
        close: Callable[[], None],
    ) -> None:
        """Wait for the shutdown to be asked for, then ``stop()`` starting calls,
        wait for the running ones for up to the grace period, ``cancel()`` those
        left, and ``close()``. Cancelled with the server when it closes at once."""
        assert self._requested is not None
        await self._requested.wait()
        stop()
        period = math.inf if self._period is None else self._period
        with anyio.move_on_after(period):
            while self._running:
                self._idle = anyio.Event()
                await self._idle.wait()
        if self._running:
            cancel(list(self._running))
        close()
