"""bounded_repr: the repr of network values, bounded in work, stack and length."""

from __future__ import annotations

from typing import Any

import pytest

from anyzmq._format import bounded_repr


def nested(depth: int) -> tuple[Any, ...]:
    value: tuple[Any, ...] = ()
    for _ in range(depth):
        value = (value,)
    return value


@pytest.mark.parametrize(
    "value",
    [(1, "abc", {"k": 2.0}), ("x",), {"b": b"\x00", "n": None}, -3, 1.5, True, "é"],
)
def test_small_values_read_as_repr(value: Any) -> None:
    assert bounded_repr(value) == repr(value)


def test_deep_nesting_is_cut_without_recursion_error() -> None:
    value = nested(100_000)
    with pytest.raises(RecursionError):
        repr(value)
    text = bounded_repr(value)
    assert text.startswith("((((((")
    assert "..." in text
    assert len(text) <= 200


def test_result_is_never_longer_than_the_limit() -> None:
    for value in [
        "x" * 10_000,
        b"y" * 10_000,
        tuple(range(10_000)),
        {str(i): i for i in range(999)},
    ]:
        assert len(bounded_repr(value, 50)) <= 50
    with pytest.raises(ValueError, match="limit"):
        bounded_repr(1, 2)


class Counted:
    calls = 0

    def __repr__(self) -> str:
        Counted.calls += 1
        return "Counted()"


def test_work_is_bounded_not_only_the_text() -> None:
    # 200,000 items, each nested: only what fits the budget is ever formatted.
    wide = tuple((Counted(), (Counted(),)) for _ in range(200_000))
    Counted.calls = 0
    bounded_repr(wide)
    assert Counted.calls <= 40
    # A huge dict is neither sorted nor walked in full: its first keys are shown.
    keys: dict[Any, int] = {"b": 1, "a": 2, 3: 4}
    keys.update((f"k{i}", i) for i in range(100_000))
    assert bounded_repr(keys).startswith("{'b': 1, 'a': 2, 3: 4, 'k0': 0")
    # A long string or bytes is cut before its repr is built.
    assert bounded_repr("z" * (1 << 24), 1000).count("z") < 200
    assert bounded_repr(b"z" * (1 << 24), 1000).count("z") < 200


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_failing_repr_is_replaced() -> None:
    assert bounded_repr((Broken(), 1)).startswith("(<Broken instance at 0x")
    assert bounded_repr(10**5000) == "<int object>"  # beyond int's str digits limit
