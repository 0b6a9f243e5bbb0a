"""Bounded ``repr()`` for values that came from the network.

A peer controls the shape of what it sends: the builtin ``repr()`` of a value
nested a thousand levels deep raises :class:`RecursionError`, and the repr of a
16 MiB string is built in full before any ``{value!r:.100}`` cuts it. The helper
here bounds the work itself (depth, items per container, characters per leaf
and in total), not only the text it returns.
"""

from __future__ import annotations

import reprlib
from itertools import islice
from typing import Final

__all__ = ["bounded_repr"]

#: Default length of :func:`bounded_repr`'s result.
DEFAULT_LIMIT: Final = 200


class _BoundedRepr(reprlib.Repr):
    """One formatting run: refuses to produce much more than ``budget`` characters."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.maxlevel = 6
        self.maxtuple = self.maxlist = self.maxdict = 20
        self.maxset = self.maxfrozenset = self.maxdeque = self.maxarray = 20
        self.maxstring = self.maxother = 120
        self.maxlong = 60
        self._left = budget

    def repr1(self, x: object, level: int) -> str:
        # Once the budget is spent every further item costs O(1): nothing is
        # descended into or formatted any more.
        if self._left <= 0:
            return self.fillvalue
        try:
            text = super().repr1(x, level)
        except Exception:  # a failing __repr__, an int too long to print, ...
            text = f"<{type(x).__qualname__} object>"
        self._left -= len(text)
        return text

    def repr_bytes(self, x: bytes, level: int) -> str:
        # reprlib has no bytes case: it would build the whole repr first.
        text = repr(x[: self.maxstring])
        if len(x) > self.maxstring:
            text = text[:-1] + self.fillvalue + text[-1]
        return text

    def repr_dict(self, x: dict[object, object], level: int) -> str:
        # reprlib sorts the keys (the whole dict) first; keep insertion order.
        if not x:
            return "{}"
        if level <= 0:
            return "{" + self.fillvalue + "}"
        pieces = [
            f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}"
            for key, value in islice(x.items(), self.maxdict)
        ]
        if len(x) > self.maxdict:
            pieces.append(self.fillvalue)
        return "{" + ", ".join(pieces) + "}"


def bounded_repr(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, in bounded time and stack.

    Containers deeper than six levels, or with more than 20 items, are elided
    with ``...``, as are long strings; a ``__repr__`` that raises is replaced by
    a placeholder naming the class. Never raises for any ``value``.

    Raises:
        ValueError: ``limit`` is less than 3.
    """
    if limit < 3:
        raise ValueError(f"limit must be at least 3, got {limit!r}")
    text = _BoundedRepr(limit).repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
