"""The two services the one-way commands need and the library has no use for:
a publisher that knows when someone subscribed, and a listener that decodes
every call it receives instead of dispatching it.

Both speak the wire format of :mod:`anyzmq._pipeline` and :mod:`anyzmq._pubsub`
(``[topic,] name, args, kwargs``) with the default codec.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, final

import anyio
import zmq
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._backend import Backend
from .._codec import DecodeError
from .._curve import CurveClient, CurveServer
from .._oneway_client import OneWayClient
from .._service import Service
from .._socket import Frame
from .._transport import topic_bytes

__all__ = [
    "BUFFER",
    "Listener",
    "PipelineListener",
    "Publisher",
    "Received",
    "SubscriptionListener",
]

#: Calls a listener holds for printing before it stops reading.
BUFFER: Final = 1000


@final
class Publisher(OneWayClient):
    """An XPUB socket that publishes one call once a subscriber of its topic exists.

    A plain PUB socket cannot tell: it drops what it sends before a subscription
    has arrived. XPUB receives the subscriptions, so :meth:`publish` can wait.
    As every one-way client, it watches its handshakes: with ``curve``, a
    subscriber that refuses it ends the wait instead of leaving it to time out.
    """

    _socket_type = zmq.XPUB
    _receives = True  # the subscriptions

    def __init__(self, topic: bytes, *, connect: str, curve: CurveClient | None = None) -> None:
        super().__init__(bind=None, connect=connect, translation_table=None, curve=curve)
        self._topic = topic
        self._subscribed = False
        self._news: anyio.Event | None = None  # set on a subscription or a refusal

    def _configure(self, sock: zmq.Socket[bytes], backend: Backend) -> None:
        self._news = anyio.Event()

    def _tell(self) -> None:
        assert self._news is not None
        self._news.set()
        self._news = anyio.Event()

    def _refused(self, endpoint: str, event: int, value: int) -> None:
        super()._refused(endpoint, event, value)
        self._tell()

    def _on_message(self, received: list[Frame]) -> None:
        frames = [bytes(frame) for frame in received]
        # A subscription is one frame: b"\x01" and the topic prefix.
        if len(frames) != 1:
            return
        subscription = frames[0]
        if subscription[:1] == b"\x01" and self._topic.startswith(subscription[1:]):
            self._subscribed = True
            self._tell()

    async def publish(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Wait for a subscriber of the topic, then queue the call for it.

        Raises:
            ServiceClosedError: the publisher is not open.
            AuthenticationError: every subscriber it connects to refused it in
                its last handshake.
        """
        self._check_open()
        while not self._subscribed:
            refusal = self._handshakes.refusal(self._transport)
            if refusal is not None:
                raise refusal
            assert self._news is not None
            await self._news.wait()
        frames = (
            self._topic,
            name.encode("utf-8"),
            self._codec.packb(args),
            self._codec.packb(kwargs),
        )
        await self._send(self._check_open(), frames)


@dataclass(frozen=True, slots=True)
class Received:
    """One call a listener received; ``topic`` is None for a pipeline."""

    topic: bytes | None
    method: str
    args: Any
    kwargs: Any


class Listener(Service):
    """Receives calls and hands each to :meth:`receive`, decoded, without running
    anything; a message that does not decode becomes a line saying why.

    When :data:`BUFFER` items wait to be taken, it stops reading until one is:
    ZeroMQ's queues fill up and the senders feel it, as with a server.
    """

    def __init__(
        self,
        *,
        bind: Iterable[str] = (),
        connect: Iterable[str] = (),
        curve: CurveServer | None = None,
    ) -> None:
        super().__init__(
            bind=tuple(bind), connect=tuple(connect), translation_table=None, curve=curve
        )
        self._send: MemoryObjectSendStream[Received | str] | None = None
        self._received: MemoryObjectReceiveStream[Received | str] | None = None

    def _configure(self, sock: zmq.Socket[bytes], backend: Backend) -> None:
        self._send, self._received = anyio.create_memory_object_stream[Received | str](math.inf)

    def _on_closed(self) -> None:
        if self._send is not None:
            self._send.close()

    async def receive(self) -> Received | str:
        """The next call received, or a line saying why a message was refused.

        Raises:
            anyio.EndOfStream: the listener has closed.
        """
        assert self._received is not None
        item = await self._received.receive()
        if self._pump is not None and self._received.statistics().current_buffer_used < BUFFER:
            self._pump.resume_reading()
        return item

    def _put(self, item: Received | str) -> None:
        assert self._send is not None
        self._send.send_nowait(item)
        if self._send.statistics().current_buffer_used >= BUFFER:
            self._check_open().pause_reading()

    def _deliver(self, topic: bytes | None, frames: list[bytes]) -> None:
        name, args, kwargs = frames
        try:
            item: Received | str = Received(
                topic,
                name.decode("utf-8", "replace"),
                self._codec.unpackb(args),
                self._codec.unpackb(kwargs),
            )
        except DecodeError as exc:
            item = f"refused a message that does not decode: {exc}"
        self._put(item)


@final
class SubscriptionListener(Listener):
    """A SUB socket subscribed to its topics (to everything when there are none)."""

    _socket_type = zmq.SUB

    def __init__(
        self,
        topics: Iterable[str | bytes],
        *,
        bind: Iterable[str] = (),
        connect: Iterable[str] = (),
        curve: CurveServer | None = None,
    ) -> None:
        super().__init__(bind=bind, connect=connect, curve=curve)
        self._topics = tuple(topic_bytes(topic) for topic in topics) or (b"",)

    def _configure(self, sock: zmq.Socket[bytes], backend: Backend) -> None:
        super()._configure(sock, backend)
        for topic in self._topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic)

    def _on_message(self, received: list[Frame]) -> None:
        frames = [bytes(frame) for frame in received]  # large frames come as views
        if len(frames) != 4:
            self._put(f"refused a message of {len(frames)} frames (4 expected)")
            return
        self._deliver(frames[0], frames[1:])


@final
class PipelineListener(Listener):
    """A PULL socket."""

    _socket_type = zmq.PULL

    def _on_message(self, received: list[Frame]) -> None:
        frames = [bytes(frame) for frame in received]  # large frames come as views
        if len(frames) != 3:
            self._put(f"refused a message of {len(frames)} frames (3 expected)")
            return
        self._deliver(None, frames)
