"""Pickling of the datetime family, with an unpickler that refuses everything else.

aiozmq.rpc sends dates, times, timedeltas and time zones as pickles inside msgpack
extension types (codes 123 to 127). A pickle can name any importable callable, so
unpickling one from the network is remote code execution. :func:`loads` here
resolves only the classes that the datetime family needs and refuses every other
global, so a hostile payload fails to load instead of running.
"""

from __future__ import annotations

import datetime
import io
import pickle
import pickletools
import re
import zoneinfo
from typing import Any, Final

__all__ = ["MAX_PAYLOAD_SIZE", "MAX_ZONES", "UnsafePickleError", "dumps", "loads"]

#: Longest pickle :func:`loads` reads. A datetime with a time zone pickles in
#: about 140 bytes; the bound keeps what one pickle can allocate small.
MAX_PAYLOAD_SIZE: Final = 1024
#: Most distinct time zone keys one ``zones`` mapping may gather (one message).
MAX_ZONES: Final = 64


class UnsafePickleError(pickle.UnpicklingError):
    """Raised when a pickle names a global outside the datetime family, or
    exceeds what :func:`loads` admits."""


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Pickle protocols 0 to 2 carry bytes as _codecs.encode(text, "latin1").
    if encoding != "latin1":
        raise UnsafePickleError(f"_codecs.encode with {encoding!r} is not admitted")
    return text.encode("latin1")


_ADMITTED: Final[dict[tuple[str, str], object]] = {
    ("datetime", "date"): datetime.date,
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "time"): datetime.time,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("datetime", "tzinfo"): datetime.tzinfo,
    ("zoneinfo", "ZoneInfo"): zoneinfo.ZoneInfo,
    ("_codecs", "encode"): _latin1_encode,
}
# getattr, named as protocols 3 and above and as protocols 0 to 2 name it.
_GETATTR: Final = {("builtins", "getattr"), ("__builtin__", "getattr")}


# Argument size of each opcode, by its byte: fixed sizes as they are, negative
# ones as pickletools numbers them (-1 up to a newline, -2 to -5 length-prefixed).
_ARGUMENT_SIZE: Final = [-6] * 256
for _opcode in pickletools.opcodes:
    _ARGUMENT_SIZE[ord(_opcode.code)] = _opcode.arg.n if _opcode.arg else 0
_LENGTH_PREFIX: Final = {-3: (4, True), -4: (4, False), -5: (8, False)}
_PUT, _LONG_BINPUT, _GLOBAL, _INST, _STOP = (ord(op) for op in "prci.")
# PUT, LONG_BINPUT, and the opcodes with a 4- or 8-byte length.
_RISKY_OPCODE: Final = re.compile(rb"[prTBX\x8b\x8d\x8e\x96]")


def _harmless_opcodes() -> re.Pattern[bytes]:
    # A sequence of opcodes, each with the argument the unpickler reads for it,
    # none of them risky: what protocols 4 and 5 write for the datetime family.
    # Matching it is faster than walking the opcodes in Python.
    by_size: dict[int, list[bytes]] = {}
    for opcode in pickletools.opcodes:
        by_size.setdefault(opcode.arg.n if opcode.arg else 0, []).append(
            opcode.code.encode("latin1")
        )

    def one_of(codes: list[bytes]) -> bytes:
        return b"[" + b"".join(re.escape(code) for code in codes if code != b"r") + b"]"

    tokens = [one_of(by_size[0])]
    tokens += [one_of(by_size[n]) + b".{%d}" % n for n in sorted(by_size) if n > 0]
    lengths = b"|".join(re.escape(bytes([n])) + b".{%d}" % n for n in range(256))
    tokens.append(one_of(by_size[pickletools.TAKEN_FROM_ARGUMENT1]) + b"(?:" + lengths + b")")
    return re.compile(b"(?:" + b"|".join(tokens) + b")*+", re.DOTALL)


_HARMLESS: Final = _harmless_opcodes()


