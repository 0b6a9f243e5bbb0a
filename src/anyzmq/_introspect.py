"""Introspection: the reserved request that lists the ``@method`` functions a handler
tree exposes, and the :class:`MethodInfo` records a client makes of the answer.

The request is an ordinary call of the name :data:`DESCRIBE`, which holds a ``:``:
no Python attribute name holds one, so it never shadows a method written as Python
code. Servers answer it before looking anything up (unless made with
``introspection=False``); an aiozmq server, or one with introspection off, answers
:class:`NotFoundError` as for any unknown name.

Walking a handler never runs its code beyond what a call would: attributes are read
with :func:`inspect.getattr_static` (a property is never evaluated), and every
method found is confirmed with :func:`lookup`, so what is listed is exactly what can
be called.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, final

from ._errors import NotFoundError, ProtocolError
from ._format import bounded_repr
from ._handlers import AbstractHandler, AttrHandler, HandlerLike, lookup
from ._signature import MethodSpec

__all__ = ["DESCRIBE", "DESCRIBE_FRAME", "MethodInfo", "describe", "request_description"]

#: The reserved name of the introspection request.
DESCRIBE: Final = "anyzmq:describe"
#: :data:`DESCRIBE` as it travels, UTF-8 encoded.
DESCRIBE_FRAME: Final = DESCRIBE.encode("utf-8")

#: Namespaces nested deeper than this are not listed (a guard against odd trees).
MAX_DEPTH: Final = 32
_MARK: Final = "__rpc__"


@final
@dataclass(frozen=True, slots=True)
class MethodInfo:
    """One method a server exposes, as :meth:`RPCClient.describe` reports it.

    Attributes:
        name: the dotted name it is called by, for example ``"ns.add"``.
        signature: its parameters and return annotation as written in Python, without
            ``self``: ``"(a: int, b: int = 10) -> int"``.
        doc: its docstring, with indentation cleaned; ``""`` when it has none.
        stream: whether it is a stream method (an async generator), to be read
            with ``client.stream`` rather than called with ``client.call``.
    """

    name: str
    signature: str
    doc: str
    stream: bool = False

    @property
    def summary(self) -> str:
        """The first line of :attr:`doc` (``""`` when there is no docstring)."""
        return self.doc.partition("\n")[0]


class _Source:
    """An annotation or default shown as the text it holds, without quotes."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


def _annotation_text(annotation: object) -> str:
    if isinstance(annotation, str):
        return annotation  # from __future__ import annotations: the source text
    if isinstance(annotation, type):
        return annotation.__qualname__
    return inspect.formatannotation(annotation)


def signature_text(func: Callable[..., Any], *, drop_first: bool) -> str:
    """``func``'s signature as written, without its first parameter if ``drop_first``."""
    try:
        sig = inspect.signature(func)  # no eval_str: string annotations stay as written
    except (TypeError, ValueError):
        return "(...)"
    params = list(sig.parameters.values())
    if drop_first and params and params[0].kind in _POSITIONAL:
        params = params[1:]
    shown = []
    for param in params:
        if param.annotation is not _EMPTY:
            param = param.replace(annotation=_Source(_annotation_text(param.annotation)))
        if param.default is not _EMPTY:
            param = param.replace(default=_Source(bounded_repr(param.default, 80)))
        shown.append(param)
    result = sig.return_annotation
    if result is not _EMPTY:
        result = _Source(_annotation_text(result))
    return str(sig.replace(parameters=shown, return_annotation=result))


_EMPTY: Final = inspect.Parameter.empty
_POSITIONAL: Final = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _is_marked(value: object) -> bool:
    func = getattr(value, "__func__", value)  # methods, staticmethod, classmethod
    return isinstance(getattr(func, _MARK, None), MethodSpec)


