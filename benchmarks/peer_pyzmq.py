"""The limit: a plain synchronous pyzmq DEALER/ROUTER loop with msgpack, no RPC
library. ``serve KIND`` or ``client WORKLOAD N SERVICE CONTROL``.

Requests are ``[id, msgpack([name, args])]``, answers ``[id, msgpack(result)]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from typing import Any

import msgpack
import zmq
from control import ControlClient, ControlServer, Counter, resident_bytes
from streams import STREAM_PAYLOADS, plain_serve_items, plain_stream
from workloads import (
    MAX_MESSAGE_SIZE,
    PAYLOADS,
    echo_payload,
    page_faults,
    peak_resident_bytes,
    warm_up_calls,
)

LOOPBACK = "tcp://127.0.0.1:*"
context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()


def socket(kind: int) -> zmq.Socket[bytes]:
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_SIZE)
    return sock


def serve_rpc(sock: zmq.Socket[bytes], held: Counter) -> None:
    holding: list[list[bytes]] = []
    while True:
        frames = sock.recv_multipart()
        if len(frames) != 3:
            continue  # a stream's credit that came after its end
        identity, request_id, body = frames
        name, args = msgpack.unpackb(body)
        if name == "add":
            result: Any = args[0] + args[1]
        elif name == "echo":
            result = args[0]
        elif name == "items":  # the stream workloads
            plain_serve_items(sock, identity, request_id, args)
            continue
        elif name == "hold":
            holding.append([identity, request_id, msgpack.packb(args[0])])
            held.add()
            continue
        else:  # release
            for answer in holding:
                sock.send_multipart(answer)
            holding.clear()
            result = None
        sock.send_multipart([identity, request_id, msgpack.packb(result)])


def serve_pull(sock: zmq.Socket[bytes], counter: Counter) -> None:
    while True:
        msgpack.unpackb(sock.recv_multipart()[1])
        counter.add()


def serve_subs(socks: list[zmq.Socket[bytes]], counters: list[Counter]) -> None:
    poller = zmq.Poller()
    for sock in socks:
        poller.register(sock, zmq.POLLIN)
    while True:
        for sock, _ in poller.poll():
            counter = counters[socks.index(sock)]
            while True:
                try:
                    _topic, body = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                name, _args = msgpack.unpackb(body)
                if name == "probe":
                    counter.probed = True
                else:
                    counter.add()


def serve(kind: str) -> None:
    if kind == "rpc":
        counters = [Counter()]
        sock = socket(zmq.ROUTER)
        sock.bind(LOOPBACK)
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        target: Any = serve_rpc
        args: Any = (sock, counters[0])
    elif kind == "pipeline":
        counters = [Counter()]
        sock = socket(zmq.PULL)
        sock.bind(LOOPBACK)
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        target, args = serve_pull, (sock, counters[0])
    else:
        counters = [Counter() for _ in range(4)]
        socks = []
        for _ in counters:
            sub = socket(zmq.SUB)
            sub.setsockopt(zmq.SUBSCRIBE, b"t")
            sub.bind(LOOPBACK)
            socks.append(sub)
        endpoint = ",".join(s.getsockopt_string(zmq.LAST_ENDPOINT) for s in socks)
        target, args = serve_subs, (socks, counters)
    control = ControlServer(counters)
    print(endpoint, control.endpoint, flush=True)
    threading.Thread(target=target, args=args, daemon=True).start()
    sys.stdin.read()


def dealer(endpoint: str) -> zmq.Socket[bytes]:
    sock = socket(zmq.DEALER)
    sock.connect(endpoint)
    return sock


def request(sock: zmq.Socket[bytes], request_id: int, name: str, *args: Any) -> None:
    sock.send_multipart([request_id.to_bytes(8, "little"), msgpack.packb([name, args])])


def answer(sock: zmq.Socket[bytes]) -> tuple[int, Any]:
    request_id, body = sock.recv_multipart()
    return int.from_bytes(request_id, "little"), msgpack.unpackb(body)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(f"wrong answer: {what}")


def in_flight(socks: list[zmq.Socket[bytes]], n: int, per_socket: int) -> tuple[float, list[float]]:
    """``n`` add calls over ``socks``, ``per_socket`` in flight on each."""
    poller = zmq.Poller()
    for sock in socks:
        poller.register(sock, zmq.POLLIN)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    next_id = 0
    start = time.perf_counter()
    for sock in socks:
        for _ in range(per_socket):
            sent_at[next_id] = time.perf_counter()
            request(sock, next_id, "add", next_id, 1)
            next_id += 1
    while len(latencies) < n:
        for sock, _ in poller.poll():
            while True:
                try:
                    request_id, result = answer_nowait(sock)
                except zmq.Again:
                    break
                latencies.append(time.perf_counter() - sent_at.pop(request_id))
                check(result == request_id + 1, "add")
                if next_id < n:
                    sent_at[next_id] = time.perf_counter()
                    request(sock, next_id, "add", next_id, 1)
                    next_id += 1
    return time.perf_counter() - start, latencies


def answer_nowait(sock: zmq.Socket[bytes]) -> tuple[int, Any]:
    request_id, body = sock.recv_multipart(zmq.NOBLOCK)
    return int.from_bytes(request_id, "little"), msgpack.unpackb(body)


def echo(n: int, service: str, size: int) -> dict[str, float]:
    """The echo workloads (``workloads.echo_workload``), synchronously."""
    before = resident_bytes()
    payload = echo_payload(size)
    sock = dealer(service)
    for i in range(warm_up_calls(n)):
        request(sock, i, "echo", payload)
        check(answer(sock) == (i, payload), "warm-up echo")
    faults = page_faults()
    start = time.perf_counter()
    for i in range(n):
        request(sock, i, "echo", payload)
        check(answer(sock) == (i, payload), "echo")
    elapsed = time.perf_counter() - start
    faults = page_faults() - faults
    sock.close()
    return {
        "mb_per_s": n * size / elapsed / 1e6,
        "client_faults_per_op": faults / n,
        "client_peak_x": (peak_resident_bytes() - before) / size,
    }


def client(workload: str, n: int, service: str, control_endpoint: str) -> dict[str, float]:
    if workload in STREAM_PAYLOADS:
        sock = dealer(service)
        try:
            return plain_stream(sock, workload, n)
        finally:
            sock.close()
    if workload in PAYLOADS:
        return echo(n, service, PAYLOADS[workload])
    if workload == "seq":
        sock = dealer(service)
        latencies = []
        start = time.perf_counter()
        for i in range(n):
            sent = time.perf_counter()
            request(sock, i, "add", i, 1)
            check(answer(sock) == (i, i + 1), "add")
            latencies.append(time.perf_counter() - sent)
        elapsed = time.perf_counter() - start
        sock.close()
        latencies.sort()
        return {
            "calls_per_s": n / elapsed,
            "p50_us": latencies[n // 2] * 1e6,
            "p99_us": latencies[int(n * 0.99)] * 1e6,
        }
    if workload in ("conc", "fanin", "latency"):
        socks = [dealer(service) for _ in range(20 if workload == "fanin" else 1)]
        in_flight(socks, 1000, 10)
        try:
            if workload == "latency":
                return {
                    f"p50_us_at_{k}": statistics.median(in_flight(socks, max(n, 5 * k), k)[1]) * 1e6
                    for k in (1, 10, 100, 1000)
                }
            elapsed, latencies = in_flight(socks, n, 10 if workload == "fanin" else 100)
            return {"calls_per_s": n / elapsed, "p50_us": statistics.median(latencies) * 1e6}
        finally:
            for sock in socks:
                sock.close()
    control = ControlClient(control_endpoint)
    try:
        if workload == "notify":
            push = socket(zmq.PUSH)
            push.connect(service)
            control.request("expect", n)
            start = time.perf_counter()
            for i in range(n):
                push.send_multipart([b"notify", msgpack.packb(["notify", [i]])])
            counts = control.request("wait")
            elapsed = time.perf_counter() - start
            push.close()
            check(counts == [n], "notifications")
            return {"msgs_per_s": n / elapsed}
        if workload == "pubsub":
            pub = socket(zmq.PUB)
            for address in service.split(","):
                pub.connect(address)
            while not control.request("ready"):
                pub.send_multipart([b"t", msgpack.packb(["probe", []])])
                time.sleep(0.01)
            start = time.perf_counter()
            for first in range(0, n, 1000):
                control.request("expect", 1000)
                for i in range(first, first + 1000):
                    pub.send_multipart([b"t", msgpack.packb(["msg", [i]])])
                check(control.request("wait") == [1000] * 4, "published messages")
            elapsed = time.perf_counter() - start
            pub.close()
            return {"msgs_per_s": n / elapsed}
    finally:
        control.close()
    return {}  # memory: not meaningful for a loop that keeps no per-call state


def main() -> None:
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        workload, n, service, control = sys.argv[2:6]
        print(json.dumps(client(workload, int(n), service, control)), flush=True)


if __name__ == "__main__":
    main()
