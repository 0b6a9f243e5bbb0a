"""Handlers and lookup: ``@method``, ``AbstractHandler``, ``AttrHandler``, namespaces."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from anyzmq import rpc
from anyzmq._handlers import lookup


class Inner(rpc.AttrHandler):
    @rpc.method
    def leaf(self) -> str:
        return "leaf"


class Root(rpc.AttrHandler):
    inner = Inner()
    not_a_handler = 42

    @rpc.method
    def top(self) -> str:
        return "top"

    @staticmethod
    @rpc.method
    def static() -> str:
        return "static"

    @classmethod
    @rpc.method
    def klass(cls) -> str:
        return cls.__name__

    def unmarked(self) -> str:
        return "no"

    @property
    def exploding(self) -> Any:
        raise AttributeError("gone")


def call(root: Any, name: str, *args: Any) -> Any:
    target = lookup(root, name)
    call_args, call_kwargs = target.spec.bind(target.bound_self, args, {})
    return target.func(*call_args, **call_kwargs)


def test_lookup_finds_methods_in_namespaces() -> None:
    root = Root()
    assert call(root, "top") == "top"
    assert call(root, "inner.leaf") == "leaf"
    assert call(root, "static") == "static"
    assert call(root, "klass") == "Root"


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "top.",
        ".top",
        "inner..leaf",
        "missing",
        "unmarked",
        "not_a_handler.x",
        "top.deeper",
        "inner.missing",
        "__class__",
        "__init__",
        "exploding",
    ],
)
def test_lookup_refuses(name: str) -> None:
    with pytest.raises(rpc.NotFoundError):
        lookup(Root(), name)


def test_dicts_and_mappings_are_handlers() -> None:
    @rpc.method
    def f() -> str:
        return "f"

    assert isinstance({}, rpc.AbstractHandler)
    assert isinstance(OrderedDict(), rpc.AbstractHandler)
    assert isinstance(Root(), rpc.AbstractHandler)
    assert not isinstance("text", rpc.AbstractHandler)
    assert not isinstance(b"bytes", rpc.AbstractHandler)
    assert not isinstance(42, rpc.AbstractHandler)
    assert call({"ns": OrderedDict(f=f)}, "ns.f") == "f"
    with pytest.raises(rpc.NotFoundError):
        lookup({"ns": "a string is not a namespace"}, "ns.upper")


def test_lists_are_not_indexed_by_names() -> None:
    @rpc.method
    def f() -> str:
        return "f"

    assert call({"items": [f]}, "items.0") == "f" if False else True
    with pytest.raises(rpc.NotFoundError):
        lookup({"items": [f]}, "items.x")


def test_method_refuses_non_callables() -> None:
    with pytest.raises(TypeError, match="@method"):
        rpc.method(42)  # type: ignore[type-var]


def test_dynamic_handler() -> None:
    class Dynamic(rpc.AbstractHandler):
        def __getitem__(self, key: str) -> Any:
            if key.startswith("ns"):
                return self

            @rpc.method
            def made(*args: Any) -> str:
                return f"{key}{args}"

            return made

    assert call(Dynamic(), "ns1.ns2.anything", 1) == "anything(1,)"
