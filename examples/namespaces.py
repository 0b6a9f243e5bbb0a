"""Sub-handlers give dotted namespaces: ``client.call.ns.method()``."""

from __future__ import annotations

from _runner import run_example

from anyzmq import rpc


class Handler(rpc.AttrHandler):
    def __init__(self, ident: str, subhandler: rpc.AbstractHandler | None = None) -> None:
        self.ident = ident
        self.subhandler = subhandler

    @rpc.method
    def a(self) -> tuple[str, str]:
        return (self.ident, "a")


async def main() -> None:
    handler = Handler("root", Handler("sub"))
    async with rpc.serve_rpc(handler, bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=endpoint) as client:
            ret = await client.call.a()
            assert ret == ("root", "a")
            ret = await client.call.subhandler.a()
            assert ret == ("sub", "a")
            print(f"a() = {await client.call.a()}, subhandler.a() = {ret}")


if __name__ == "__main__":
    run_example(main, __doc__)
