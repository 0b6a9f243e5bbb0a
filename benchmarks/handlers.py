"""The benchmark servers' handlers, written once for anyzmq.rpc and aiozmq.rpc
(the two share the handler API): ``make_handlers(rpc, Event)``."""

from __future__ import annotations

from typing import Any

from control import Counter


def make_handlers(rpc: Any, event: type[Any]) -> tuple[type[Any], type[Any]]:
    """``(RPCHandler, Receiver)`` for the ``rpc`` module, parking on ``event``."""

    class RPCHandler(rpc.AttrHandler):
        def __init__(self, held: Counter) -> None:
            self.held = held
            self.release_event = event()

        @rpc.method
        def add(self, a: int, b: int) -> int:
            return a + b

        @rpc.method
        def echo(self, value: Any) -> Any:
            return value

        @rpc.method
        async def hold(self, value: int) -> int:
            self.held.add()
            await self.release_event.wait()
            return value

        @rpc.method
        def release(self) -> None:
            self.release_event.set()
            self.release_event = event()

    class Receiver(rpc.AttrHandler):
        def __init__(self, counter: Counter) -> None:
            self.counter = counter

        @rpc.method
        def notify(self, i: int) -> None:
            self.counter.add()

        @rpc.method
        def msg(self, i: int) -> None:
            self.counter.add()

        @rpc.method
        def probe(self) -> None:
            self.counter.probed = True

    return RPCHandler, Receiver
