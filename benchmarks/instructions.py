"""Instructions per sequential call, counted by valgrind's callgrind: a measure of
per-call cost that does not move with the machine's load.

    python benchmarks/instructions.py                     # every peer
    python benchmarks/instructions.py -p anyzmq-asyncio   # one peer
    PYTHONPATH=path/to/other/src python benchmarks/instructions.py -p anyzmq-asyncio

Each peer's server and client run in their own processes under callgrind, over
tcp://127.0.0.1, once with ``--calls`` sequential ``add(i, 1)`` calls and once with
five times as many; the difference, divided by the extra calls, is what one call
costs each process's main thread (start-up and shutdown cancel out). ZeroMQ's I/O
threads and the kernel are not counted: compare versions of the Python side with
it, and check wall-clock effects with ``run.py``. Needs valgrind (Linux); runs take
a minute or two per peer.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile

ANYZMQ_SERVER = """
import sys, anyio
from anyzmq import rpc

class Handler(rpc.AttrHandler):
    @rpc.method
    def add(self, a, b):
        return a + b

async def main():
    async with rpc.serve_rpc(Handler(), max_concurrent_calls=None) as server:
        print(server.transport.bind("tcp://127.0.0.1:*"), flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)

anyio.run(main, backend=sys.argv[1])
"""

ANYZMQ_CLIENT = """
import sys, anyio
from anyzmq import rpc

async def main(endpoint, calls):
    async with rpc.connect_rpc(connect=endpoint, timeout=60) as client:
        for i in range(calls):
            assert await client.call.add(i, 1) == i + 1

anyio.run(main, sys.argv[1], int(sys.argv[2]), backend=sys.argv[3])
"""

AIOZMQ_SERVER = """
import sys, asyncio, aiozmq.rpc

class Handler(aiozmq.rpc.AttrHandler):
    @aiozmq.rpc.method
    def add(self, a, b):
        return a + b

async def main():
    server = await aiozmq.rpc.serve_rpc(Handler(), bind="tcp://127.0.0.1:*")
    print(next(iter(server.transport.bindings())), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()

asyncio.run(main())
"""

AIOZMQ_CLIENT = """
import sys, asyncio, aiozmq.rpc

async def main(endpoint, calls):
    client = await aiozmq.rpc.connect_rpc(connect=endpoint, timeout=60)
    for i in range(calls):
        assert await client.call.add(i, 1) == i + 1
    client.close()
    await client.wait_closed()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

#: A synchronous ROUTER loop speaking aiozmq's wire format: the least a server does.
PLAIN_SERVER = """
import struct, sys, msgpack, zmq

sock = zmq.Context.instance().socket(zmq.ROUTER)
sock.bind_to_random_port("tcp://127.0.0.1")
print(sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
for _ in range(int(sys.stdin.readline())):
    peer, header, _name, args, _kwargs = sock.recv_multipart()
    a, b = msgpack.unpackb(args)
    request_id = struct.unpack("<HHLd", header)[2]
    answer = struct.pack("<HHLd?", 1, 2, request_id, 0.0, False)
    sock.send_multipart([peer, answer, msgpack.packb(a + b)])
sock.close(linger=0)
"""

PLAIN_CLIENT = """
import struct, sys, msgpack, zmq

sock = zmq.Context.instance().socket(zmq.DEALER)
sock.connect(sys.argv[1])
for i in range(int(sys.argv[2])):
    header = struct.pack("<HHLd", 1, 2, i, 0.0)
    sock.send_multipart([header, b"add", msgpack.packb([i, 1]), msgpack.packb({})])
    _header, body = sock.recv_multipart()
    assert msgpack.unpackb(body) == i + 1
sock.close(linger=0)
"""

#: peer -> (server code, client code, backend argument or None)
PEERS = {
    "anyzmq-asyncio": (ANYZMQ_SERVER, ANYZMQ_CLIENT, "asyncio"),
    "anyzmq-trio": (ANYZMQ_SERVER, ANYZMQ_CLIENT, "trio"),
    "aiozmq": (AIOZMQ_SERVER, AIOZMQ_CLIENT, None),
    "pyzmq-sync": (PLAIN_SERVER, PLAIN_CLIENT, None),
}


def _callgrind(output: pathlib.Path) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        f"--callgrind-out-file={output}.%p",
        sys.executable,
        "-c",
    ]


def _main_thread_total(directory: pathlib.Path, role: str) -> int:
    """The instructions counted in the main thread of the ``role`` process."""
    (path,) = directory.glob(f"{role}.*-01")
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def run_pair(peer: str, calls: int) -> tuple[int, int]:
    """Instructions of the server's and the client's main threads for ``calls`` calls."""
    server_code, client_code, backend = PEERS[peer]
    extra = [] if backend is None else [backend]
    with tempfile.TemporaryDirectory() as tmp:
        directory = pathlib.Path(tmp)
        server = subprocess.Popen(
            [*_callgrind(directory / "server"), server_code, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert server.stdin is not None
        assert server.stdout is not None
        try:
            if peer == "pyzmq-sync":  # serves a known number of calls, then exits
                server.stdin.write(f"{calls}\n")
                server.stdin.flush()
            endpoint = server.stdout.readline().strip()
            subprocess.run(
                [*_callgrind(directory / "client"), client_code, endpoint, str(calls), *extra],
                check=True,
                stderr=subprocess.DEVNULL,
            )
        finally:
            server.stdin.close()
            server.wait(timeout=300)
        return _main_thread_total(directory, "server"), _main_thread_total(directory, "client")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-p", "--peer", action="append", choices=sorted(PEERS))
    parser.add_argument("--calls", type=int, default=100, help="calls of the short run")
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt install valgrind)")
    print("| peer | server | client | both |")
    print("|---|---|---|---|")
    for peer in options.peer or list(PEERS):
        short = run_pair(peer, options.calls)
        long = run_pair(peer, 5 * options.calls)
        extra_calls = 4 * options.calls
        server, client = ((b - a) / extra_calls / 1000 for a, b in zip(short, long, strict=True))
        print(f"| {peer} | {server:,.1f}k | {client:,.1f}k | {server + client:,.1f}k |", flush=True)


if __name__ == "__main__":
    main()
