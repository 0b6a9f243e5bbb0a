"""Exception translation: the server's exception is raised by the client."""

from __future__ import annotations

from _runner import run_example

from anyzmq import rpc


class CustomError(Exception):
    def __init__(self, val: int) -> None:
        self.val = val
        super().__init__(val)


error_table = {f"{__name__}.CustomError": CustomError}


class ServerHandler(rpc.AttrHandler):
    @rpc.method
    def remote(self, val: int) -> None:
        raise CustomError(val)

    @rpc.method
    def builtin(self) -> None:
        raise ValueError("builtins are translated by default")


async def main() -> None:
    async with rpc.serve_rpc(ServerHandler(), bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=endpoint, error_table=error_table) as client:
            try:
                await client.call.remote(123)
            except CustomError as exc:
                assert exc.val == 123
                print(f"caught {exc!r} with val={exc.val}")
            try:
                await client.call.builtin()
            except ValueError as exc:
                print(f"caught {exc!r}")
        async with rpc.connect_rpc(connect=endpoint) as plain_client:
            try:
                await plain_client.call.remote(456)
            except rpc.GenericError as exc:
                print(f"without a translator: {exc.exc_type} {exc.arguments}")


if __name__ == "__main__":
    run_example(main, __doc__)
