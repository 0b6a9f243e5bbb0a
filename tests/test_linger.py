"""Leaving a client's block: what was sent is delivered after a normal exit (also
when the program exits right after it), and dropped at once after an exception."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import zmq
from anyio.streams.buffered import BufferedByteReceiveStream

from anyzmq import _context, rpc

from .support import LOOPBACK, endpoint

pytestmark = pytest.mark.anyio

PRODUCER = Path(__file__).resolve().parent / "_producer.py"
#: A safety net only: every wait below ends on an event long before it.
SAFETY = 50


class Counter(rpc.AttrHandler):
    """Counts ``record`` calls; ``all_in`` is set once ``expected`` have come."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.values: list[int] = []
        self.all_in = anyio.Event()
        self.probed = anyio.Event()

    @rpc.method
    def record(self, value: int) -> None:
        self.values.append(value)
        if len(self.values) == self.expected:
            self.all_in.set()

    @rpc.method
    def probe(self) -> None:
        self.probed.set()


@pytest.fixture
def address() -> Iterator[str]:
    """An ipc endpoint that a client may connect to before any server binds it."""
    with tempfile.TemporaryDirectory(prefix="anyzmq-") as directory:
        yield f"ipc://{directory}/server"


def backend_name(anyio_backend: Any) -> str:
    name, options = anyio_backend
    return "uvloop" if options.get("use_uvloop") else str(name)


async def test_a_normal_exit_delivers_to_a_server_that_comes_later(address: str) -> None:
    async with rpc.connect_pipeline(connect=address) as client:
        for i in range(100):
            await client.notify.record(i)
    handler = Counter(100)
    async with rpc.serve_pipeline(handler, bind=address):
        with anyio.fail_after(SAFETY):
            await handler.all_in.wait()
    assert handler.values == list(range(100))


@pytest.mark.parametrize(
    "how", ["exception", "cancellation", "close()", "linger=0", "zmq.LINGER=0"]
)
async def test_other_exits_close_with_linger_0(address: str, how: str) -> None:
    # ZeroMQ drops what a socket closed with linger 0 holds, in its own thread a
    # moment after the close (a server that binds at once may still get it): what
    # anyzmq decides, and what this checks, is the linger.
    options: dict[str, Any] = {}
    if how == "linger=0":
        options["linger"] = 0
    elif how == "zmq.LINGER=0":
        options["socket_options"] = {zmq.LINGER: 0}  # the user's own option wins
    with anyio.CancelScope() as scope:
        try:
            async with rpc.connect_pipeline(connect=address, **options) as client:
                await client.notify.record(1)
                if how == "exception":
                    raise ZeroDivisionError
                if how == "cancellation":
                    scope.cancel()
                    await anyio.sleep_forever()
                if how == "close()":
                    client.close()
        except ZeroDivisionError:
            pass
    assert client._exit_linger == 0


async def test_pubsub_normal_exit_delivers_what_was_published() -> None:
    handler = Counter(1000)
    async with rpc.serve_pubsub(handler, bind=LOOPBACK, subscribe="t") as server:
        # No send high-water mark: a PUB socket drops what exceeds it, by design.
        options: rpc.SocketOptions = {zmq.SNDHWM: 0}
        async with rpc.connect_pubsub(connect=endpoint(server), socket_options=options) as client:
            while not handler.probed.is_set():  # until the subscription is in
                await client.publish("t").probe()
                with anyio.move_on_after(0.01):
                    await handler.probed.wait()
            for i in range(1000):
                await client.publish("t").record(i)
        with anyio.fail_after(SAFETY):
            await handler.all_in.wait()
    assert handler.values == list(range(1000))


@pytest.mark.parametrize(
    ("make", "normal", "failed"),
    [
        (lambda: rpc.connect_rpc(connect=LOOPBACK.replace("*", "9")), 2000, 0),
        (lambda: rpc.connect_pipeline(connect=LOOPBACK.replace("*", "9"), linger=0.5), 500, 0),
        (lambda: rpc.connect_pubsub(connect=LOOPBACK.replace("*", "9"), linger=None), -1, 0),
        (
            lambda: rpc.connect_rpc(
                connect=LOOPBACK.replace("*", "9"), socket_options={zmq.LINGER: 70}
            ),
            70,
            70,
        ),
    ],
)
async def test_every_client_chooses_its_linger_once_at_exit(
    make: Any, normal: int, failed: int
) -> None:
    async with make() as client:
        pass
    assert client._exit_linger == normal
    with pytest.raises(ZeroDivisionError):
        async with make() as client:
            raise ZeroDivisionError
    assert client._exit_linger == failed


