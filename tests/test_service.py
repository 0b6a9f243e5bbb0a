"""Service lifetime: entering, closing, exceptions out of the context, transport."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import zmq

from anyzmq import rpc

from .support import LOOPBACK, SAFETY, Recorder, endpoint, raw_socket, rpc_pair

pytestmark = pytest.mark.anyio


class Handler(rpc.AttrHandler):
    @rpc.method
    def ping(self) -> str:
        return "pong"


async def test_transport_before_enter_and_after_exit() -> None:
    server = rpc.serve_rpc(Handler(), bind=LOOPBACK)
    with pytest.raises(rpc.ServiceClosedError, match="not open yet"):
        server.transport  # noqa: B018
    async with server:
        assert server.transport.bindings()
    with pytest.raises(rpc.ServiceClosedError, match="closed"):
        server.transport  # noqa: B018


async def test_service_enters_once() -> None:
    server = rpc.serve_rpc(Handler(), bind=LOOPBACK)
    async with server:
        pass
    with pytest.raises(RuntimeError, match="once"):
        async with server:
            pass


async def test_close_and_wait_closed_inside_the_context() -> None:
    async with rpc_pair(Handler()) as (server, client):
        assert await client.call.ping() == "pong"
        server.close()
        server.close()  # idempotent
        await server.wait_closed()
        with pytest.raises(rpc.ServiceClosedError):
            server.transport  # noqa: B018
        # The user's own code in the context is not cancelled by close().
        await anyio.lowlevel.checkpoint()
    await server.wait_closed()


async def test_wait_closed_on_a_service_never_entered() -> None:
    server = rpc.serve_rpc(Handler())
    server.close()
    await server.wait_closed()
    with pytest.raises(RuntimeError, match="once"):
        async with server:
            pass


async def test_exceptions_leave_the_context_unwrapped() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with rpc.serve_rpc(Handler(), bind=LOOPBACK):
            raise KeyError("mine")


async def test_user_exception_groups_stay_whole() -> None:
    group = ExceptionGroup("user's", [KeyError("a")])
    with pytest.raises(ExceptionGroup) as info:
        async with rpc.serve_rpc(Handler(), bind=LOOPBACK):
            raise group
    # Not unwrapped to the KeyError (trio may hand back an equal copy of the group).
    assert info.value.message == "user's"
    assert [type(e) for e in info.value.exceptions] == [KeyError]


async def test_outer_cancellation_closes_the_service() -> None:
    with anyio.move_on_after(0.01) as scope:
        async with rpc.serve_rpc(Handler(), bind=LOOPBACK) as server:
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    with pytest.raises(rpc.ServiceClosedError):
        server.transport  # noqa: B018


async def test_bad_endpoint_raises_oserror_and_leaks_nothing() -> None:
    with pytest.raises(OSError, match=r"Invalid argument|Protocol not supported"):
        async with rpc.serve_rpc(Handler(), bind="nonsense://where"):
            pass
    async with rpc.serve_rpc(Handler(), bind=LOOPBACK) as first:
        with pytest.raises(OSError, match="in use"):
            async with rpc.serve_rpc(Handler(), bind=endpoint(first)):
                pass


async def test_transport_binds_connects_and_tunes() -> None:
    handler = Recorder()
    async with (
        rpc.serve_pipeline(handler) as server,
        rpc.connect_pipeline() as client,
    ):
        assert server.transport.bindings() == frozenset()
        real = server.transport.bind(LOOPBACK)
        assert real.startswith("tcp://127.0.0.1:")
        assert not real.endswith("*")
        assert server.transport.bindings() == {real}
        assert client.transport.connect(real) == real
        assert client.transport.connections() == {real}
        await client.notify.record(1)
        assert await handler.next() == ("record", 1)
        client.transport.disconnect(real)
        assert client.transport.connections() == frozenset()
        server.transport.unbind(real)
        assert server.transport.bindings() == frozenset()
        server.transport.setsockopt(zmq.RCVHWM, 7)
        assert server.transport.getsockopt(zmq.RCVHWM) == 7
        server.transport.setsockopt(zmq.ROUTING_ID, "name")
        assert server.transport.getsockopt(zmq.ROUTING_ID) == b"name"
        with pytest.raises(OSError):  # noqa: PT011
            server.transport.unbind("tcp://127.0.0.1:9")
        with pytest.raises(OSError):  # noqa: PT011
            server.transport.subscribe("not a SUB socket")
        with pytest.raises(TypeError, match="endpoint"):
            server.transport.bind(42)  # type: ignore[arg-type]


async def test_several_endpoints_and_ipc(tmp_path: object) -> None:
    ipc = f"ipc://{tmp_path}/anyzmq.sock"
    async with rpc.serve_rpc(Handler(), bind=[LOOPBACK, ipc]) as server:
        bound = server.transport.bindings()
        assert ipc in bound
        assert len(bound) == 2
        async with rpc.connect_rpc(connect=ipc) as client:
            assert await client.call.ping() == "pong"


async def test_linger_option_is_honoured_on_close() -> None:
    async with rpc.connect_pipeline(connect="tcp://127.0.0.1:9") as client:
        assert client.transport.getsockopt(zmq.LINGER) == 0
        client.transport.setsockopt(zmq.LINGER, 10)
        await client.notify.anything()
    # Leaving waited at most the 10 ms of linger for the unsendable message.


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_no_descriptor_leak_over_many_services() -> None:
    async def cycle() -> None:
        async with rpc_pair(Handler()) as (_, client):
            assert await client.call.ping() == "pong"

    await cycle()  # ZeroMQ's context and threads take their descriptors once
    before = open_descriptors()
    for _ in range(50):
        await cycle()
    # ZeroMQ's reaper closes descriptors asynchronously: allow it to catch up.
    with anyio.fail_after(SAFETY):
        while open_descriptors() > before + 4:
            await anyio.lowlevel.checkpoint()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_services_can_be_made_outside_an_event_loop(backend: str) -> None:
    server = rpc.serve_rpc(Handler(), bind=LOOPBACK)
    client = rpc.connect_rpc(timeout=5)

    async def use() -> str:
        async with server:
            client_endpoint = endpoint(server)
            async with client:
                client.transport.connect(client_endpoint)
                answer: str = await client.call.ping()
                return answer

    assert anyio.run(use, backend=backend) == "pong"


class Fatal(BaseException):
    pass


class Raiser(rpc.AttrHandler):
    @rpc.method
    def fatal(self) -> None:
        raise Fatal("from a sync handler")

    @rpc.method
    async def async_fatal(self) -> None:
        await anyio.lowlevel.checkpoint()
        raise Fatal("from an async handler")


@pytest.mark.parametrize("method", ["fatal", "async_fatal"])
async def test_base_exceptions_from_handlers_leave_unwrapped(method: str) -> None:
    async def call_then_wait() -> None:
        async with rpc_pair(Raiser(), timeout=30) as (_, client):
            # The failing server closes its socket before its task group cancels
            # this task: the client may see the lost connection first.
            with contextlib.suppress(rpc.ConnectionLostError):
                await getattr(client.call, method)()
            await anyio.sleep_forever()  # until the server's failure cancels it

    with pytest.raises(Fatal) as info:
        await call_then_wait()
    assert type(info.value) is Fatal


_EXITING_PROGRAM = """
import sys
import anyio
from anyzmq import rpc

