"""Introspection: what ``describe()`` lists, and what it never reveals."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgpack
import pytest
import zmq

from anyzmq import _wire, rpc
from anyzmq._introspect import DESCRIBE, describe, method_infos, signature_text

from .support import LOOPBACK, endpoint, raw_socket, request_header, rpc_pair

pytestmark = pytest.mark.anyio


class Point:
    pass


class Inner(rpc.AttrHandler):
    @rpc.method
    def double(self, x: int) -> int:
        """Twice ``x``.

        More text that only the full doc shows.
        """
        return 2 * x


class Handler(rpc.AttrHandler):
    ns = Inner()
    not_a_method = 42

    def __init__(self) -> None:
        self.evaluated = False
        self.instance_ns = {"echo": self.echo}
        self.loop = self  # a cycle: listed once, not forever

    @rpc.method
    def add(self, a: int, b: int = 10) -> int:
        """Add two numbers."""
        return a + b

    @rpc.method
    async def echo(self, value: Any, *rest: Any, flag: bool = False, **extra: Any) -> Any:
        return value

    @rpc.method
    def when(self, at: datetime.datetime, p: Point, items: list[str] | None = None) -> None:
        pass

    @staticmethod
    @rpc.method
    def static(a: int) -> int:
        return a

    @classmethod
    @rpc.method
    def klass(cls, a: int) -> int:
        return a

    def hidden(self) -> None:
        """Not marked: never listed."""

    @property
    def prop(self) -> Any:
        self.evaluated = True
        return Inner()


def names(listing: list[rpc.MethodInfo]) -> list[str]:
    return [info.name for info in listing]


async def test_describe_lists_every_marked_method_and_nothing_else() -> None:
    handler = Handler()
    async with rpc_pair(handler, timeout=10) as (_, client):
        listing = await client.describe()
    assert names(listing) == [
        "add",
        "echo",
        "instance_ns.echo",
        "klass",
        "ns.double",
        "static",
        "when",
    ]
    by_name = {info.name: info for info in listing}
    assert by_name["add"] == rpc.MethodInfo(
        "add", "(a: int, b: int = 10) -> int", "Add two numbers."
    )
    assert (
        by_name["echo"].signature
        == "(value: Any, *rest: Any, flag: bool = False, **extra: Any) -> Any"
    )
    assert by_name["echo"].doc == ""
    assert by_name["echo"].summary == ""
    assert by_name["instance_ns.echo"].signature == by_name["echo"].signature
    assert by_name["ns.double"].summary == "Twice ``x``."
    assert by_name["ns.double"].doc.endswith("More text that only the full doc shows.")
    assert by_name["static"].signature == "(a: int) -> int"  # no self to drop
    assert by_name["klass"].signature == "(a: int) -> int"  # cls dropped
    assert by_name["when"].signature == (
        "(at: datetime.datetime, p: Point, items: list[str] | None = None) -> None"
    )
    assert not handler.evaluated, "a property was evaluated"


def plain(a, b=[1, 2], *, c: int = 3):  # type: ignore[no-untyped-def]  # noqa: B006
    return a


async def test_annotations_that_are_objects_are_shown_readably() -> None:
    # This module uses "from __future__ import annotations"; build real objects.
    def func(self: Any, a: int, b: list[str], c: Point, d: int | None) -> dict[str, int]:
        return {}

    func.__annotations__ = {
        "a": int,
        "b": list[str],
        "c": Point,
        "d": int | None,
        "return": dict[str, int],
    }
    assert signature_text(func, drop_first=True) == (
        "(a: int, b: list[str], c: Point, d: int | None) -> dict[str, int]"
    )
    assert signature_text(plain, drop_first=False) == "(a, b=[1, 2], *, c: int = 3)"
    await anyio.lowlevel.checkpoint()


async def test_dict_handlers_and_odd_keys() -> None:
    @rpc.method
    def f(x: int) -> int:
        return x

    root = {"f": f, "sub": {"g": f, "a.b": f, "": f, 3: f}, "plain": lambda: None}
    assert [entry["name"] for entry in describe(root)] == ["f", "sub.g"]
    async with rpc_pair(root, timeout=10) as (_, client):
        listing = await client.with_timeout(10).describe()
    assert names(listing) == ["f", "sub.g"]
    assert listing[0].signature == "(x: int) -> int"


async def test_a_handler_that_only_answers_getitem_is_not_listed() -> None:
    class Opaque(rpc.AbstractHandler):
        def __getitem__(self, key: str) -> Any:
            raise KeyError(key)

    class Root(rpc.AttrHandler):
        opaque = Opaque()

        @rpc.method
        def visible(self) -> None:
            pass

    async with rpc_pair(Root(), timeout=10) as (_, client):
        assert names(await client.describe()) == ["visible"]


async def test_introspection_off_answers_not_found() -> None:
    async with rpc_pair(Handler(), server={"introspection": False}, timeout=10) as (_, client):
        with pytest.raises(rpc.NotFoundError, match="does not support introspection") as info:
            await client.describe()
        assert isinstance(info.value.__cause__, rpc.NotFoundError)
        assert await client.call.add(1) == 11  # the server is otherwise unchanged


async def test_the_reserved_name_shadows_a_dict_key_that_spells_it() -> None:
    # No Python attribute can hold a ":", but a dict key can: the request wins.
    @rpc.method
    def impostor() -> str:
        return "impostor"

    async with rpc_pair({DESCRIBE: impostor}, timeout=10) as (_, client):
        assert names(await client.describe()) == []


async def test_a_raw_request_gets_the_listing() -> None:
    async with rpc.serve_rpc(Handler(), bind=LOOPBACK) as server:
        sock = raw_socket(zmq.DEALER, endpoint(server))
        try:
            sock.send_multipart([request_header(1), DESCRIBE.encode(), b"\x90", b"\x80"])
            reply = await anyio.to_thread.run_sync(sock.recv_multipart)
        finally:
            sock.close(linger=0)
    header, body = reply
    assert _wire.parse_reply_header(header) == (1, False)
    listing = method_infos(msgpack.unpackb(body, use_list=False))
    assert "ns.double" in names(listing)


def test_malformed_answers_are_protocol_errors() -> None:
    assert method_infos(({"name": "a", "signature": "()", "doc": "", "more": 1},)) == [
        rpc.MethodInfo("a", "()", "")
    ]
    for answer in (None, "x", ({"name": "a"},), (1,), ({"name": 1, "signature": "", "doc": ""},)):
        with pytest.raises(rpc.ProtocolError):
            method_infos(answer)
    with pytest.raises(rpc.ProtocolError):
        method_infos(({"name": "a", "signature": "()", "doc": "", "stream": 1},))


class Rows(rpc.AttrHandler):
    @rpc.method
    async def rows(self, n: int) -> AsyncIterator[int]:
        """Rows, one by one."""
        for i in range(n):
            yield i

    @rpc.method
    def total(self) -> int:
        return 0


async def test_describe_says_which_methods_are_streams() -> None:
    async with rpc_pair(Rows(), timeout=10) as (_, client):
        listing = await client.describe()
    assert listing == [
        rpc.MethodInfo("rows", "(n: int) -> AsyncIterator[int]", "Rows, one by one.", stream=True),
        rpc.MethodInfo("total", "() -> int", "", stream=False),
    ]
