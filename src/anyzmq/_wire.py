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
"""

from __future__ import annotations

import os
import random
import struct
import time
from collections.abc import Container
from typing import Final, NamedTuple, final

__all__ = [
    "MAX_REQUEST_ID",
    "REPLY_HEADER_SIZE",
    "REQUEST_HEADER_SIZE",
    "ReplyHeader",
    "ReplyHeaders",
    "RequestIds",
    "parse_reply_header",
    "reply_header",
    "request_id_of",
]

_REQUEST: Final = struct.Struct("<HHLd")
_REPLY: Final = struct.Struct("<HHLd?")
_ID_AND_TIME: Final = struct.Struct("<Ld")
_ID_TIME_FLAG: Final = struct.Struct("<Ld?")
_PEER_PREFIX: Final = struct.Struct("<HH")

REQUEST_HEADER_SIZE: Final = _REQUEST.size
REPLY_HEADER_SIZE: Final = _REPLY.size
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

    def next_id(self, in_use: Container[int]) -> int:
        """Return an id that is not in ``in_use``."""
        request_id = self._last
        while True:
            request_id = request_id + 1 if request_id < MAX_REQUEST_ID else 1
            if request_id not in in_use:
                self._last = request_id
                return request_id

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
