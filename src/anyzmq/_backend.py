"""What differs between event loops, chosen once per service: how the socket pump
waits for its socket, what a call waits on for its answer, and how code outside
the loop reaches it.

This is the one module that looks past anyio, for speed and memory where anyio's
portable primitives cost too much on the hot path:

- On asyncio (and uvloop), the pump keeps one reader registration on the loop for
  as long as it runs. The loop's callback only reads ``EVENTS`` and, when there is
  input, steps the waiting pump task at once, in the callback (the FD also signals
  with nothing to receive), then the callers whose answers that step delivered;
  the pump task does all the receiving. The pump and the callers wait on
  future-like objects of this module for that: a future's wake-up costs a turn of
  the loop, and anyio's one-shot :func:`anyio.wait_readable` two ``epoll_ctl``
  calls per wait.
- On trio, the pump waits with trio's own ``wait_readable`` inside a cancel scope
  that a wake-up cancels (one scope across waits until then), and looks at
  ``EVENTS`` before it returns to the pump; a call waits as a parked task. Loops
  without ``add_reader`` (Windows' proactor) get the same readiness with anyio's
  portable primitives, a scope per wait.

An ``anyio.Event`` per call costs over 2 KiB on asyncio; a call's waiter or a parked
task costs about a tenth of that, and both are cancellable checkpoints like any other.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Generator
from functools import partial
from typing import Any, Final, Protocol, TypeAlias, final

import anyio

__all__ = ["Backend", "Readiness", "Waiter", "current_backend"]

#: A wait's cancel message when it was not cancelled (None is a message).
_NOT_CANCELLED: Final = object()


class Waiter(Protocol):
    """What a call waits on: ``await waiter`` until ``set_result(None)``."""

    def done(self) -> bool: ...

    def set_result(self, result: None, /) -> None: ...

    def __await__(self) -> Generator[Any, None, Any]: ...


class Readiness(Protocol):
    """How the pump task waits: until its socket's FD signals or :meth:`wake` is called."""

    def wait(self) -> Awaitable[None]:
        """Await the result: done once the FD may have signalled or :meth:`wake`
        was called since the last wait (at once if that happened already)."""

    def wake(self) -> None:
        """Make the current or next :meth:`wait` return."""

    def check_soon(self) -> None:
        """Call the ``probe`` given to :meth:`Backend.readiness` now or on the
        loop's next turn (one call there serves every request until then)."""

    def close(self) -> None:
        """Stop watching the FD (idempotent); call it before the FD is closed."""

    def finish(self) -> None:
        """The pump's run ends: in the pump task, let go of what its waits held
        (idempotent; implies :meth:`close`)."""


class Backend(Protocol):
    #: :func:`anyio.current_time`'s clock, without its look-up of the running library.
    now: Callable[[], float]
    #: :func:`anyio.current_effective_deadline` (trio's own on trio).
    effective_deadline: Callable[[], float]
    #: A fresh one-shot waiter.
    new_waiter: Callable[[], Waiter]

    def readiness(self, fd: int, probe: Callable[[], None]) -> Readiness:
        """Readiness for ``fd``; ``probe`` looks at the socket after sends."""

    def in_loop(self) -> bool:
        """Whether the caller runs inside this backend's event loop."""

    def run_soon_threadsafe(self, func: Callable[[], None]) -> None:
        """Run ``func`` in this event loop soon; callable from anywhere, even while
        the loop is not running (it runs when the loop runs again).

        Raises:
            RuntimeError: the event loop is closed.
        """


