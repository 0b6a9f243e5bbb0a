"""The commands that run until SIGINT or SIGTERM: ``serve`` and ``listen``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from collections.abc import Iterable
from contextlib import AsyncExitStack
from typing import Any

import anyio

from .. import rpc
from .._handlers import AbstractHandler
from ._exits import EXIT_USAGE, CommandError
from ._keys import server_curve
from ._oneway import Listener, PipelineListener, Received, SubscriptionListener
from ._senders import enter
from ._values import to_plain

__all__ = ["attach", "listen", "load_handler", "received_json", "serve", "stop_signals"]

#: What stops ``serve``, ``listen`` and ``proxy``.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_signals() -> Any:
    """A receiver of SIGINT and SIGTERM (a context manager, an async iterator)."""
    return anyio.open_signal_receiver(*STOP_SIGNALS)


def load_handler(target: str) -> rpc.HandlerLike:
    """The handler named by ``MODULE:ATTR`` (a dotted ATTR is followed); a class is
    instantiated with no arguments. The current directory is importable, as with
    ``python -m``.

    Raises:
        CommandError: (usage) ``target`` is malformed, names no handler, or a class
            that raised TypeError when called with no arguments.
        Exception: whatever importing the module or making the instance raised.
    """
    module_name, sep, attribute = target.partition(":")
    if not (sep and module_name and attribute):
        raise CommandError(f"expected MODULE:ATTR, got {target!r}", EXIT_USAGE)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CommandError(f"cannot import {module_name!r}: {exc}", EXIT_USAGE) from exc
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CommandError(f"{module_name!r} has no {attribute!r}", EXIT_USAGE) from None
    if isinstance(found, type):
        try:
            found = found()
        except TypeError as exc:  # it needs arguments
            message = f"cannot make {target} with no arguments: {exc}"
            raise CommandError(message, EXIT_USAGE) from exc
    if not isinstance(found, AbstractHandler):
        message = f"{target} is not a handler (an AttrHandler, a dict, or a class of one)"
        raise CommandError(message, EXIT_USAGE)
    return found


def attach(transport: rpc.Transport, endpoints: Iterable[tuple[str, str]]) -> list[str]:
    """Bind or connect each ``(kind, endpoint)`` in order; the endpoints as bound
    (wildcard ports resolved) or connected.

    Raises:
        CommandError: ZeroMQ refused an endpoint.
    """
    done = []
    for kind, endpoint in endpoints:
        try:
            if kind == "bind":
                done.append(transport.bind(endpoint))
            else:
                done.append(transport.connect(endpoint))
        except OSError as exc:
            raise CommandError(f"cannot {kind} {endpoint}: {exc}") from exc
    return done


def say(lines: Iterable[str], *, file: Any = None) -> None:
    for line in lines:
        print(line, file=file or sys.stdout)
    (file or sys.stdout).flush()


async def serve(args: argparse.Namespace) -> None:
    """Serve ``args.target`` over RPC until SIGINT or SIGTERM."""
    handler = load_handler(args.target)
    server = rpc.serve_rpc(
        handler,
        introspection=args.introspection,
        log_exceptions=args.log_exceptions,
        curve=server_curve(args),
    )
    async with server:
        endpoints = attach(server.transport, args.endpoints)
        with stop_signals() as signals:
            say(endpoints)  # only now: a signal from here on is a clean stop
            async for _ in signals:
                break


def received_json(item: Received) -> str:
    """One received call as a JSON line."""
    topic: Any = item.topic
    if topic is not None:
        try:
            topic = topic.decode("utf-8")
        except UnicodeDecodeError:
            topic = to_plain(topic)
    record = {
        "topic": topic,
        "method": item.method,
        "args": to_plain(item.args),
        "kwargs": to_plain(item.kwargs),
    }
    return json.dumps(record, ensure_ascii=False)


async def _stop_on_signal(signals: Any, scope: anyio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


async def listen(args: argparse.Namespace) -> None:
    """Print every call received as a JSON line until SIGINT or SIGTERM."""
    listener: Listener
    if args.pipeline:
        if args.topics:
            raise CommandError("--topic applies to pub-sub, not to --pipeline", EXIT_USAGE)
        listener = PipelineListener(curve=server_curve(args))
    else:
        listener = SubscriptionListener(args.topics, curve=server_curve(args))
    async with AsyncExitStack() as stack:
        await enter(stack, listener, "the listener")
        endpoints = attach(listener.transport, args.endpoints)
        with stop_signals() as signals:
            say(endpoints, file=sys.stderr)
            async with anyio.create_task_group() as group:
                group.start_soon(_stop_on_signal, signals, group.cancel_scope)
                while True:
                    item = await listener.receive()
                    if isinstance(item, str):
                        print(f"anyzmq listen: {item}", file=sys.stderr, flush=True)
                    else:
                        print(received_json(item), flush=True)
