"""The ZeroMQ context that every anyzmq socket is made in, and its end at exit.

anyzmq keeps a context of its own rather than pyzmq's ``Context.instance()``: what
it does with that context (terminating it at exit to deliver what closed sockets
still hold, the one ZAP handler a context may have) must not depend on, or wait
for, sockets that other code opened. ``inproc://`` endpoints therefore join anyzmq
services with each other, not with sockets made in another context.

ZeroMQ delivers what a closed socket still holds (for up to its linger) only while
the context lives, and nothing terminates a context when the program exits. So
the first use of the context registers an :mod:`atexit` hook that terminates it:
exit then waits until lingering sockets have delivered or their linger has passed.
The wait is bounded, so exit never hangs: sockets still open then (a service whose
event loop died) are closed with linger 0 first, and the termination runs in a
daemon thread that exit waits for at most a little longer than the longest linger
any anyzmq socket closed with (:data:`EXIT_WAIT_CAP` when that linger was unbounded).
Where no thread can start at exit (Python 3.12.0 and 3.12.1), the hook terminates
the context itself when every linger was bounded, and drops what is queued otherwise.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from typing import Final

import zmq

__all__ = ["EXIT_WAIT_CAP", "exit_wait", "note_linger", "shared_context"]

#: Seconds exit waits at most for sockets closed with an unbounded linger.
EXIT_WAIT_CAP: Final = 30.0
#: Seconds exit waits beyond the longest linger (ZeroMQ's own work, a busy machine).
_EXIT_MARGIN: Final = 1.0

_context: zmq.Context[zmq.Socket[bytes]] | None = None
_pid = 0
_longest_linger_ms = 0  # -1: a socket closed with an unbounded linger
_hook_registered = False


def shared_context() -> zmq.Context[zmq.Socket[bytes]]:
    """The process's anyzmq context (a new one in a forked child)."""
    global _context, _pid, _hook_registered, _longest_linger_ms
    if _context is None or _context.closed or _pid != os.getpid():
        if _pid != os.getpid():
            _longest_linger_ms = 0  # the parent's sockets are not this process's
        _context = zmq.Context()
        _pid = os.getpid()
        if not _hook_registered:  # a forked child inherits the hook: it finds its own context
            atexit.register(_terminate_at_exit)
            _hook_registered = True
    return _context


def note_linger(linger_ms: int) -> None:
    """Record that a socket was closed with ``linger_ms`` (ZeroMQ's ``LINGER``:
    milliseconds, -1 for unbounded), so that exit waits long enough for it."""
    global _longest_linger_ms
    if _longest_linger_ms < 0:
        return
    _longest_linger_ms = -1 if linger_ms < 0 else max(_longest_linger_ms, linger_ms)


def exit_wait() -> float:
    """Seconds :func:`_terminate_at_exit` waits at most for the context to end."""
    if _longest_linger_ms < 0:
        return EXIT_WAIT_CAP
    return _longest_linger_ms / 1000 + _EXIT_MARGIN


def _terminate_at_exit() -> None:
    context = _context
    if context is None or context.closed or _pid != os.getpid():
        return
    # pyzmq keeps a weak set of the context's sockets; those still open belong to
    # services that were never closed (their event loop died): drop what they hold.
    # Monitors first (see ConnectionWatcher.close): a monitored socket closed
    # before its monitor's reader could block the I/O thread and so the exit.
    sockets = [sock for sock in list(getattr(context, "_sockets", None) or ()) if not sock.closed]
    for sock in sockets:
        with contextlib.suppress(zmq.ZMQError):
            sock.disable_monitor()
    for sock in sockets:
        sock.close(linger=0)
    ender = threading.Thread(target=context.term, name="anyzmq context exit", daemon=True)
    try:
        ender.start()
    except RuntimeError:
        # Python 3.12.0 and 3.12.1 start no thread at exit. Terminate here, which
        # waits as long as the longest linger; with an unbounded one that could be
        # for ever, so then what is still queued is dropped instead.
        if _longest_linger_ms >= 0:
            context.term()
        return
    ender.join(exit_wait())
