"""Leaving blocks: a server's grace for running calls, a client's linger."""

from __future__ import annotations

import tempfile

import anyio
from _runner import run_example

from anyzmq import rpc


class Handler(rpc.AttrHandler):
    def __init__(self) -> None:
        self.started = anyio.Event()
        self.notified = anyio.Event()

    @rpc.method
    async def work(self, seconds: float) -> str:
        self.started.set()
        await anyio.sleep(seconds)
        return f"worked {seconds} s"

    @rpc.method
    def note(self, text: str) -> None:
        print(f"server got note({text!r})")
        self.notified.set()


async def main() -> None:
    handler = Handler()
    # The client binds and the server connects, so that the client outlives it.
    async with (
        rpc.connect_rpc(bind="tcp://127.0.0.1:*") as client,
        anyio.create_task_group() as tg,
    ):
        (endpoint,) = client.transport.bindings()
        async with rpc.serve_rpc(handler, connect=endpoint, grace=30):

            async def call() -> None:
                print(f"the caller got: {await client.call.work(0.2)}")

            tg.start_soon(call)
            await handler.started.wait()
            print("leaving the server's block with a call running")
        # The normal exit refused new calls, let the running one finish (up to
        # `grace` seconds), answered it, then closed.
        print("the server is closed")

    # A pipeline client's normal exit delivers what it sent, within its linger,
    # even to a server that binds only after the block has ended.
    with tempfile.TemporaryDirectory() as directory:
        endpoint = f"ipc://{directory}/server"  # nothing listens there yet
        async with rpc.connect_pipeline(connect=endpoint, linger=10) as sender:
            await sender.notify.note("sent before the server came up")
        async with rpc.serve_pipeline(handler, bind=endpoint):
            with anyio.fail_after(10):
                await handler.notified.wait()


if __name__ == "__main__":
    run_example(main, __doc__)
