"""The ZeroMQ context that every anyzmq socket is made in.

anyzmq keeps a context of its own rather than pyzmq's ``Context.instance()``: what
it does with that context (terminating it at exit to deliver what closed sockets
still hold, the one ZAP handler a context may have) must not depend on, or wait
for, sockets that other code opened. ``inproc://`` endpoints therefore join anyzmq
services with each other, not with sockets made in another context.
"""

from __future__ import annotations

import os

import zmq

__all__ = ["shared_context"]

_context: zmq.Context[zmq.Socket[bytes]] | None = None
_pid = 0


def shared_context() -> zmq.Context[zmq.Socket[bytes]]:
    """The process's anyzmq context (a new one in a forked child)."""
    global _context, _pid
    if _context is None or _context.closed or _pid != os.getpid():
        _context = zmq.Context()
        _pid = os.getpid()
    return _context
