"""The ZAP handler (ZeroMQ RFC 27) that admits or refuses CURVE clients.

libzmq asks the socket bound at ``inproc://zeromq.zap.01`` of a server socket's
context whether to admit each client that completes the CURVE handshake; only
one socket per context can be bound there, so one handler serves every CURVE
server of anyzmq's context (``_context.shared_context()``), each server under a
ZAP domain of its own with its own policy.

Failing closed. Each CURVE server sets a unique ``ZAP_DOMAIN`` and
``ZAP_ENFORCE_DOMAIN``: with no handler bound, libzmq then refuses every client
instead of admitting them all (what a CURVE server without ZAP does). A server
registers its domain, and the handler's socket is bound, before the server
binds or connects; a request for a domain that no open server has registered is
refused; and while nobody pumps the handler's socket, requests wait in it,
so handshakes wait too: nothing is admitted without an answer.

Lifetime. The handler is a ROUTER socket plus the members registered with it
(one :class:`ZapMembership` per open CURVE server). The first member creates and
binds the socket; the last one to leave unbinds and closes it. Exactly one
member, the host, pumps the socket, in a task of its own server's task group
(started by :meth:`ZapMembership.start`). When the host leaves, its pump task has
already ended (it is cancelled with the server's other tasks), and it hands the
socket over to another member, whose task, waiting until then, starts pumping.
No task ever outlives the server that runs it, and no server's departure takes
the handler from the others. Members may live in different event loops and
threads: the registry is guarded by a lock, and a hand-over wakes the new host
through its own loop.

Policies are read when the server is constructed and never again.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from typing import Final, final

import anyio
import zmq
from zmq.utils import z85

from ._backend import Backend
from ._log import RateLimitedWarning, logger
from ._socket import Frame, SocketPump

__all__ = ["ZAP_ENDPOINT", "ZapMembership", "new_domain"]

#: Where libzmq sends ZAP requests (RFC 27).
ZAP_ENDPOINT: Final = "inproc://zeromq.zap.01"

_VERSION: Final = b"1.0"
_CURVE: Final = b"CURVE"
_OK: Final = b"200"
_DENIED: Final = b"400"
_FAILED: Final = b"500"

_domains = itertools.count(1)


def new_domain() -> bytes:
    """A ZAP domain that no other server of this process has."""
    return b"anyzmq-%d-%d" % (os.getpid(), next(_domains))


@final
class _Handler:
    """The ROUTER socket of one context, and the members it answers for."""

    __slots__ = ("host", "members", "sock")

    def __init__(self, sock: zmq.Socket[bytes]) -> None:
        self.sock = sock
        self.members: dict[bytes, ZapMembership] = {}
        self.host: ZapMembership | None = None

    def answer(self, frames: list[bytes]) -> list[bytes] | None:
        """The reply to one request, or None for a message that is no request."""
        # [peer routing id, b"", version, request id, domain, address, identity,
        #  mechanism, credentials...]
        if len(frames) < 8 or frames[1] != b"":
            logger.debug("ZAP handler dropped a message of %d frames", len(frames))
            return None
        envelope = frames[:2]
        version, request_id, domain, address, _identity, mechanism = frames[2:8]
        credentials = frames[8:]

        def reply(status: bytes, text: bytes, user_id: bytes = b"") -> list[bytes]:
            return [*envelope, _VERSION, request_id, status, text, user_id, b""]

        if version != _VERSION:
            return reply(_FAILED, b"unsupported ZAP version")
        member = self.members.get(domain)
        if member is None:
            return reply(_DENIED, b"no open server has this domain")
        if mechanism != _CURVE or len(credentials) != 1 or len(credentials[0]) != 32:
            member.refused(f"a {mechanism.decode('ascii', 'replace')} client from {address!r}")
            return reply(_DENIED, b"CURVE only")
        key = z85.encode(credentials[0])
        if member.authorized is not None and key not in member.authorized:
            member.refused(
                f"client key {key.decode('ascii')} from {address.decode('ascii', 'replace')} "
                "is not authorised"
            )
            return reply(_DENIED, b"key not authorised")
        return reply(_OK, b"OK", key)


_lock = threading.Lock()
_handlers: dict[zmq.Context[zmq.Socket[bytes]], _Handler] = {}


@final
class ZapMembership:
    """One CURVE server's registration with its context's ZAP handler.

    Registers ``domain`` at construction (creating and binding the handler's
    socket if this is the first member); :meth:`start` runs the member's share of
    the pumping; :meth:`close` leaves (idempotent).

    Raises (at construction):
        OSError: ZeroMQ refused to bind the handler's endpoint.
    """

    __slots__ = ("_backend", "_closed", "_handler", "_refusals", "_turn", "authorized", "domain")

    def __init__(
        self,
        sock: zmq.Socket[bytes],
        backend: Backend,
        domain: bytes,
        authorized: frozenset[bytes] | None,
        owner: str,
    ) -> None:
        self._backend = backend
        self.domain = domain
        self.authorized = authorized
        self._refusals = RateLimitedWarning(f"{owner} refused a client")
        self._turn = anyio.Event()  # set when this member is to pump
        self._closed = False
        context = sock.context
        with _lock:
            handler = _handlers.get(context)
            if handler is None:
                handler = _Handler(_bind_handler(context))
                _handlers[context] = handler
            handler.members[domain] = self
            if handler.host is None:
                handler.host = self
                self._turn.set()
        self._handler = handler

    @property
    def refusals(self) -> int:
        """How many clients this member's policy has refused."""
        return self._refusals.total

    def refused(self, detail: str) -> None:
        """Report a refusal (rate-limited warning)."""
        self._refusals.report(detail)

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Start the task that pumps the handler while this member is its host."""
        task_group.start_soon(self._host, name=f"ZAP handler of {self.domain!r}")

    async def _host(self) -> None:
        await self._turn.wait()
        pump = SocketPump(self._handler.sock, self._backend)
        answer = self._handler.answer

        def on_request(frames: list[Frame]) -> None:
            reply = answer([bytes(frame) for frame in frames])
            if reply is None:
                return
            try:
                pump.send_nowait(reply)
            except OSError as exc:  # not expected of a ROUTER: it drops instead
                logger.debug("ZAP reply not sent: %s", exc)

        await pump.run(on_request)  # until cancelled; the socket stays open

    def close(self) -> None:
        """Leave: hand the handler to another member if this one hosts it, or
        close it if no member is left. Call it once this member's pump task has
        ended (or was never started)."""
        if self._closed:
            return
        self._closed = True
        handler = self._handler
        with _lock:
            del handler.members[self.domain]
            if handler.host is not self:
                return
            handler.host = None
            for member in handler.members.values():
                if member._wake():
                    handler.host = member
                    return
            if handler.members:  # every other member's loop is gone: keep failing closed
                return
            del _handlers[handler.sock.context]
            with contextlib.suppress(zmq.ZMQError):  # the context is being terminated
                handler.sock.unbind(ZAP_ENDPOINT)  # at once: a new handler may bind
            handler.sock.close(linger=0)

    def _wake(self) -> bool:
        """Make this member the host; False if its event loop is gone."""
        if self._backend.in_loop():
            self._turn.set()
            return True
        try:
            self._backend.run_soon_threadsafe(self._turn.set)
        except RuntimeError:
            return False
        return True


def _bind_handler(context: zmq.Context[zmq.Socket[bytes]]) -> zmq.Socket[bytes]:
    try:
        sock: zmq.Socket[bytes] = context.socket(zmq.ROUTER)
    except zmq.ZMQError as exc:
        raise OSError(exc.errno, exc.strerror) from exc
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(ZAP_ENDPOINT)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise OSError(exc.errno, f"cannot bind the ZAP handler: {exc.strerror}") from exc
    return sock
