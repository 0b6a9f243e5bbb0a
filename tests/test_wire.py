"""Headers and request ids."""

from __future__ import annotations

import struct

import msgpack
import pytest

from anyzmq import _wire


def test_request_header_layout() -> None:
    ids = _wire.RequestIds()
    header = ids.header(0x01020304)
    assert len(header) == _wire.REQUEST_HEADER_SIZE == 16
    _pid, _rnd, request_id, sent = struct.unpack("<HHLd", header)
    assert request_id == 0x01020304
    assert sent > 1_600_000_000
    assert _wire.request_id_of(header) == 0x01020304


def test_reply_header_layout() -> None:
    header = _wire.reply_header(7, is_error=True)
    assert len(header) == _wire.REPLY_HEADER_SIZE == 17
    assert _wire.parse_reply_header(header) == (7, True)
    assert _wire.parse_reply_header(_wire.reply_header(8, is_error=False)) == (8, False)


@pytest.mark.parametrize("size", [0, 15, 17])
def test_request_header_size_is_checked(size: int) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        _wire.request_id_of(b"x" * size)


@pytest.mark.parametrize("size", [0, 16, 18])
def test_reply_header_size_is_checked(size: int) -> None:
    with pytest.raises(ValueError, match="17 bytes"):
        _wire.parse_reply_header(b"x" * size)


def test_request_ids_wrap_and_skip_ids_in_use() -> None:
    ids = _wire.RequestIds()
    assert ids.issue({})[0] == 1
    assert ids.issue({2: None, 3: None})[0] == 4
    assert ids.issue({}, {5: None, 6: None})[0] == 7
    ids._last = _wire.MAX_REQUEST_ID - 1
    assert ids.issue({})[0] == _wire.MAX_REQUEST_ID
    assert ids.issue({1: None})[0] == 2


def test_issued_header_carries_the_issued_id() -> None:
    ids = _wire.RequestIds()
    request_id, header = ids.issue({1: None})
    assert request_id == 2
    assert _wire.request_id_of(header) == 2
    assert header[:4] == ids.header(9)[:4]  # the same peer prefix as every header


def test_probe_and_cancel_frames_are_told_apart() -> None:
    probe = _wire.probe_frame(7)
    assert len(probe) == 9
    assert _wire.probed_id(probe) == 7
    assert _wire.cancelled_id(probe) is None
    assert _wire.probed_id(_wire.cancel_frame(7)) is None
    assert _wire.probed_id(memoryview(_wire.probe_frame(0xFFFFFFFF))) == 0xFFFFFFFF
    assert _wire.probed_id(probe[:-1]) is None
    assert _wire.probed_id(b"\x00" + probe[1:]) is None


def test_a_credit_counts_items_modulo_its_field() -> None:
    # A stream past 2**32 items still credits: the count wraps, the bytes do not.
    frame = _wire.credit_frame(7, (1 << 32) + 5, 1 << 40)
    assert _wire.credit_of(frame) == (7, 5, 1 << 40)
    assert _wire.credit_of(_wire.credit_frame(7, _wire.CREDIT_ITEMS_MASK, 0)) == (
        7,
        0xFFFFFFFF,
        0,
    )


def test_the_frame_of_no_keyword_arguments_is_an_empty_map() -> None:
    assert msgpack.packb({}) == _wire.NO_KWARGS
    assert msgpack.unpackb(_wire.NO_KWARGS) == {}