@pytest.mark.parametrize("linger", [-1, float("nan"), float("inf"), "1", True])
async def test_bad_linger_is_refused(linger: object) -> None:
    for factory in (rpc.connect_rpc, rpc.connect_pipeline, rpc.connect_pubsub):
        with pytest.raises((TypeError, ValueError), match="linger"):
            factory(linger=linger)  # type: ignore[arg-type]


async def producer(mode: str, address: str, count: int, anyio_backend: Any) -> anyio.abc.Process:
    return await anyio.open_process(
        [
            sys.executable,
            "-W",
            "error",
            str(PRODUCER),
            mode,
            address,
            str(count),
            backend_name(anyio_backend),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def finished(process: anyio.abc.Process) -> str:
    """The process's output once it has exited with status 0."""
    assert process.stdout is not None
    assert process.stderr is not None
    output = b"".join([chunk async for chunk in process.stdout]).decode()
    errors = b"".join([chunk async for chunk in process.stderr]).decode()
    assert await process.wait() == 0, errors
    assert errors == ""
    return output


# "nothread": no thread starts at exit, as in Python 3.12.0 and 3.12.1.
@pytest.mark.parametrize("mode", ["pipeline", "nothread"])
async def test_a_process_exiting_right_after_its_block_delivers_everything(
    anyio_backend: Any, mode: str
) -> None:
    handler = Counter(5000)
    async with rpc.serve_pipeline(handler, bind=LOOPBACK) as server:
        with anyio.fail_after(SAFETY):
            async with await producer(mode, endpoint(server), 5000, anyio_backend) as p:
                assert await finished(p) == "left\n"
            await handler.all_in.wait()
    assert handler.values == list(range(5000))


async def test_a_publisher_exiting_right_after_its_block_delivers_everything(
    anyio_backend: Any,
) -> None:
    handler = Counter(5000)
    async with rpc.serve_pubsub(handler, bind=LOOPBACK, subscribe="t") as server:
        with anyio.fail_after(SAFETY):
            async with await producer("pubsub", endpoint(server), 5000, anyio_backend) as p:
                await handler.probed.wait()  # the subscription is in
                assert p.stdin is not None
                await p.stdin.send(b"go\n")
                assert await finished(p) == "left\n"
            await handler.all_in.wait()
    assert handler.values == list(range(5000))


async def test_a_server_coming_up_after_the_process_left_its_block_gets_everything(
    anyio_backend: Any, address: str
) -> None:
    handler = Counter(500)
    with anyio.fail_after(SAFETY):
        async with await producer("late", address, 500, anyio_backend) as p:
            assert p.stdout is not None
            lines = BufferedByteReceiveStream(p.stdout)
            assert await lines.receive_until(b"\n", 100) == b"left"  # its block has ended
            async with rpc.serve_pipeline(handler, bind=address):
                await handler.all_in.wait()
                assert await finished(p) == ""
    assert handler.values == list(range(500))


def test_exit_never_hangs_on_a_socket_left_open() -> None:
    # A socket that would linger forever, never closed (as in a service whose
    # event loop died): exit closes it with linger 0 rather than wait.
    script = (
        "import zmq\n"
        "from anyzmq._context import shared_context\n"
        "sock = shared_context().socket(zmq.PUSH)\n"
        "sock.setsockopt(zmq.LINGER, -1)\n"
        "sock.connect('tcp://127.0.0.1:9')\n"
        "sock.send(b'never delivered')\n"
        "print('exiting', flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=SAFETY, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "exiting\n"


def test_exit_waits_a_little_longer_than_the_longest_linger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_context, "_longest_linger_ms", 0)
    _context.note_linger(0)
    assert _context.exit_wait() == pytest.approx(1.0)
    _context.note_linger(2500)
    _context.note_linger(100)
    assert _context.exit_wait() == pytest.approx(3.5)
    _context.note_linger(-1)
    _context.note_linger(100)
    assert _context.exit_wait() == _context.EXIT_WAIT_CAP
