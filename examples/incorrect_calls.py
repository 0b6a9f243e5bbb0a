"""Incorrect calls: a missing name or bad arguments are reported to the caller."""

from __future__ import annotations

from _runner import run_example

from anyzmq import rpc


class Handler(rpc.AttrHandler):
    @rpc.method
    def func(self, arg: int) -> int:
        return arg + 1


async def main() -> None:
    async with rpc.serve_rpc(Handler(), bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=endpoint) as client:
            try:
                await client.call.unknown_function()
            except rpc.NotFoundError as exc:
                print(f"client.call.unknown_function(): {exc!r}")

            try:
                await client.call.func()
            except rpc.ParameterError as exc:
                print(f"client.call.func(): {exc!r}")

            try:
                await client.call.func(1, 2, 3)
            except rpc.ParameterError as exc:
                print(f"client.call.func(1, 2, 3): {exc!r}")

            try:
                await client.call.func("1.2")
            except rpc.ParameterError as exc:
                print(f"client.call.func('1.2'): {exc!r}")

            print(f"client.call.func('1') = {await client.call.func('1')}")


if __name__ == "__main__":
    run_example(main, __doc__)
