"""The workloads, written once against small async "client adapters" so that anyzmq
(on every backend) and aiozmq run exactly the same driver code. Every answer is
checked: a peer that drops or corrupts fails instead of looking fast."""

from __future__ import annotations

import gc
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from control import ControlClient, resident_bytes

Call = Callable[..., Awaitable[Any]]

#: Payload bytes of each echo workload: ``big`` and the size sweep around it.
PAYLOADS = {
    "big-1k": 1 << 10,
    "big-64k": 64 << 10,
    "big": 256 << 10,
    "big-4m": 4 << 20,
    "big-32m": 32 << 20,
}
#: What ``-w sweep`` stands for.
SWEEP = list(PAYLOADS)
#: Every peer's limit on message size in the echo workloads (anyzmq's default,
#: 16 MiB, would refuse the 32 MiB echo).
MAX_MESSAGE_SIZE = 64 << 20

#: Sizes of the workloads; ``--quick`` divides the counts by ten.
SIZES = {
    "seq": 5_000,
    "conc": 30_000,
    "big": 500,
    "notify": 100_000,
    "pubsub": 30_000,
    "fanin": 30_000,
    "memory": 100_000,
    "latency": 5_000,
    "curve": 5_000,
    "big-1k": 5_000,
    "big-64k": 2_000,
    "big-4m": 40,
    "big-32m": 10,
}


