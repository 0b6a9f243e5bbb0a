"""Handlers that the command-line tests serve in their own processes
(``anyzmq serve tests.cli_app:App``)."""

from __future__ import annotations

import datetime
import os
from typing import Any

from anyzmq import rpc


class Inner(rpc.AttrHandler):
    @rpc.method
    def double(self, x: int) -> int:
        """Twice x."""
        return 2 * x


class App(rpc.AttrHandler):
    ns = Inner()

    @rpc.method
    def add(self, a: int, b: int = 10) -> int:
        """Add two numbers.

        The rest of the docstring.
        """
        return a + b

    @rpc.method
    def echo(self, *args: Any, **kwargs: Any) -> Any:
        return [args, kwargs]

    @rpc.method
    def values(self) -> Any:
        """What JSON has no notation for."""
        return {
            "bytes": b"\x00ab",
            "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
            "day": datetime.date(2024, 1, 2),
            "span": datetime.timedelta(hours=2),
            "pair": (1, (2, 3)),
        }

    @rpc.method
    def fail(self, message: str) -> None:
        raise ValueError(message)

    @rpc.method
    def pid(self) -> int:
        """The server's process id."""
        return os.getpid()


#: A handler object (not a class).
handler = App()
#: Not a handler.
number = 3


class NeedsArguments(rpc.AttrHandler):
    def __init__(self, name: str) -> None:
        self.name = name
