"""Values on the wire: msgpack with extension types for the datetime family and
user-defined classes (the reference's *value translators*)."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final, TypeAlias, final

import msgpack

from . import _safe_pickle
from ._format import bounded_repr

__all__ = [
    "DEFAULT_MAX_EXTENSION_VALUES",
    "LEND_MIN",
    "MAPS_PER_BYTE",
    "MIN_MAP_BUDGET",
    "Codec",
    "DecodeError",
    "TranslationTable",
    "Translator",
]

#: Default ``max_extension_values``: extension values (datetimes, translated
#: objects) one message may hold. Each costs Python calls, 3 to 15 microseconds
#: for a datetime: 10,000 of them decode in at most about 0.1 s.
DEFAULT_MAX_EXTENSION_VALUES: Final = 10_000
#: A message may hold one map per this many bytes ...
MAPS_PER_BYTE: Final = 4
#: ... or this many maps, whichever is more. An empty map is one byte on the wire
#: and about 72 in memory; no other msgpack value grows as much when decoded.
MIN_MAP_BUDGET: Final = 4096

#: Packed values this long or longer are returned by :meth:`Codec.pack_frame` as a
#: view of the packer's own buffer instead of a copy in new ``bytes`` (pyzmq's
#: ``COPY_THRESHOLD``; the pump copies such a view into ZeroMQ's message or, from
#: 128 KiB, lends it).
LEND_MIN: Final = 64 * 1024
#: Packers a codec keeps for :meth:`Codec.pack_frame`: one may be lent while the
#: next value is packed (a call's arguments, then its keyword arguments); while
#: both are lent, values are packed into new ``bytes``.
_KEPT_PACKERS: Final = 2
#: An empty map, packed (keyword arguments, most of the time).
_EMPTY_MAP: Final[bytes] = msgpack.packb({})
#: Packed in front of a large value so that the value starts 2,048 bytes into a
#: page (glibc usually gives a kept packer's buffer, 256 KiB and up, its own
#: ``mmap``, 16 bytes into a page; the filler packs to 2,032 bytes). The kernel
#: copies a lent frame into the socket's buffers, which ZeroMQ fills from a page
#: boundary after its first 8 KiB (frame headers and the start of the large
#: frame); where the source lies 0 to about 24 bytes before the destination
#: modulo 4 KiB, as the frame's start right after a page's first 16 bytes does,
#: x86 processors stall on false store-to-load aliasing and the copy takes four
#: to seven times as long (see ``benchmarks/README.md``). 2,048 bytes is as far
#: from that as can be.
_FILLER: Final = bytes(2029)
_FILLER_PACKED: Final = len(msgpack.packb(_FILLER))
#: Values packed with the filler in front after each large one: a workload that
#: sends large values goes on doing so, and a small value pays only a slice.
_LARGE_STREAK: Final = 64

#: ``(translated_class, packer, unpacker)``: ``packer(obj) -> bytes``, ``unpacker(bytes) -> obj``.
Translator: TypeAlias = tuple[type, Callable[[Any], bytes], Callable[[bytes], Any]]
#: Extension code (0 to 127) to translator.
TranslationTable: TypeAlias = Mapping[int, Translator]


def _datetime_translator(cls: type) -> Translator:
    return (cls, _safe_pickle.dumps, partial(_safe_pickle.loads, expected=cls))


DEFAULT_TRANSLATION_TABLE: Final[TranslationTable] = {
    123: _datetime_translator(datetime.tzinfo),
    124: _datetime_translator(datetime.timedelta),
    125: _datetime_translator(datetime.time),
    126: _datetime_translator(datetime.datetime),
    127: _datetime_translator(datetime.date),
}


class DecodeError(ValueError):
    """Raised by :meth:`Codec.unpackb` for bytes that are not a value it admits."""


@final
class _Message:
    """What decoding one message has used so far."""

    __slots__ = ("extensions_left", "zones")

    def __init__(self, max_extension_values: int | None) -> None:
        self.extensions_left = -1 if max_extension_values is None else max_extension_values
        self.zones: dict[str, zoneinfo.ZoneInfo] = {}


def _validated(table: TranslationTable) -> dict[int, Translator]:
    checked: dict[int, Translator] = {}
    for code, entry in table.items():
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 127:
            raise ValueError(f"translation_table keys must be integers from 0 to 127, got {code!r}")
        if not (isinstance(entry, tuple) and len(entry) == 3):
            raise TypeError(
                f"translation_table[{code}] must be a (class, packer, unpacker) tuple, "
                f"got {entry!r}"
            )
        cls, packer, unpacker = entry
        if not isinstance(cls, type) or not callable(packer) or not callable(unpacker):
            raise TypeError(
                f"translation_table[{code}] must be a (class, packer, unpacker) tuple "
                "of a class and two callables"
            )
        checked[code] = entry
    return checked


def _check_limit(name: str, limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"{name} must be a non-negative int or None, got {limit!r}")
    return limit


@final
class Codec:
    """Packs and unpacks values, lists arriving as tuples.

    Entries of ``translation_table`` replace the predefined datetime translators
    with the same code. A value is packed, as aiozmq.rpc 1.0 packs it, with the
    entry for its exact class (the highest code when several entries name that
    class), else with the lowest code whose class it is an instance of.

    Decoding one message is bounded: at most ``max_extension_values`` extension
    values (``None``: no limit), at most one map per :data:`MAPS_PER_BYTE` bytes
    (or :data:`MIN_MAP_BUDGET` maps), pickled datetimes of at most
    :data:`~anyzmq._safe_pickle.MAX_PAYLOAD_SIZE` bytes and
    :data:`~anyzmq._safe_pickle.MAX_ZONES` distinct time zones. Not thread-safe.

    Raises:
        ValueError: a key of ``translation_table`` is not an integer from 0 to 127,
            or ``max_extension_values`` is negative.
        TypeError: an entry of ``translation_table`` is not ``(class, packer, unpacker)``.
    """

    __slots__ = (
        "_by_class",
        "_large_streak",
        "_maps_left",
        "_max_extensions",
        "_message",
        "_ordered",
        "_packer",
        "_packers",
        "_pickled",
        "_unpackers",
    )

    def __init__(
        self,
        translation_table: TranslationTable | None = None,
        *,
        max_extension_values: int | None = DEFAULT_MAX_EXTENSION_VALUES,
    ) -> None:
        table = dict(DEFAULT_TRANSLATION_TABLE)
        if translation_table is not None:
            table.update(_validated(translation_table))
        self._max_extensions = _check_limit("max_extension_values", max_extension_values)
        self._ordered = [(code, *table[code]) for code in sorted(table)]
        self._unpackers = {code: unpacker for code, _cls, _packer, unpacker in self._ordered}
        # Codes still read by the safe unpickler: code -> the class it must build.
        self._pickled = {
            code: entry[0]
            for code, entry in table.items()
            if entry is DEFAULT_TRANSLATION_TABLE.get(code)
        }
        # Class -> (code, packer), or None where no translator matches. As aiozmq
        # does: seeded with each entry's exact class (a higher code overwriting a
        # lower one), other classes found by isinstance in ascending code order.
        self._by_class: dict[type, tuple[int, Callable[[Any], bytes]] | None] = {
            cls: (code, packer) for code, cls, packer, _ in self._ordered
        }
        self._packer = msgpack.Packer(use_bin_type=True, default=self._to_ext)
        self._packers: list[msgpack.Packer] = []
        self._large_streak = 0  # values left to pack with the filler in front
        self._message: _Message | None = None
        self._maps_left = 0

    def packb(self, value: object) -> bytes:
        """Serialize ``value``.

        Raises:
            TypeError: a value (or a nested one) has no msgpack form and no translator.
            ValueError, OverflowError: a value is out of msgpack's range.
        """
        data: bytes = self._packer.pack(value)
        return data

    def pack_frame(self, value: object) -> bytes | memoryview:
        """Serialize ``value`` into a frame to send: as :meth:`packb`, but a result
        of :data:`LEND_MIN` bytes or more is a view of the packer's own buffer,
        not a copy of it. That packer packs nothing else while the view lives, so
        the view may be lent to ZeroMQ (which keeps it until it has sent it).

        A packer's buffer keeps the size of the largest value it packed, for the
        life of the codec: large values reuse memory already touched instead of
        allocating (and page-faulting) a fresh copy each time. After a large
        value, the next ones are packed behind a filler that puts them where the
        kernel copies them fastest (see :data:`_FILLER`).

        Raises:
            TypeError: a value (or a nested one) has no msgpack form and no translator.
            ValueError, OverflowError: a value is out of msgpack's range.
        """
        if value.__class__ is dict and not value:
            return _EMPTY_MAP
        for packer in self._packers:
            try:
                packer.reset()  # BufferError while a view lent from it lives
            except BufferError:
                continue
            break
        else:
            if len(self._packers) == _KEPT_PACKERS:
                # Every kept packer is lent (a burst of large values): a copy
                # costs less than a packer with a fresh buffer.
                return self.packb(value)
            packer = msgpack.Packer(use_bin_type=True, default=self._to_ext, autoreset=False)
            self._packers.append(packer)
        skip = 0
        if self._large_streak:
            packer.pack(_FILLER)
            skip = _FILLER_PACKED
        packer.pack(value)  # on failure, msgpack empties the buffer
        view: memoryview = packer.getbuffer()
        if len(view) - skip >= LEND_MIN:
            self._large_streak = _LARGE_STREAK
            return view[skip:] if skip else view
        data: bytes
        if skip:
            self._large_streak -= 1
            data = bytes(view[skip:])
            view.release()
        else:
            view.release()
            data = packer.bytes()
        packer.reset()
        return data

    def unpackb(self, data: bytes | memoryview) -> Any:
        """Deserialize ``data``; arrays become tuples, map keys must be str or bytes.

        Raises:
            DecodeError: ``data`` is not one complete msgpack value, uses an
                unknown extension code, nests deeper than 1024 levels, exceeds a
                decoding budget (see the class), or an unpacker refused its payload.
        """
        # self._message is None here: the budget is made on the first extension value.
        try:
            if len(data) <= MIN_MAP_BUDGET:  # cannot hold more maps than the budget
                return msgpack.unpackb(
                    data, use_list=False, raw=False, ext_hook=self._from_ext, strict_map_key=True
                )
            self._maps_left = max(MIN_MAP_BUDGET, len(data) // MAPS_PER_BYTE)
            return msgpack.unpackb(
                data,
                use_list=False,
                raw=False,
                ext_hook=self._from_ext,
                strict_map_key=True,
                object_hook=self._count_map,
            )
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"undecodable value: {exc!r}") from exc
        finally:
            self._message = None  # the next message gets a new budget

    def _count_map(self, value: dict[Any, Any]) -> dict[Any, Any]:
        self._maps_left -= 1
        if self._maps_left < 0:
            raise DecodeError(
                f"more than one map per {MAPS_PER_BYTE} bytes of message "
                f"(or {MIN_MAP_BUDGET} maps in all)"
            )
        return value

    def _to_ext(self, value: object) -> msgpack.ExtType:
        cls = value.__class__
        try:
            hit = self._by_class[cls]
        except KeyError:
            hit = next(
                (
                    (code, packer)
                    for code, kind, packer, _ in self._ordered
                    if isinstance(value, kind)
                ),
                None,
            )
            self._by_class[cls] = hit
        if hit is None:
            raise TypeError(f"cannot serialize {cls.__qualname__} value: {bounded_repr(value)}")
        code, packer = hit
        return msgpack.ExtType(code, packer(value))

    def _from_ext(self, code: int, payload: bytes) -> Any:
        message = self._message
        if message is None:
            message = self._message = _Message(self._max_extensions)
        if message.extensions_left == 0:
            raise DecodeError(f"more than {self._max_extensions} extension values in one message")
        message.extensions_left -= 1
        try:
            unpacker = self._unpackers[code]
        except KeyError:
            raise DecodeError(f"unknown extension type code {code}") from None
        try:
            expected = self._pickled.get(code)
            if expected is not None:
                return _safe_pickle.loads(payload, expected, message.zones)
            return unpacker(payload)
        except Exception as exc:
            raise DecodeError(
                f"extension type {code} refused its payload: {bounded_repr(exc)}"
            ) from exc