def warm_up_calls(n: int) -> int:
    """Echo calls before the measured ones (20 before 500, as an outside harness did)."""
    return max(2, n // 25)


def echo_payload(size: int) -> bytes:
    """Incompressible bytes: what images, arrays and compressed files look like.
    (Content does not change what ZeroMQ or msgpack do; fresh random bytes keep a
    harness from measuring a payload that happens to sit well in memory.)"""
    return os.urandom(size)


def page_faults() -> int:
    """Minor page faults of this process so far (fresh memory touched)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_resident_bytes() -> int:
    """The highest resident memory this process has had (Linux: ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Adapter(Protocol):
    """How a peer's client library is driven by the workloads."""

    def rpc(self, endpoint: str, count: int) -> AbstractAsyncContextManager[list[Call]]:
        """``count`` RPC clients; each item calls ``name(*args)`` remotely."""

    def notifier(self, endpoint: str) -> AbstractAsyncContextManager[Call]:
        """A pipeline client; the item sends one notification ``name(*args)``."""

    def publisher(self, endpoint: str) -> AbstractAsyncContextManager[Call]:
        """A pub-sub client; the item publishes ``name(*args)`` on topic ``"t"``."""


@dataclass
class Endpoints:
    service: str
    control: str


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(f"wrong answer: {what}")


async def seq(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
    async with adapter.rpc(ends.service, 1) as (call,):
        for i in range(100):
            check(await call("add", i, 1) == i + 1, "warm-up add")
        latencies = []
        start = time.perf_counter()
        for i in range(n):
            sent = time.perf_counter()
            result = await call("add", i, 1)
            latencies.append(time.perf_counter() - sent)
            check(result == i + 1, "add")
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "calls_per_s": n / elapsed,
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
    }


async def _in_flight(calls: list[Call], n: int, per_client: int) -> tuple[float, list[float]]:
    """``n`` add calls spread over ``calls``, ``per_client`` in flight on each."""
    workers = [(call, w) for call in calls for w in range(per_client)]
    share = n // len(workers)
    latencies: list[float] = []

    async def worker(call: Call, offset: int) -> None:
        for i in range(offset, offset + share):
            sent = time.perf_counter()
            result = await call("add", i, offset)
            latencies.append(time.perf_counter() - sent)
            check(result == i + offset, "add in flight")

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for number, (call, _) in enumerate(workers):
            tg.start_soon(worker, call, number * share)
    return time.perf_counter() - start, latencies


async def conc(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
    async with adapter.rpc(ends.service, 1) as calls:
        await _in_flight(calls, 1000, 10)  # warm-up
        elapsed, latencies = await _in_flight(calls, n, 100)
    return {"calls_per_s": len(latencies) / elapsed, "p50_us": statistics.median(latencies) * 1e6}


async def fanin(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
    async with adapter.rpc(ends.service, 20) as calls:
        await _in_flight(calls, 2000, 2)  # warm-up
        elapsed, latencies = await _in_flight(calls, n, 10)
    return {"calls_per_s": len(latencies) / elapsed}


async def latency(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
    """Median latency against calls in flight (1, 10, 100, 1000)."""
    result = {}
    async with adapter.rpc(ends.service, 1) as calls:
        await _in_flight(calls, 1000, 10)
        for in_flight in (1, 10, 100, 1000):
            count = max(n, in_flight * 5)
            _, latencies = await _in_flight(calls, count, in_flight)
            result[f"p50_us_at_{in_flight}"] = statistics.median(latencies) * 1e6
    return result


async def curve_cost(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
    """What CURVE costs anyzmq: the same calls to one server process over plain TCP
    and over CURVE (``SERVICE`` is ``plain,curve,server_key``), alternating
    plain, CURVE, plain, CURVE and adding up each: ``n`` sequential ``add`` calls,
    ``n`` calls with 100 in flight, and ``n // 25`` echoes of 256 KiB.
    ``*_curve_ratio`` is CURVE's figure over plain TCP's (below 1: slower)."""
    plain, secure, key = ends.service.split(",")
    curve_rpc = getattr(adapter, "curve_rpc", None)
    if curve_rpc is None:
        raise NotImplementedError("this peer has no CURVE client")
    payload = echo_payload(PAYLOADS["big"])
    echoes = max(2, n // 25)

    async def measure(calls: list[Call]) -> dict[str, float]:
        (call,) = calls
        for i in range(100):
            check(await call("add", i, 1) == i + 1, "warm-up add")
        start = time.perf_counter()
        for i in range(n):
            check(await call("add", i, 1) == i + 1, "add")
        seq = time.perf_counter() - start
        conc, _ = await _in_flight(calls, n, 100)
        start = time.perf_counter()
        for _ in range(echoes):
            check(await call("echo", payload) == payload, "echo")
        big = time.perf_counter() - start
        return {"seq": seq, "conc": conc, "big": big}

    totals = {"plain": dict.fromkeys(("seq", "conc", "big"), 0.0)}
    totals["curve"] = dict(totals["plain"])
    for _ in range(2):
        for name, client in (("plain", adapter.rpc(plain, 1)), ("curve", curve_rpc(secure, key))):
            async with client as calls:
                for part, seconds in (await measure(calls)).items():
                    totals[name][part] += seconds
    result = {}
    for name, times in totals.items():
        result[f"seq_{name}_calls_per_s"] = 2 * n / times["seq"]
        result[f"conc_{name}_calls_per_s"] = 2 * n / times["conc"]
        result[f"big_{name}_mb_per_s"] = 2 * echoes * len(payload) / times["big"] / 1e6
    for part, unit in (("seq", "calls_per_s"), ("conc", "calls_per_s"), ("big", "mb_per_s")):
        result[f"{part}_curve_ratio"] = (
            result[f"{part}_curve_{unit}"] / result[f"{part}_plain_{unit}"]
        )
    return result


def echo_workload(size: int) -> Callable[[Adapter, Endpoints, int], Awaitable[dict[str, float]]]:
    """Sequential ``echo(payload)`` calls of ``size`` random bytes: MB/s of payload
    echoed, and what it cost the client's memory (peak resident memory over what
    it had before the payload existed, in payloads) and page faults per call."""

    async def echo(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
        before = resident_bytes()
        payload = echo_payload(size)
        async with adapter.rpc(ends.service, 1) as (call,):
            for _ in range(warm_up_calls(n)):
                check(await call("echo", payload) == payload, "warm-up echo")
            faults = page_faults()
            start = time.perf_counter()
            for _ in range(n):
                check(await call("echo", payload) == payload, "echo")
            elapsed = time.perf_counter() - start
            faults = page_faults() - faults
        return {
            "mb_per_s": n * size / elapsed / 1e6,
            "client_faults_per_op": faults / n,
            "client_peak_x": (peak_resident_bytes() - before) / size,
        }

    return echo


async def notify(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
    control = ControlClient(ends.control)
    try:
        async with adapter.notifier(ends.service) as send:
            await anyio.to_thread.run_sync(control.request, "expect", 1000)
            for i in range(1000):
                await send("notify", i)
            await anyio.to_thread.run_sync(control.request, "wait")
            control.request("expect", n)
            start = time.perf_counter()
            for i in range(n):
                await send("notify", i)
            counts = await anyio.to_thread.run_sync(control.request, "wait")
            elapsed = time.perf_counter() - start
    finally:
        control.close()
    check(counts == [n], f"notifications received {counts} of {n}")
    return {"msgs_per_s": n / elapsed}


async def pubsub(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
    control = ControlClient(ends.control)
    batch = 1000
    try:
        async with adapter.publisher(ends.service) as publish:
            with anyio.fail_after(30):
                while not control.request("ready"):
                    await publish("probe")
                    await anyio.sleep(0.01)
            start = time.perf_counter()
            for first in range(0, n, batch):  # in batches: PUB drops what overflows
                await anyio.to_thread.run_sync(control.request, "expect", batch)
                for i in range(first, first + batch):
                    await publish("msg", i)
                counts = await anyio.to_thread.run_sync(control.request, "wait")
                check(counts == [batch] * 4, f"a subscriber got {counts} of {batch}")
            elapsed = time.perf_counter() - start
    finally:
        control.close()
    return {"msgs_per_s": n / elapsed}


async def memory(adapter: Adapter, ends: Endpoints, n: int) -> dict[str, float]:
    """Resident memory per pending call, with ``n`` calls held by the server.

    ``bytes_per_call`` is the client's whole growth divided by ``n``; it includes
    the caller's own task. ``library_bytes_per_call`` subtracts what ``n`` bare
    tasks waiting on an event cost in the same process, leaving the library's share.
    """
    control = ControlClient(ends.control)
    try:
        baseline = await _bare_task_bytes(n)
        async with adapter.rpc(ends.service, 1) as (call,):
            check(await call("add", 1, 1) == 2, "warm-up")
            gc.collect()
            before = resident_bytes()
            control.request("expect", n)
            results: list[Any] = []

            async def hold(i: int) -> None:
                results.append(await call("hold", i))

            async with anyio.create_task_group() as tg:
                for i in range(n):
                    tg.start_soon(hold, i)
                await anyio.to_thread.run_sync(control.request, "wait")
                gc.collect()
                during = resident_bytes()
                check(await call("release") is None, "release")
            check(sorted(results) == list(range(n)), "held calls")
    finally:
        control.close()
    per_call = (during - before) / n
    return {"bytes_per_call": per_call, "library_bytes_per_call": per_call - baseline}


async def _bare_task_bytes(n: int) -> float:
    event = anyio.Event()
    gc.collect()
    before = resident_bytes()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(event.wait)
        await anyio.sleep(0.1)
        gc.collect()
        during = resident_bytes()
        event.set()
    return (during - before) / n


WORKLOADS: dict[str, Callable[[Adapter, Endpoints, int], Awaitable[dict[str, float]]]] = {
    "seq": seq,
    "conc": conc,
    "notify": notify,
    "pubsub": pubsub,
    "fanin": fanin,
    "memory": memory,
    "latency": latency,
    "curve": curve_cost,
    **{name: echo_workload(size) for name, size in PAYLOADS.items()},
}

#: Which server each workload needs.
SERVER_KIND = {
    "seq": "rpc",
    "conc": "rpc",
    "fanin": "rpc",
    "memory": "rpc",
    "latency": "rpc",
    "curve": "rpc-curve",
    "notify": "pipeline",
    "pubsub": "pubsub",
    **dict.fromkeys(PAYLOADS, "rpc"),
}
