"""The socket pump: edge-triggered FD handling, bursts, full send queues, atomic
multipart sends, pausing, failures and closing; on asyncio both with the loop's
persistent reader and polling."""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any, cast

import anyio
import pytest
import zmq

from anyzmq._backend import (
    Backend,
    Waiter,
    _CallWaiter,
    _LoopReadiness,
    _TrioReadiness,
    current_backend,
)
from anyzmq._context import shared_context
from anyzmq._errors import ServiceClosedError
from anyzmq._socket import Frame, PumpState, SocketPump

from .support import SAFETY

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pump_arm")]

_names = itertools.count()


def socket_pair(
    kind_a: int,
    kind_b: int,
    *,
    hwm: int | None = None,
    class_a: type[zmq.Socket[bytes]] = zmq.Socket,
) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
    context: zmq.Context[zmq.Socket[bytes]] = shared_context()
    a, b = context.socket(kind_a, socket_class=class_a), context.socket(kind_b)
    for sock in (a, b):
        sock.setsockopt(zmq.LINGER, 0)
        if hwm is not None:
            sock.setsockopt(zmq.SNDHWM, hwm)
            sock.setsockopt(zmq.RCVHWM, hwm)
    address = f"inproc://pump-test-{next(_names)}"
    a.bind(address)
    b.connect(address)
    return a, b


@asynccontextmanager
async def pumping(
    sock: zmq.Socket[bytes], on_message: Callable[[list[Frame]], None] | None
) -> AsyncIterator[SocketPump]:
    pump = SocketPump(sock, current_backend())
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run, on_message)
            yield pump
            tg.cancel_scope.cancel()
    finally:
        pump.close()


class Collector:
    def __init__(self, expected: int) -> None:
        self.messages: list[list[Frame]] = []
        self.expected = expected
        self.done = anyio.Event()

    def __call__(self, frames: list[Frame]) -> None:
        self.messages.append(frames)
        if len(self.messages) == self.expected:
            self.done.set()

    async def wait(self) -> None:
        with anyio.fail_after(SAFETY):
            await self.done.wait()


async def test_burst_is_drained_completely() -> None:
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH, hwm=0)  # no limit: the peer never blocks
    collector = Collector(5000)
    try:
        async with pumping(ours, collector):
            for i in range(5000):
                peer.send_multipart([b"%d" % i, b"x"])
            await collector.wait()
    finally:
        peer.close()
    assert collector.messages == [[b"%d" % i, b"x"] for i in range(5000)]


async def test_messages_queued_before_the_pump_starts_are_seen() -> None:
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH)
    for i in range(10):
        peer.send(b"%d" % i)
    collector = Collector(10)
    try:
        async with pumping(ours, collector):
            await collector.wait()
    finally:
        peer.close()
    assert [m[0] for m in collector.messages] == [b"%d" % i for i in range(10)]


async def test_input_reported_but_gone_costs_the_pump_nothing() -> None:
    # The pump trusts the probe that woke it about input and receives without
    # reading EVENTS first; were that report wrong, the receive meets zmq.Again,
    # and the pump must read EVENTS again and wait, then receive what comes.
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH)
    collector = Collector(3)
    pump = SocketPump(ours, current_backend())
    pump._input_seen = True  # a report of input, with none queued
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run, collector)
            await wait_for(lambda: pump.state is PumpState.PARKED)  # the report was used
            assert not pump._input_seen
            for i in range(3):
                peer.send(b"%d" % i)
            await collector.wait()
            tg.cancel_scope.cancel()
    finally:
        pump.close()
        peer.close()
    assert [m[0] for m in collector.messages] == [b"0", b"1", b"2"]


async def test_bursts_end_and_later_input_is_still_received() -> None:
    # A burst is received until zmq.Again; the pump then parks, and the next
    # burst must wake it (the read after zmq.Again must not lose an edge).
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH, hwm=0)
    sizes = [1, 2, 7, 64, 1, 300, 3, 1, 2, 50]
    collector = Collector(sum(sizes))
    sent = 0
    try:
        async with pumping(ours, collector) as pump:
            for size in sizes:
                await wait_for(lambda: pump.state is PumpState.PARKED)
                for _ in range(size):
                    peer.send(b"%d" % sent)
                    sent += 1
                await wait_for(partial(has_count, collector, sent))
    finally:
        peer.close()
    assert [m[0] for m in collector.messages] == [b"%d" % i for i in range(sent)]


