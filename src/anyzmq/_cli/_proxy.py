"""``anyzmq proxy``: libzmq's own proxy between a frontend and a backend.

The proxy runs in a worker thread (``zmq.proxy_steerable`` blocks, in C, with the
GIL released); the event loop waits for SIGINT or SIGTERM and then sends
``TERMINATE`` on the control socket, which ends the proxy. The proxy copies every
frame of every message unchanged, both ways: nothing in it knows anyzmq's format.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from typing import Any, Final

import anyio
import anyio.to_thread
import zmq

from .._context import shared_context
from ._exits import CommandError
from ._runners import say, stop_signals

__all__ = ["KINDS", "proxy"]

#: Socket types of each kind of proxy: (frontend, backend).
KINDS: Final = {
    "rpc": (zmq.ROUTER, zmq.DEALER),
    "pipeline": (zmq.PULL, zmq.PUSH),
    "pubsub": (zmq.XSUB, zmq.XPUB),
}


def _socket(stack: ExitStack, kind: int) -> zmq.Socket[bytes]:
    sock: zmq.Socket[bytes] = shared_context().socket(kind)
    stack.callback(sock.close, linger=0)
    sock.setsockopt(zmq.LINGER, 0)
    return sock


def _bind(sock: zmq.Socket[bytes], endpoint: str, side: str) -> str:
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise CommandError(f"cannot bind the {side} to {endpoint}: {exc}") from exc
    real: str = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    return real


async def _terminate_on_signal(signals: Any, control: zmq.Socket[bytes]) -> None:
    async for _ in signals:
        control.send(b"TERMINATE")
        return


async def proxy(args: argparse.Namespace) -> None:
    """Run a proxy of ``args.kind`` until SIGINT or SIGTERM."""
    front_type, back_type = KINDS[args.kind]
    with ExitStack() as stack:
        frontend = _socket(stack, front_type)
        backend = _socket(stack, back_type)
        controlled = _socket(stack, zmq.PAIR)
        control = _socket(stack, zmq.PAIR)
        address = f"inproc://anyzmq-proxy-control-{os.getpid()}-{id(controlled)}"
        controlled.bind(address)
        control.connect(address)
        endpoints = [
            _bind(frontend, args.frontend, "frontend"),
            _bind(backend, args.backend, "backend"),
        ]
        with stop_signals() as signals:
            say(endpoints)
            async with anyio.create_task_group() as group:
                group.start_soon(_terminate_on_signal, signals, control)
                # The sockets belong to the worker thread until the proxy returns.
                await anyio.to_thread.run_sync(
                    zmq.proxy_steerable, frontend, backend, None, controlled
                )
                group.cancel_scope.cancel()
