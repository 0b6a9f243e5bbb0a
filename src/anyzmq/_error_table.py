"""Exceptions on the wire: the name a server sends, and how a client maps a name
back to a local class (the reference's *exception translation*)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Final

from ._errors import (
    ConnectionLostError,
    Error,
    GenericError,
    NotFoundError,
    ParameterError,
    ProtocolError,
    ServiceClosedError,
    StreamMismatchError,
)
from ._format import bounded_repr

__all__ = ["ErrorTable", "default_error_table", "make_error_table", "rebuild_error", "wire_name"]

ErrorTable = Mapping[str, type[BaseException]]

# Names aiozmq.rpc 1.0 uses for these two, so that its clients recognise ours.
_AIOZMQ_NAMES: Final[dict[type[BaseException], str]] = {
    NotFoundError: "aiozmq.rpc.base.NotFoundError",
    ParameterError: "aiozmq.rpc.base.ParametersError",
}
# Raising these from a coroutine turns them into RuntimeError: never rebuild them.
_NOT_REBUILT: Final = (StopIteration, StopAsyncIteration)


def wire_name(exc_type: type[BaseException]) -> str:
    """The full class name a server sends for ``exc_type``."""
    return _AIOZMQ_NAMES.get(exc_type) or f"{exc_type.__module__}.{exc_type.__qualname__}"


def _builtin_table() -> dict[str, type[BaseException]]:
    table: dict[str, type[BaseException]] = {}
    for name, value in vars(builtins).items():
        if (
            isinstance(value, type)
            and issubclass(value, Exception)
            and not issubclass(value, _NOT_REBUILT)
        ):
            table[f"builtins.{name}"] = value
    ours: tuple[type[Error], ...] = (
        ConnectionLostError,
        Error,
        NotFoundError,
        ParameterError,
        ServiceClosedError,
        ProtocolError,
        StreamMismatchError,
    )
    for own in ours:
        table[f"anyzmq.rpc.{own.__name__}"] = own
    for cls, name in _AIOZMQ_NAMES.items():
        table[name] = cls
    table["aiozmq.rpc.base.Error"] = Error
    table["aiozmq.rpc.base.ServiceClosedError"] = ServiceClosedError
    return table


_DEFAULT: Final = _builtin_table()


def default_error_table() -> Mapping[str, type[BaseException]]:
    """Builtin exceptions and anyzmq's (and aiozmq's) own errors, by wire name."""
    return _DEFAULT


#: A key starting with this matches every name that ends with the rest of it.
ANY_MODULE: Final = "*."


def make_error_table(error_table: ErrorTable | None) -> dict[str, type[BaseException]]:
    """The defaults overridden by ``error_table``.

    A key ``"*.QualName"`` matches ``QualName`` in any module (such as a class
    defined in a server run as a script, which travels as ``"__main__.QualName"``);
    it is used only for names that no full-name key matches.

    Raises:
        TypeError: a key is not a str or a value is not an exception class.
        ValueError: a key is ``"*."`` alone.
    """
    table = dict(_DEFAULT)
    if error_table is None:
        return table
    for name, cls in error_table.items():
        if not isinstance(name, str):
            raise TypeError(f"error_table keys must be str, got {name!r}")
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(f"error_table[{name!r}] must be an exception class, got {cls!r}")
        if name == ANY_MODULE:
            raise ValueError(f"error_table key {ANY_MODULE!r} needs a class name after it")
        table[name] = cls
    return table


def rebuild_error(answer: Any, table: Mapping[str, type[BaseException]]) -> BaseException:
    """The local exception for an error answer ``(name, args, repr)``.

    ``name`` is looked up in ``table`` as is, then as ``"*."`` followed by ever
    shorter dotted tails of it (``"*.b.C"``, then ``"*.C"`` for ``"a.b.C"``). A name
    found nowhere, or arguments the class refuses, give :class:`GenericError`; an
    answer of the wrong shape gives :class:`ProtocolError`.
    """
    if not (
        isinstance(answer, tuple)
        and len(answer) == 3
        and isinstance(answer[0], str)
        and isinstance(answer[1], tuple)
        and isinstance(answer[2], str)
    ):
        return ProtocolError(f"malformed error answer: {bounded_repr(answer)}")
    name, args, text = answer
    cls = table.get(name) or _any_module(name, table)
    if cls is None:
        return GenericError(name, args, text)
    try:
        return cls(*args)
    except Exception:
        return GenericError(name, args, text)


def _any_module(name: str, table: Mapping[str, type[BaseException]]) -> type[BaseException] | None:
    start = name.find(".")
    while start != -1:
        cls = table.get("*" + name[start:])
        if cls is not None:
            return cls
        start = name.find(".", start + 1)
    return None
