"""Request-reply: a client calls a server's method and gets its result."""

from __future__ import annotations

from _runner import run_example

from anyzmq import rpc


class Handler(rpc.AttrHandler):
    @rpc.method
    def remote(self, arg1: int, arg2: int) -> int:
        return arg1 + arg2


async def main() -> None:
    async with rpc.serve_rpc(Handler(), bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=endpoint) as client:
            ret = await client.call.remote(1, 2)
            assert ret == 3
            print(f"remote(1, 2) = {ret}")


if __name__ == "__main__":
    run_example(main, __doc__)