def has_count(collector: Collector, count: int) -> bool:
    return len(collector.messages) == count


class _AgainOnce(zmq.Socket[bytes]):
    """A socket whose receive fails once with zmq.Again while input is queued, as
    when EVENTS and the receive race the I/O thread."""

    fail_at = 2  # the receive that fails (the second message of a burst)
    receives = 0  # declared here: pyzmq reads other attributes as socket options

    def recv(self, *args: Any, **kwargs: Any) -> Any:
        self.receives += 1
        if self.receives == self.fail_at:
            raise zmq.Again()
        return super().recv(*args, **kwargs)


async def test_input_seen_after_a_failed_receive_is_not_left_behind() -> None:
    # A burst is received until zmq.Again, then EVENTS is read, which may take
    # the FD's edge: when that read reports input, the pump must receive it
    # rather than wait for an edge that may not come.
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH, class_a=_AgainOnce)
    assert isinstance(ours, _AgainOnce)
    for i in range(5):
        peer.send(b"%d" % i)
    collector = Collector(5)
    try:
        async with pumping(ours, collector):
            await collector.wait()
    finally:
        peer.close()
    assert ours.receives > _AgainOnce.fail_at  # the failed receive happened
    assert [m[0] for m in collector.messages] == [b"%d" % i for i in range(5)]


async def test_ping_pong_where_sends_consume_the_edge() -> None:
    # Each side answers every message it receives with a send from inside its
    # receive callback: sends that swallow the FD's edge must not stall input.
    a_sock, b_sock = socket_pair(zmq.PAIR, zmq.PAIR)
    rounds = 3000
    finished = anyio.Event()
    pumps: dict[str, SocketPump] = {}

    def on_a(frames: list[Frame]) -> None:
        n = int(frames[0])
        if n >= rounds:
            finished.set()
        else:
            pumps["a"].send_nowait([b"%d" % (n + 1)])

    def on_b(frames: list[Frame]) -> None:
        pumps["b"].send_nowait(frames)

    async with pumping(a_sock, on_a) as a, pumping(b_sock, on_b) as b:
        pumps.update(a=a, b=b)
        await a.send([b"0"])
        with anyio.fail_after(SAFETY):
            await finished.wait()


async def test_interleaved_sends_from_other_tasks_do_not_hide_input() -> None:
    ours, peer = socket_pair(zmq.DEALER, zmq.DEALER)
    collector = Collector(2000)
    try:
        async with pumping(ours, collector) as pump:
            async with anyio.create_task_group() as tg:

                async def sender() -> None:
                    for i in range(2000):
                        await pump.send([b"out", b"%d" % i])
                        if i % 7 == 0:
                            await anyio.lowlevel.checkpoint()

                async def peer_echo() -> None:
                    for _ in range(2000):
                        while True:
                            try:
                                frames = peer.recv_multipart(zmq.NOBLOCK)
                                break
                            except zmq.Again:
                                await anyio.lowlevel.checkpoint()
                        peer.send_multipart([b"in", *frames[1:]])

                tg.start_soon(sender)
                tg.start_soon(peer_echo)
            await collector.wait()
    finally:
        peer.close()
    assert [m[1] for m in collector.messages] == [b"%d" % i for i in range(2000)]


async def test_full_send_queue_waits_then_resumes_in_order() -> None:
    ours, peer = socket_pair(zmq.PUSH, zmq.PULL, hwm=1)
    peer_pump_messages = Collector(300)
    try:
        async with pumping(ours, None) as pump:
            sent = 0
            while pump.send_nowait([b"%d" % sent]):
                sent += 1
                assert sent < 300, "a queue of one message must fill up"
            async with pumping(peer, peer_pump_messages):
                for i in range(sent, 300):
                    await pump.send([b"%d" % i])
                await peer_pump_messages.wait()
    finally:
        peer.close()
    assert [m[0] for m in peer_pump_messages.messages] == [b"%d" % i for i in range(300)]


async def test_concurrent_multipart_sends_stay_whole() -> None:
    ours, peer = socket_pair(zmq.PUSH, zmq.PULL, hwm=2)
    senders, each = 10, 100
    collector = Collector(senders * each)
    async with pumping(peer, collector), pumping(ours, None) as pump:
        async with anyio.create_task_group() as tg:
            for s in range(senders):

                async def send_all(s: int = s) -> None:
                    for i in range(each):
                        await pump.send([b"%d" % s, b"%d" % i, b"%d-%d" % (s, i)])

                tg.start_soon(send_all)
        await collector.wait()
    for s_frame, i_frame, both in collector.messages:
        assert both == bytes(s_frame) + b"-" + bytes(i_frame)
    for s in range(senders):
        mine = [int(m[1]) for m in collector.messages if m[0] == b"%d" % s]
        assert mine == list(range(each))


