"""Pipeline: a client notifies a server and never hears back."""

from __future__ import annotations

import anyio
from _runner import run_example

from anyzmq import rpc


class Handler(rpc.AttrHandler):
    def __init__(self) -> None:
        self.done = anyio.Event()

    @rpc.method
    def remote(self, arg: int) -> None:
        print(f"server got remote({arg})")
        if arg == 3:
            self.done.set()


async def main() -> None:
    handler = Handler()
    async with rpc.serve_pipeline(handler, bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_pipeline(connect=endpoint) as client:
            for arg in (1, 2, 3):
                ret = await client.notify.remote(arg)
                assert ret is None
            # Leaving the client's block closes its socket with linger 0, dropping
            # what ZeroMQ has not sent yet: stay until the server has it all.
            with anyio.fail_after(5):
                await handler.done.wait()


if __name__ == "__main__":
    run_example(main, __doc__)
