"""Frame layouts and headers, compatible with aiozmq.rpc 1.0 (see docs/wire.md).

Request-reply, from the client (DEALER):   [request header, name, args, kwargs]
  request header: little-endian ``<HHLd`` = pid % 65536, random 16 bits,
  request id (32 bits), send time (float seconds since the epoch); 16 bytes.
Request-reply, from the server (ROUTER):   [envelope..., reply header, answer]
  reply header: ``<HHLd?`` = server pid % 65536, random 16 bits, the request id
  echoed back, send time, is-error flag; 17 bytes.  ``answer`` is the packed
  result, or the packed ``(exception class full name, args, repr)`` on error.
Pipeline (PUSH):  [name, args, kwargs]
Pub-sub (PUB):    [topic, name, args, kwargs]
``name`` is UTF-8; ``args`` a packed array; ``kwargs`` a packed map.

anyzmq's additions (docs/wire.md, "Deadlines and cancellation"), all marked with
the 4 bytes ``MAGIC`` and a kind byte, which aiozmq 1.0 peers never see or echo
back unread:
  call frame (client, before the request header): ``<4sBd`` = MAGIC, CALL, the
    caller's remaining time budget in seconds (``inf``: none); 13 bytes.
  cancel (client, alone): ``<4sBL`` = MAGIC, CANCEL, request id; 9 bytes.
  reply mark (server, before the reply header of a request that had a call
    frame) and hello (server, alone, once per new peer): ``<4sB`` = MAGIC, REPLY
    or HELLO; 5 bytes.

Streams (docs/wire.md, "Streams"), same marking:
  stream frame (client, before the request header, in place of the call frame):
    ``<4sBdLQ`` = MAGIC, STREAM, budget, window in items, window in bytes; then
    the method name in UTF-8.  The name frame after the header is empty, so a
    peer that does not stream answers NotFoundError and runs nothing.
  item mark (server, before a reply header, one message per item): MAGIC, ITEM.
  credit (client, alone): ``<4sBLLQ`` = MAGIC, CREDIT, request id, items, bytes.
  probe (server, alone, while a stream waits for credit): ``<4sBL`` = MAGIC,
    PROBE, request id; a client that has no such stream open answers with a cancel.
"""

from __future__ import annotations

import math
import os
import random
import struct
import time
from collections.abc import Callable, Container
from functools import partial
from typing import Final, NamedTuple, final

__all__ = [
    "HELLO",
    "ITEM_MARK",
    "MAX_REQUEST_ID",
    "NO_KWARGS",
    "REPLY_HEADER",
    "REPLY_HEADER_SIZE",
    "REPLY_MARK",
    "REQUEST_HEADER_SIZE",
    "ReplyHeader",
    "ReplyHeaders",
    "RequestIds",
    "StreamRequest",
    "budget_of",
    "call_frame",
    "cancel_frame",
    "cancelled_id",
    "credit_frame",
    "credit_of",
    "is_stream_frame",
    "parse_reply_header",
    "probe_frame",
    "probed_id",
    "reply_header",
    "request_id_of",
    "stream_frame",
    "stream_request_of",
]

_REQUEST: Final = struct.Struct("<HHLd")
_REPLY: Final = struct.Struct("<HHLd?")
_ID_AND_TIME: Final = struct.Struct("<Ld")
_ID_TIME_FLAG: Final = struct.Struct("<Ld?")
_PEER_PREFIX: Final = struct.Struct("<HH")