def current_backend() -> Backend:
    """The backend of the event loop running in this thread (call it inside the loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # anyio's only other backend
        return _TrioBackend()
    return _AsyncioBackend(loop)


@final
class _AsyncioBackend:
    __slots__ = ("_loop", "_steps", "effective_deadline", "new_waiter", "now")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._steps = _LoopSteps(loop)
        self.effective_deadline: Callable[[], float] = anyio.current_effective_deadline
        self.now: Callable[[], float] = loop.time
        self.new_waiter: Callable[[], Waiter] = partial(_CallWaiter, self._steps)
        # asyncio's own loop: the same clock without a Python call each (uvloop
        # keeps a clock of its own).
        if type(loop).time is asyncio.BaseEventLoop.time:
            self.now = time.monotonic

    def readiness(self, fd: int, probe: Callable[[], None]) -> Readiness:
        reader = _LoopReadiness(self._steps, fd, probe)
        try:
            # The FD signals any change of the socket, often with no input: the
            # callback looks first, and steps the pump task only for input.
            self._loop.add_reader(fd, partial(self._steps.run, probe))
        except NotImplementedError:  # no persistent readers on this loop
            return _PollReadiness(fd, probe)
        return reader

    def in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def run_soon_threadsafe(self, func: Callable[[], None]) -> None:
        self._loop.call_soon_threadsafe(func)


_Step: TypeAlias = tuple[Callable[[Any], object], Any, "contextvars.Context | None"]


@final
class _LoopSteps:
    """Task wake-ups that a loop callback runs itself, where a future's would wait
    for the loop's next turn (one per backend, shared by its pumps and waiters).

    When the loop's reader callback finds input, it steps the pump task at once,
    then the callers whose answers that step delivered: a sequential call costs
    one turn of the loop on each side, as with a callback that receives, and
    still only the pump task receives. Only those wake-ups run there; any other
    (from inside a task, a cancellation, a caller's own step) goes through
    ``call_soon`` as a future's would, so one callback runs one pump step and
    the callers it answered, no more.
    """

    __slots__ = ("_due", "_stepping", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._due: list[_Step] = []
        self._stepping = False  # in a loop callback that runs the wake-ups due

    def wake(self, wakeup: Callable[[Any], object], waited: object, context: Any) -> None:
        """Run ``wakeup(waited)`` (a task's) in ``context``: in the loop callback
        that is stepping tasks, or else on the loop's next turn."""
        if self._stepping:
            self._due.append((wakeup, waited, context))
        else:
            self.loop.call_soon(wakeup, waited, context=context)

    def run(self, probe: Callable[[], None]) -> None:
        """In a loop callback (no task running): call ``probe``, step the pump task
        it woke, then the callers that step woke."""
        self._stepping = True
        try:
            probe()
            if self._due:
                pump, self._due = self._due, []
                self._step_all(pump)
        finally:
            self._stepping = False
            if self._due:  # the callers the pump step answered
                callers, self._due = self._due, []
                self._step_all(callers)

    def _step_all(self, due: list[_Step]) -> None:
        for index, (wakeup, waited, context) in enumerate(due):
            try:
                if context is None:
                    wakeup(waited)
                else:
                    context.run(wakeup, waited)
            except BaseException:  # a task step lets only SystemExit and the like out
                for rest, rest_waited, rest_context in due[index + 1 :]:
                    self.loop.call_soon(rest, rest_waited, context=rest_context)
                raise


class _FutureLike:
    """What asyncio's tasks (and anyio) ask of a future they wait on, for the two
    waits below that are not futures but future-like objects in asyncio's sense
    (``_asyncio_future_blocking``, see :func:`asyncio.isfuture`): each holds the
    waiting task's wake-up as a future holds its done callbacks, and hands it to
    :class:`_LoopSteps` when done."""

    __slots__ = ("_asyncio_future_blocking", "_cancel_message", "_context", "_steps", "_wakeup")

    def __init__(self, steps: _LoopSteps) -> None:
        self._steps = steps
        #: asyncio's mark of a future-like object; True while being yielded to a task.
        self._asyncio_future_blocking = False
        self._wakeup: Callable[[Any], object] | None = None  # the waiting task's
        self._context: contextvars.Context | None = None  # where the wake-up runs
        self._cancel_message: object = _NOT_CANCELLED

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._steps.loop

    def cancelled(self) -> bool:
        return self._cancel_message is not _NOT_CANCELLED

    def result(self) -> None:
        """Raises:
        asyncio.CancelledError: the wait was cancelled (raised once)."""
        message, self._cancel_message = self._cancel_message, _NOT_CANCELLED
        if message is not _NOT_CANCELLED:
            raise asyncio.CancelledError() if message is None else asyncio.CancelledError(message)

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            self._steps.wake(wakeup, self, self._context)

    def _wake_cancelled(self, msg: object) -> None:
        # On the loop's next turn, whoever cancels: as a future's waiter.
        self._cancel_message = msg
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            self._steps.loop.call_soon(wakeup, self, context=self._context)


@final
class _CallWaiter(_FutureLike):
    """What a call waits on, on asyncio: a one-shot future-like object whose result,
    set in a pump step that a loop callback runs, steps the caller in that callback
    too (see :class:`_LoopSteps`)."""

    __slots__ = ("_done",)

    def __init__(self, steps: _LoopSteps) -> None:
        # The base's fields set here, without its __init__: one call less per call.
        self._steps = steps
        self._asyncio_future_blocking = False
        self._wakeup = None
        self._context = None
        self._cancel_message = _NOT_CANCELLED
        self._done = False

    def __await__(self) -> Generator[Any, None, None]:
        # A generator rather than a coroutine: one frame less per call.
        if not self._done:
            self._asyncio_future_blocking = True
            yield self  # the task registers its wake-up with add_done_callback

    def done(self) -> bool:
        return self._done

    def set_result(self, result: None, /) -> None:
        """Raises:
        asyncio.InvalidStateError: the waiter is done already."""
        if self._done:
            raise asyncio.InvalidStateError("the call has its answer already")
        self._done = True
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            self._steps.wake(wakeup, self, self._context)

    def add_done_callback(
        self, callback: Callable[[Any], object], *, context: contextvars.Context | None = None
    ) -> None:
        # Only the calling task waits on its waiter, while it is not done.
        self._wakeup = callback
        self._context = context
        if self._done:
            self._wake()

    def cancel(self, msg: object = None) -> bool:
        """Wake the waiting task with CancelledError (False: done already)."""
        if self._done:
            return False
        self._done = True
        self._wake_cancelled(msg)
        return True


@final
class _LoopReadiness(_FutureLike):
    """A persistent reader registration whose callback (the probe) wakes the waiting
    pump task when there is input.

    The pump task awaits this object itself, a future-like object reused across
    waits, so that a loop callback (the reader's, or a probe scheduled for the
    next turn) that finds input steps the pump task at once (see
    :class:`_LoopSteps`).
    """

    __slots__ = ("_closed", "_fd", "_pending", "_probe", "_probe_scheduled", "_probed_since_wait")

    def __init__(self, steps: _LoopSteps, fd: int, probe: Callable[[], None]) -> None:
        super().__init__(steps)
        self._fd = fd
        self._probe = probe
        self._pending = True  # look at the socket once before the first wait
        self._probe_scheduled = False
        self._probed_since_wait = False
        self._closed = False

    def wait(self) -> Awaitable[None]:
        self._probed_since_wait = False
        return self

    def __await__(self) -> Generator[Any, None, None]:
        # A generator rather than a coroutine: one frame less per wake-up.
        if self._pending:
            self._pending = False
            return
        self._asyncio_future_blocking = True
        yield self  # the task registers its wake-up with add_done_callback

    def wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is None:  # not waiting, or already woken
            self._pending = True
            return
        self._wakeup = None
        self._steps.wake(wakeup, self, self._context)

    def check_soon(self) -> None:
        # The first request after a wait began is served at once: a lone send (a
        # call made while the pump waits) costs no extra turn of the loop. Later
        # ones share one look on the loop's next turn: a burst of sends pays for
        # two looks, not one per send.
        if self._closed:
            return
        if not self._probed_since_wait:
            self._probed_since_wait = True
            self._probe()
        elif not self._probe_scheduled:
            self._probe_scheduled = True
            self._steps.loop.call_soon(self._run_probe)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._steps.loop.remove_reader(self._fd)

    def finish(self) -> None:
        self.close()

    def _run_probe(self) -> None:
        self._probe_scheduled = False
        if not self._closed:
            self._steps.run(self._probe)

    def add_done_callback(
        self, callback: Callable[[Any], object], *, context: contextvars.Context | None = None
    ) -> None:
        # Only the pump task waits on its readiness, one wait at a time.
        self._wakeup = callback
        self._context = context

    def done(self) -> bool:
        return self._wakeup is None

    def cancel(self, msg: object = None) -> bool:
        """Wake the waiting task with CancelledError (False: no task waits)."""
        if self._wakeup is None:
            return False
        self._wake_cancelled(msg)
        return True


class _PollReadiness:
    """A one-shot wait for the FD in a cancel scope that :meth:`wake` cancels
    (anyio's portable ones, for loops without ``add_reader``)."""

    __slots__ = ("_fd", "_pending", "_probe", "_scope")

    _new_scope: Callable[[], Any] = anyio.CancelScope
    _wait_readable: Callable[[int], Awaitable[None]] = staticmethod(anyio.wait_readable)
    _closed_error: type[BaseException] = anyio.ClosedResourceError

    def __init__(self, fd: int, probe: Callable[[], None]) -> None:
        self._fd = fd
        self._probe = probe
        self._scope: Any = None
        self._pending = True

    def wait(self) -> Awaitable[None]:
        return self._wait()

    async def _wait(self) -> None:
        # Like the loop reader's callback, look at the socket when the FD signals
        # and return to the pump only for input (or a wake-up meanwhile).
        while not self._pending:
            with self._new_scope() as scope:
                self._scope = scope
                try:
                    await self._wait_readable(self._fd)
                except self._closed_error:
                    return  # the pump was closed: it sees that itself
                finally:
                    self._scope = None
            if scope.cancel_called:
                return  # woken
            self._probe()  # calls wake() for input
        self._pending = False

    def wake(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        else:
            self._pending = True

    def check_soon(self) -> None:
        self._probe()

    def close(self) -> None:
        pass  # the pump's close() notifies the event loop before closing the FD

    def finish(self) -> None:
        pass


@final
class _TrioReadiness:
    """Trio's own ``wait_readable``, in one cancel scope that stays entered across
    waits until a wake-up cancels it: entering and leaving a trio scope costs more
    than the wait itself (about 25 Python calls; a sixth of a round trip's
    instructions on trio, see ``benchmarks/README.md``).

    The scope is entered in the pump task and left there (by a wake-up, by the
    pump's own cancellation, or by :meth:`finish` when its run ends); between waits
    the pump only receives and checkpoints, and a wake-up then sets a flag instead
    of cancelling, so only a wait is ever interrupted.
    """

    __slots__ = ("_fd", "_pending", "_probe", "_scope", "_waiting")

    # trio's, bound once when the first trio backend is made (trio is optional).
    _new_scope: Callable[[], Any]
    _wait_readable: Callable[[int], Awaitable[None]]
    _closed_error: type[BaseException]
    _cancelled: type[BaseException]

    @classmethod
    def bind(cls, trio: Any) -> None:
        cls._new_scope = trio.CancelScope
        cls._wait_readable = staticmethod(trio.lowlevel.wait_readable)
        cls._closed_error = trio.ClosedResourceError
        cls._cancelled = trio.Cancelled

    def __init__(self, fd: int, probe: Callable[[], None]) -> None:
        self._fd = fd
        self._probe = probe
        self._scope: Any = None  # entered in the pump task until cancelled or finished
        self._waiting = False  # in wait_readable, where a wake-up may cancel
        self._pending = True  # look at the socket once before the first wait

    def wait(self) -> Awaitable[None]:
        return self._wait()

    async def _wait(self) -> None:
        # Like the loop reader's callback, look at the socket when the FD signals
        # and return to the pump only for input (or a wake-up meanwhile).
        while not self._pending:
            scope = self._scope
            if scope is None:
                scope = self._scope = self._new_scope()
                scope.__enter__()
            self._waiting = True
            try:
                await self._wait_readable(self._fd)
            except self._cancelled as exc:
                self._scope = None
                if scope.__exit__(type(exc), exc, exc.__traceback__):
                    return  # our scope: woken
                raise  # the pump is being cancelled
            except self._closed_error:
                return  # the pump was closed: it sees that itself
            finally:
                self._waiting = False
            if scope.cancel_called:
                # Woken after the FD had signalled but before this task ran: leave
                # the scope now, or the pump's next checkpoint would raise Cancelled.
                self._scope = None
                scope.__exit__(None, None, None)
                return
            self._probe()  # calls wake() for input
        self._pending = False

    def wake(self) -> None:
        if self._waiting and self._scope is not None:
            self._scope.cancel()
        else:
            self._pending = True

    def check_soon(self) -> None:
        self._probe()

    def close(self) -> None:
        pass  # the pump's close() notifies trio before closing the FD

    def finish(self) -> None:
        # Only here, at the end of the pump's run, in its task: a close() from
        # elsewhere (another task, or a handler inside a scope of its own) could
        # not leave the scope in order.
        scope = self._scope
        if scope is not None:
            self._scope = None
            scope.__exit__(None, None, None)


@final
class _TrioBackend:
    __slots__ = ("_current_token", "_token", "effective_deadline", "new_waiter", "now")

    def __init__(self) -> None:
        import trio

        _TrioWaiter.bind(trio)
        _TrioReadiness.bind(trio)
        self._current_token: Callable[[], object] = trio.lowlevel.current_trio_token
        self._token = trio.lowlevel.current_trio_token()
        self.now: Callable[[], float] = trio.current_time
        self.effective_deadline: Callable[[], float] = trio.current_effective_deadline
        self.new_waiter: Callable[[], Waiter] = _TrioWaiter

    def in_loop(self) -> bool:
        try:
            return self._current_token() is self._token
        except RuntimeError:
            return False

    def readiness(self, fd: int, probe: Callable[[], None]) -> Readiness:
        return _TrioReadiness(fd, probe)

    def run_soon_threadsafe(self, func: Callable[[], None]) -> None:
        self._token.run_sync_soon(func)


@final
class _TrioWaiter:
    """A one-shot wake-up for one parked trio task."""

    __slots__ = ("_done", "_task")

    # trio's functions, bound once when the first trio backend is made (trio is optional).
    _reschedule: Callable[[Any], None]
    _current_task: Callable[[], Any]
    _wait_rescheduled: Callable[[Callable[[Any], Any]], Any]
    _checkpoint: Callable[[], Any]
    _succeeded: Any

    @classmethod
    def bind(cls, trio: Any) -> None:
        lowlevel = trio.lowlevel
        cls._reschedule = staticmethod(lowlevel.reschedule)
        cls._current_task = staticmethod(lowlevel.current_task)
        cls._wait_rescheduled = staticmethod(lowlevel.wait_task_rescheduled)
        cls._checkpoint = staticmethod(lowlevel.checkpoint)
        cls._succeeded = lowlevel.Abort.SUCCEEDED

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
            self._reschedule(self._task)
            self._task = None

    def __await__(self) -> Generator[Any, None, Any]:
        # A generator rather than a coroutine: one frame less per waiting call.
        if self._done:
            yield from self._checkpoint().__await__()
            return
        self._task = self._current_task()
        yield from self._wait_rescheduled(self._abort).__await__()

    def _abort(self, _: Any) -> Any:
        self._task = None
        return self._succeeded
