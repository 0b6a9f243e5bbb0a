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
import zoneinfo
from typing import Any, Final

__all__ = ["UnsafePickleError", "dumps", "loads"]


class UnsafePickleError(pickle.UnpicklingError):
    """Raised when a pickle names a global outside the datetime family."""


def _zoneinfo_getattr(obj: object, name: str) -> Any:
    # ZoneInfo pickles as getattr(ZoneInfo, "_unpickle")(key, from_cache); that is
    # the only use of getattr admitted.
    if obj is zoneinfo.ZoneInfo and name == "_unpickle":
        return zoneinfo.ZoneInfo._unpickle  # type: ignore[attr-defined]
    raise UnsafePickleError(f"getattr({obj!r}, {name!r}) is not admitted")


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
    ("builtins", "getattr"): _zoneinfo_getattr,
    ("__builtin__", "getattr"): _zoneinfo_getattr,  # protocols 0 to 2
    ("_codecs", "encode"): _latin1_encode,
}


class _DatetimeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ADMITTED[module, name]
        except KeyError:
            raise UnsafePickleError(f"refused to load {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("persistent ids are not admitted")


def dumps(value: object) -> bytes:
    """Pickle ``value`` as aiozmq.rpc does (the highest protocol)."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes, expected: type) -> Any:
    """Unpickle ``data``, admitting only the datetime family.

    Raises:
        UnsafePickleError: the pickle names another global, or the value it
            builds is not an instance of ``expected``.
        pickle.UnpicklingError, ValueError, EOFError and the like: ``data`` is
            not a valid pickle.
    """
    value = _DatetimeUnpickler(io.BytesIO(data)).load()
    if not isinstance(value, expected):
        raise UnsafePickleError(
            f"expected a {expected.__name__}, the pickle holds a {type(value).__name__}"
        )
    return value
