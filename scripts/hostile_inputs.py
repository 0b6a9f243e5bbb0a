"""Throw the same hostile and broken inputs at an aiozmq.rpc 1.0 server and at an
anyzmq server, and print what each does, as a Markdown table.

    python scripts/hostile_inputs.py        (needs aiozmq 1.0: Python 3.11)

Each server runs in its own process on asyncio; this script is the raw peer.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

SERVER = r"""
import asyncio, sys
kind = sys.argv[1]
if kind == "aiozmq":
    import aiozmq.rpc as rpc
else:
    import anyio
    from anyzmq import rpc

class H(rpc.AttrHandler):
    @rpc.method
    def add(self, a, b):
        return a + b

    @rpc.method
    def bad_error(self):
        raise ValueError(object())

    @rpc.method
    async def slow(self):
        await asyncio.sleep(2) if kind == "aiozmq" else await anyio.sleep(2)
        return "finished"

class P(rpc.AttrHandler):
    @rpc.method
    def ping(self):
        print("ping", flush=True)

async def run_aiozmq():
    server = await rpc.serve_rpc(H(), bind="tcp://127.0.0.1:*", timeout=0.1)
    pipe = await rpc.serve_pipeline(P(), bind="tcp://127.0.0.1:*")
    print(list(server.transport.bindings())[0], list(pipe.transport.bindings())[0], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

async def run_anyzmq():
    async with rpc.serve_rpc(H(), bind="tcp://127.0.0.1:*", timeout=0.1) as server, \
            rpc.serve_pipeline(P(), bind="tcp://127.0.0.1:*") as pipe:
        (a,), (b,) = server.transport.bindings(), pipe.transport.bindings()
        print(a, b, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)

if kind == "aiozmq":
    asyncio.run(run_aiozmq())
else:
    anyio.run(run_anyzmq)
"""


class RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def header(request_id: int) -> bytes:
    return struct.pack("<HHLd", 1, 2, request_id, time.time())


def call(sock: zmq.Socket[bytes], frames: list[bytes], request_id: int, wait: float = 1.0) -> str:
    """Send one request and describe the answer to ``request_id``, if any."""
    sock.send_multipart(frames)
    start = time.monotonic()
    deadline = start + wait
    while (left := deadline - time.monotonic()) > 0:
        if not sock.poll(int(left * 1000)):
            break
        *_, head, body = sock.recv_multipart()
        if len(head) == 17 and struct.unpack("<HHLd?", head)[2] == request_id:
            answer = msgpack.unpackb(body, strict_map_key=False)
            after = f" after {time.monotonic() - start:.1f} s" if wait > 1 else ""
            if head[-1]:
                return f"error answer{after}: {answer[0]}"
            return f"answer{after}: {answer!r:.40}"
    return f"no answer within {wait:.0f} s"


def still_serves(sock: zmq.Socket[bytes], request_id: int) -> str:
    args, kwargs = msgpack.packb([1, 2]), msgpack.packb({})
    return call(sock, [header(request_id), b"add", args, kwargs], request_id)


def probe(kind: str) -> dict[str, str]:
    marker = Path(tempfile.mkdtemp()) / "pwned"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdin is not None
    rpc_endpoint, pipe_endpoint = server.stdout.readline().split()
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(rpc_endpoint)
    results: dict[str, str] = {}
    evil = msgpack.packb([msgpack.ExtType(126, pickle.dumps(RunsCode(str(marker)))), 1])
    empty = msgpack.packb({})
    cases: list[tuple[str, list[bytes]]] = [
        ("pickle that runs code", [header(1), b"add", evil, empty]),
        ("wrong frame count", [b"x"]),
        ("short header", [b"short", b"add", msgpack.packb([1, 2]), empty]),
        ("invalid msgpack", [header(3), b"add", b"\xc1", empty]),
        ("non-UTF-8 name", [header(4), b"\xff\xfe", msgpack.packb([1, 2]), empty]),
        (
            "unknown ext code",
            [header(5), b"add", msgpack.packb([msgpack.ExtType(5, b"x"), 1]), empty],
        ),
        ("args not an array", [header(6), b"add", msgpack.packb({"a": 1}), empty]),
        ("unserializable exception", [header(7), b"bad_error", msgpack.packb([]), empty]),
        ("server timeout 0.1 s, handler takes 2 s", [header(8), b"slow", msgpack.packb([]), empty]),
    ]
    for number, (label, frames) in enumerate(cases, start=1):
        request_id = struct.unpack("<HHLd", frames[0])[2] if len(frames[0]) == 16 else number
        outcome = call(sock, frames, request_id, wait=3.0 if b"slow" in frames else 1.0)
        if label == "pickle that runs code":
            outcome += "; code ran" if marker.exists() else "; no code ran"
        results[label] = f"{outcome}; then {still_serves(sock, 100 + number)}"
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 1000)
    push.connect(pipe_endpoint)
    push.send_multipart([b"ping", b"\xc1", empty])
    push.send_multipart([b"ping", msgpack.packb([]), empty])
    ready = server.stdout.readline() if _readable(server.stdout, 2.0) else ""
    results["pipeline: invalid msgpack, then a good call"] = (
        "the good call ran"
        if ready.strip() == "ping"
        else "the good call never ran (server stopped)"
    )
    push.close()
    sock.close()
    server.stdin.close()
    server.wait(timeout=10)
    return results


def _readable(stream: Any, timeout: float) -> bool:
    import select

    return bool(select.select([stream], [], [], timeout)[0])


def main() -> None:
    aiozmq, anyzmq = probe("aiozmq"), probe("anyzmq")
    print("| input | aiozmq 1.0 | anyzmq |")
    print("|---|---|---|")
    for label in aiozmq:
        print(f"| {label} | {aiozmq[label]} | {anyzmq[label]} |")


if __name__ == "__main__":
    main()
