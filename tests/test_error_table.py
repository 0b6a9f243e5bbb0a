"""Error answers: how a client rebuilds them, and what GenericError shows."""

from __future__ import annotations

from typing import Any

import pytest

from anyzmq import rpc
from anyzmq._error_table import make_error_table, rebuild_error


def deep(depth: int) -> Any:
    value: Any = ()
    for _ in range(depth):
        value = (value,)
    return value


class Mine(Exception):
    pass


class Other(Exception):
    pass


def test_deeply_nested_malformed_answer_gives_protocol_error() -> None:
    error = rebuild_error(deep(5000), make_error_table(None))
    assert isinstance(error, rpc.ProtocolError)
    assert str(error).startswith("malformed error answer: ((((((")
    assert len(str(error)) < 300


def test_any_module_key_matches_the_class_name_in_every_module() -> None:
    table = make_error_table({"*.Mine": Mine, "*.Outer.Inner": Other})
    for name in ("__main__.Mine", "pkg.mod.Mine"):
        error = rebuild_error((name, ("a",), "Mine('a')"), table)
        assert type(error) is Mine
        assert error.args == ("a",)
    assert type(rebuild_error(("__main__.Outer.Inner", (), ""), table)) is Other
    # Only whole dotted parts match.
    assert type(rebuild_error(("pkg.NotMine", (), ""), table)) is rpc.GenericError
    assert type(rebuild_error(("pkg.Inner", (), ""), table)) is rpc.GenericError


def test_full_names_win_over_any_module_keys() -> None:
    table = make_error_table({"*.Mine": Mine, "app.Mine": Other, "*.ValueError": Other})
    assert type(rebuild_error(("app.Mine", (), ""), table)) is Other
    assert type(rebuild_error(("lib.Mine", (), ""), table)) is Mine
    assert type(rebuild_error(("builtins.ValueError", (), ""), table)) is ValueError
    # The longest tail wins between two any-module keys.
    table = make_error_table({"*.Mine": Mine, "*.b.Mine": Other})
    assert type(rebuild_error(("a.b.Mine", (), ""), table)) is Other


def test_a_bare_any_module_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\*\."):
        make_error_table({"*.": Mine})


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        (("the message",), "pkg.mod.MyError: the message"),
        ((), "pkg.mod.MyError"),
        ((42,), "pkg.mod.MyError: 42"),
        (("a", 1), "pkg.mod.MyError: ('a', 1)"),
    ],
)
def test_generic_error_reads_like_the_remote_exception(arguments: Any, text: str) -> None:
    error = rpc.GenericError("pkg.mod.MyError", arguments, f"MyError{arguments!r}")
    assert str(error) == text
    if arguments:  # what str() of the remote exception gave, after its class name
        assert str(error) == f"pkg.mod.MyError: {Exception(*arguments)}"


def test_generic_error_repr_is_aiozmqs() -> None:
    error = rpc.GenericError("pkg.mod.MyError", ("boom", 1), "MyError('boom', 1)")
    assert repr(error) == "<Generic RPC Error pkg.mod.MyError('boom', 1): MyError('boom', 1)>"
    assert error.args == ("pkg.mod.MyError", ("boom", 1), "MyError('boom', 1)")


def test_generic_error_text_is_bounded() -> None:
    error = rpc.GenericError("pkg.E", (deep(5000), "x" * 100_000), "E(...)")
    assert len(str(error)) < 1100
    assert len(repr(error)) < 1100
    assert len(str(rpc.GenericError("pkg.E", ("y" * 100_000,), ""))) < 1100
