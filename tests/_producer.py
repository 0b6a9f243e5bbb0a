"""A producer process for tests/test_linger.py: it sends, leaves its block and exits.

    python _producer.py MODE ENDPOINT COUNT BACKEND

MODE is ``pipeline`` (notify ``record(i)`` COUNT times), ``pubsub`` (publish probes
until a line comes on stdin, then publish ``record(i)`` COUNT times, with no
send high-water mark) or ``late``
(as ``pipeline``, to a server that binds only after this process left its block,
with a linger of 30 s) or ``nothread`` (as ``pipeline``, in a process where no
thread can start at exit, as in Python 3.12.0 and 3.12.1).
BACKEND is ``asyncio``, ``uvloop`` or ``trio``. The process prints ``left`` once its
block has ended and exits right after, without waiting for anything.
"""

from __future__ import annotations

import atexit
import sys
import threading
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import zmq

from anyzmq import rpc


async def pipeline(endpoint: str, count: int, **options: Any) -> None:
    async with rpc.connect_pipeline(connect=endpoint, **options) as client:
        for i in range(count):
            await client.notify.record(i)


async def pubsub(endpoint: str, count: int) -> None:
    # A PUB socket drops what exceeds its high-water mark, by design: no mark here.
    async with rpc.connect_pubsub(connect=endpoint, socket_options={zmq.SNDHWM: 0}) as client:
        async with anyio.create_task_group() as tg:
            go = anyio.Event()

            async def wait_for_go() -> None:
                await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
                go.set()

            tg.start_soon(wait_for_go)
            while not go.is_set():  # until the subscriber says it hears us
                await client.publish("t").probe()
                with anyio.move_on_after(0.05):
                    await go.wait()
        for i in range(count):
            await client.publish("t").record(i)


def main() -> None:
    mode, endpoint, count, backend = sys.argv[1:]
    if mode == "pubsub":
        produce = partial(pubsub, endpoint, int(count))
    elif mode == "late":  # a linger that a busy machine cannot miss
        produce = partial(pipeline, endpoint, int(count), linger=30.0)
    else:  # the default linger
        produce = partial(pipeline, endpoint, int(count))
    name, options = ("asyncio", {"use_uvloop": True}) if backend == "uvloop" else (backend, {})
    anyio.run(produce, backend=name, backend_options=options)
    if mode == "nothread":  # registered after anyzmq's hook, so it runs first
        atexit.register(refuse_new_threads)
    print("left", flush=True)


def refuse_new_threads() -> None:
    """Make ``Thread.start`` fail as Python 3.12.0 and 3.12.1 make it fail at exit."""

    def start(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    threading.Thread.start = start  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
