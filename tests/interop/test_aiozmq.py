"""Wire compatibility with real aiozmq.rpc 1.0 peers, both directions, all three
patterns. The aiozmq peer runs in its own process with its own asyncio loop;
anyzmq runs here on every backend."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from anyzmq import rpc

from ..support import LOOPBACK, SAFETY, as_received, endpoint
from .values import TAGGED_AS, TAGGED_VALUES, TAGGING_TABLE, VALUES

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        importlib.util.find_spec("aiozmq") is None,
        reason="aiozmq 1.0 is not installed (it installs on Python 3.11 only)",
    ),
]

PEER = Path(__file__).with_name("aiozmq_peer.py")


class Peer:
    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None
        self._stdout = BufferedByteReceiveStream(process.stdout)

    async def line(self, timeout: float = SAFETY) -> str:
        with anyio.fail_after(timeout):
            data = await self._stdout.receive_until(b"\n", 1 << 20)
        return data.decode()

    async def lines_until(self, last: str) -> list[str]:
        lines = []
        while (line := await self.line()) != last:
            lines.append(line)
        return lines

    async def rest(self) -> list[str]:
        """Close the peer's stdin (servers stop then) and return what it printed
        until it exited."""
        assert self.process.stdin is not None
        await self.process.stdin.aclose()
        lines = []
        with anyio.fail_after(30):
            while True:
                try:
                    lines.append((await self._stdout.receive_until(b"\n", 1 << 20)).decode())
                except (anyio.EndOfStream, anyio.IncompleteRead):
                    return lines

    async def tell(self, text: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(text.encode())


@asynccontextmanager
async def aiozmq_peer(mode: str, *args: str) -> AsyncIterator[Peer]:
    process = await anyio.open_process(
        [sys.executable, "-W", "error", str(PEER), mode, *args],
        stderr=None,
    )
    async with process:
        try:
            yield Peer(process)
        finally:
            assert process.stdin is not None
            await process.stdin.aclose()
            with anyio.fail_after(SAFETY):
                code = await process.wait()
    assert code == 0, f"the aiozmq peer ({mode}) exited with {code}"


NOT_A_NUMBER = "invalid literal for int() with base 10: 'not a number'"


def translated(value: Any) -> str:
    return repr(as_received(value))


async def test_anyzmq_client_calls_aiozmq_server() -> None:
    async with (
        aiozmq_peer("rpc-server") as peer,
        rpc.connect_rpc(connect=await peer.line()) as client,
    ):
        for value in VALUES:
            assert await client.call.echo(value) == as_received(value)
        assert await client.call.add(1, b=2) == 3
        assert await client.call.add(5) == 15
        assert await client.call.kwargs(1, [2], k=b"v") == ((1, (2,)), {"k": b"v"})
        assert await client.call.ns.double(21) == 42
        with pytest.raises(rpc.NotFoundError):
            await client.call.missing()
        with pytest.raises(rpc.NotFoundError):
            await client.call.ns.missing()
        with pytest.raises(rpc.ParameterError):
            await client.call.add()
        with pytest.raises(ValueError) as value_error:  # noqa: PT011
            await client.call.fail()
        assert value_error.value.args == ("from aiozmq", 42)
        with pytest.raises(KeyError) as key_error:
            await client.call.fail_custom()
        assert key_error.value.args == ("custom", 1)


async def test_translators_resolve_as_in_aiozmq_both_ways() -> None:
    async with (
        aiozmq_peer("tagging-server") as peer,
        rpc.connect_rpc(connect=await peer.line(), translation_table=TAGGING_TABLE) as client,
    ):
        # aiozmq packs, anyzmq reads which code each value came with ...
        assert await client.call.tagged_values() == TAGGED_AS
        # ... and anyzmq packs: aiozmq decodes each value by the code anyzmq chose.
        assert await client.call.echo(TAGGED_VALUES) == TAGGED_AS


class Handler(rpc.AttrHandler):
    class Namespace(rpc.AttrHandler):
        @rpc.method
        def double(self, x: int) -> int:
            return 2 * x

    ns = Namespace()

    @rpc.method
    def echo(self, value: Any) -> Any:
        return value

    @rpc.method
    async def add(self, a: int, b: int = 10) -> int:
        await anyio.lowlevel.checkpoint()
        return a + b

    @rpc.method
    def fail(self) -> None:
        raise ValueError("from aiozmq", 42)


async def test_aiozmq_client_calls_anyzmq_server() -> None:
    async with (
        rpc.serve_rpc(Handler(), bind=LOOPBACK) as server,
        aiozmq_peer("rpc-client", endpoint(server)) as peer,
    ):
        lines = [await peer.line() for _ in range(len(VALUES) + 6)]
    assert lines[: len(VALUES)] == [translated(value) for value in VALUES]
    assert lines[len(VALUES) :] == [
        "3",
        "42",
        "raised aiozmq.rpc.base.NotFoundError ('missing',)",
        "raised aiozmq.rpc.base.ParametersError (\"missing a required argument: 'a'\",)",
        "raised builtins.ValueError ('from aiozmq', 42)",
        "raised aiozmq.rpc.base.ParametersError "
        + repr((f"argument 'a': {ValueError(NOT_A_NUMBER)!r}",)),
    ]


class Recorder(rpc.AbstractHandler):
    """Records every call, whatever its name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []
        self.done = anyio.Event()

    def __getitem__(self, name: str) -> Any:
        @rpc.method
        def record(*args: Any, **kwargs: Any) -> None:
            if name == "done":
                self.done.set()
            elif name != "probe":
                self.calls.append((name, args, kwargs))

        return record

    async def wait_done(self) -> list[tuple[str, Any, Any]]:
        with anyio.fail_after(SAFETY):
            await self.done.wait()
        return self.calls


