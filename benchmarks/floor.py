"""How fast sequential calls could be in anyzmq's shape, with no library at all.

    python benchmarks/floor.py              # 5 rounds of 3,000 calls
    python benchmarks/floor.py -r 9 -n 5000
    python benchmarks/floor.py -r 15 -p aiozmq -s new=src -s old=/tmp/old/src

Four peers make ``n`` sequential ``add(i, 1)`` calls over tcp://127.0.0.1, each
server and each client in its own process, on asyncio:

- ``callbacks``: the event loop's reader callback on the ZeroMQ FD receives and
  answers, and the client's callback resolves the caller's future: aiozmq's shape,
  with nothing but msgpack around the numbers.
- ``pump-tasks``: the reader callback only wakes a pump task, which receives; the
  server answers in its pump, and the client's pump resolves the caller's future:
  anyzmq's shape (one task owns each socket), again with nothing else.
- ``anyzmq-asyncio`` and ``aiozmq``: the libraries.

The two shapes set a floor: what is left between a library and its shape is the
library's own code. Each round runs every peer once, in a rotated order; the table
gives the medians over rounds of each run's median latency and calls per second,
and the medians over rounds of the ratios to aiozmq in the same round.

``-s NAME=PATH`` adds a peer ``NAME``: anyzmq on asyncio imported from the source
tree ``PATH`` (the directory holding the ``anyzmq`` package), so that two versions
of anyzmq run in the same rounds; the script then also prints, for each two such
peers, the median over rounds of the ratio of their latencies in the same round.
Differences of a few per cent need 15 rounds or more on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

PEERS = ("callbacks", "pump-tasks", "anyzmq-asyncio", "aiozmq")
LOOPBACK = "tcp://127.0.0.1"
#: The source tree a ``-s`` peer's processes import anyzmq from.
SOURCE_VARIABLE = "ANYZMQ_FLOOR_SOURCE"
WARM_UP = 200


def _import_from_source() -> None:
    source = os.environ.get(SOURCE_VARIABLE)
    if source:
        sys.path.insert(0, source)


def serve(peer: str) -> None:
    """Serve ``add`` until stdin closes; print the endpoint first."""
    _import_from_source()
    if peer == "anyzmq-asyncio":
        import anyio

        from anyzmq import rpc

        class Handler(rpc.AttrHandler):
            @rpc.method
            def add(self, a: int, b: int) -> int:
                return a + b

        async def serve_anyzmq() -> None:
            async with rpc.serve_rpc(Handler(), max_concurrent_calls=None) as server:
                print(server.transport.bind(f"{LOOPBACK}:*"), flush=True)
                await anyio.to_thread.run_sync(sys.stdin.read)

        anyio.run(serve_anyzmq)
    elif peer == "aiozmq":
        import aiozmq.rpc as aiorpc

        class AioHandler(aiorpc.AttrHandler):  # type: ignore[misc]
            @aiorpc.method  # type: ignore[untyped-decorator]
            def add(self, a: int, b: int) -> int:
                return a + b

        async def serve_aiozmq() -> None:
            server = await aiorpc.serve_rpc(AioHandler(), bind=f"{LOOPBACK}:*")
            print(next(iter(server.transport.bindings())), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            server.close()

        asyncio.run(serve_aiozmq())
    else:
        asyncio.run(_serve_bare(peer))


async def _serve_bare(peer: str) -> None:
    import msgpack
    import zmq

    sock = zmq.Context.instance().socket(zmq.ROUTER)
    port = sock.bind_to_random_port(LOOPBACK)
    print(f"{LOOPBACK}:{port}", flush=True)
    loop = asyncio.get_running_loop()

    def answer_all() -> None:
        # The FD only signals a change: receive until ZeroMQ reports no input.
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            peer_id, _name, args = sock.recv_multipart(zmq.NOBLOCK)
            a, b = msgpack.unpackb(args)
            sock.send_multipart([peer_id, msgpack.packb(a + b)], zmq.NOBLOCK)

    if peer == "callbacks":
        loop.add_reader(sock.FD, answer_all)
    else:
        _start_pump(loop, sock, answer_all)
    await loop.run_in_executor(None, sys.stdin.read)
    loop.remove_reader(sock.FD)
    sock.close(linger=0)


def _start_pump(
    loop: asyncio.AbstractEventLoop, sock: Any, receive: Callable[[], None]
) -> Callable[[], None]:
    """Start a task that calls ``receive`` whenever the reader callback sees input.

    Returns the probe: the reader callback, to call after a send as well (a send
    may take the FD's edge)."""
    import zmq

    parked: list[asyncio.Future[None]] = []

    def probe() -> None:
        if parked and sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            parked.pop().set_result(None)

    async def pump() -> None:
        while True:
            receive()
            parked.append(loop.create_future())
            await parked[-1]

    loop.add_reader(sock.FD, probe)
    _tasks.add(loop.create_task(pump()))
    return probe


_tasks: set[asyncio.Task[None]] = set()  # strong references to the pumps


def call(peer: str, endpoint: str, n: int) -> dict[str, float]:
    """Make ``n`` timed sequential calls after a warm-up; per-call figures."""
    _import_from_source()
    if peer == "anyzmq-asyncio":
        import anyio

        from anyzmq import rpc

        async def call_anyzmq() -> list[float]:
            async with rpc.connect_rpc(connect=endpoint, timeout=60) as client:
                return await _timed(client.call.add, n)

        latencies = anyio.run(call_anyzmq)
    elif peer == "aiozmq":
        import aiozmq.rpc as aiorpc

        async def call_aiozmq() -> list[float]:
            client = await aiorpc.connect_rpc(connect=endpoint, timeout=60)
            try:
                return await _timed(client.call.add, n)
            finally:
                client.close()

        latencies = asyncio.run(call_aiozmq())
    else:
        latencies = asyncio.run(_call_bare(peer, endpoint, n))
    return {"p50_us": statistics.median(latencies) * 1e6, "calls_per_s": n / sum(latencies)}


async def _timed(add: Callable[[int, int], Any], n: int) -> list[float]:
    for i in range(WARM_UP):
        assert await add(i, 1) == i + 1
    latencies = []
    for i in range(n):
        sent = time.perf_counter()
        result = await add(i, 1)
        latencies.append(time.perf_counter() - sent)
        assert result == i + 1
    return latencies


async def _call_bare(peer: str, endpoint: str, n: int) -> list[float]:
    import msgpack
    import zmq

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.connect(endpoint)
    loop = asyncio.get_running_loop()
    waiting: list[asyncio.Future[Any]] = []

    def resolve_all() -> None:
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            (body,) = sock.recv_multipart(zmq.NOBLOCK)
            waiting.pop().set_result(msgpack.unpackb(body))

    if peer == "callbacks":
        loop.add_reader(sock.FD, resolve_all)
        after_send = lambda: loop.call_soon(resolve_all)  # noqa: E731  (aiozmq looks on the next turn)
    else:
        after_send = _start_pump(loop, sock, resolve_all)  # anyzmq looks at once

    async def add(a: int, b: int) -> Any:
        answer = loop.create_future()
        waiting.append(answer)
        sock.send_multipart([b"add", msgpack.packb([a, b])], zmq.NOBLOCK)
        after_send()
        return await answer

    latencies = await _timed(add, n)
    loop.remove_reader(sock.FD)
    sock.close(linger=0)
    return latencies


def run_pair(peer: str, n: int, source: str | None = None) -> dict[str, float]:
    """Run one server and one client of ``peer`` (from ``source``, for anyzmq)."""
    env = dict(os.environ)
    env.pop(SOURCE_VARIABLE, None)
    if source is not None:
        env[SOURCE_VARIABLE] = source
    server = subprocess.Popen(
        [sys.executable, __file__, "serve", peer],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        client = subprocess.run(
            [sys.executable, __file__, "call", peer, endpoint, str(n)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            env=env,
        )
        p50, rate = client.stdout.split()
        return {"p50_us": float(p50), "calls_per_s": float(rate)}
    finally:
        server.communicate("", timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("-n", "--calls", type=int, default=3000)
    parser.add_argument("-p", "--peer", action="append", choices=PEERS)
    parser.add_argument(
        "-s",
        "--source",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="add a peer NAME: anyzmq on asyncio imported from the source tree PATH",
    )
    options = parser.parse_args()
    sources: dict[str, str] = {}
    for item in options.source:
        name, _, path = item.partition("=")
        if not name or not path or name in PEERS or name in sources:
            parser.error(f"-s wants NAME=PATH with a new name, got {item!r}")
        if not os.path.isdir(os.path.join(path, "anyzmq")):
            parser.error(f"{path!r} holds no anyzmq package")
        sources[name] = os.path.abspath(path)
    peers = (options.peer or ([] if sources else list(PEERS))) + list(sources)
    runs: dict[str, list[dict[str, float]]] = {peer: [] for peer in peers}
    for round_ in range(options.rounds):
        order = peers[round_ % len(peers) :] + peers[: round_ % len(peers)]
        for peer in order:
            if peer in sources:
                result = run_pair("anyzmq-asyncio", options.calls, sources[peer])
            else:
                result = run_pair(peer, options.calls)
            runs[peer].append(result)
            print(f"[{round_ + 1}/{options.rounds}] {peer:15s} {result}", flush=True)
    print(
        "\n| peer | p50 µs | calls/s | vs aiozmq, by p50 | vs aiozmq, by calls/s |"
        "\n|---|---|---|---|---|"
    )
    for peer in peers:
        p50 = statistics.median(r["p50_us"] for r in runs[peer])
        rate = statistics.median(r["calls_per_s"] for r in runs[peer])
        if "aiozmq" in runs:
            # Ratios within each round (the machine's load moves both peers), then
            # their median: steadier than a ratio of medians taken apart.
            pairs = list(zip(runs[peer], runs["aiozmq"], strict=True))
            by_p50 = statistics.median(base["p50_us"] / run["p50_us"] for run, base in pairs)
            by_rate = statistics.median(
                run["calls_per_s"] / base["calls_per_s"] for run, base in pairs
            )
            ratios = f"{by_p50:.2f}x | {by_rate:.2f}x"
        else:
            ratios = "n/a | n/a"
        print(f"| {peer} | {p50:,.0f} | {rate:,.0f} | {ratios} |")
    named = [peer for peer in peers if peer in sources or peer == "anyzmq-asyncio"]
    if len(named) > 1:
        print(
            "\n| versions | latency of the first over the second, same round (median) "
            "| rounds the second was faster |"
        )
        print("|---|---|---|")
    for index, first in enumerate(named):
        for second in named[index + 1 :]:
            same_rounds = zip(runs[first], runs[second], strict=True)
            latency_ratios = [a["p50_us"] / b["p50_us"] for a, b in same_rounds]
            faster = sum(ratio > 1 for ratio in latency_ratios)
            median = statistics.median(latency_ratios)
            print(f"| {first} / {second} | {median:.3f} | {faster} of {len(latency_ratios)} |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) > 4 and sys.argv[1] == "call":
        figures = call(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        print(figures["p50_us"], figures["calls_per_s"])
    else:
        main()