def _entries(handler: object) -> Iterator[tuple[str, object]]:
    """``(name, value)`` for what may be a method or a namespace of ``handler``,
    read without running the handler's code."""
    if isinstance(handler, Mapping):
        for key, value in list(handler.items()):
            if isinstance(key, str):
                yield key, value
    elif isinstance(handler, AttrHandler):
        for name in dir(handler):
            if name.startswith("__") and name.endswith("__"):
                continue
            try:
                yield name, inspect.getattr_static(handler, name)
            except AttributeError:
                continue
    # Another AbstractHandler only answers __getitem__: it cannot be listed.


def describe(root: HandlerLike) -> list[dict[str, str | bool]]:
    """Every ``@method`` reachable from ``root``, sorted by dotted name, as
    ``{"name", "signature", "doc", "stream"}`` maps (what the introspection request
    answers).

    Never raises for what a handler holds: entries that :func:`lookup` cannot
    reach are left out, and so are namespaces deeper than :data:`MAX_DEPTH` or
    met again below themselves.
    """
    found: list[dict[str, str | bool]] = []
    _walk(root, root, (), {id(root)}, found)
    found.sort(key=lambda entry: entry["name"])
    return found


def _walk(
    root: HandlerLike,
    handler: object,
    path: tuple[str, ...],
    seen: set[int],
    found: list[dict[str, str | bool]],
) -> None:
    if len(path) >= MAX_DEPTH:
        return
    for name, value in _entries(handler):
        if not name or "." in name:
            continue  # lookup splits names on dots: such a key is never reached
        dotted = (*path, name)
        if _is_marked(value):
            _add(root, ".".join(dotted), found)
        elif isinstance(value, AbstractHandler) and id(value) not in seen:
            seen.add(id(value))
            _walk(root, value, dotted, seen, found)
            seen.discard(id(value))


def _add(root: HandlerLike, name: str, found: list[dict[str, str | bool]]) -> None:
    if name == DESCRIBE:
        return  # a dict key that spells the reserved name: the request shadows it
    try:
        target = lookup(root, name)
    except Exception:  # not callable after all (a __getitem__ that refuses it)
        return
    doc = target.func.__doc__
    found.append(
        {
            "name": name,
            "signature": signature_text(target.func, drop_first=target.bound_self is not None),
            "doc": inspect.cleandoc(doc) if isinstance(doc, str) else "",
            "stream": target.spec.is_stream,
        }
    )


#: The reason :func:`request_description` gives when the server answers NotFoundError.
NO_INTROSPECTION: Final = (
    "this server does not support introspection (an aiozmq server, or one made "
    "with serve_rpc(..., introspection=False))"
)

_Request = Callable[[str, tuple[Any, ...], dict[str, Any]], Coroutine[Any, Any, Any]]


async def request_description(request: _Request) -> list[MethodInfo]:
    """Send the introspection request through ``request`` and read its answer.

    Raises:
        NotFoundError: the server does not answer introspection.
        ProtocolError: the answer is not a listing of methods.
    """
    try:
        answer = await request(DESCRIBE, (), {})
    except NotFoundError as exc:
        raise NotFoundError(NO_INTROSPECTION) from exc
    return method_infos(answer)


def method_infos(answer: object) -> list[MethodInfo]:
    """The :class:`MethodInfo` records of an introspection answer (keys beyond
    name, signature, doc and stream are ignored; no stream means not one).

    Raises:
        ProtocolError: ``answer`` is not a sequence of such maps with str values
            (and a bool stream).
    """
    if not isinstance(answer, list | tuple):
        raise ProtocolError(f"malformed introspection answer: {bounded_repr(answer)}")
    infos = []
    for entry in answer:
        if not isinstance(entry, Mapping):
            raise ProtocolError(f"malformed introspection entry: {bounded_repr(entry)}")
        name, signature, doc = (entry.get(key) for key in ("name", "signature", "doc"))
        stream = entry.get("stream", False)
        if not (isinstance(name, str) and isinstance(signature, str) and isinstance(doc, str)):
            raise ProtocolError(f"malformed introspection entry: {bounded_repr(entry)}")
        if not isinstance(stream, bool):
            raise ProtocolError(f"malformed introspection entry: {bounded_repr(entry)}")
        infos.append(MethodInfo(name, signature, doc, stream))
    return infos
