"""Codec.pack_frame: small values as bytes, large ones as views of a packer's own
buffer that no later pack may overwrite while the view lives."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from typing import Any

import msgpack
import pytest

from anyzmq._codec import LEND_MIN, Codec

from .support import SAFETY


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


#: Packs four large values with a new codec in a new process (whose allocator has
#: not yet moved its mmap threshold) and prints where each frame starts in its page.
_OFFSETS_SCRIPT = """
import ctypes, os, sys
from anyzmq._codec import Codec

class Buffer(ctypes.Structure):  # CPython's Py_buffer (stable ABI)
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p)]

get_buffer = ctypes.pythonapi.PyObject_GetBuffer
get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(Buffer), ctypes.c_int]
release = ctypes.pythonapi.PyBuffer_Release
release.argtypes = [ctypes.POINTER(Buffer)]
codec = Codec()
for tag in range(4):
    frame = codec.pack_frame((tag, os.urandom(int(sys.argv[1]))))
    buffer = Buffer()
    assert get_buffer(frame, ctypes.byref(buffer), 0) == 0
    print(buffer.buf % 4096)
    release(ctypes.byref(buffer))
    del frame
"""


@pytest.mark.parametrize("size", [256 * 1024, 1 << 20, 4 << 20])
def test_large_values_after_a_large_one_start_half_a_page_in(size: int) -> None:
    # glibc gives a packer's buffer its own mmap, 16 bytes into a page; a lent frame
    # starting there makes the kernel's copy into the socket stall on 4 KiB aliasing.
    done = subprocess.run(
        [sys.executable, "-c", _OFFSETS_SCRIPT, str(size)],
        capture_output=True,
        text=True,
        check=True,
        timeout=SAFETY,
    )
    first, *later = (int(line) for line in done.stdout.split())
    if first != 16:
        pytest.skip(f"this allocator starts a packer's buffer {first} bytes into a page")
    assert later == [2048, 2048, 2048]


def test_values_packed_behind_the_filler_are_exactly_their_own() -> None:
    # After a large value, small and large ones alike: the filler is never sent.
    codec = Codec()
    sizes = [LEND_MIN, 10, LEND_MIN - 2100, LEND_MIN - 1, LEND_MIN + 1, 0, 3 * LEND_MIN]
    for round_ in range(3):
        for size in sizes:
            value = (round_, os.urandom(size))
            frame = codec.pack_frame(value)
            assert bytes(frame) == msgpack.packb(value)
            assert codec.unpackb(frame) == value
            assert isinstance(frame, memoryview) == (len(frame) >= LEND_MIN)
            del frame


def test_small_values_long_after_a_large_one_are_packed_as_before() -> None:
    codec = Codec()
    assert isinstance(codec.pack_frame(large(1)), memoryview)  # dropped at once
    frames = [codec.pack_frame({"n": n}) for n in range(200)]
    assert frames == [msgpack.packb({"n": n}) for n in range(200)]
    value = large(2)
    assert bytes(codec.pack_frame(value)) == msgpack.packb(value)
