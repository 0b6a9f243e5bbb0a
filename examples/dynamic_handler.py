"""A dynamic handler decides in ``__getitem__`` what each name means."""

from __future__ import annotations

from typing import Any

from _runner import run_example

from anyzmq import rpc


class DynamicHandler(rpc.AttrHandler):
    def __init__(self, namespace: tuple[str, ...] = ()) -> None:
        self.namespace = namespace

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            return DynamicHandler((*self.namespace, key))

    @rpc.method
    def func(self) -> tuple[str, ...]:
        return self.namespace


async def main() -> None:
    async with rpc.serve_rpc(DynamicHandler(), bind="tcp://127.0.0.1:*") as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=endpoint) as client:
            ret = await client.call.func()
            assert ret == ()
            ret = await client.call.a.func()
            assert ret == ("a",)
            ret = await client.call.a.b.func()
            assert ret == ("a", "b")
            print(f"a.b.func() = {ret}")


if __name__ == "__main__":
    run_example(main, __doc__)
