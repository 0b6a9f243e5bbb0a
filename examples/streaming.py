"""Streaming: a server method yields rows; the client reads them with ``async for``,
and leaving the block early stops the method on the server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from _runner import run_example

from anyzmq import rpc


class Rows(rpc.AttrHandler):
    def __init__(self) -> None:
        self.stopped = anyio.Event()

    @rpc.method
    async def squares(self, count: int) -> AsyncIterator[int]:
        for number in range(count):
            yield number * number

    @rpc.method
    async def forever(self) -> AsyncIterator[int]:
        number = 0
        try:
            while True:
                number += 1
                yield number
        finally:
            self.stopped.set()  # runs when the client leaves the stream early


async def main() -> None:
    rows = Rows()
    async with rpc.serve_rpc(rows, bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        # At most 8 items travel ahead of what the loop has taken.
        async with rpc.connect_rpc(connect=endpoint, stream_window=8) as client:
            async with client.stream.squares(5) as squares:
                print("squares(5):", [square async for square in squares])
            async with client.stream.forever() as numbers:
                async for number in numbers:
                    if number == 3:
                        break
            with anyio.fail_after(10):
                await rows.stopped.wait()
            print("forever() stopped on the server after 3 items")


if __name__ == "__main__":
    run_example(main, __doc__)