MAGIC: Final = b"\xffazq"
_CALL: Final = 1
_CANCEL: Final = 2
_REPLY_KIND: Final = 3
_HELLO_KIND: Final = 4
_STREAM: Final = 5
_ITEM_KIND: Final = 6
_CREDIT: Final = 7
_PROBE: Final = 8
_CALL_FRAME: Final = struct.Struct("<4sBd")
#: A cancel or a probe: the mark, the kind and a request id.
_ID_FRAME: Final = struct.Struct("<4sBL")
_MARK: Final = struct.Struct("<4sB")
CALL_FRAME_SIZE: Final = _CALL_FRAME.size
#: Before the reply header of an answer to a request that had a call frame.
REPLY_MARK: Final = _MARK.pack(MAGIC, _REPLY_KIND)
#: Sent alone by a server to a peer whose first call frame it has just read.
HELLO: Final = _MARK.pack(MAGIC, _HELLO_KIND)
#: Before the reply header of each item of a stream.
ITEM_MARK: Final = _MARK.pack(MAGIC, _ITEM_KIND)
#: The keyword-arguments frame of a call without any: an empty msgpack map.
NO_KWARGS: Final = b"\x80"
_STREAM_FRAME: Final = struct.Struct("<4sBdLQ")
_CREDIT_FRAME: Final = struct.Struct("<4sBLLQ")
#: Largest window a stream frame or a credit carries, in items and in bytes.
MAX_WINDOW_ITEMS: Final = 0xFFFFFFFF
MAX_WINDOW_BYTES: Final = 0xFFFFFFFFFFFFFFFF
#: A credit counts items modulo 2**32 (its field is 4 bytes wide): this masks a
#: count, or a difference of two counts, to that field.
CREDIT_ITEMS_MASK: Final = 0xFFFFFFFF

REQUEST_HEADER_SIZE: Final = _REQUEST.size
REPLY_HEADER_SIZE: Final = _REPLY.size
#: The reply header's layout: peer id, random number, request id, send time, is-error.
REPLY_HEADER: Final = _REPLY
MAX_REQUEST_ID: Final = 0xFFFFFFFF


def _peer_prefix() -> bytes:
    return _PEER_PREFIX.pack(os.getpid() % 0x10000, random.randrange(0x10000))


class ReplyHeader(NamedTuple):
    request_id: int
    is_error: bool


@final
class RequestIds:
    """Issues request ids (wrapping at 2**32, skipping ids still in use) and
    builds request headers."""

    __slots__ = ("_last", "_prefix")

    def __init__(self) -> None:
        self._prefix = _peer_prefix()
        self._last = 0

    def issue(self, in_use: Container[int], also_in_use: Container[int] = ()) -> tuple[int, bytes]:
        """Return the next id that is in neither ``in_use`` nor ``also_in_use``,
        and a request header carrying it (one call: this is on every request)."""
        request_id = self._last
        while True:
            request_id = request_id + 1 if request_id < MAX_REQUEST_ID else 1
            if request_id not in in_use and request_id not in also_in_use:
                self._last = request_id
                return request_id, self._prefix + _ID_AND_TIME.pack(request_id, time.time())

    def header(self, request_id: int) -> bytes:
        return self._prefix + _ID_AND_TIME.pack(request_id, time.time())


def request_id_of(header: bytes | memoryview) -> int:
    """Return the request id of a request header.

    Raises:
        ValueError: ``header`` is not exactly 16 bytes long.
    """
    if len(header) != REQUEST_HEADER_SIZE:
        raise ValueError(f"request header must be {REQUEST_HEADER_SIZE} bytes, got {len(header)}")
    request_id: int = _REQUEST.unpack(header)[2]
    return request_id


def parse_reply_header(header: bytes | memoryview) -> ReplyHeader:
    """Return the request id and error flag of a reply header.

    Raises:
        ValueError: ``header`` is not exactly 17 bytes long.
    """
    if len(header) != REPLY_HEADER_SIZE:
        raise ValueError(f"reply header must be {REPLY_HEADER_SIZE} bytes, got {len(header)}")
    _pid, _rnd, request_id, _sent, is_error = _REPLY.unpack(header)
    return ReplyHeader(request_id, bool(is_error))


@final
class ReplyHeaders:
    """Builds reply headers for one server."""

    __slots__ = ("_prefix",)

    def __init__(self) -> None:
        self._prefix = _peer_prefix()

    def header(self, request_id: int, *, is_error: bool) -> bytes:
        return self._prefix + _ID_TIME_FLAG.pack(request_id, time.time(), is_error)


def reply_header(request_id: int, *, is_error: bool) -> bytes:
    """A reply header with a fresh peer prefix (for tests and tools)."""
    return ReplyHeaders().header(request_id, is_error=is_error)


