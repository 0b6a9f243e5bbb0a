"""Binding a call's arguments to a method's signature and applying annotations.

An annotation is applied as ``value = annotation(value)`` when it is a plain
callable: a class such as ``int`` or a validator function. For a class, a value
that already is an instance passes unchanged (so ``p: Point`` works for a
translated ``Point``); ``object`` admits anything; an abstract class (such as
``collections.abc.Mapping``) is checked with ``isinstance`` since it cannot be
called. Type-checker-only constructs (``list[int]``, ``int | None``,
``typing.Optional[int]``, ``Any``, ``Literal[...]``, a string that cannot be
resolved) are not callables meant for values, so they are left out and the
value passes unchanged.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any, Final, final

from ._errors import ParameterError

__all__ = ["MethodSpec"]

Converter = Callable[[Any], Any]
_EMPTY: Final = inspect.Parameter.empty


def _class_converter(cls: type) -> Converter:
    def convert(value: Any) -> Any:
        return value if isinstance(value, cls) else cls(value)

    return convert


def _instance_check(cls: type) -> Converter:
    def check(value: Any) -> Any:
        if not isinstance(value, cls):
            raise TypeError(f"expected {cls.__qualname__}, got {type(value).__qualname__}")
        return value

    return check


def _exact_class(annotation: object) -> type | None:
    """The class whose instances an annotation's converter returns unchanged
    without being called (None: call it for every value)."""
    if isinstance(annotation, type) and not inspect.isabstract(annotation):
        return annotation
    return None


def _converter(annotation: object) -> Converter | None:
    if annotation is _EMPTY or annotation is None or annotation is object:
        return None
    if isinstance(annotation, str):
        return None
    if isinstance(annotation, types.GenericAlias | types.UnionType):
        return None
    if getattr(annotation, "__module__", None) in ("typing", "typing_extensions"):
        return None
    if not callable(annotation):
        return None
    if isinstance(annotation, type):
        if inspect.isabstract(annotation):
            return _instance_check(annotation)
        return _class_converter(annotation)
    return annotation


def _signature(func: Callable[..., Any]) -> tuple[inspect.Signature, bool]:
    """The signature with string annotations resolved, and whether they all were."""
    try:
        return inspect.signature(func, eval_str=True), True
    except (NameError, SyntaxError, TypeError, AttributeError):
        # A string annotation that does not resolve (yet): it stays a string, ignored.
        return inspect.signature(func), False


@final
class MethodSpec:
    """What dispatch needs to know about one ``@method`` function.

    The signature is read on first use rather than at decoration time, so that
    string annotations naming classes defined later in the module resolve.
    """

    __slots__ = (
        "_converters",
        "_fewest",
        "_func",
        "_most",
        "_positional_converters",
        "_resolved",
        "_result",
        "_result_class",
        "_signature",
        "is_async",
        "is_stream",
    )

    def __init__(self, func: Callable[..., Any]) -> None:
        self._func = func
        self.is_async = inspect.iscoroutinefunction(func)
        self.is_stream = inspect.isasyncgenfunction(func)  # its items go as a stream
        self._resolved = False
        self._signature = inspect.Signature()
        self._converters: dict[str, tuple[inspect._ParameterKind, Converter]] = {}
        self._result: Converter | None = None
        self._result_class: type | None = None  # a result of exactly this class passes
        # The fast path, for signatures of plain positional-or-keyword parameters
        # called with positional arguments only: how many may and must be given.
        self._most = self._fewest = -1
        # (position, class whose instances pass without a call or None, converter)
        self._positional_converters: tuple[tuple[int, type | None, Converter], ...] = ()

    def _resolve(self) -> None:
        self._signature, self._resolved = _signature(self._func)
        params = list(self._signature.parameters.values())
        self._converters = {}
        by_position = []
        for index, param in enumerate(params):
            conv = _converter(param.annotation)
            if conv is not None:
                self._converters[param.name] = (param.kind, conv)
                by_position.append((index, _exact_class(param.annotation), conv))
        self._result = _converter(self._signature.return_annotation)
        if self._result is not None:
            self._result_class = _exact_class(self._signature.return_annotation)
        plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if all(param.kind in plain for param in params):
            self._most = len(params)
            self._fewest = sum(param.default is _EMPTY for param in params)
            self._positional_converters = tuple(by_position)
        else:
            self._most = self._fewest = -1

    def bind(
        self, bound_self: object, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Bind and convert the arguments; ``bound_self`` is prepended when not None
        and stays first in the positional arguments returned.

        Raises:
            ParameterError: the arguments do not fit the signature, or an
                annotation raised for one of them (chained as ``__cause__``).
        """
        if not self._resolved:
            self._resolve()
        if not kwargs:
            given = args if bound_self is None else (bound_self, *args)
            if self._fewest <= len(given) <= self._most:
                # A value of exactly its annotated class passes unchanged: only
                # another value costs a call of the converters.
                for index, exact, _conv in self._positional_converters:
                    if index < len(given) and given[index].__class__ is not exact:
                        return self._convert_positional(given), {}
                return given, {}
        try:
            if bound_self is None:
                bound = self._signature.bind(*args, **kwargs)
            else:
                bound = self._signature.bind(bound_self, *args, **kwargs)
        except TypeError as exc:
            raise ParameterError(str(exc)) from exc
        arguments = bound.arguments
        for name, (kind, conv) in self._converters.items():
            if name not in arguments:
                continue  # defaults are not passed through annotations
            value = arguments[name]
            try:
                if kind is inspect.Parameter.VAR_POSITIONAL:
                    arguments[name] = tuple(conv(item) for item in value)
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    arguments[name] = {key: conv(item) for key, item in value.items()}
                else:
                    arguments[name] = conv(value)
            except Exception as exc:
                raise ParameterError(f"argument {name!r}: {exc!r}") from exc
        return bound.args, bound.kwargs

    def _convert_positional(self, given: tuple[Any, ...]) -> tuple[Any, ...]:
        values: list[Any] | None = None  # a copy, once a value changes
        for index, exact, conv in self._positional_converters:
            if index >= len(given):
                break  # the rest keep their defaults, not passed through annotations
            value = given[index]
            if value.__class__ is exact:
                continue  # what the converter would return unchanged
            try:
                converted = conv(value)
            except Exception as exc:
                name = list(self._signature.parameters)[index]
                raise ParameterError(f"argument {name!r}: {exc!r}") from exc
            if converted is not value:
                if values is None:
                    values = list(given)
                values[index] = converted
        return given if values is None else tuple(values)

    def check_result(self, result: Any) -> Any:
        """Apply the return annotation, if any; its exceptions propagate."""
        convert = self._result
        if convert is None or result.__class__ is self._result_class:
            return result
        return convert(result)
