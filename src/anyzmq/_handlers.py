"""Handlers: the ``@method`` marker, ``AbstractHandler``, ``AttrHandler``, and
looking a dotted name up in a handler tree."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Mapping
from types import MethodType
from typing import Any, NamedTuple, TypeAlias, TypeVar

from ._errors import NotFoundError
from ._signature import MethodSpec

__all__ = ["AbstractHandler", "AttrHandler", "HandlerLike", "Target", "lookup", "method"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__rpc__"


def method(func: F) -> F:
    """Mark ``func`` as callable over RPC.

    Its annotations, if any, convert and check the arguments (and the result)
    as described in :mod:`anyzmq.rpc`'s guide. An async generator function is a
    stream method: callers read its items with ``client.stream``.

    Raises:
        TypeError: ``func`` is not callable, or is a synchronous generator
            function (it would block the event loop between items: make it an
            ``async def`` that yields).
    """
    if not callable(func):
        raise TypeError(f"@method expects a function, got {func!r}")
    if inspect.isgeneratorfunction(func):
        raise TypeError(
            f"@method cannot stream from the synchronous generator {func!r}: "
            "make it an async generator (async def with yield)"
        )
    setattr(func, _MARK, MethodSpec(func))
    return func


class AbstractHandler(abc.ABC):
    """Anything that maps names to methods or sub-handlers through ``__getitem__``.

    Any class defining ``__getitem__`` (``dict`` included, ``str`` and ``bytes``
    excluded) counts as a handler.
    """

    __slots__ = ()

    @abc.abstractmethod
    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    @classmethod
    def __subclasshook__(cls, other: type) -> Any:
        if cls is not AbstractHandler:
            return NotImplemented
        if issubclass(other, (str, bytes, bytearray)):
            return False
        if any("__getitem__" in vars(base) for base in other.__mro__):
            return True
        return NotImplemented


class AttrHandler(AbstractHandler):
    """A handler whose methods and sub-handlers are its attributes.

    Dunder names (``__class__`` and the like) are never looked up.
    """

    def __getitem__(self, key: str) -> Any:
        if key.startswith("__") and key.endswith("__"):
            raise KeyError(key)
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None


#: What servers accept as a handler: an :class:`AbstractHandler`, or a mapping (a
#: ``dict`` is an ``AbstractHandler`` at run time, but not to a type checker).
HandlerLike: TypeAlias = AbstractHandler | Mapping[str, Any]


class Target(NamedTuple):
    """A method found by :func:`lookup`: the function, its bound ``self`` or None,
    and its spec."""

    func: Callable[..., Any]
    bound_self: object
    spec: MethodSpec


def lookup(root: HandlerLike, name: str) -> Target:
    """Find the ``@method`` at dotted ``name`` below ``root``.

    Raises:
        NotFoundError: ``name`` is empty or has an empty part, a part is missing
            (``__getitem__`` raised LookupError or TypeError), a namespace is not
            a handler, or the last part is not marked.
        Exception: whatever else a handler's ``__getitem__`` raised.
    """
    parts = name.split(".")
    if not all(parts):
        raise NotFoundError(name)
    handler: Any = root
    for part in parts[:-1]:
        try:
            handler = handler[part]
        except (LookupError, TypeError):
            raise NotFoundError(name) from None
        if not isinstance(handler, AbstractHandler):
            raise NotFoundError(name)
    try:
        found = handler[parts[-1]]
    except (LookupError, TypeError):
        raise NotFoundError(name) from None
    if isinstance(found, MethodType):
        func, bound_self = found.__func__, found.__self__
    else:
        func, bound_self = found, None
    spec = getattr(func, _MARK, None)
    if not isinstance(spec, MethodSpec):
        raise NotFoundError(name)
    return tuple.__new__(Target, (func, bound_self, spec))  # without Target's Python __new__
