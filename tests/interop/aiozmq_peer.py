"""A real aiozmq.rpc 1.0 peer, run in its own process (and asyncio loop) by the
interop tests. Usage: ``aiozmq_peer.py MODE [ENDPOINT]``.

Servers print their endpoint on the first line, then one line per call they
receive (``repr((name, args, kwargs))``), and stop when stdin closes. Clients
print one line per call they make (``repr(result)`` or ``raised <class> <args>``)
and exit; the pub-sub client publishes probes until it reads a line on stdin.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import aiozmq.rpc as rpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.interop.values import TAGGED_VALUES, TAGGING_TABLE, VALUES


def say(line: object) -> None:
    print(line, flush=True)


def outcome(result: Any = None, exc: BaseException | None = None) -> str:
    if exc is not None:
        cls = type(exc)
        return f"raised {cls.__module__}.{cls.__qualname__} {exc.args!r}"
    return repr(result)


class Sub(rpc.AttrHandler):
    @rpc.method
    def double(self, x: int) -> int:
        return 2 * x


class RPCHandler(rpc.AttrHandler):
    ns = Sub()

    @rpc.method
    def echo(self, value: Any) -> Any:
        return value

    @rpc.method
    async def add(self, a: int, b: int = 10) -> int:
        return a + b

    @rpc.method
    def kwargs(self, *args: Any, **kwargs: Any) -> Any:
        return [args, kwargs]

    @rpc.method
    def fail(self) -> None:
        raise ValueError("from aiozmq", 42)

    @rpc.method
    async def sleep(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    @rpc.method
    def fail_custom(self) -> None:
        raise KeyError("custom", 1)


class TaggingHandler(rpc.AttrHandler):
    @rpc.method
    def echo(self, value: Any) -> Any:
        return value

    @rpc.method
    def tagged_values(self) -> Any:
        return TAGGED_VALUES


class Recorder(rpc.AttrHandler):
    def __getitem__(self, key: str) -> Any:
        @rpc.method
        def record(*args: Any, **kwargs: Any) -> None:
            say(repr((key, args, kwargs)))

        return record


async def wait_for_stdin_close() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


class SayRecords(logging.Handler):
    """Prints every log record as a ``log: ...`` line (the tests want none)."""

    def emit(self, record: logging.LogRecord) -> None:
        say(f"log: {record.levelname} {record.getMessage()[:200]}")


async def serve(mode: str) -> None:
    if mode == "rpc-server":
        server = await rpc.serve_rpc(RPCHandler(), bind="tcp://127.0.0.1:*")
    elif mode == "watched-rpc-server":  # logs whatever goes wrong, on stdout
        logging.getLogger().addHandler(SayRecords(logging.WARNING))
        server = await rpc.serve_rpc(RPCHandler(), bind="tcp://127.0.0.1:*", log_exceptions=True)
    elif mode == "tagging-server":
        server = await rpc.serve_rpc(
            TaggingHandler(), bind="tcp://127.0.0.1:*", translation_table=TAGGING_TABLE
        )
    elif mode == "pipeline-server":
        server = await rpc.serve_pipeline(Recorder(), bind="tcp://127.0.0.1:*")
    else:
        server = await rpc.serve_pubsub(
            Recorder(), bind="tcp://127.0.0.1:*", subscribe=["topic", b"bytes-topic"]
        )
    (endpoint,) = server.transport.bindings()
    say(endpoint)
    await wait_for_stdin_close()
    server.close()
    await server.wait_closed()


async def rpc_client(endpoint: str) -> None:
    client = await rpc.connect_rpc(connect=endpoint)  # no budget: the test has its own
    for value in VALUES:
        say(outcome(await client.call.echo(value)))
    say(outcome(await client.call.add(1, b=2)))
    say(outcome(await client.call.ns.double(21)))
    for call in (
        client.call.missing,
        client.call.add,  # missing argument
        client.call.fail,
    ):
        try:
            await call()
        except Exception as exc:
            say(outcome(exc=exc))
    try:
        await client.call.add("not a number")
    except Exception as exc:
        say(outcome(exc=exc))
    client.close()
    await client.wait_closed()


async def stream_client(endpoint: str) -> None:
    """Call an anyzmq stream method as a plain method, then a plain one."""
    client = await rpc.connect_rpc(connect=endpoint, timeout=10)
    for call in (client.call.numbers, client.call.add):
        try:
            say(outcome(await call(1, 2)))
        except Exception as exc:
            say(outcome(exc=exc))
    client.close()
    await client.wait_closed()


async def pipeline_client(endpoint: str) -> None:
    client = await rpc.connect_pipeline(connect=endpoint)
    for value in VALUES:
        await client.notify.record(value, key=value)
    await client.notify.done()
    await wait_for_stdin_close()
    client.close()


async def pubsub_client(endpoint: str) -> None:
    client = await rpc.connect_pubsub(connect=endpoint)
    loop = asyncio.get_running_loop()
    go = loop.run_in_executor(None, sys.stdin.readline)
    while not go.done():
        await client.publish("topic").probe()
        await asyncio.sleep(0.02)
    await client.publish("other").record("never")
    for value in VALUES:
        await client.publish("topic").record(value, key=value)
    await client.publish(b"bytes-topic").record("from bytes topic")
    await client.publish("topic").done()
    await wait_for_stdin_close()
    client.close()


def main() -> None:
    mode = sys.argv[1]
    if mode.endswith("-server"):
        asyncio.run(serve(mode))
    else:
        runner = {
            "rpc-client": rpc_client,
            "stream-client": stream_client,
            "pipeline-client": pipeline_client,
        }.get(mode, pubsub_client)
        asyncio.run(runner(sys.argv[2]))


if __name__ == "__main__":
    main()
