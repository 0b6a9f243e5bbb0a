"""Pub-sub: a server subscribed to a topic runs the calls published to it."""

from __future__ import annotations

import anyio
from _runner import run_example

from anyzmq import rpc


class Handler(rpc.AttrHandler):
    def __init__(self) -> None:
        self.received = anyio.Event()

    @rpc.method
    def remote(self, arg: int) -> None:
        print(f"subscriber got remote({arg})")
        self.received.set()


async def main() -> None:
    handler = Handler()
    async with rpc.serve_pubsub(handler, subscribe="topic", bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_pubsub(connect=endpoint) as client:
            # A new subscription takes a moment to reach the publisher, and
            # ZeroMQ drops what nobody is subscribed to: publish until it lands.
            with anyio.fail_after(5):
                while not handler.received.is_set():
                    await client.publish("other-topic").remote(0)  # never delivered
                    await client.publish("topic").remote(1)
                    with anyio.move_on_after(0.05):
                        await handler.received.wait()


if __name__ == "__main__":
    run_example(main, __doc__)
