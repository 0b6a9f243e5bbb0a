"""Server CPU per call of anyzmq's RPC server, driven by a plain synchronous pyzmq client.

    python benchmarks/server_cpu.py asyncio            # sync method, one call in flight
    python benchmarks/server_cpu.py trio --method aecho --in-flight 20
    PYTHONPATH=path/to/other/src python benchmarks/server_cpu.py asyncio   # another version
    python benchmarks/server_cpu.py plain --size 262144   # a plain synchronous pyzmq server

The client is as cheap as a client can be, so the figure is the server's own cost:
CPU time (user + system, from /proc, Linux only) of the server process over the calls,
divided by their number. Steadier than throughput on a shared machine; alternate the
versions you compare and take medians.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys

import msgpack
import zmq

SERVER = """
import sys, anyio
from anyzmq import rpc

class Handler(rpc.AttrHandler):
    @rpc.method
    def echo(self, value):
        return value

    @rpc.method
    async def aecho(self, value):
        return value

async def main():
    async with rpc.serve_rpc(
        Handler(), bind="tcp://127.0.0.1:*", max_concurrent_calls=None
    ) as server:
        (endpoint,) = server.transport.bindings()
        print(endpoint, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)

anyio.run(main, backend=sys.argv[1])
"""

#: The least a server can do: a synchronous ROUTER loop that decodes the arguments
#: and encodes the answer as anyzmq's server does, with pyzmq's default (copying)
#: receives and sends.
PLAIN_SERVER = """
import struct, msgpack, zmq

sock = zmq.Context.instance().socket(zmq.ROUTER)
sock.bind_to_random_port("tcp://127.0.0.1")
print(sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
while True:  # until killed
    peer, header, _name, args, _kwargs = sock.recv_multipart()
    (value,) = msgpack.unpackb(args)
    _, _, request_id, _ = struct.unpack("<HHLd", header)
    answer = struct.pack("<HHLd?", 1, 2, request_id, 0.0, False)
    sock.send_multipart([peer, answer, msgpack.packb(value)])
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(endpoint: str, calls: int, method: bytes, in_flight: int, size: int) -> None:
    """``calls`` requests of ``size`` random bytes, ``in_flight`` at a time, each
    answer checked."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    payload = os.urandom(size)
    args, kwargs = msgpack.packb([payload]), msgpack.packb({})
    sent = received = 0

    def send() -> None:
        nonlocal sent
        sent += 1
        sock.send_multipart([struct.pack("<HHLd", 1, 2, sent, 0.0), method, args, kwargs])

    for _ in range(min(in_flight, calls)):
        send()
    while received < calls:
        _header, body = sock.recv_multipart()
        if msgpack.unpackb(body) != payload:
            raise AssertionError("wrong answer")
        received += 1
        if sent < calls:
            send()
    sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backend", choices=["asyncio", "trio", "plain"])
    parser.add_argument("--method", choices=["echo", "aecho"], default="echo")
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--size", type=int, default=50, help="payload bytes (default 50)")
    options = parser.parse_args()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PLAIN_SERVER if options.backend == "plain" else SERVER,
            options.backend,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        endpoint = server.stdout.readline().strip()
        drive(endpoint, 200, options.method.encode(), options.in_flight, options.size)  # warm-up
        before = cpu_seconds(server.pid)
        drive(endpoint, options.calls, options.method.encode(), options.in_flight, options.size)
        used = cpu_seconds(server.pid) - before
    finally:
        server.stdin.close()
        if options.backend == "plain":
            server.kill()
        server.wait(timeout=30)
    print(f"server CPU per call: {used / options.calls * 1e6:.0f} us")


if __name__ == "__main__":
    main()
