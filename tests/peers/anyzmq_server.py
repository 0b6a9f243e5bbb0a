"""An anyzmq RPC server in a process of its own, for tests that kill or freeze it.

Usage: ``anyzmq_server.py ENDPOINT``. Prints the bound endpoint, then one line
per event (``started hold``), and serves until stdin closes.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread

from anyzmq import rpc


def say(line: str) -> None:
    print(line, flush=True)


class Handler(rpc.AttrHandler):
    @rpc.method
    def add(self, a: int, b: int) -> int:
        return a + b

    @rpc.method
    async def hold(self) -> None:
        say("started hold")
        await anyio.sleep_forever()

    @rpc.method
    async def numbers(self) -> AsyncIterator[int]:
        say("started numbers")
        number = 0
        while True:
            number += 1
            yield number

    @rpc.method
    async def sleep(self, seconds: float) -> float:
        await anyio.sleep(seconds)
        return seconds


async def main(address: str) -> None:
    async with rpc.serve_rpc(Handler(), bind=address) as server:
        (bound,) = server.transport.bindings()
        say(bound)
        await anyio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
