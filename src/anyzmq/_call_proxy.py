"""The object behind ``client.call.ns.method(...)``: attribute access builds a
dotted name, calling it hands name and arguments to the service."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final, final

__all__ = ["MethodCall", "Sender"]

Sender = Callable[[str, tuple[Any, ...], dict[str, Any]], Coroutine[Any, Any, Any]]

#: Names one proxy remembers (beyond them, it builds a fresh proxy on each access).
_MAX_REMEMBERED: Final = 256


@final
class MethodCall:
    """``proxy.a.b(*args, **kwargs)`` returns the coroutine ``send("a.b", args, kwargs)``.

    ``kind`` names the service in the error about an empty name, as aiozmq.rpc
    does ("RPC", "PubSub"). A proxy remembers the proxies its attributes gave, so
    that ``client.call.add`` costs a plain attribute look-up after the first time.
    """

    __slots__ = ("__dict__", "_kind", "_name", "_names", "_send")

    def __init__(self, send: Sender, names: tuple[str, ...] = (), *, kind: str = "RPC") -> None:
        self._send = send
        self._names = names
        self._name = ".".join(names)
        self._kind = kind

    def __getattr__(self, name: str) -> MethodCall:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        proxy = MethodCall(self._send, (*self._names, name), kind=self._kind)
        remembered = self.__dict__
        if len(remembered) < _MAX_REMEMBERED:
            remembered[name] = proxy  # found by the next look-up, before __getattr__
        return proxy

    def __call__(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        """Start the remote call.

        Raises:
            ValueError: no method name was given (``client.call()``).
        """
        if not self._names:
            raise ValueError(f"{self._kind} method name is empty")
        return self._send(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<MethodCall {self._name or '(no name)'}>"
