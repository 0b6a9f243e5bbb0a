"""``client.call.ns.method(...)``: the proxy builds dotted names and remembers them."""

from __future__ import annotations

from typing import Any

import pytest

from anyzmq._call_proxy import MethodCall

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def send(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        self.sent.append((name, args, kwargs))
        return name


async def test_attributes_build_dotted_names_and_calls_send_them() -> None:
    recorder = Recorder()
    proxy = MethodCall(recorder.send)
    assert await proxy.ns.sub.method(1, two=2) == "ns.sub.method"
    assert await proxy.top() == "top"
    assert recorder.sent == [("ns.sub.method", (1,), {"two": 2}), ("top", (), {})]


async def test_a_name_gives_the_same_proxy_each_time_and_it_calls_alike() -> None:
    recorder = Recorder()
    proxy = MethodCall(recorder.send)
    first = proxy.ns.method
    assert proxy.ns.method is first
    await first(1)
    await proxy.ns.method(2)
    assert recorder.sent == [("ns.method", (1,), {}), ("ns.method", (2,), {})]


async def test_a_proxy_remembers_a_bounded_number_of_names() -> None:
    recorder = Recorder()
    proxy = MethodCall(recorder.send)
    names = [f"m{index}" for index in range(1000)]
    for name in names:
        assert await getattr(proxy, name)() == name
    assert len(vars(proxy)) == 256
    assert await proxy.m999() == "m999"  # a name it does not remember still works
    assert [name for name, _, _ in recorder.sent] == [*names, "m999"]


async def test_dunder_names_are_not_methods_and_an_empty_name_is_refused() -> None:
    proxy = MethodCall(Recorder().send, kind="PubSub")
    with pytest.raises(AttributeError):
        proxy.__wrapped__  # noqa: B018
    assert "__wrapped__" not in vars(proxy)
    with pytest.raises(ValueError, match="PubSub method name is empty"):
        await proxy()
    assert repr(proxy.a.b) == "<MethodCall a.b>"
