"""A second harness for the echo workload, written the way a new user would measure
(none of run.py's adapters, control thread or call timeout), to check run.py against.

    python benchmarks/outside.py PEER [SIZE] [N] [--timeout SECONDS]

PEER is ``anyzmq-asyncio``, ``anyzmq-uvloop``, ``anyzmq-trio``, ``aiozmq`` or
``pyzmq-sync``. The server process hosts an RPC server and a pipeline server; the
client makes N sequential ``echo(payload)`` calls of SIZE random bytes after
N // 25 warm-up calls and prints MB/s, each process's minor page faults per call and
the client's peak resident memory (Linux). Defaults: 256 KiB, 500 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
import time
from typing import Any

LIMIT = 64 << 20
LOOPBACK = "tcp://127.0.0.1:*"
_faults_at_start: list[int] = []  # the client's page faults when the timed calls start


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def process_faults(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[7])


def run_anyio(main: Any, backend: str, *args: Any) -> Any:
    import anyio

    if backend == "uvloop":
        return anyio.run(main, *args, backend="asyncio", backend_options={"use_uvloop": True})
    return anyio.run(main, *args, backend=backend)


def serve(peer: str) -> None:
    if peer == "aiozmq":
        import aiozmq.rpc as aiorpc
        import zmq

        class AioHandler(aiorpc.AttrHandler):  # type: ignore[misc]
            @aiorpc.method  # type: ignore[untyped-decorator]
            def echo(self, value: Any) -> Any:
                return value

        async def main_aiozmq() -> None:
            server = await aiorpc.serve_rpc(AioHandler(), bind=LOOPBACK)
            await aiorpc.serve_pipeline(AioHandler(), bind=LOOPBACK)
            server.transport.setsockopt(zmq.MAXMSGSIZE, LIMIT)
            print(next(iter(server.transport.bindings())), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

        asyncio.run(main_aiozmq())
    elif peer.startswith("anyzmq-"):
        import anyio

        from anyzmq import rpc

        class Handler(rpc.AttrHandler):
            @rpc.method
            def echo(self, value: Any) -> Any:
                return value

        async def main_anyzmq() -> None:
            async with (
                rpc.serve_rpc(Handler(), bind=LOOPBACK, max_message_size=LIMIT) as server,
                rpc.serve_pipeline(Handler(), bind=LOOPBACK),
            ):
                print(next(iter(server.transport.bindings())), flush=True)
                await anyio.to_thread.run_sync(sys.stdin.read)

        run_anyio(main_anyzmq, peer.removeprefix("anyzmq-"))
    else:
        import msgpack
        import zmq

        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.ROUTER)
        sock.setsockopt(zmq.MAXMSGSIZE, LIMIT)
        sock.bind(LOOPBACK)
        print(sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)

        def loop() -> None:
            while True:
                identity, request_id, body = sock.recv_multipart()
                sock.send_multipart(
                    [identity, request_id, msgpack.packb(msgpack.unpackb(body)[1][0])]
                )

        threading.Thread(target=loop, daemon=True).start()
        sys.stdin.read()


def client(peer: str, endpoint: str, size: int, n: int, timeout: float | None) -> dict[str, float]:
    payload = os.urandom(size)
    warm = max(2, n // 25)
    if peer == "aiozmq":
        import aiozmq.rpc as aiorpc

        async def main_aiozmq() -> float:
            rpc_client = await aiorpc.connect_rpc(connect=endpoint, timeout=timeout)
            for _ in range(warm):
                assert await rpc_client.call.echo(payload) == payload
            _faults_at_start.append(faults())
            start = time.perf_counter()
            for _ in range(n):
                assert await rpc_client.call.echo(payload) == payload
            elapsed = time.perf_counter() - start
            rpc_client.close()
            await rpc_client.wait_closed()
            return elapsed

        elapsed = asyncio.run(main_aiozmq())
    elif peer.startswith("anyzmq-"):
        from anyzmq import rpc

        async def main_anyzmq() -> float:
            async with rpc.connect_rpc(
                connect=endpoint, max_message_size=LIMIT, timeout=timeout
            ) as rpc_client:
                for _ in range(warm):
                    assert await rpc_client.call.echo(payload) == payload
                _faults_at_start.append(faults())
                start = time.perf_counter()
                for _ in range(n):
                    assert await rpc_client.call.echo(payload) == payload
                return time.perf_counter() - start

        elapsed = run_anyio(main_anyzmq, peer.removeprefix("anyzmq-"))
    else:
        import msgpack
        import zmq

        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.MAXMSGSIZE, LIMIT)
        sock.connect(endpoint)

        def call(i: int) -> None:
            sock.send_multipart([i.to_bytes(8, "little"), msgpack.packb(["echo", [payload]])])
            assert msgpack.unpackb(sock.recv_multipart()[1]) == payload

        for i in range(warm):
            call(i)
        _faults_at_start.append(faults())
        start = time.perf_counter()
        for i in range(n):
            call(i)
        elapsed = time.perf_counter() - start
        sock.close(linger=0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "mb_per_s": n * size / elapsed / 1e6,
        "client_faults_per_call": (usage.ru_minflt - _faults_at_start[0]) / n,
        "client_peak_mb": usage.ru_maxrss / 1024,
    }


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
        return
    if sys.argv[1:2] == ["--client"]:
        peer, endpoint, size, n, timeout = sys.argv[2:7]
        result = client(peer, endpoint, int(size), int(n), float(timeout) or None)
        print(json.dumps(result), flush=True)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("peer")
    parser.add_argument("size", nargs="?", type=int, default=256 << 10)
    parser.add_argument("n", nargs="?", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=0.0, help="call timeout (0: none)")
    args = parser.parse_args()
    me = [sys.executable, __file__]
    server = subprocess.Popen(
        [*me, "--serve", args.peer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        endpoint = server.stdout.readline().strip()
        server_faults = process_faults(server.pid)
        done = subprocess.run(
            [*me, "--client", args.peer, endpoint, str(args.size), str(args.n), str(args.timeout)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        calls = args.n + max(2, args.n // 25)  # the server's count includes the warm-up
        result["server_faults_per_call"] = (process_faults(server.pid) - server_faults) / calls
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    print(args.peer, json.dumps({k: round(v, 1) for k, v in result.items()}))


if __name__ == "__main__":
    main()
