"""Publish-subscribe over PUB (client) and SUB (server)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, final

import zmq

from ._backend import Backend
from ._call_proxy import MethodCall
from ._codec import TranslationTable
from ._curve import CurveClient, CurveServer
from ._error_table import ErrorTable
from ._grace import DEFAULT_GRACE
from ._handlers import HandlerLike
from ._oneway import OneWayServer
from ._oneway_client import OneWayClient
from ._server import DEFAULT_MAX_CONCURRENT_CALLS
from ._service import (
    DEFAULT_HEARTBEAT,
    DEFAULT_LINGER,
    DEFAULT_MAX_MESSAGE_SIZE,
    SocketOptions,
)
from ._socket import Frame
from ._transport import topic_bytes

__all__ = ["PubSubClient", "PubSubService", "connect_pubsub", "serve_pubsub"]


@final
class PubSubClient(OneWayClient):
    """The publishing side; made by :func:`connect_pubsub`."""

    _socket_type = zmq.PUB

    def publish(self, topic: str | bytes | None) -> MethodCall:
        """``await client.publish("topic").ns.method(*args, **kwargs)`` publishes one call.

        ``topic`` is str (sent UTF-8 encoded), bytes, or None (the empty topic).
        ZeroMQ drops what no subscriber takes; nothing comes back.

        Raises:
            TypeError: ``topic`` is of another type (at once), or an argument
                cannot be serialized (when awaited; nothing is sent).
            ServiceClosedError: (when awaited) the client is not open.
            AuthenticationError: (when awaited) every subscriber the client
                connects to refused it in its last handshake (nothing is sent).
        """
        btopic = b"" if topic is None else topic_bytes(topic)

        async def send(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            await self._publish(btopic, name, args, kwargs)

        return MethodCall(send, kind="PubSub")

    async def _publish(
        self, topic: bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        pump = self._check_open()
        frames = (
            topic,
            name.encode("utf-8"),
            self._codec.pack_frame(args),
            self._codec.pack_frame(kwargs),
        )
        await self._send(pump, frames)


@final
class PubSubService(OneWayServer):
    """The subscribing side; made by :func:`serve_pubsub`."""

    _socket_type = zmq.SUB

    def __init__(
        self, handler: HandlerLike, *, subscribe: tuple[bytes, ...], **options: Any
    ) -> None:
        super().__init__(handler, **options)
        self._initial_topics = subscribe

    def subscribe(self, topic: str | bytes) -> None:
        """Receive the calls published under topics starting with ``topic``.

        Raises:
            TypeError: ``topic`` is neither str nor bytes.
            ServiceClosedError: the service is not open.
        """
        self.transport.subscribe(topic)

    def unsubscribe(self, topic: str | bytes) -> None:
        """Undo one :meth:`subscribe` of ``topic``.

        Raises:
            TypeError: ``topic`` is neither str nor bytes.
            ServiceClosedError: the service is not open.
        """
        self.transport.unsubscribe(topic)

    def _configure(self, sock: zmq.Socket[bytes], backend: Backend) -> None:
        super()._configure(sock, backend)
        for topic in self._initial_topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic)

    def _on_message(self, frames: list[Frame]) -> None:
        if len(frames) != 4:
            self._drop(f"a published call has 4 frames, got {len(frames)}")
            return
        _topic, name, args, kwargs = frames
        self._call(name, args, kwargs, None)


def _topics(subscribe: str | bytes | Iterable[str | bytes] | None) -> tuple[bytes, ...]:
    if subscribe is None:
        return ()
    if isinstance(subscribe, str | bytes):
        return (topic_bytes(subscribe),)
    if not isinstance(subscribe, Iterable):
        raise TypeError(f"subscribe must be str, bytes or an iterable of them, got {subscribe!r}")
    return tuple(topic_bytes(topic) for topic in subscribe)


def connect_pubsub(
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
    error_table: ErrorTable | None = None,
    translation_table: TranslationTable | None = None,
    socket_options: SocketOptions | None = None,
    heartbeat: float | None = DEFAULT_HEARTBEAT,
    linger: float | None = DEFAULT_LINGER,
    curve: CurveClient | None = None,
) -> PubSubClient:
    """A publishing client, to be entered with ``async with``.

    ``error_table`` is accepted for compatibility with aiozmq.rpc and unused;
    ``heartbeat`` and ``linger`` are as for :func:`connect_pipeline`. A PUB socket
    drops what exceeds its send high-water mark (``zmq.SNDHWM``), linger or not.
    ``curve`` as for :func:`connect_rpc`: while every subscriber refuses the
    client, publishing raises :class:`AuthenticationError`.

    Raises:
        TypeError, ValueError: an argument has the wrong type or value.
        RuntimeError: ``curve`` is given and libzmq has no CURVE.
        OSError: (on entering) ZeroMQ refused an endpoint.
    """
    del error_table
    return PubSubClient(
        bind=bind,
        connect=connect,
        translation_table=translation_table,
        socket_options=socket_options,
        heartbeat=heartbeat,
        linger=linger,
        curve=curve,
    )


def serve_pubsub(
    handler: HandlerLike,
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
    subscribe: str | bytes | Iterable[str | bytes] | None = None,
    log_exceptions: bool = False,
    exclude_log_exceptions: Iterable[type[BaseException]] = (),
    translation_table: TranslationTable | None = None,
    timeout: float | None = None,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    max_concurrent_calls: int | None = DEFAULT_MAX_CONCURRENT_CALLS,
    sync_handler_threads: int | None = None,
    socket_options: SocketOptions | None = None,
    heartbeat: float | None = DEFAULT_HEARTBEAT,
    grace: float | None = DEFAULT_GRACE,
    curve: CurveServer | None = None,
) -> PubSubService:
    """A subscribing server for ``handler``, to be entered with ``async with``.

    ``subscribe`` is a topic (str or bytes) or an iterable of topics; other
    arguments as for :func:`serve_rpc`.

    Raises:
        TypeError: ``subscribe`` or another argument has the wrong type.
        ValueError: ``timeout`` is not positive.
        OSError: (on entering) ZeroMQ refused an endpoint.
    """
    return PubSubService(
        handler,
        subscribe=_topics(subscribe),
        bind=bind,
        connect=connect,
        log_exceptions=log_exceptions,
        exclude_log_exceptions=exclude_log_exceptions,
        translation_table=translation_table,
        timeout=timeout,
        max_message_size=max_message_size,
        max_concurrent_calls=max_concurrent_calls,
        sync_handler_threads=sync_handler_threads,
        socket_options=socket_options,
        heartbeat=heartbeat,
        grace=grace,
        curve=curve,
    )