async def test_close_wakes_blocked_sender() -> None:
    ours: zmq.Socket[bytes] = shared_context().socket(zmq.PUSH)
    ours.bind(f"inproc://pump-test-nobody-{next(_names)}")  # no peer: sends block
    pump = SocketPump(ours, current_backend())
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run, None)
        outcome: list[BaseException] = []

        async def blocked_send() -> None:
            try:
                await pump.send([b"never"])
            except ServiceClosedError as exc:
                outcome.append(exc)

        tg.start_soon(blocked_send)
        await wait_for(lambda: pump._writable is not None)
        pump.close()
    assert len(outcome) == 1
    assert ours.closed
    with pytest.raises(ServiceClosedError):
        pump.send_nowait([b"after close"])
    pump.close()  # idempotent


async def test_cancelling_a_parked_pump_then_closing() -> None:
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH)
    pump = SocketPump(ours, current_backend())
    try:
        with anyio.fail_after(SAFETY):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run, Collector(1))
                await wait_for(lambda: pump.state is PumpState.PARKED)
                tg.cancel_scope.cancel()
        assert pump.state is not PumpState.PARKED
        pump.close()
    finally:
        peer.close()
    assert ours.closed


async def wait_for(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds (no fixed sleeps)."""
    with anyio.fail_after(SAFETY):
        while not condition():
            await anyio.lowlevel.checkpoint()


@pytest.mark.parametrize("sends", [1, 3], ids=["one send", "a burst of sends"])
async def test_input_behind_an_edge_a_send_swallowed_is_received(sends: int) -> None:
    # The peer's message signals our FD; our own send, before the event loop
    # looks at the FD, processes that signal. The pump must still see the message,
    # whether that send is the first since the pump parked or a later one.
    ours, peer = socket_pair(zmq.DEALER, zmq.DEALER)
    rounds = 300
    collector = Collector(rounds)
    try:
        async with pumping(ours, collector) as pump:
            for i in range(rounds):
                await wait_for(lambda: pump.state is PumpState.PARKED)
                peer.send(b"%d" % i)
                for _ in range(sends):
                    assert pump.send_nowait([b"ours"])
                with anyio.fail_after(SAFETY):
                    while len(collector.messages) <= i:
                        await anyio.lowlevel.checkpoint()
    finally:
        peer.close()
    assert [m[0] for m in collector.messages] == [b"%d" % i for i in range(rounds)]


async def test_sends_while_parked_are_looked_at_once_then_once_per_turn() -> None:
    # With a loop reader (asyncio, uvloop), the first send after the pump began to
    # wait is looked at at once (no extra turn of the loop for a lone call); later
    # ones share one look on the loop's next turn. The other readiness (trio, and
    # loops without add_reader) looks at once after every send.
    r, w = os.pipe()
    looks: list[int] = []
    readiness = current_backend().readiness(r, lambda: looks.append(len(looks)))
    every_send = not isinstance(readiness, _LoopReadiness)
    try:
        await readiness.wait()  # the first wait returns at once
        readiness.check_soon()
        assert len(looks) == 1
        readiness.check_soon()
        readiness.check_soon()
        assert len(looks) == (3 if every_send else 1)
        await anyio.lowlevel.checkpoint()  # the loop's next turn
        assert len(looks) == (3 if every_send else 2)
        waiting = readiness.wait()  # the pump waits again: the next look is at once
        readiness.check_soon()
        assert len(looks) == (4 if every_send else 3)
        readiness.wake()
        await waiting
    finally:
        readiness.close()
        os.close(r)
        os.close(w)


@asynccontextmanager
async def loop_readiness(
    probe: Callable[[], None], backend: Backend | None = None
) -> AsyncIterator[tuple[_LoopReadiness, int]]:
    """A loop reader's readiness on a pipe (asyncio and uvloop; skips elsewhere),
    from ``backend`` or a new one: the readiness and the pipe's write end."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    readiness = (backend or current_backend()).readiness(r, probe)
    try:
        if not isinstance(readiness, _LoopReadiness):
            pytest.skip("only a loop reader steps the pump task in its callback")
        await readiness.wait()  # the first wait returns at once
        yield readiness, w
    finally:
        readiness.close()
        os.close(r)
        os.close(w)


def waking_probe(made: list[_LoopReadiness], order: list[str]) -> Callable[[], None]:
    """A probe that wakes the readiness in ``made``, after scheduling a "next turn"
    mark in ``order`` for the loop's next turn."""

    def probe() -> None:
        asyncio.get_running_loop().call_soon(order.append, "next turn")
        made[0].wake()

    return probe


async def test_the_reader_callback_steps_the_waiting_pump_task_at_once() -> None:
    # A wake-up from the loop's reader callback runs the waiting task in that
    # callback, not on the loop's next turn: the task resumes before a callback
    # that the probe scheduled for the next turn.
    order: list[str] = []
    made: list[_LoopReadiness] = []
    probe = waking_probe(made, order)
    async with loop_readiness(probe) as (readiness, w):
        made.append(readiness)

        async def pump() -> None:
            await readiness.wait()
            order.append("pump task")

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            await anyio.wait_all_tasks_blocked()  # parked on the readiness: not done
            os.write(w, b"x")
    assert order[:2] == ["pump task", "next turn"]


async def test_a_wake_up_from_a_task_steps_the_pump_task_on_the_next_turn() -> None:
    # Inside a task (a send's probe, resume_reading, close) the pump task cannot be
    # stepped at once: it runs on the loop's next turn, as a future's waiter would.
    resumed = anyio.Event()
    async with loop_readiness(lambda: None) as (readiness, _w):

        async def pump() -> None:
            await readiness.wait()
            resumed.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            await anyio.wait_all_tasks_blocked()
            readiness.wake()
            assert not resumed.is_set()
            readiness.wake()  # already woken: the next wait returns at once
            await resumed.wait()
        await readiness.wait()


async def test_a_pump_task_waiting_on_the_reader_is_cancellable_and_waits_again() -> None:
    async with loop_readiness(lambda: None) as (readiness, _w):

        async def pump() -> None:
            await readiness.wait()

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump)
                await anyio.wait_all_tasks_blocked()
                scope.cancel()
        assert scope.cancelled_caught
        assert not readiness.cancelled()  # the cancellation was delivered once

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            await anyio.wait_all_tasks_blocked()
            readiness.wake()  # the same readiness serves the next wait