class Handler(rpc.AttrHandler):
    @rpc.method
    def exit(self):
        sys.exit(3)

    @rpc.method
    def interrupt(self):
        raise KeyboardInterrupt

async def main(method):
    async with rpc.serve_rpc(Handler(), bind="tcp://127.0.0.1:*") as server:
        (address,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=address, timeout=30) as client:
            await getattr(client.call, method)()

anyio.run(main, sys.argv[2], backend=sys.argv[1])
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(("method", "status"), [("exit", 3), ("interrupt", None)])
def test_exit_and_interrupt_from_a_handler_end_the_program_as_themselves(
    backend: str, method: str, status: int | None, tmp_path: Path
) -> None:
    script = tmp_path / "program.py"
    script.write_text(_EXITING_PROGRAM)
    done = subprocess.run(
        [sys.executable, str(script), backend, method],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "ExceptionGroup" not in done.stderr
    if status is not None:
        assert done.returncode == status, done.stderr
    else:
        assert done.returncode != 0
        assert done.stderr.rstrip().endswith("KeyboardInterrupt"), done.stderr


async def test_pump_failure_leaves_as_oserror() -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise zmq.ZMQError(zmq.EFSM)

    with pytest.raises(OSError, match="state") as info:  # noqa: PT012
        async with rpc.serve_rpc(Handler(), bind=LOOPBACK) as server:
            sock = server.transport._sock
            dealer = raw_socket(zmq.DEALER, endpoint(server))
            try:
                sock.recv = fail  # type: ignore[method-assign, assignment]
                dealer.send_multipart([b"h" * 16, b"ping", b"\x90", b"\x80"])
                await anyio.sleep_forever()
            finally:
                vars(sock).pop("recv", None)
                dealer.close()
    assert type(info.value) is OSError


async def test_socket_options_are_set_before_binding_and_connecting() -> None:
    async with (
        rpc.serve_rpc(
            Handler(), bind=LOOPBACK, socket_options={zmq.SNDHWM: 7, zmq.IDENTITY: b"srv"}
        ) as server,
        rpc.connect_rpc(
            connect=endpoint(server), socket_options={zmq.RCVHWM: 5, zmq.LINGER: 50}
        ) as client,
    ):
        assert server.transport.getsockopt(zmq.SNDHWM) == 7
        assert server.transport.getsockopt(zmq.IDENTITY) == b"srv"
        assert client.transport.getsockopt(zmq.RCVHWM) == 5
        assert client.transport.getsockopt(zmq.LINGER) == 50
        assert await client.call.ping() == "pong"


async def test_curve_through_socket_options_refuses_plain_clients() -> None:
    if not zmq.has("curve"):
        pytest.skip("libzmq without CURVE")
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    curve_server: rpc.SocketOptions = {zmq.CURVE_SERVER: 1, zmq.CURVE_SECRETKEY: server_secret}
    async with rpc.serve_rpc(Handler(), bind=LOOPBACK, socket_options=curve_server) as server:
        async with rpc.connect_rpc(connect=endpoint(server), timeout=10) as plain:
            # Refused at the handshake, which the client hears of.
            with pytest.raises(rpc.AuthenticationError):
                await plain.call.ping()
        keys: rpc.SocketOptions = {
            zmq.CURVE_SERVERKEY: server_public,
            zmq.CURVE_PUBLICKEY: client_public,
            zmq.CURVE_SECRETKEY: client_secret,
        }
        async with rpc.connect_rpc(connect=endpoint(server), socket_options=keys) as secure:
            assert await secure.call.ping() == "pong"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"SNDHWM": 1}, TypeError),
        ({zmq.SNDHWM: 1.5}, TypeError),
        ([(zmq.SNDHWM, 1)], TypeError),
    ],
)
async def test_bad_socket_options_are_refused_at_construction(
    options: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="socket_options"):
        rpc.serve_rpc(Handler(), socket_options=options)  # type: ignore[arg-type]
    with pytest.raises(error, match="socket_options"):
        rpc.connect_pipeline(socket_options=options)  # type: ignore[arg-type]