#: ``call_frame(budget)``: the call frame for a caller with ``budget`` seconds left
#: (``inf``: no deadline); a partial of ``pack``, so no Python call per request.
call_frame: Final[Callable[[float], bytes]] = partial(_CALL_FRAME.pack, MAGIC, _CALL)


def budget_of(frame: bytes | memoryview) -> float | None:
    """The budget carried by a call frame, or None when ``frame`` is not one.

    A budget that is not a number counts as none (``inf``).
    """
    if len(frame) != CALL_FRAME_SIZE:
        return None
    magic, kind, budget = _CALL_FRAME.unpack(frame)
    if magic != MAGIC or kind != _CALL:
        return None
    return math.inf if math.isnan(budget) else float(budget)


def cancel_frame(request_id: int) -> bytes:
    """The message (one frame) that abandons call ``request_id``."""
    return _ID_FRAME.pack(MAGIC, _CANCEL, request_id)


def cancelled_id(frame: bytes | memoryview) -> int | None:
    """The request id a cancel frame abandons, or None when ``frame`` is not one."""
    return _id_of(frame, _CANCEL)


def probe_frame(request_id: int) -> bytes:
    """The message (one frame) asking whether the caller of stream ``request_id``
    still reads it."""
    return _ID_FRAME.pack(MAGIC, _PROBE, request_id)


def probed_id(frame: bytes | memoryview) -> int | None:
    """The request id a probe frame asks about, or None when ``frame`` is not one."""
    return _id_of(frame, _PROBE)


def _id_of(frame: bytes | memoryview, expected: int) -> int | None:
    """The request id of a frame of kind ``expected`` that carries only one (a
    cancel or a probe), or None when ``frame`` is not such a frame."""
    if len(frame) != _ID_FRAME.size:
        return None
    magic, kind, request_id = _ID_FRAME.unpack(frame)
    return int(request_id) if magic == MAGIC and kind == expected else None


def _kind_of(frame: bytes | memoryview) -> int | None:
    """The kind byte of a frame marked with ``MAGIC``, or None when it is not marked."""
    if len(frame) < _MARK.size or bytes(frame[:4]) != MAGIC:
        return None
    return int(frame[4])


class StreamRequest(NamedTuple):
    """What a stream frame says: the caller's budget, its window, the method name."""

    budget: float
    window_items: int
    window_bytes: int
    name: bytes


def stream_frame(budget: float, window_items: int, window_bytes: int, name: str) -> bytes:
    """The frame that opens a stream of ``name`` (before the request header).

    Raises:
        struct.error: a window does not fit its field.
    """
    head = _STREAM_FRAME.pack(MAGIC, _STREAM, budget, window_items, window_bytes)
    return head + name.encode("utf-8")


def stream_request_of(frame: bytes | memoryview) -> StreamRequest | None:
    """What a stream frame carries, or None when ``frame`` is not one.

    A budget that is not a number counts as none (``inf``).
    """
    if not is_stream_frame(frame):
        return None
    _magic, _kind, budget, items, nbytes = _STREAM_FRAME.unpack_from(frame)
    budget = math.inf if math.isnan(budget) else float(budget)
    return StreamRequest(budget, int(items), int(nbytes), bytes(frame[_STREAM_FRAME.size :]))


def is_stream_frame(frame: bytes | memoryview) -> bool:
    """Whether ``frame`` is a stream frame (a peer that does not stream echoes it)."""
    return len(frame) > _STREAM_FRAME.size and _kind_of(frame) == _STREAM


def credit_frame(request_id: int, items: int, nbytes: int) -> bytes:
    """The message (one frame) saying that the caller of stream ``request_id`` has
    taken ``items`` items (counted modulo 2**32) and ``nbytes`` bytes since it began."""
    return _CREDIT_FRAME.pack(MAGIC, _CREDIT, request_id, items & CREDIT_ITEMS_MASK, nbytes)


def credit_of(frame: bytes | memoryview) -> tuple[int, int, int] | None:
    """The request id, items and bytes of a credit frame, or None when ``frame``
    is not one."""
    if len(frame) != _CREDIT_FRAME.size or _kind_of(frame) != _CREDIT:
        return None
    _magic, _kind, request_id, items, nbytes = _CREDIT_FRAME.unpack(frame)
    return int(request_id), int(items), int(nbytes)
