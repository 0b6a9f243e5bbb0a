"""The commands that send and exit: ``call``, ``inspect``, ``notify`` and ``publish``."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.to_thread
import zmq

from .. import rpc
from .._context import shared_context
from .._introspect import MethodInfo
from ._exits import EXIT_TIMEOUT, CommandError
from ._keys import client_curve
from ._oneway import Publisher
from ._values import to_json

__all__ = ["call", "error_text", "inspect", "listing_text", "notify", "publish", "refused"]

#: The longest ``name(signature)`` that ``inspect`` pads its column to.
COLUMN = 60


def error_text(exc: BaseException) -> str:
    """``"TypeName: message"`` for an exception a remote method raised."""
    if isinstance(exc, rpc.GenericError):
        return str(exc)  # already "pkg.mod.TypeName: message"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def refused(exc: rpc.AuthenticationError, args: argparse.Namespace) -> CommandError:
    """The error that ends a command whose server refused it in the handshake;
    its message says "authentication failed"."""
    message = str(exc)
    if "authentication failed" not in message:
        message += " (authentication failed)"
    if args.server_key is None:
        message += "; if the server uses CURVE, give its public key with --server-key"
    return CommandError(message)


async def enter(stack: AsyncExitStack, service: rpc.Service, endpoint: str) -> None:
    """Enter ``service`` on ``stack``.

    Raises:
        CommandError: ZeroMQ refused ``endpoint``.
    """
    try:
        await stack.enter_async_context(service)
    except OSError as exc:
        raise CommandError(f"cannot use {endpoint}: {exc}") from exc


def _method(proxy: Any, name: str) -> Any:
    for part in name.split("."):
        proxy = getattr(proxy, part)
    return proxy


def _arguments(args: argparse.Namespace) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return tuple(args.args), dict(args.kw)


async def call(args: argparse.Namespace) -> None:
    """Call ``args.method`` at ``args.endpoint`` and print its result as JSON."""
    positional, keywords = _arguments(args)
    async with AsyncExitStack() as stack:
        client = rpc.connect_rpc(connect=args.endpoint, curve=client_curve(args))
        await enter(stack, client, args.endpoint)
        with anyio.move_on_after(args.timeout) as scope:
            try:
                result = await _method(client.call, args.method)(*positional, **keywords)
            except rpc.AuthenticationError as exc:
                raise refused(exc, args) from exc
            except Exception as exc:
                raise CommandError(error_text(exc)) from exc
    if scope.cancelled_caught:
        raise CommandError(_no_answer(args), EXIT_TIMEOUT)
    print(to_json(result), flush=True)


def _no_answer(args: argparse.Namespace) -> str:
    return f"no answer from {args.endpoint} within {args.timeout:g} s"


async def inspect(args: argparse.Namespace) -> None:
    """List the methods the server at ``args.endpoint`` exposes."""
    async with AsyncExitStack() as stack:
        client = rpc.connect_rpc(connect=args.endpoint, curve=client_curve(args))
        await enter(stack, client, args.endpoint)
        with anyio.move_on_after(args.timeout) as scope:
            try:
                listing = await client.describe()
            except rpc.AuthenticationError as exc:
                raise refused(exc, args) from exc
            except Exception as exc:
                raise CommandError(f"{args.endpoint}: {error_text(exc)}") from exc
    if scope.cancelled_caught:
        raise CommandError(_no_answer(args), EXIT_TIMEOUT)
    if args.json:
        print(json.dumps([dataclasses.asdict(info) for info in listing], indent=2), flush=True)
    else:
        print(listing_text(listing), end="", flush=True)


def listing_text(listing: Iterable[MethodInfo]) -> str:
    """One line per method: ``name(signature)`` (and ``[stream]`` for a stream
    method), then the first line of its doc."""
    heads = [
        (info.name + info.signature + (" [stream]" if info.stream else ""), info.summary)
        for info in listing
    ]
    width = min(max((len(head) for head, _ in heads), default=0), COLUMN)
    lines = [f"{head:<{width}}  {summary}".rstrip() for head, summary in heads]
    return "".join(line + "\n" for line in lines)


def _linger_until(service: rpc.Service, deadline: float) -> None:
    """Give ZeroMQ until ``deadline`` (at least a second) to write out what
    ``service``'s socket holds once it is closed."""
    milliseconds = max(1000, round((deadline - anyio.current_time()) * 1000))
    service.transport.setsockopt(zmq.LINGER, milliseconds)


async def _terminate_context() -> None:
    """Terminate the process's ZeroMQ context: this waits for the closed sockets'
    lingering messages to be written out (or for their linger to pass)."""
    await anyio.to_thread.run_sync(shared_context().term)


async def notify(args: argparse.Namespace) -> None:
    """Send one pipeline call and exit once it has left."""
    positional, keywords = _arguments(args)
    deadline = anyio.current_time() + args.timeout
    async with AsyncExitStack() as stack:
        # IMMEDIATE: the message waits for a connected server instead of queueing
        # for a connection that may never complete.
        options: rpc.SocketOptions = {zmq.IMMEDIATE: 1}
        client = rpc.connect_pipeline(
            connect=args.endpoint, socket_options=options, curve=client_curve(args)
        )
        await enter(stack, client, args.endpoint)
        with anyio.move_on_after(args.timeout) as scope:
            try:
                await _method(client.notify, args.method)(*positional, **keywords)
            except rpc.AuthenticationError as exc:
                raise refused(exc, args) from exc
        if scope.cancelled_caught:
            message = f"no server took the call at {args.endpoint} within {args.timeout:g} s"
            raise CommandError(message, EXIT_TIMEOUT)
        _linger_until(client, deadline)
    await _terminate_context()


async def publish(args: argparse.Namespace) -> None:
    """Publish one call once a subscriber of its topic is connected; exit once it has left."""
    positional, keywords = _arguments(args)
    deadline = anyio.current_time() + args.timeout
    async with AsyncExitStack() as stack:
        publisher = Publisher(
            args.topic.encode("utf-8"), connect=args.endpoint, curve=client_curve(args)
        )
        await enter(stack, publisher, args.endpoint)
        with anyio.move_on_after(args.timeout) as scope:
            try:
                await publisher.publish(args.method, positional, keywords)
            except rpc.AuthenticationError as exc:
                raise refused(exc, args) from exc
        if scope.cancelled_caught:
            message = (
                f"no subscriber of topic {args.topic!r} at {args.endpoint} "
                f"within {args.timeout:g} s"
            )
            raise CommandError(message, EXIT_TIMEOUT)
        _linger_until(publisher, deadline)
    await _terminate_context()