def _check_allocations(data: bytes) -> None:
    # The C unpickler grows its memo to twice the index a PUT or LONG_BINPUT
    # names, and allocates a string's or bytes' declared length before reading
    # it: a 7-byte pickle would have it allocate gigabytes. Walk the opcodes as
    # it will and refuse an index or a length that no pickle this long needs.
    if _RISKY_OPCODE.search(data) is None or _HARMLESS.fullmatch(data):
        return  # none of those opcodes can be in it: nothing to walk
    sizes = _ARGUMENT_SIZE
    pos, end = 0, len(data)
    while pos < end:
        opcode = data[pos]
        size = sizes[opcode]
        pos += 1
        if size == 0:
            if opcode == _STOP:
                return
        elif size == -2:  # the commonest with an argument: short strings and bytes
            pos += 1 + data[pos] if pos < end else 1
        elif size > 0:
            if opcode == _LONG_BINPUT and int.from_bytes(data[pos : pos + 4], "little") > end:
                raise UnsafePickleError("a memo index beyond the pickle's length")
            pos += size
        elif size == -1:
            pos = _after_lines(data, pos, opcode)
        elif size == -6:
            return  # an unknown opcode: the unpickler refuses it
        else:
            width, signed = _LENGTH_PREFIX[size]
            length = int.from_bytes(data[pos : pos + width], "little", signed=signed)
            if not 0 <= length <= end - pos - width:
                # The unpickler would allocate that much before finding it missing.
                raise UnsafePickleError("a string or bytes longer than the pickle")
            pos += width + length


def _after_lines(data: bytes, pos: int, opcode: int) -> int:
    end = len(data)
    newline = data.find(b"\n", pos)
    if newline < 0:
        newline = end  # the unpickler reads a last line without its newline
    if opcode == _PUT:
        try:
            index = int(data[pos:newline])
        except ValueError:
            index = -1
        if not 0 <= index <= end:
            raise UnsafePickleError("a memo index beyond the pickle's length")
    elif opcode in (_GLOBAL, _INST):  # two lines
        newline = data.find(b"\n", newline + 1)
        if newline < 0:
            return end  # the unpickler refuses the names before any memo use
    return newline + 1


class _DatetimeUnpickler(pickle.Unpickler):
    _zones: dict[str, zoneinfo.ZoneInfo]  # set by loads (cheaper than an __init__)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _GETATTR:
            return self._getattr
        try:
            return _ADMITTED[module, name]
        except KeyError:
            raise UnsafePickleError(f"refused to load {module}.{name}") from None

    def _getattr(self, obj: object, name: str) -> Any:
        # ZoneInfo pickles as getattr(ZoneInfo, "_unpickle")(key, from_cache); that
        # is the only use of getattr admitted.
        if obj is zoneinfo.ZoneInfo and name == "_unpickle":
            return self._zone
        raise UnsafePickleError(f"getattr({obj!r}, {name!r}) is not admitted")

    def _zone(self, key: object, from_cache: object = 1) -> zoneinfo.ZoneInfo:
        # Always through ZoneInfo's cache, whatever from_cache says: its no-cache
        # path reads the zone's file again for every value. ``zones`` keeps each
        # key read once per message even when the cache has let it go.
        del from_cache
        if not isinstance(key, str):
            raise UnsafePickleError(f"a time zone key must be a str, got {type(key).__name__}")
        zone = self._zones.get(key)
        if zone is None:
            if len(self._zones) >= MAX_ZONES:
                raise UnsafePickleError(f"more than {MAX_ZONES} time zones in one message")
            zone = self._zones[key] = zoneinfo.ZoneInfo(key)
        return zone

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("persistent ids are not admitted")


def dumps(value: object) -> bytes:
    """Pickle ``value`` as aiozmq.rpc does (the highest protocol)."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes, expected: type, zones: dict[str, zoneinfo.ZoneInfo] | None = None) -> Any:
    """Unpickle ``data``, admitting only the datetime family.

    Time zones are resolved through ``zones`` (key to zone, filled as keys are
    met; share one mapping across the values of one message) and ZoneInfo's cache.

    Raises:
        UnsafePickleError: the pickle names another global, is longer than
            :data:`MAX_PAYLOAD_SIZE`, names a memo index beyond its length,
            would add a zone to a ``zones`` already holding :data:`MAX_ZONES`,
            or the value it builds is not an instance of ``expected``.
        pickle.UnpicklingError, ValueError, EOFError and the like: ``data`` is
            not a valid pickle.
    """
    if len(data) > MAX_PAYLOAD_SIZE:
        raise UnsafePickleError(
            f"a pickle of {len(data)} bytes is longer than the {MAX_PAYLOAD_SIZE} admitted"
        )
    _check_allocations(data)
    unpickler = _DatetimeUnpickler(io.BytesIO(data))
    unpickler._zones = {} if zones is None else zones
    value = unpickler.load()
    if not isinstance(value, expected):
        raise UnsafePickleError(
            f"expected a {expected.__name__}, the pickle holds a {type(value).__name__}"
        )
    return value
