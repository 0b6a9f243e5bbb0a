"""The server side of a stream: run a stream method's async generator within
the window its caller grants, sending each item as it comes.

The generator runs in the call's own task and cancel scope (see ``_server.py``),
so the server ``timeout``, the caller's deadline and a cancel message bound the
whole stream. Before asking the generator for its next item the task waits
until the caller's window has room: fewer items in flight than the window's
items, and fewer bytes than its bytes (an item larger than the whole byte window
still goes, alone). The generator is closed however the stream ends, so its
``finally`` runs.

Credit only comes if the server reads, so while a stream waits for it the server
never stops reading: the queue of requests waiting behind ``max_concurrent_calls``
may grow to twice its limit, and a request beyond that is refused at once with
``ServiceClosedError`` (see ``ServerBase._start``).

A caller that vanished (its process died, its connection was dropped) sends no
cancel that could reach the stream, and a new connection of the same client
comes with a new routing id. So while it waits for credit, a stream asks every
``every`` seconds whether its caller is still connected, and ends with
:class:`CallerGone` when it is not.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, final

import anyio

from ._wire import CREDIT_ITEMS_MASK

__all__ = ["CallerGone", "StreamWindow", "run_stream"]


class CallerGone(Exception):
    """The caller of a stream waiting for credit is no longer connected."""


@final
class StreamWindow:
    """How far a stream may run ahead of its consumer: what was sent minus what
    the caller has credited back, in items and in bytes.

    A credit carries the totals the caller has taken since the stream began (the
    item count modulo 2**32), so a credit that arrives twice, late or out of order
    changes nothing, and any later credit makes up for one that never arrived.
    """

    __slots__ = (
        "_room",
        "credited_bytes",
        "credited_items",
        "sent_bytes",
        "sent_items",
        "window_bytes",
        "window_items",
    )

    def __init__(self, window_items: int, window_bytes: int) -> None:
        self.window_items = max(1, window_items)
        self.window_bytes = max(1, window_bytes)
        self.sent_items = self.sent_bytes = 0
        self.credited_items = self.credited_bytes = 0
        self._room: anyio.Event | None = None

    @property
    def items_in_flight(self) -> int:
        return self.sent_items - self.credited_items

    @property
    def bytes_in_flight(self) -> int:
        return max(0, self.sent_bytes - self.credited_bytes)

    @property
    def has_room(self) -> bool:
        return self.items_in_flight < self.window_items and self.bytes_in_flight < self.window_bytes

    def sent(self, size: int) -> None:
        self.sent_items += 1
        self.sent_bytes += size

    def credit(self, items: int, nbytes: int) -> None:
        """The caller has taken ``items`` items (modulo 2**32) of ``nbytes`` bytes
        in all: let as many more go. A credit older than one already counted, or
        for more items than were sent, is ignored."""
        gained = (items - self.credited_items) & CREDIT_ITEMS_MASK
        if gained > self.items_in_flight:
            return
        self.credited_items += gained
        self.credited_bytes = max(self.credited_bytes, nbytes)
        if self._room is not None and self.has_room:
            self._room.set()
            self._room = None

    async def wait_for_room(
        self, starving: Callable[[bool], None], connected: Callable[[], bool], every: float
    ) -> None:
        """Return once the window has room (a cancellation point when it has none);
        ``starving`` is told when the wait starts and ends.

        Raises:
            CallerGone: ``connected()``, asked every ``every`` seconds of waiting,
                said the caller is gone.
        """
        if self.has_room:
            return
        starving(True)
        try:
            while not self.has_room:
                if self._room is None:
                    self._room = anyio.Event()
                with anyio.move_on_after(every):
                    await self._room.wait()
                if not self.has_room and not connected():
                    raise CallerGone
        finally:
            starving(False)


async def run_stream(
    items: AsyncGenerator[Any, None],
    window: StreamWindow,
    pack: Callable[[Any], bytes],
    send: Callable[[bytes], Awaitable[None]],
    name: str,
    starving: Callable[[bool], None],
    connected: Callable[[], bool],
    every: float,
) -> None:
    """Send every item of ``items`` within ``window``, then close the generator;
    ``starving`` is told when the stream starts and stops waiting for credit.

    Raises:
        TypeError: an item cannot be serialized (the stream ends with it).
        CallerGone: the caller vanished while the stream waited for its credit.
        Exception: what the generator raised.
    """
    try:
        while True:
            await window.wait_for_room(starving, connected, every)
            try:
                item = await items.__anext__()
            except StopAsyncIteration:
                return
            try:
                body = pack(item)
            except Exception as exc:
                raise TypeError(f"an item of {name!r} cannot be serialized: {exc}") from None
            await send(body)
            window.sent(len(body))
    finally:
        await items.aclose()
