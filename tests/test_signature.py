"""Signature validation: binding, annotations as converters, defaults, results."""

from __future__ import annotations

import collections.abc
import typing
from typing import Any

import pytest

from anyzmq import rpc
from anyzmq._signature import MethodSpec


def int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    raise ValueError("bad value")


def spec_of(func: Any) -> MethodSpec:
    return MethodSpec(func)


def bind(func: Any, *args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return spec_of(func).bind(None, args, kwargs)


def test_annotations_convert_arguments() -> None:
    def f(a: int, b: float, c: Any, d: int_or_none = None) -> Any:  # type: ignore[valid-type]
        return a, b, c, d

    assert bind(f, "1", 2, "x") == ((1, 2.0, "x"), {})
    assert bind(f, 1, 2, 3, d=None) == ((1, 2.0, 3, None), {})


def test_defaults_are_not_passed_through_annotations() -> None:
    def f(a: int = "default"):  # type: ignore[assignment,no-untyped-def]
        return a

    args, kwargs = bind(f)  # int("default") would raise: it is not applied
    assert f(*args, **kwargs) == "default"


def test_failing_annotation_raises_parameter_error_with_cause() -> None:
    def f(a: int_or_none) -> None: ...  # type: ignore[valid-type]

    with pytest.raises(rpc.ParameterError, match="'a'") as info:
        bind(f, "text")
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1, 2, 3), {}), ((1,), {"zzz": 2}), ((1,), {"a": 1})],
)
def test_bad_arity_or_keywords_raise_parameter_error(args: Any, kwargs: Any) -> None:
    def f(a: int, b: int = 0) -> None: ...

    with pytest.raises(rpc.ParameterError):
        spec_of(f).bind(None, args, kwargs)


def test_var_args_and_kwargs_are_converted_item_by_item() -> None:
    def f(*args: int, **kwargs: float) -> None: ...

    assert bind(f, "1", "2", x="3") == ((1, 2), {"x": 3.0})


def test_return_annotation_checks_result() -> None:
    def f() -> float:
        return 3

    spec = spec_of(f)
    spec.bind(None, (), {})
    assert spec.check_result(3) == 3.0
    assert isinstance(spec.check_result(3), float)
    with pytest.raises(ValueError):  # noqa: PT011
        spec.check_result("x")


@pytest.mark.parametrize(
    "annotation",
    [
        list[int],
        int | None,
        typing.Optional[int],  # noqa: UP045
        typing.Any,
        typing.Literal[1, 2],
        typing.List[int],  # noqa: UP006
        "NotResolvable",
        object,
        None,
    ],
    ids=repr,
)
def test_type_checker_only_annotations_pass_values_through(annotation: Any) -> None:
    def f(a):  # type: ignore[no-untyped-def]
        return a

    f.__annotations__ = {"a": annotation, "return": annotation}
    spec = spec_of(f)
    value = ("unchanged", [1])
    assert spec.bind(None, (value,), {}) == ((value,), {})
    assert spec.check_result(value) is value


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


def test_instances_of_the_annotated_class_pass_unchanged() -> None:
    def f(p: Point, n: float) -> None: ...

    point = Point(1, 2)
    args, _ = spec_of(f).bind(None, (point, 1), {})
    assert args[0] is point
    assert args[1] == 1.0
    assert isinstance(args[1], float)


def test_abstract_classes_check_instances() -> None:
    def f(a: collections.abc.Mapping) -> None: ...  # type: ignore[type-arg]

    assert bind(f, {"k": 1}) == (({"k": 1},), {})
    with pytest.raises(rpc.ParameterError, match="expected Mapping"):
        bind(f, (1, 2))


def test_string_annotations_resolve_on_first_use() -> None:
    def f(a: LaterDefined) -> LaterDefined:  # type: ignore[name-defined]  # noqa: F821
        return a

    # With ``from __future__ import annotations`` these are strings; LaterDefined
    # only exists after the decoration.
    spec = spec_of(f)
    globals()["LaterDefined"] = int
    try:
        assert spec.bind(None, ("5",), {}) == ((5,), {})
        assert spec.check_result("6") == 6
    finally:
        del globals()["LaterDefined"]


def test_bound_self_is_prepended() -> None:
    class H:
        def m(self, a: int) -> int:
            return a

    handler = H()
    args, kwargs = MethodSpec(H.m).bind(handler, ("7",), {})
    assert args == (handler, 7)
    assert kwargs == {}


def test_async_detection() -> None:
    async def coro() -> None: ...

    def sync() -> None: ...

    assert spec_of(coro).is_async
    assert not spec_of(sync).is_async


class SubPoint(Point):
    pass


def test_subclass_instances_pass_unchanged_as_instances_do() -> None:
    def f(p: Point, n: int) -> int:
        return n

    sub = SubPoint(1, 2)
    spec = spec_of(f)
    args, _ = spec.bind(None, (sub, True), {})
    assert args[0] is sub
    assert args[1] is True  # a bool is an int: not converted
    assert spec.check_result(False) is False


doubled_calls: list[Any] = []


def doubled(value: Any) -> Any:
    doubled_calls.append(value)
    return value * 2


def test_validators_see_every_value_and_classes_convert_others() -> None:
    def f(a: int, b: doubled, c: int) -> None: ...  # type: ignore[valid-type]

    doubled_calls.clear()
    assert bind(f, 1, 2, "3") == ((1, 4, 3), {})
    assert bind(f, 1, 2, 3) == ((1, 4, 3), {})
    assert doubled_calls == [2, 2]
