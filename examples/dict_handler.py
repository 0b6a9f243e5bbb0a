"""A plain dict works as a handler, nested dicts as namespaces."""

from __future__ import annotations

from _runner import run_example

from anyzmq import rpc


@rpc.method
def a() -> str:
    return "a"


@rpc.method
def b() -> str:
    return "b"


handlers_dict = {"a": a, "subnamespace": {"b": b}}


async def main() -> None:
    async with rpc.serve_rpc(handlers_dict, bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=endpoint) as client:
            ret = await client.call.a()
            assert ret == "a"
            ret = await client.call.subnamespace.b()
            assert ret == "b"
            print("a() and subnamespace.b() answered")


if __name__ == "__main__":
    run_example(main, __doc__)
