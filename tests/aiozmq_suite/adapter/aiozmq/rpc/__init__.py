"""``aiozmq.rpc``'s API on anyzmq: awaitable ``serve_*``/``connect_*`` that accept
``loop=`` (the running loop is used whatever it says), services with ``close()``
and ``wait_closed()``, and calls that start when made."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from types import TracebackType

from anyzmq import rpc
from anyzmq.rpc import ErrorTable, HandlerLike, TranslationTable

from .base import (
    AbstractHandler,
    AttrHandler,
    Error,
    GenericError,
    MethodCall,
    NotFoundError,
    ParametersError,
    Service,
    ServiceClosedError,
    method,
    open_service,
)
from .log import logger

__all__ = [
    "AbstractHandler",
    "AttrHandler",
    "Error",
    "GenericError",
    "NotFoundError",
    "ParametersError",
    "Service",
    "ServiceClosedError",
    "connect_pipeline",
    "connect_pubsub",
    "connect_rpc",
    "logger",
    "method",
    "serve_pipeline",
    "serve_pubsub",
    "serve_rpc",
]

Endpoints = str | Iterable[str] | None


class RPCClientView:
    """``client.with_timeout(t)``: ``.call`` with another timeout, also a ``with`` block."""

    def __init__(self, view: rpc.RPCClientView) -> None:
        self._view = view

    @property
    def call(self) -> MethodCall:
        return MethodCall(self._view.call)

    def __enter__(self) -> RPCClientView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class RPCClient(Service[rpc.RPCClient]):
    @property
    def call(self) -> MethodCall:
        return MethodCall(self._service.call)

    def with_timeout(self, timeout: float | None) -> RPCClientView:
        return RPCClientView(self._service.with_timeout(timeout))


class PipelineClient(Service[rpc.PipelineClient]):
    @property
    def notify(self) -> MethodCall:
        return MethodCall(self._service.notify)


class PubSubClient(Service[rpc.PubSubClient]):
    def publish(self, topic: str | bytes | None) -> MethodCall:
        return MethodCall(self._service.publish(topic))


class PubSubService(Service[rpc.PubSubService]):
    def subscribe(self, topic: str | bytes) -> None:
        self._service.subscribe(topic)

    def unsubscribe(self, topic: str | bytes) -> None:
        self._service.unsubscribe(topic)


async def connect_rpc(
    *,
    connect: Endpoints = None,
    bind: Endpoints = None,
    loop: asyncio.AbstractEventLoop | None = None,
    error_table: ErrorTable | None = None,
    timeout: float | None = None,
    translation_table: TranslationTable | None = None,
) -> RPCClient:
    client = rpc.connect_rpc(
        connect=connect,
        bind=bind,
        error_table=error_table,
        timeout=timeout,
        translation_table=translation_table,
    )
    result: RPCClient = await open_service(client, RPCClient)
    return result


async def serve_rpc(
    handler: HandlerLike,
    *,
    connect: Endpoints = None,
    bind: Endpoints = None,
    loop: asyncio.AbstractEventLoop | None = None,
    log_exceptions: bool = False,
    exclude_log_exceptions: Iterable[type[BaseException]] = (),
    translation_table: TranslationTable | None = None,
    timeout: float | None = None,
) -> Service[rpc.RPCServer]:
    server = rpc.serve_rpc(
        handler,
        connect=connect,
        bind=bind,
        log_exceptions=log_exceptions,
        exclude_log_exceptions=exclude_log_exceptions,
        translation_table=translation_table,
        timeout=timeout,
    )
    result: Service[rpc.RPCServer] = await open_service(server, Service)
    return result


async def connect_pipeline(
    *,
    connect: Endpoints = None,
    bind: Endpoints = None,
    loop: asyncio.AbstractEventLoop | None = None,
    translation_table: TranslationTable | None = None,
) -> PipelineClient:
    client = rpc.connect_pipeline(connect=connect, bind=bind, translation_table=translation_table)
    result: PipelineClient = await open_service(client, PipelineClient)
    return result


async def serve_pipeline(
    handler: HandlerLike,
    *,
    connect: Endpoints = None,
    bind: Endpoints = None,
    loop: asyncio.AbstractEventLoop | None = None,
    log_exceptions: bool = False,
    exclude_log_exceptions: Iterable[type[BaseException]] = (),
    translation_table: TranslationTable | None = None,
    timeout: float | None = None,
) -> Service[rpc.PipelineServer]:
    server = rpc.serve_pipeline(
        handler,
        connect=connect,
        bind=bind,
        log_exceptions=log_exceptions,
        exclude_log_exceptions=exclude_log_exceptions,
        translation_table=translation_table,
        timeout=timeout,
    )
    result: Service[rpc.PipelineServer] = await open_service(server, Service)
    return result


async def connect_pubsub(
    *,
    connect: Endpoints = None,
    bind: Endpoints = None,
    loop: asyncio.AbstractEventLoop | None = None,
    translation_table: TranslationTable | None = None,
) -> PubSubClient:
    client = rpc.connect_pubsub(connect=connect, bind=bind, translation_table=translation_table)
    result: PubSubClient = await open_service(client, PubSubClient)
    return result


async def serve_pubsub(
    handler: HandlerLike,
    *,
    connect: Endpoints = None,
    bind: Endpoints = None,
    loop: asyncio.AbstractEventLoop | None = None,
    subscribe: str | bytes | Iterable[str | bytes] | None = None,
    log_exceptions: bool = False,
    exclude_log_exceptions: Iterable[type[BaseException]] = (),
    translation_table: TranslationTable | None = None,
    timeout: float | None = None,
) -> PubSubService:
    server = rpc.serve_pubsub(
        handler,
        connect=connect,
        bind=bind,
        subscribe=subscribe,
        log_exceptions=log_exceptions,
        exclude_log_exceptions=exclude_log_exceptions,
        translation_table=translation_table,
        timeout=timeout,
    )
    result: PubSubService = await open_service(server, PubSubService)
    return result
