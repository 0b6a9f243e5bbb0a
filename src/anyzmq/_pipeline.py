"""Notifications over PUSH (client) and PULL (server)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any, final

import zmq

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

__all__ = ["PipelineClient", "PipelineServer", "connect_pipeline", "serve_pipeline"]


@final
class PipelineClient(OneWayClient):
    """The sending side of a pipeline; made by :func:`connect_pipeline`."""

    _socket_type = zmq.PUSH

    @cached_property  # one proxy serves every notification
    def notify(self) -> MethodCall:
        """``await client.notify.ns.method(*args, **kwargs)`` queues one notification.

        It returns None once the message is queued, waiting while ZeroMQ's send
        queue is full (for example while no server is connected); the server's
        result and exceptions are never reported back.

        Raises:
            ServiceClosedError: the client is not open.
            TypeError: an argument cannot be serialized (nothing is sent).
            AuthenticationError: every server the client connects to refused it
                in its last handshake (nothing is sent).
        """
        return MethodCall(self._notify)

    async def _notify(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        pump = self._check_open()
        frames = (
            name.encode("utf-8"),
            self._codec.pack_frame(args),
            self._codec.pack_frame(kwargs),
        )
        await self._send(pump, frames)


@final
class PipelineServer(OneWayServer):
    """The receiving side of a pipeline; made by :func:`serve_pipeline`."""

    _socket_type = zmq.PULL

    def _on_message(self, frames: list[Frame]) -> None:
        if len(frames) != 3:
            self._drop(f"a notification has 3 frames, got {len(frames)}")
            return
        name, args, kwargs = frames
        self._call(name, args, kwargs, None)


def connect_pipeline(
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
    error_table: ErrorTable | None = None,
    translation_table: TranslationTable | None = None,
    socket_options: SocketOptions | None = None,
    heartbeat: float | None = DEFAULT_HEARTBEAT,
    linger: float | None = DEFAULT_LINGER,
    curve: CurveClient | None = None,
) -> PipelineClient:
    """A pipeline client, to be entered with ``async with``.

    ``error_table`` is accepted for compatibility with aiozmq.rpc and unused:
    a pipeline never carries exceptions back. ``curve`` as for :func:`connect_rpc`:
    while every server refuses the client, notifications raise
    :class:`AuthenticationError`.

    Args:
        heartbeat: as for :func:`connect_rpc`: ZeroMQ drops a connection whose
            peer answers none of four heartbeats, and stops sending to it.
        linger: seconds what the client sent may still take to be delivered
            after its block ends normally (also when the program exits right
            after it); leaving by an exception or cancellation, or ``close()``,
            drops it at once. None: no bound; 0: drop. A ``zmq.LINGER`` in
            ``socket_options`` wins.

    Raises:
        TypeError, ValueError: an argument has the wrong type or value.
        RuntimeError: ``curve`` is given and libzmq has no CURVE.
        OSError: (on entering) ZeroMQ refused an endpoint.
    """
    del error_table
    return PipelineClient(
        bind=bind,
        connect=connect,
        translation_table=translation_table,
        socket_options=socket_options,
        heartbeat=heartbeat,
        linger=linger,
        curve=curve,
    )


def serve_pipeline(
    handler: HandlerLike,
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
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
) -> PipelineServer:
    """A pipeline server for ``handler``, to be entered with ``async with``.

    Arguments as for :func:`serve_rpc`; a method that times out is cancelled and
    its :class:`TimeoutError` logged as ``log_exceptions`` says.

    Raises:
        TypeError, ValueError: an argument has the wrong type or value.
        OSError: (on entering) ZeroMQ refused an endpoint.
    """
    return PipelineServer(
        handler,
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