async def test_close_from_another_thread() -> None:
    async with rpc.serve_rpc(Handler(), bind=LOOPBACK) as server:
        await anyio.to_thread.run_sync(server.close)
        with anyio.fail_after(SAFETY):
            await server.wait_closed()
        with pytest.raises(rpc.ServiceClosedError):
            server.transport  # noqa: B018


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_close_after_the_loop_is_closed_closes_every_socket_and_monitor(loop_kind: str) -> None:
    # The loop is gone: close() abandons the service. Each monitor must be stopped
    # before its socket closes, and the sockets of an RPC client's links closed too.
    # (A trio run cannot end with a service still open in it.)
    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    server = rpc.serve_rpc(Handler(), bind=LOOPBACK)
    try:
        loop.run_until_complete(server.__aenter__())
        (address,) = server.transport.bindings()
        client = rpc.connect_rpc(connect=address)
        notifier = rpc.connect_pipeline(connect="tcp://127.0.0.1:9")
        loop.run_until_complete(client.__aenter__())
        loop.run_until_complete(notifier.__aenter__())
    finally:
        loop.close()
    links = list(client._by_endpoint.values())
    watchers = [link.watcher for link in links]
    watchers += [client._main_watcher, notifier._watcher]
    client.close()
    notifier.close()
    server.close()
    assert links
    assert all(link.pump.socket.closed for link in links)
    monitors = [watcher._monitor for watcher in watchers if watcher is not None]
    assert len(monitors) == len(links) + 2
    assert all(monitor is not None and monitor.closed for monitor in monitors)


def test_close_while_the_loop_is_not_running() -> None:
    # aiozmq's way: close() between two run_until_complete() calls, then wait_closed().
    loop = asyncio.new_event_loop()
    try:
        server = rpc.serve_rpc(Handler(), bind=LOOPBACK)
        started = asyncio.Event()

        async def serve() -> None:
            async with server:
                started.set()
                await server.wait_closed()

        task = loop.create_task(serve())
        loop.run_until_complete(started.wait())
        server.close()  # no loop runs in this thread now
        loop.run_until_complete(asyncio.wait_for(task, 10))
        with pytest.raises(rpc.ServiceClosedError):
            server.transport  # noqa: B018
    finally:
        loop.close()