async def test_the_reader_callback_steps_the_callers_its_pump_step_answered() -> None:
    # The pump step that the reader callback runs answers a caller: the caller runs
    # in that callback too, and what it wakes in turn (here the pump again) waits
    # for the loop's next turn, so one callback runs one pump step and its callers.
    order: list[str] = []
    made: list[_LoopReadiness] = []
    probe = waking_probe(made, order)
    backend = current_backend()
    async with loop_readiness(probe, backend) as (readiness, w):
        made.append(readiness)
        waiter = backend.new_waiter()
        waiter_of_other_backend = current_backend().new_waiter()

        async def pump() -> None:
            await readiness.wait()
            order.append("pump task")
            waiter.set_result(None)
            waiter_of_other_backend.set_result(None)  # another service's: next turn
            await readiness.wait()
            order.append("pump task again")

        async def caller(name: str, waited: Waiter) -> None:
            await waited
            order.append(name)
            if name == "caller":
                readiness.wake()

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            tg.start_soon(caller, "caller", waiter)
            tg.start_soon(caller, "other caller", waiter_of_other_backend)
            await anyio.wait_all_tasks_blocked()
            os.write(w, b"x")
    # (The pipe stays readable: later callbacks add more "next turn"s.)
    assert order[:5] == ["pump task", "caller", "next turn", "other caller", "pump task again"]


async def test_a_call_waiter_answers_once_and_is_cancellable() -> None:
    waiter = current_backend().new_waiter()
    if not isinstance(waiter, _CallWaiter):
        pytest.skip("asyncio's call waiter")
    woken = anyio.Event()

    async def caller() -> None:
        await waiter
        woken.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        waiter.set_result(None)  # from a task: the caller runs on the next turn
        assert not woken.is_set()
        await woken.wait()
    assert waiter.done()
    with pytest.raises(asyncio.InvalidStateError):
        waiter.set_result(None)
    await waiter  # done: at once

    cancelled = current_backend().new_waiter()
    assert isinstance(cancelled, _CallWaiter)
    with anyio.move_on_after(0) as scope:
        await cancelled
    assert scope.cancelled_caught
    assert cancelled.done()
    assert not cancelled.cancel()  # done already
    with pytest.raises(asyncio.InvalidStateError):
        cancelled.set_result(None)  # an answer after the caller left is refused


