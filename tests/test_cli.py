"""The ``anyzmq`` command line, run as a user runs it: every server, proxy, listener
and client is its own process (``python -m anyzmq ...``), on the event loop the test
runs on (asyncio for asyncio and uvloop, trio for trio)."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import zmq
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from anyzmq import rpc

from .support import LOOPBACK, Recorder, endpoint, raw_socket

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
CLI = (sys.executable, "-m", "anyzmq")
#: Generous: only a safety net on a loaded machine, never what a test waits for.
PATIENCE = 30


@pytest.fixture
def loop(anyio_backend: Any) -> str:
    """The ``--backend`` of the processes: trio when the test runs on trio."""
    name: str = anyio_backend[0]
    return name


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


async def run(*argv: str) -> Done:
    """Run the command to its end."""
    with anyio.fail_after(PATIENCE):
        done = await anyio.run_process([*CLI, *argv], check=False, cwd=ROOT)
    return Done(done.returncode, done.stdout.decode(), done.stderr.decode())


class Running:
    """A command that runs until stopped, with its output read line by line."""

    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None
        assert process.stderr is not None
        self._out = BufferedByteReceiveStream(process.stdout)
        self._err = BufferedByteReceiveStream(process.stderr)

    async def line(self, *, stderr: bool = False) -> str:
        with anyio.fail_after(PATIENCE):
            data = await (self._err if stderr else self._out).receive_until(b"\n", 1 << 20)
        return data.decode()

    async def lines(self, count: int, *, stderr: bool = False) -> list[str]:
        return [await self.line(stderr=stderr) for _ in range(count)]

    async def stop(self, signum: signal.Signals = signal.SIGINT) -> int:
        """Send ``signum`` and return the exit code."""
        self.process.send_signal(signum)
        with anyio.fail_after(PATIENCE):
            return await self.process.wait()


@asynccontextmanager
async def running(*argv: str) -> AsyncIterator[Running]:
    process = await anyio.open_process([*CLI, *argv], cwd=ROOT)
    try:
        yield Running(process)
    finally:
        if process.returncode is None:  # the test failed before stopping it
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.aclose()


@asynccontextmanager
async def server(loop: str, *options: str) -> AsyncIterator[str]:
    """``anyzmq serve tests.cli_app:App`` on loopback; its endpoint. It must exit 0
    on SIGINT at the end."""
    async with running(
        "serve", "tests.cli_app:App", "--bind", LOOPBACK, "--backend", loop, *options
    ) as srv:
        yield await srv.line()
        assert await srv.stop() == 0


async def test_call_prints_results_as_json_and_reads_arguments_as_json(loop: str) -> None:
    async with server(loop) as address:
        assert await run("call", address, "add", "1", "2", "--backend", loop) == Done(0, "3\n", "")
        done = await run("call", address, "add", "1", "--kw", "b=5", "--backend", loop)
        assert done.out == "6\n"
        done = await run(
            "call", "--kw", "s=x", "--kw", "n=2.5", "--backend", loop, address, "echo",
            "hello", "1", '"1"', "[1, 2]", '{"a": null}', "true", "-2", "--", "-x", "--kw",
        )  # fmt: skip
        assert json.loads(done.out) == [
            ["hello", 1, "1", [1, 2], {"a": None}, True, -2, "-x", "--kw"],
            {"s": "x", "n": 2.5},
        ]
        done = await run("call", address, "ns.double", "21", "--backend", loop)
        assert done.out == "42\n"
        done = await run("call", address, "values", "--backend", loop)
        assert json.loads(done.out) == {
            "bytes": "b'\\x00ab'",
            "when": "2024-01-02T03:04:05+00:00",
            "day": "2024-01-02",
            "span": "2:00:00",
            "pair": [1, [2, 3]],
        }


async def test_remote_errors_exit_1_with_type_and_message(loop: str) -> None:
    async with server(loop) as address:
        done = await run("call", address, "fail", "boom", "--backend", loop)
        assert (done.code, done.out, done.err) == (1, "", "anyzmq call: ValueError: boom\n")
        done = await run("call", address, "missing", "--backend", loop)
        assert (done.code, done.err) == (1, "anyzmq call: NotFoundError: missing\n")
        done = await run("call", address, "add", "not a number", "--backend", loop)
        assert done.code == 1
        assert done.err.startswith("anyzmq call: ParameterError: argument 'a'")


def run_sync(*argv: str) -> Done:
    """Run a command that needs no event loop in the test (usage errors, --help)."""
    done = subprocess.run(
        [*CLI, *argv], check=False, cwd=ROOT, capture_output=True, timeout=PATIENCE
    )
    return Done(done.returncode, done.stdout.decode(), done.stderr.decode())


def test_usage_errors_exit_2_without_a_traceback() -> None:
    for argv in (
        ("call", "tcp://127.0.0.1:1"),  # no METHOD
        ("call", "tcp://127.0.0.1:1", "a..b"),
        ("call", "tcp://127.0.0.1:1", "__class__"),
        ("call", "tcp://127.0.0.1:1", "m", "--kw", "no_equals_sign"),
        ("call", "tcp://127.0.0.1:1", "m", "--timeout", "0"),
        ("call", "tcp://127.0.0.1:1", "m", "--backend", "curio"),
        ("serve", "tests.cli_app:App"),  # no endpoint
        ("serve", "tests.no_such_module:App", "--bind", LOOPBACK),
        ("serve", "tests.cli_app:Missing", "--bind", LOOPBACK),
        ("serve", "tests.cli_app:number", "--bind", LOOPBACK),
        ("serve", "tests.cli_app:NeedsArguments", "--bind", LOOPBACK),
        ("serve", "tests.cli_app", "--bind", LOOPBACK),
        ("listen",),
        ("proxy", "rpc", "--frontend", LOOPBACK),
        (),
    ):
        done = run_sync(*argv)
        assert done.code == 2, (argv, done)
        assert done.err.startswith(("usage:", "anyzmq serve:")), (argv, done)
        assert "Traceback" not in done.err


def test_trio_missing_is_a_usage_error() -> None:
    hide_trio = (
        "import sys; sys.modules['trio'] = None; from anyzmq._cli import main; "
        "sys.exit(main(['call', '--backend', 'trio', 'tcp://127.0.0.1:1', 'm']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_trio], check=False, capture_output=True, timeout=PATIENCE
    )
    assert done.returncode == 2
    assert done.stderr.decode() == (
        "anyzmq call: --backend trio needs trio: pip install 'anyzmq[trio]'\n"
    )


async def test_a_call_to_nobody_times_out(loop: str, tmp_path: Path) -> None:
    nobody = f"ipc://{tmp_path}/nobody"
    done = await run("call", nobody, "add", "1", "--timeout", "0.5", "--backend", loop)
    assert done == Done(3, "", f"anyzmq call: no answer from {nobody} within 0.5 s\n")
    done = await run("inspect", nobody, "--timeout", "0.5", "--backend", loop)
    assert (done.code, done.err) == (3, f"anyzmq inspect: no answer from {nobody} within 0.5 s\n")
    done = await run("call", "tcp://no host", "add", "--backend", loop)
    assert done.code == 1
    assert done.err.startswith("anyzmq call: cannot use tcp://no host:")


async def test_inspect_lists_the_methods(loop: str) -> None:
    async with server(loop) as address:
        done = await run("inspect", address, "--backend", loop)
        assert done.code == 0
        assert done.out.splitlines() == [
            "add(a: int, b: int = 10) -> int         Add two numbers.",
            "echo(*args: Any, **kwargs: Any) -> Any",
            "fail(message: str) -> None",
            "ns.double(x: int) -> int                Twice x.",
            "pid() -> int                            The server's process id.",
            "values() -> Any                         What JSON has no notation for.",
        ]
        done = await run("inspect", address, "--json", "--backend", loop)
        listing = json.loads(done.out)
        assert listing[0] == {
            "name": "add",
            "signature": "(a: int, b: int = 10) -> int",
            "doc": "Add two numbers.\n\nThe rest of the docstring.",
            "stream": False,
        }
        assert [entry["name"] for entry in listing] == [
            "add", "echo", "fail", "ns.double", "pid", "values",
        ]  # fmt: skip
    async with server(loop, "--no-introspection") as address:
        done = await run("inspect", address, "--backend", loop)
        assert done.code == 1
        assert "this server does not support introspection" in done.err
        assert (await run("call", address, "add", "1", "--backend", loop)).out == "11\n"


@pytest.mark.skipif(importlib.util.find_spec("aiozmq") is None, reason="needs aiozmq 1.0")
async def test_inspect_says_an_aiozmq_server_does_not_support_introspection(loop: str) -> None:
    from .interop.test_aiozmq import aiozmq_peer

    async with aiozmq_peer("rpc-server") as peer:
        address = await peer.line()
        done = await run("inspect", address, "--backend", loop)
        assert done.code == 1
        assert done.err == (
            f"anyzmq inspect: {address}: NotFoundError: this server does not support "
            "introspection (an aiozmq server, or one made with "
            "serve_rpc(..., introspection=False))\n"
        )
        assert (await run("call", address, "add", "1", "--backend", loop)).out == "11\n"


async def test_serve_prints_each_endpoint_in_order_and_stops_on_sigterm(
    loop: str, tmp_path: Path
) -> None:
    ipc = f"ipc://{tmp_path}/serve"
    argv = ["serve", "tests.cli_app:handler", "--bind", LOOPBACK, "--connect", "tcp://127.0.0.1:1"]
    async with running(*argv, "--bind", ipc, "--backend", loop) as srv:
        tcp, connected, bound = await srv.lines(3)
        assert tcp.startswith("tcp://127.0.0.1:")
        assert not tcp.endswith(":*")
        assert (connected, bound) == ("tcp://127.0.0.1:1", ipc)
        assert (await run("call", tcp, "add", "1", "2")).out == "3\n"
        assert (await run("call", ipc, "add", "3", "4")).out == "7\n"
        assert await srv.stop(signal.SIGTERM) == 0


async def test_a_proxy_spreads_calls_over_two_servers(loop: str) -> None:
    proxy_argv = ("proxy", "rpc", "--frontend", LOOPBACK, "--backend", LOOPBACK)
    async with running(*proxy_argv) as proxy:
        frontend, backend = await proxy.lines(2)
        serve = ("serve", "tests.cli_app:App", "--connect", backend, "--backend")
        async with running(*serve, "asyncio") as first, running(*serve, "trio") as second:
            await first.line()
            await second.line()
            servers = {first.process.pid, second.process.pid}
            answered: set[int] = set()
            # Calls go round-robin over the servers connected so far: call until
            # both have answered (the second may connect a little after the first).
            with anyio.fail_after(PATIENCE):
                while answered != servers:
                    done = await run("call", frontend, "pid", "--backend", loop)
                    answered.add(json.loads(done.out))
                    assert answered <= servers
            assert await first.stop() == 0
            assert await second.stop(signal.SIGTERM) == 0
        assert await proxy.stop(signal.SIGTERM) == 0


async def test_pubsub_through_the_proxy(loop: str) -> None:
    proxy_argv = ("proxy", "pubsub", "--frontend", LOOPBACK, "--backend", LOOPBACK)
    async with running(*proxy_argv) as proxy:
        frontend, backend = await proxy.lines(2)
        listen = ("listen", "--connect", backend, "--topic", "alerts", "--backend", loop)
        async with running(*listen) as listener:
            assert await listener.line(stderr=True) == backend
            # publish waits for the listener's subscription to come through the proxy.
            done = await run(
                "publish", frontend, "alerts.disk", "log.write", "disk full", "--kw", "level=3",
                "--backend", loop,
            )  # fmt: skip
            assert done == Done(0, "", "")
            assert json.loads(await listener.line()) == {
                "topic": "alerts.disk",
                "method": "log.write",
                "args": ["disk full"],
                "kwargs": {"level": 3},
            }
            done = await run("publish", frontend, "other", "m", "--timeout", "0.5")
            assert done == Done(
                3,
                "",
                f"anyzmq publish: no subscriber of topic 'other' at {frontend} within 0.5 s\n",
            )
            assert await listener.stop() == 0
        assert await proxy.stop() == 0


async def test_notify_and_listen_through_a_pipeline_proxy(loop: str) -> None:
    proxy_argv = ("proxy", "pipeline", "--frontend", LOOPBACK, "--backend", LOOPBACK)
    async with running(*proxy_argv) as proxy:
        frontend, backend = await proxy.lines(2)
        async with running(
            "listen", "--pipeline", "--connect", backend, "--backend", loop
        ) as listener:
            await listener.line(stderr=True)
            done = await run("notify", frontend, "jobs.run", "[1, 2]", "--backend", loop)
            assert done == Done(0, "", "")
            assert json.loads(await listener.line()) == {
                "topic": None,
                "method": "jobs.run",
                "args": [[1, 2]],
                "kwargs": {},
            }
            assert await listener.stop(signal.SIGTERM) == 0
        assert await proxy.stop() == 0


async def test_notify_and_publish_reach_library_servers(loop: str, tmp_path: Path) -> None:
    recorder = Recorder()
    async with (
        rpc.serve_pipeline(recorder, bind=LOOPBACK) as pipeline,
        rpc.serve_pubsub(recorder, bind=LOOPBACK, subscribe="t") as pubsub,
    ):
        done = await run("notify", endpoint(pipeline), "record", "5", "--backend", loop)
        assert done == Done(0, "", "")
        assert await recorder.next(PATIENCE) == ("record", 5)
        done = await run("publish", endpoint(pubsub), "topic", "record", "6", "--backend", loop)
        assert done == Done(0, "", "")
        assert await recorder.next(PATIENCE) == ("record", 6)
    nobody = f"ipc://{tmp_path}/nobody"
    done = await run("notify", nobody, "record", "--timeout", "0.5", "--backend", loop)
    assert done == Done(3, "", f"anyzmq notify: no server took the call at {nobody} within 0.5 s\n")


async def test_listen_binds_and_reports_what_it_refuses(loop: str) -> None:
    async with running("listen", "--pipeline", "--bind", LOOPBACK, "--backend", loop) as listener:
        address = await listener.line(stderr=True)
        sock = raw_socket(zmq.PUSH, address)
        try:
            sock.send_multipart([b"two", b"frames"])
            sock.send_multipart([b"bad", b"\xc1", b"\x80"])
            sock.send_multipart([b"ok", b"\x91\xc4\x01\x01", b"\x80"])  # (b"\x01",), {}
            assert await listener.line(stderr=True) == (
                "anyzmq listen: refused a message of 2 frames (3 expected)"
            )
            refused = await listener.line(stderr=True)
            assert refused.startswith("anyzmq listen: refused a message that does not decode:")
            assert json.loads(await listener.line()) == {
                "topic": None,
                "method": "ok",
                "args": ["b'\\x01'"],
                "kwargs": {},
            }
        finally:
            sock.close(linger=0)
        assert await listener.stop() == 0


def test_every_command_has_help_with_examples_and_the_script_is_installed() -> None:
    script = Path(sys.executable).with_name("anyzmq")
    assert script.is_file(), "the console script is not installed beside the interpreter"
    done = subprocess.run([script, "--help"], check=False, capture_output=True, timeout=PATIENCE)
    assert done.returncode == 0
    out = done.stdout.decode()
    commands = ["call", "inspect", "serve", "notify", "publish", "listen", "proxy", "keygen"]
    for command in commands:
        assert f"    {command} " in out
    for command in commands:
        done_help = run_sync(command, "--help")
        assert done_help.code == 0
        assert "examples:" in done_help.out
        assert f"anyzmq {command} " in done_help.out
    version = run_sync("--version")
    assert version.out.startswith("anyzmq ")
