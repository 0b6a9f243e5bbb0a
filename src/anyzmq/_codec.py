"""Values on the wire: msgpack with extension types for the datetime family and
user-defined classes (the reference's *value translators*)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final, TypeAlias, final

import msgpack

from . import _safe_pickle

__all__ = ["Codec", "DecodeError", "TranslationTable", "Translator"]

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


@final
class Codec:
    """Packs and unpacks values, lists arriving as tuples.

    Entries of ``translation_table`` take precedence over the predefined datetime
    translators with the same code; classes are matched in ascending code order.

    Raises:
        ValueError: a key of ``translation_table`` is not an integer from 0 to 127.
        TypeError: an entry of ``translation_table`` is not ``(class, packer, unpacker)``.
    """

    __slots__ = ("_by_class", "_ordered", "_packer", "_unpackers")

    def __init__(self, translation_table: TranslationTable | None = None) -> None:
        table = dict(DEFAULT_TRANSLATION_TABLE)
        if translation_table is not None:
            table.update(_validated(translation_table))
        self._ordered = [(code, *table[code]) for code in sorted(table)]
        self._unpackers = {code: unpacker for code, _cls, _packer, unpacker in self._ordered}
        # Exact class -> (code, packer), or None where no translator matches.
        self._by_class: dict[type, tuple[int, Callable[[Any], bytes]] | None] = {}
        self._packer = msgpack.Packer(use_bin_type=True, default=self._to_ext)

    def packb(self, value: object) -> bytes:
        """Serialize ``value``.

        Raises:
            TypeError: a value (or a nested one) has no msgpack form and no translator.
            ValueError, OverflowError: a value is out of msgpack's range.
        """
        data: bytes = self._packer.pack(value)
        return data

    def unpackb(self, data: bytes | memoryview) -> Any:
        """Deserialize ``data``; arrays become tuples, map keys must be str or bytes.

        Raises:
            DecodeError: ``data`` is not one complete msgpack value, uses an
                unknown extension code, or an unpacker refused its payload.
        """
        try:
            return msgpack.unpackb(
                data, use_list=False, raw=False, ext_hook=self._from_ext, strict_map_key=True
            )
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"undecodable value: {exc!r}") from exc

    def _to_ext(self, value: object) -> msgpack.ExtType:
        cls = type(value)
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
            raise TypeError(f"cannot serialize {cls.__qualname__} value: {value!r:.200}")
        code, packer = hit
        return msgpack.ExtType(code, packer(value))

    def _from_ext(self, code: int, payload: bytes) -> Any:
        try:
            unpacker = self._unpackers[code]
        except KeyError:
            raise DecodeError(f"unknown extension type code {code}") from None
        try:
            return unpacker(payload)
        except Exception as exc:
            raise DecodeError(f"extension type {code} refused its payload: {exc!r}") from exc