def expected_records(*extra: tuple[str, Any, Any]) -> list[tuple[str, Any, Any]]:
    records = [("record", (as_received(v),), {"key": as_received(v)}) for v in VALUES]
    return records + list(extra)


async def test_anyzmq_pipeline_client_to_aiozmq_server() -> None:
    async with (
        aiozmq_peer("pipeline-server") as peer,
        rpc.connect_pipeline(connect=await peer.line()) as client,
    ):
        for value in VALUES:
            await client.notify.record(value, key=value)
        await client.notify.done()
        lines = await peer.lines_until(repr(("done", (), {})))
    assert lines == [repr(record) for record in expected_records()]


async def test_aiozmq_pipeline_client_to_anyzmq_server() -> None:
    recorder = Recorder()
    async with (
        rpc.serve_pipeline(recorder, bind=LOOPBACK) as server,
        aiozmq_peer("pipeline-client", endpoint(server)),
    ):
        assert await recorder.wait_done() == expected_records()


async def test_anyzmq_pubsub_client_to_aiozmq_server() -> None:
    async with (
        aiozmq_peer("pubsub-server") as peer,
        rpc.connect_pubsub(connect=await peer.line()) as client,
    ):
        probe = repr(("probe", (), {}))
        with anyio.fail_after(SAFETY):
            while True:  # until the aiozmq subscription has reached us
                await client.publish("topic").probe()
                with anyio.move_on_after(0.02):
                    if await peer.line() == probe:
                        break
        await client.publish("other").record("never")
        for value in VALUES:
            await client.publish("topic").record(value, key=value)
        await client.publish(b"bytes-topic").record("from bytes topic")
        await client.publish("topic").done()
        lines = [line for line in await peer.lines_until(repr(("done", (), {}))) if line != probe]
    last: tuple[str, Any, Any] = ("record", ("from bytes topic",), {})
    assert lines == [repr(record) for record in expected_records(last)]


async def test_aiozmq_pubsub_client_to_anyzmq_server() -> None:
    recorder = Recorder()
    probed = anyio.Event()

    class ProbeAware(Recorder):
        def __getitem__(self, name: str) -> Any:
            if name == "probe":
                probed.set()
            return recorder[name]

    async with (
        rpc.serve_pubsub(
            ProbeAware(), bind=LOOPBACK, subscribe=["topic", b"bytes-topic"]
        ) as server,
        aiozmq_peer("pubsub-client", endpoint(server)) as peer,
    ):
        with anyio.fail_after(SAFETY):
            await probed.wait()
        await peer.tell("go\n")
        calls = await recorder.wait_done()
    assert calls == expected_records(("record", ("from bytes topic",), {}))


async def test_calls_abandoned_against_an_aiozmq_server_leave_it_undisturbed() -> None:
    async with aiozmq_peer("watched-rpc-server") as peer:
        async with rpc.connect_rpc(connect=await peer.line()) as client:
            for _ in range(3):
                with anyio.move_on_after(0.05) as scope:  # the first, before any answer
                    await client.call.sleep(0.5)
                assert scope.cancelled_caught
                with pytest.raises(TimeoutError):
                    await client.with_timeout(0.05).call.sleep(0.5)
            assert await client.call.add(1, b=2) == 3
            assert await client.call.echo("still here") == "still here"
            # aiozmq runs abandoned calls to their end (and logs errors if it is
            # closed before): this one ends after all of them.
            assert await client.call.sleep(0.6) == 0.6
            assert client.pending_calls == 0
        # No cancel (nor anything else it cannot read) ever reached it.
        assert await peer.rest() == []


async def test_long_calls_to_an_aiozmq_server_are_not_taken_for_lost() -> None:
    async with (
        aiozmq_peer("watched-rpc-server") as peer,
        rpc.connect_rpc(connect=await peer.line(), heartbeat=0.25) as client,
    ):
        # Two heartbeat timeouts (1 s each) pass while the aiozmq server works.
        assert await client.call.sleep(2.0) == 2.0


async def test_describe_says_an_aiozmq_server_does_not_support_introspection() -> None:
    async with (
        aiozmq_peer("rpc-server") as peer,
        rpc.connect_rpc(connect=await peer.line(), timeout=10) as client,
    ):
        with pytest.raises(rpc.NotFoundError, match="does not support introspection"):
            await client.describe()
        assert await client.call.add(1, b=2) == 3  # the connection is unharmed
