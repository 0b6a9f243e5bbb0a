"""``Service.transport``: endpoints and socket options of a service's socket."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import zmq

from ._socket import zmq_errors_as_oserror

__all__ = ["Transport", "endpoints", "set_option", "topic_bytes"]


def endpoints(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    """Normalise a ``bind=``/``connect=`` argument to a tuple of endpoints.

    Raises:
        TypeError: ``value`` is not None, a str, or an iterable of str.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, bytes | bytearray):  # type: ignore[unreachable]
        raise TypeError(f"{what} must be a str or an iterable of str, got {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what} endpoints must be str, got {item!r}")
    return items


def set_option(sock: zmq.Socket[bytes], option: int, value: int | bytes | str) -> None:
    """Set a socket option (a str value is UTF-8 encoded).

    Raises:
        OSError: ZeroMQ refused the option or the value.
    """
    with zmq_errors_as_oserror():
        if isinstance(value, str):
            sock.setsockopt_string(option, value)
        else:
            sock.setsockopt(option, value)


def topic_bytes(topic: str | bytes) -> bytes:
    """A topic as bytes (str is UTF-8 encoded).

    Raises:
        TypeError: ``topic`` is neither str nor bytes.
    """
    if isinstance(topic, bytes):
        return topic
    if isinstance(topic, str):
        return topic.encode("utf-8")
    raise TypeError(f"topic must be str or bytes, got {topic!r}")


class Transport:
    """Binds, connects and tunes the socket of an open service.

    Every method raises :class:`OSError` (with ZeroMQ's errno) when ZeroMQ
    refuses, for example an endpoint that is malformed or already in use.
    """

    __slots__ = ("_bindings", "_connections", "_sock")

    def __init__(self, sock: zmq.Socket[bytes]) -> None:
        self._sock = sock
        self._bindings: list[str] = []
        self._connections: list[str] = []

    def bind(self, endpoint: str) -> str:
        """Bind to ``endpoint`` and return the real endpoint (wildcard port resolved)."""
        with zmq_errors_as_oserror():
            self._sock.bind(_endpoint(endpoint))
            real: str = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._bindings.append(real)
        return real

    def unbind(self, endpoint: str) -> None:
        """Stop listening on ``endpoint``, as returned by :meth:`bind` or :meth:`bindings`."""
        with zmq_errors_as_oserror():
            self._sock.unbind(_endpoint(endpoint))
        if endpoint in self._bindings:
            self._bindings.remove(endpoint)

    def connect(self, endpoint: str) -> str:
        """Connect to ``endpoint`` (ZeroMQ reconnects on its own) and return it."""
        with zmq_errors_as_oserror():
            self._sock.connect(_endpoint(endpoint))
        self._connections.append(endpoint)
        return endpoint

    def disconnect(self, endpoint: str) -> None:
        """Drop the connection to ``endpoint``."""
        with zmq_errors_as_oserror():
            self._sock.disconnect(_endpoint(endpoint))
        if endpoint in self._connections:
            self._connections.remove(endpoint)

    def bindings(self) -> frozenset[str]:
        """The endpoints bound now, with real ports."""
        return frozenset(self._bindings)

    def connections(self) -> frozenset[str]:
        """The endpoints connected now."""
        return frozenset(self._connections)

    def setsockopt(self, option: int, value: int | bytes | str) -> None:
        """Set a ZeroMQ socket option (``zmq.SNDHWM``, ``zmq.LINGER``, ...).

        ZeroMQ applies many options (the high-water marks, ``IMMEDIATE``, the CURVE
        keys) only to binds and connections made after they are set: the endpoints
        given as ``bind=`` or ``connect=`` were bound and connected on entering, so
        set such options with the service's ``socket_options`` instead.
        """
        set_option(self._sock, option, value)

    def getsockopt(self, option: int) -> Any:
        """Read a ZeroMQ socket option."""
        with zmq_errors_as_oserror():
            return self._sock.getsockopt(option)

    def subscribe(self, topic: str | bytes) -> None:
        """Receive messages whose topic starts with ``topic`` (SUB sockets only).

        Raises:
            TypeError: ``topic`` is neither str nor bytes.
        """
        with zmq_errors_as_oserror():
            self._sock.setsockopt(zmq.SUBSCRIBE, topic_bytes(topic))

    def unsubscribe(self, topic: str | bytes) -> None:
        """Undo one :meth:`subscribe` of ``topic`` (SUB sockets only).

        Raises:
            TypeError: ``topic`` is neither str nor bytes.
        """
        with zmq_errors_as_oserror():
            self._sock.setsockopt(zmq.UNSUBSCRIBE, topic_bytes(topic))


def _endpoint(endpoint: object) -> str:
    if not isinstance(endpoint, str):
        raise TypeError(f"an endpoint must be a str, got {endpoint!r}")
    return endpoint
