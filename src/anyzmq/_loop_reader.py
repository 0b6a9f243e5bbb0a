"""A persistent readiness callback on the running asyncio loop (uvloop too).

anyio's ``wait_readable`` is one-shot: each wait registers the descriptor with the
selector and removes it again, and the waiting task must be scheduled to run
before it can look at the socket. For a ZeroMQ socket, which signals its FD once
or twice per message, that costs a task switch and two ``epoll_ctl`` calls per
message. On asyncio the pump instead keeps one registration for its lifetime and
handles the socket in the loop's own callback, the way asyncio's transports do.
The registration is owned by the pump task: it is made when that task starts,
removed when it ends (however it ends), and a failure inside the callback is
raised in that task, so lifetime, cancellation and errors stay structured.

This module and ``_waiter.py`` are the only places that look past anyio. On trio,
and on asyncio loops without ``add_reader`` (Windows' proactor), :meth:`start`
returns None and the pump polls through :func:`anyio.wait_readable` instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable
from typing import final

__all__ = ["LoopReader"]


def _callback_context() -> contextvars.Context:
    """A copy of the current context in which sniffio (when installed) names asyncio.

    Code run from a loop callback has no current task, so sniffio cannot sniff
    asyncio there unless its context variable says so; anyio asks sniffio which
    library runs, so a synchronous handler that calls ``anyio.current_time()``
    would fail under ``asyncio.run`` without it.
    """
    context = contextvars.copy_context()
    sniffio = sys.modules.get("sniffio")
    if sniffio is not None:
        context.run(sniffio.current_async_library_cvar.set, "asyncio")
    return context


@final
class LoopReader:
    """Calls ``on_ready()`` from the loop whenever the FD may have become readable,
    from :meth:`start` until :meth:`stop`."""

    __slots__ = ("_context", "_done", "_fd", "_loop", "_on_ready", "_scheduled", "_stopped")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        on_ready: Callable[[], None],
        context: contextvars.Context,
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._on_ready = on_ready
        self._context = context
        self._done: asyncio.Future[None] = loop.create_future()
        self._scheduled = False
        self._stopped = False

    @classmethod
    def start(cls, fd: int, on_ready: Callable[[], None]) -> LoopReader | None:
        """Register ``on_ready`` for ``fd`` on the running asyncio loop.

        Returns None when that cannot be done: no asyncio loop runs in this thread
        (trio), or the loop has no ``add_reader``.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        context = _callback_context()
        reader = cls(loop, fd, on_ready, context)
        try:
            # Registered inside ``context``: the loop runs every callback in a copy of it.
            context.run(loop.add_reader, fd, on_ready)
        except NotImplementedError:
            return None
        return reader

    def schedule(self) -> None:
        """Call ``on_ready()`` on the loop's next turn even if the FD does not
        signal; requests made before that call are served by it."""
        if self._scheduled or self._stopped:
            return
        self._scheduled = True
        self._loop.call_soon(self._run_scheduled, context=self._context)

    def fail(self, exc: BaseException) -> None:
        """Make :meth:`wait` raise ``exc`` (unless it has returned already)."""
        if not self._done.done():
            self._done.set_exception(exc)

    async def wait(self) -> None:
        """Wait until :meth:`stop`, or raise what :meth:`fail` was given."""
        await self._done

    def stop(self) -> None:
        """Remove the registration, drop a scheduled call and end :meth:`wait`
        (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._loop.remove_reader(self._fd)
        if not self._done.done():
            self._done.set_result(None)
        elif not self._done.cancelled():
            self._done.exception()  # retrieved: asyncio must not report it as lost

    def _run_scheduled(self) -> None:
        self._scheduled = False
        if not self._stopped:
            self._on_ready()
