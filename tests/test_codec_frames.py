"""Codec.pack_frame: small values as bytes, large ones as views of a packer's own
buffer that no later pack may overwrite while the view lives."""

from __future__ import annotations

import gc
import os
from typing import Any

import msgpack
import pytest

from anyzmq._codec import LEND_MIN, Codec


def large(tag: int, size: int = LEND_MIN) -> tuple[Any, ...]:
    return (tag, os.urandom(size))


@pytest.mark.parametrize(
    "value", [(), {}, (1, 2), {"a": 1}, "x" * 100, b"y" * (LEND_MIN - 16)], ids=repr
)
def test_small_values_are_packed_into_bytes(value: Any) -> None:
    codec = Codec()
    frame = codec.pack_frame(value)
    assert type(frame) is bytes
    assert frame == codec.packb(value)


def test_large_values_are_views_of_the_packed_value() -> None:
    codec = Codec()
    value = large(1)
    frame = codec.pack_frame(value)
    assert isinstance(frame, memoryview)
    assert len(frame) >= LEND_MIN
    assert bytes(frame) == codec.packb(value)
    assert codec.unpackb(frame) == value


def test_a_view_is_never_overwritten_while_it_lives() -> None:
    codec = Codec()
    values = [large(i, LEND_MIN * (i + 1)) for i in range(5)]  # more than the packers kept
    frames = []
    for value in values:
        frames.append(codec.pack_frame(value))
        frames.append(codec.pack_frame({"small": len(frames)}))  # interleaved small ones
    for index, value in enumerate(values):
        assert bytes(frames[2 * index]) == msgpack.packb(value)
        assert codec.unpackb(frames[2 * index + 1]) == {"small": 2 * index + 1}


def test_a_released_packer_is_used_again() -> None:
    # Its buffer is already the size of a large value: the next one reuses it.
    codec = Codec()
    first = codec.pack_frame(large(1))
    assert isinstance(first, memoryview)
    packer = first.obj
    del first
    gc.collect()
    second = codec.pack_frame(large(2, 2 * LEND_MIN))
    assert isinstance(second, memoryview)
    assert second.obj is packer


def test_a_call_and_its_keyword_arguments_use_two_kept_packers() -> None:
    # A lent argument frame does not make the codec drop its packers (each call
    # would then fill a fresh buffer).
    codec = Codec()
    owners: set[int] = set()
    for tag in range(4):
        args = codec.pack_frame(large(tag))
        kwargs = codec.pack_frame({"k": os.urandom(LEND_MIN)})
        assert isinstance(args, memoryview)
        assert isinstance(kwargs, memoryview)
        owners.update((id(args.obj), id(kwargs.obj)))
        del args, kwargs
    assert len(owners) == 2


def test_failed_pack_leaves_no_partial_value_behind() -> None:
    codec = Codec()
    with pytest.raises(TypeError):
        codec.pack_frame((os.urandom(LEND_MIN), object()))
    value = large(3)
    assert bytes(codec.pack_frame(value)) == codec.packb(value)
    assert codec.pack_frame((1,)) == codec.packb((1,))


def test_while_both_kept_packers_are_lent_values_are_packed_into_bytes() -> None:
    # A burst of large values: a copy costs less than a packer with a fresh buffer.
    codec = Codec()
    first, second, third = large(1), large(2), large(3)
    lent = [codec.pack_frame(first), codec.pack_frame(second)]
    assert all(isinstance(frame, memoryview) for frame in lent)
    copied = codec.pack_frame(third)
    assert type(copied) is bytes
    assert copied == codec.packb(third)
    del lent
    gc.collect()
    assert isinstance(codec.pack_frame(third), memoryview)