async def test_a_wake_up_racing_the_fd_leaves_no_cancellation_behind() -> None:
    # On trio the pump waits in a cancel scope that a wake-up cancels. A wake-up that
    # comes after the FD signalled, but before the pump task ran again, must not
    # leave that scope cancelled behind the wait, or the pump's next checkpoint
    # raises Cancelled. Trio runs the two tasks below in either order: a hundred
    # rounds hit that order.
    r, w = os.pipe()
    os.set_blocking(r, False)
    readiness = current_backend().readiness(r, lambda: readiness.wake())
    if not isinstance(readiness, _TrioReadiness):
        readiness.close()
        os.close(r)
        os.close(w)
        pytest.skip("only trio's readiness keeps a scope across waits")
    import trio.testing

    leaked: list[BaseException] = []

    async def pump() -> None:
        try:
            while True:
                await readiness.wait()
                try:
                    await anyio.lowlevel.checkpoint()
                except anyio.get_cancelled_exc_class() as exc:  # only a leaked one lands here
                    leaked.append(exc)
                    raise
                with suppress(BlockingIOError):
                    os.read(r, 100)
        finally:
            readiness.finish()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            for _ in range(100):
                await trio.testing.wait_all_tasks_blocked()
                os.write(w, b"x")
                await anyio.lowlevel.checkpoint()  # the FD signals: both tasks run
                readiness.wake()
            await trio.testing.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()  # the pump waits on the FD: not at its checkpoint
    finally:
        os.close(r)
        os.close(w)
    assert leaked == []


async def test_on_message_may_close_the_pump_inside_a_cancel_scope_of_its_own() -> None:
    # On trio the pump waits in a scope it keeps across waits: closing the pump
    # from a message handler that has a scope of its own open must not try to
    # leave the pump's scope out of order (trio raises RuntimeError for that).
    ours, peer = socket_pair(zmq.DEALER, zmq.DEALER)
    pump = SocketPump(ours, current_backend())

    def on_message(frames: list[Frame]) -> None:
        with anyio.CancelScope():  # noqa: ASYNC100 (a scope open while closing is the point)
            pump.close()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run, on_message)
            await anyio.wait_all_tasks_blocked()  # the pump waits on the FD
            peer.send(b"close")
            with anyio.fail_after(SAFETY):
                while not pump.closed:
                    await anyio.lowlevel.checkpoint()
        # run() ended by itself, without an error
    finally:
        peer.close()
    assert pump.state is PumpState.CLOSED


async def test_paused_reading_receives_nothing_until_resumed() -> None:
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH)
    collector = Collector(20)
    try:
        async with pumping(ours, collector) as pump:
            pump.pause_reading()
            for i in range(20):
                peer.send(b"%d" % i)
            # Reading EVENTS here takes the FD's edge too: resuming must not need it.
            await wait_for(lambda: bool(ours.poll(0, zmq.POLLIN)))
            await anyio.wait_all_tasks_blocked()
            assert collector.messages == []
            pump.resume_reading()
            await collector.wait()
    finally:
        peer.close()
    assert [m[0] for m in collector.messages] == [b"%d" % i for i in range(20)]


class Boom(BaseException):
    pass


async def test_what_on_message_raises_ends_run_in_its_task() -> None:
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH)
    pump = SocketPump(ours, current_backend())
    caught: list[Boom] = []

    def explode(frames: list[Frame]) -> None:
        raise Boom(frames[0])

    async def pump_and_catch() -> None:
        try:
            await pump.run(explode)
        except Boom as exc:
            caught.append(exc)

    try:
        with anyio.fail_after(SAFETY):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump_and_catch)
                await wait_for(lambda: pump.state is PumpState.PARKED)
                peer.send(b"first")
    finally:
        pump.close()
        peer.close()
    assert [exc.args for exc in caught] == [(b"first",)]


