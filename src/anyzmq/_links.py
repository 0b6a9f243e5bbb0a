"""The sockets of an RPC client: one DEALER per connected endpoint.

A DEALER hands each message to its next peer in turn, so a message that follows a
request (a cancel) could reach a server that never saw the request. An RPC client
therefore connects each endpoint with a socket of its own, a :class:`Link`, and
sends every message about a call over the link that carried the call. The
client's first socket keeps its bound endpoints (peers that connect to the client);
cancels never go over it, since it may have several peers.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Callable, Iterator
from typing import Final, Protocol, final

import anyio
import zmq

from ._connections import ConnectionWatcher
from ._socket import SocketPump
from ._transport import Transport, set_option

__all__ = ["Link", "LinkTransport", "Links", "PeerKind"]

#: Cancels kept for a peer not yet known to understand them (beyond it, the oldest go).
MAX_DEFERRED_CANCELS: Final = 1024


class PeerKind(enum.Enum):
    """What a link knows of the server at its other end."""

    UNKNOWN = enum.auto()  # nothing heard yet (or since it reconnected)
    ANYZMQ = enum.auto()  # greets, and understands cancels
    AIOZMQ = enum.auto()  # echoes call frames unread: never send it a cancel


@final
class Link:
    """One socket of an RPC client, and what the client knows of its peer.

    ``endpoint`` is None for the client's first socket, the one that binds.
    """

    __slots__ = (
        "cancelling",
        "deferred",
        "endpoint",
        "peer",
        "peers_up",
        "pump",
        "scope",
        "settling",
        "watch_scope",
        "watcher",
    )

    def __init__(self, pump: SocketPump, endpoint: str | None) -> None:
        self.pump = pump
        self.endpoint = endpoint
        self.peer = PeerKind.UNKNOWN
        self.peers_up = 0  # connections whose handshake succeeded and that are not lost
        self.deferred: list[int] = []  # request ids to cancel once the peer is known
        # Set from a loss until the client knows whether ZeroMQ still delivers
        # over this link (what is sent meanwhile could fall into a dead queue).
        self.settling: anyio.Event | None = None
        self.cancelling = False  # cancels were sent on closing: linger for them
        self.scope = anyio.CancelScope()  # of the task that pumps the socket
        self.watch_scope = anyio.CancelScope()  # of the task that watches its connections
        self.watcher: ConnectionWatcher | None = None

    @property
    def cancels(self) -> bool:
        """Whether a cancel sent over this link reaches the server that has the call."""
        return self.endpoint is not None

    def defer_cancel(self, request_id: int) -> None:
        if len(self.deferred) >= MAX_DEFERRED_CANCELS:
            del self.deferred[0]
        self.deferred.append(request_id)

    def __repr__(self) -> str:
        return f"<Link {self.endpoint or '(bound)'} {self.peer.name} up={self.peers_up}>"


@final
class Links:
    """The links that take calls, and the choice of one for each call: in turn,
    among those whose connection is up when any is."""

    __slots__ = ("_all", "_next", "single")

    def __init__(self) -> None:
        self._all: list[Link] = []
        self._next = 0
        #: The only link, when there is exactly one: it takes every call.
        self.single: Link | None = None

    def add(self, link: Link) -> None:
        if link not in self._all:
            self._all.append(link)
            self.single = self._all[0] if len(self._all) == 1 else None

    def remove(self, link: Link) -> None:
        if link in self._all:
            self._all.remove(link)
            self.single = self._all[0] if len(self._all) == 1 else None

    def __iter__(self) -> Iterator[Link]:
        return iter(tuple(self._all))

    def __len__(self) -> int:
        return len(self._all)

    def pick(self, fallback: Link) -> Link:
        """The link for the next call (``fallback`` when there is none)."""
        links = self._all
        count = len(links)
        if count <= 1:
            return links[0] if links else fallback
        start = self._next
        for step in range(count):
            link = links[(start + step) % count]
            if link.peers_up:
                self._next = (start + step + 1) % count
                return link
        self._next = (start + 1) % count
        return links[start % count]


class LinkOwner(Protocol):
    def _connect_link(self, endpoint: str) -> None: ...

    def _disconnect_link(self, endpoint: str) -> None: ...

    def _link_sockets(self) -> list[zmq.Socket[bytes]]: ...

    def _remember_option(self, option: int, value: int | bytes | str) -> None: ...

    def _bindings_changed(self) -> None: ...


class LinkTransport(Transport):
    """An RPC client's :attr:`~anyzmq.rpc.Service.transport`: ``connect`` adds a
    link, ``bind`` binds the first socket, options apply to every socket."""

    __slots__ = ("_owner",)

    def __init__(self, sock: zmq.Socket[bytes], owner: LinkOwner) -> None:
        super().__init__(sock)
        self._owner = owner

    def bind(self, endpoint: str) -> str:
        real = super().bind(endpoint)
        self._owner._bindings_changed()
        return real

    def unbind(self, endpoint: str) -> None:
        super().unbind(endpoint)
        self._owner._bindings_changed()

    def connect(self, endpoint: str) -> str:
        """Connect to ``endpoint`` with a socket of its own and return it.

        Raises:
            ValueError: ``endpoint`` is connected already.
            OSError: ZeroMQ refused the endpoint.
        """
        if not isinstance(endpoint, str):
            raise TypeError(f"an endpoint must be a str, got {endpoint!r}")
        if endpoint in self._connections:
            raise ValueError(f"{endpoint} is connected already")
        self._owner._connect_link(endpoint)
        self._connections.append(endpoint)
        return endpoint

    def disconnect(self, endpoint: str) -> None:
        """Close the connection to ``endpoint``; its calls fail with
        :class:`~anyzmq.rpc.ConnectionLostError`.

        Raises:
            OSError: ``endpoint`` is not connected (ENOENT).
        """
        if endpoint not in self._connections:
            raise OSError(errno.ENOENT, f"{endpoint} is not connected")
        self._connections.remove(endpoint)
        self._owner._disconnect_link(endpoint)

    def setsockopt(self, option: int, value: int | bytes | str) -> None:
        """Set a ZeroMQ option on every socket of the client, and on those that
        later connections make (see :meth:`Transport.setsockopt`)."""
        for sock in self._owner._link_sockets():
            set_option(sock, option, value)
        self._owner._remember_option(option, value)


LinkCallback = Callable[[Link, list[bytes]], None]
