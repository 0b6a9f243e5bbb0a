"""The ``stream`` workloads: one stream of N items of random bytes from server to
client, read with ``async for`` (anyzmq) or by a plain pyzmq DEALER that grants
credit every half window to a ROUTER loop (the limit). aiozmq has no streams.

Both sides use the same window: 256 items for small items, and 16 MiB (64 items)
for 256 KiB items, anyzmq's defaults. Every item is checked for its size.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgpack
import zmq
from workloads import Endpoints, check, echo_payload

#: Item size of each stream workload, in bytes of random payload.
STREAM_PAYLOADS = {"stream": 64, "stream-256k": 256 << 10}
#: Items per stream; ``--quick`` divides them by ten.
STREAM_SIZES = {"stream": 200_000, "stream-256k": 4_000}
#: The number each stream workload is judged by.
STREAM_HEADLINE = {"stream": "items_per_s", "stream-256k": "mb_per_s"}
#: The pyzmq loop's window in items (anyzmq's item or byte window, whichever binds).
PLAIN_WINDOW = {64: 256, 256 << 10: 64}

Opener = Callable[..., AbstractAsyncContextManager[AsyncIterator[Any]]]


def with_streams(base: type[Any]) -> type[Any]:
    """``base`` (the benchmark's anyzmq RPC handler) with the stream method ``items``."""
    from anyzmq import rpc

    class Streaming(base):  # type: ignore[misc, valid-type]
        @rpc.method
        async def items(self, n: int, size: int) -> AsyncIterator[bytes]:
            payload = echo_payload(size)
            for _ in range(n):
                yield payload

    return Streaming


def stream_workload(size: int) -> Callable[[Any, Endpoints, int], Any]:
    """Read one stream of ``n`` items of ``size`` bytes: items/s and MB/s of payload."""

    async def run(adapter: Any, ends: Endpoints, n: int) -> dict[str, float]:
        opener: Opener
        async with adapter.streams(ends.service) as opener:
            async with opener("items", 100, size) as warm_up:
                async for item in warm_up:
                    check(len(item) == size, "warm-up item")
            count = 0
            start = time.perf_counter()
            async with opener("items", n, size) as items:
                async for item in items:
                    check(len(item) == size, "item")
                    count += 1
            elapsed = time.perf_counter() - start
        check(count == n, f"{count} items of {n}")
        return {"items_per_s": n / elapsed, "mb_per_s": n * size / elapsed / 1e6}

    return run


STREAM_WORKLOADS = {name: stream_workload(size) for name, size in STREAM_PAYLOADS.items()}


# The plain pyzmq loop. A stream request is [id, msgpack(["items", [n, size]])];
# items are [id, msgpack(payload)], the end [id, b""]; credit is [id, b"credit", count].


def plain_serve_items(
    sock: zmq.Socket[bytes], identity: bytes, request_id: bytes, args: Any
) -> None:
    """Send a stream from the pyzmq ROUTER loop, within the window."""
    n, size = args
    window = PLAIN_WINDOW[size]
    payload = echo_payload(size)
    in_flight = 0
    for _ in range(n):
        while in_flight >= window:
            _identity, _id, _credit, count = sock.recv_multipart()
            in_flight -= int.from_bytes(count, "little")
        # Packed per item, as a library packs what a generator yields.
        sock.send_multipart([identity, request_id, msgpack.packb(payload)])
        in_flight += 1
    sock.send_multipart([identity, request_id, b""])


def plain_read_items(sock: zmq.Socket[bytes], n: int, size: int) -> int:
    """Read a stream with the pyzmq DEALER, granting credit every half window."""
    window = PLAIN_WINDOW[size]
    request_id = (1).to_bytes(8, "little")
    sock.send_multipart([request_id, msgpack.packb(["items", [n, size]])])
    count = taken = 0
    while True:
        _id, body = sock.recv_multipart()
        if not body:
            return count
        check(len(msgpack.unpackb(body)) == size, "item")
        count += 1
        taken += 1
        if taken * 2 >= window:
            sock.send_multipart([request_id, b"credit", taken.to_bytes(4, "little")])
            taken = 0


def plain_stream(sock: zmq.Socket[bytes], workload: str, n: int) -> dict[str, float]:
    size = STREAM_PAYLOADS[workload]
    check(plain_read_items(sock, 100, size) == 100, "warm-up items")
    start = time.perf_counter()
    count = plain_read_items(sock, n, size)
    elapsed = time.perf_counter() - start
    check(count == n, f"{count} items of {n}")
    return {"items_per_s": n / elapsed, "mb_per_s": n * size / elapsed / 1e6}