@pytest.mark.parametrize("failing", ["recv", "get"])
async def test_zeromq_errors_end_run_as_oserror(failing: str) -> None:
    # "get" is how the pump reads EVENTS; "recv" how it receives each frame. The
    # pump may bind either when it is made: the stand-in is in place before, and
    # fails once armed.
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH)
    real = getattr(ours, failing)
    armed = False

    def fail_once_armed(*args: Any, **kwargs: Any) -> Any:
        if armed:
            raise zmq.ZMQError(zmq.EFSM)
        return real(*args, **kwargs)

    setattr(ours, failing, fail_once_armed)
    pump = SocketPump(ours, current_backend())
    caught: list[OSError] = []

    def on_message(frames: list[Frame]) -> None:
        pass

    async def pump_and_catch() -> None:
        try:
            await pump.run(on_message)
        except OSError as exc:
            caught.append(exc)

    try:
        with anyio.fail_after(SAFETY):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump_and_catch)
                await wait_for(lambda: pump.state is PumpState.PARKED)
                armed = True
                peer.send(b"x")
    finally:
        vars(ours).pop(failing, None)  # closing reads options too
        pump.close()
        peer.close()
    assert [exc.errno for exc in caught] == [zmq.EFSM]


class RecordingSocket:
    """Stands in for a socket: records what a pump's send asks pyzmq to do."""

    FD = -1  # never waited on: the pump does not run

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, bool]] = []  # (length, flags, copy)

    def send(self, data: bytes, flags: int = 0, copy: bool = True) -> None:
        self.calls.append((len(data), flags, copy))

    def get(self, option: int) -> int:
        raise AssertionError(f"option {option} read: a pump that does not run reads none")


async def test_large_frames_are_lent_to_zeromq_and_small_ones_copied() -> None:
    recorder = RecordingSocket()
    pump = SocketPump(cast("zmq.Socket[bytes]", recorder), current_backend())
    lend = 128 * 1024  # frames from here on are lent; below, copied
    sizes = [16, zmq.COPY_THRESHOLD, lend - 1, lend, 4 * lend, 3, lend]
    assert pump.send_nowait([bytes(size) for size in sizes])
    more, last = zmq.SNDMORE | zmq.NOBLOCK, zmq.NOBLOCK
    assert recorder.calls == [
        (16, more, True),
        (zmq.COPY_THRESHOLD, more, True),
        (lend - 1, more, True),
        (lend, more, False),
        (4 * lend, more, False),
        (3, more, True),
        (lend, last, False),
    ]


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
async def test_large_frames_arrive_whole_after_the_sender_dropped_them(transport: str) -> None:
    # Lent frames must stay alive (and unchanged) until ZeroMQ has sent them,
    # whatever the sender does with its references after the send returned.
    context: zmq.Context[zmq.Socket[bytes]] = shared_context()
    ours, peer = context.socket(zmq.PULL), context.socket(zmq.PUSH)
    for sock in (ours, peer):
        sock.setsockopt(zmq.LINGER, 0)
    if transport == "tcp":
        port = ours.bind_to_random_port("tcp://127.0.0.1")
        peer.connect(f"tcp://127.0.0.1:{port}")
    else:
        address = f"inproc://pump-test-{next(_names)}"
        ours.bind(address)
        peer.connect(address)
    threshold = zmq.COPY_THRESHOLD
    sizes = [threshold - 1, threshold, 1 << 20, 8 << 20]
    expected = [[b"head", os.urandom(size), b"%d" % size] for size in sizes]
    expected.append([os.urandom(2 << 20), os.urandom(threshold)])
    collector = Collector(len(expected))
    try:
        async with pumping(ours, collector), pumping(peer, None) as pump:
            for message in expected:
                await pump.send([bytes(frame) for frame in message])  # copies only we hold
                gc.collect()
            await collector.wait()
    finally:
        peer.close()
    assert collector.messages == expected


async def test_large_frames_are_received_as_views_of_zeromq_messages() -> None:
    # A frame of COPY_THRESHOLD bytes or more reaches on_message as a view of
    # ZeroMQ's own message (no copy); smaller frames as bytes.
    ours, peer = socket_pair(zmq.PULL, zmq.PUSH)
    threshold = zmq.COPY_THRESHOLD
    sent = [os.urandom(size) for size in (3, threshold - 1, threshold, 4 << 20)]
    collector = Collector(1)
    try:
        async with pumping(ours, collector):
            peer.send_multipart(sent)
            await collector.wait()
    finally:
        peer.close()
    (received,) = collector.messages
    assert [type(frame) for frame in received] == [bytes, bytes, memoryview, memoryview]
    assert [bytes(frame) for frame in received] == sent
