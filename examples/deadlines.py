"""Deadlines and cancellation reach the server: a handler sees its caller's deadline,
and a caller that gives up cancels the handler (its ``finally`` runs)."""

from __future__ import annotations

import math

import anyio
from _runner import run_example

from anyzmq import rpc


class Handler(rpc.AttrHandler):
    def __init__(self) -> None:
        self.cleaned_up = anyio.Event()

    @rpc.method
    async def time_left(self) -> float:
        # The caller's deadline, on this server's clock (math.inf when it has none).
        return rpc.current_call().deadline - anyio.current_time()

    @rpc.method
    async def slow_job(self) -> str:
        try:
            await anyio.sleep(3600)
            return "done"
        finally:
            self.cleaned_up.set()  # runs when the caller gives up


async def main() -> None:
    handler = Handler()
    async with rpc.serve_rpc(handler, bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=endpoint) as client:
            with anyio.fail_after(30):
                left = await client.call.time_left()
            assert 0 < left <= 31
            print("inside fail_after(30), the handler saw the deadline: at most 30 s left")
            assert await client.call.time_left() == math.inf

            with anyio.move_on_after(0.2):
                await client.call.slow_job()
            with anyio.fail_after(10):
                await handler.cleaned_up.wait()
            print("the caller gave up after 0.2 s, and the server cancelled slow_job")


if __name__ == "__main__":
    run_example(main, __doc__)
