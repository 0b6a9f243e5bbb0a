"""What one message may cost to decode: extension values, time zone files, maps
(memory), pickle sizes and nesting are bounded; typical values are unaffected."""

from __future__ import annotations

import datetime
import pickle
import sys
import tracemalloc
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyzmq import _safe_pickle
from anyzmq._codec import (
    DEFAULT_MAX_EXTENSION_VALUES,
    MAPS_PER_BYTE,
    MIN_MAP_BUDGET,
    Codec,
    DecodeError,
)

#: The bound docs/security.md states: peak memory while decoding one message,
#: as a multiple of the message's size.
DOCUMENTED_MEMORY_BOUND = 64

_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _opened is not None:
        _opened.append(str(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one only counts while asked


@contextmanager
def files_opened() -> Iterator[list[str]]:
    global _opened
    opened: list[str] = []
    _opened = opened
    try:
        yield opened
    finally:
        _opened = None


def zone_pickle(key: str, from_cache: bool) -> bytes:
    zone = zoneinfo.ZoneInfo(key) if from_cache else zoneinfo.ZoneInfo.no_cache(key)
    data = pickle.dumps(zone, protocol=pickle.HIGHEST_PROTOCOL)
    assert (b"K\x01" if from_cache else b"K\x00") in data  # the flag the pickle carries
    return data


@pytest.mark.parametrize("from_cache", [False, True], ids=["no-cache-flag", "cache-flag"])
def test_a_zone_file_is_read_at_most_once_per_message(from_cache: bool) -> None:
    key = "Pacific/Chatham"  # a zone no other test uses: dropped from the cache here
    message = msgpack.packb([msgpack.ExtType(123, zone_pickle(key, from_cache))] * 500)
    zoneinfo.ZoneInfo.clear_cache(only_keys=[key])
    with files_opened() as opened:
        zones = Codec().unpackb(message)
    assert len(opened) <= 1, opened
    assert all(zone is zoneinfo.ZoneInfo(key) for zone in zones)


def test_a_message_may_name_a_bounded_number_of_zones() -> None:
    keys = sorted(zoneinfo.available_timezones())[: _safe_pickle.MAX_ZONES + 1]
    datetimes = [datetime.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo(key)) for key in keys]
    codec = Codec()
    assert codec.unpackb(codec.packb(datetimes[:-1])) == tuple(datetimes[:-1])
    with pytest.raises(DecodeError, match="time zones in one message"):
        codec.unpackb(codec.packb(datetimes))
    # The count is per message.
    assert codec.unpackb(codec.packb(datetimes[1:])) == tuple(datetimes[1:])


def test_extension_values_per_message_are_bounded() -> None:
    date = datetime.date(2000, 1, 1)
    codec = Codec()
    at_limit = codec.packb([date] * DEFAULT_MAX_EXTENSION_VALUES)
    assert len(codec.unpackb(at_limit)) == DEFAULT_MAX_EXTENSION_VALUES
    with pytest.raises(DecodeError, match="more than 10000 extension values"):
        codec.unpackb(codec.packb([date] * (DEFAULT_MAX_EXTENSION_VALUES + 1)))
    assert len(codec.unpackb(at_limit)) == DEFAULT_MAX_EXTENSION_VALUES  # per message


def test_extension_budget_is_configurable_and_covers_user_translators() -> None:
    table = {
        5: (
            complex,
            lambda c: msgpack.packb((c.real, c.imag)),
            lambda b: complex(*msgpack.unpackb(b)),
        )
    }
    codec = Codec(table, max_extension_values=2)
    assert codec.unpackb(codec.packb([1j, datetime.date(2000, 1, 1)])) == (
        1j,
        datetime.date(2000, 1, 1),
    )
    with pytest.raises(DecodeError, match="more than 2 extension values"):
        codec.unpackb(codec.packb([1j, 2j, 3j]))
    unlimited = Codec(table, max_extension_values=None)
    assert len(unlimited.unpackb(unlimited.packb([1j] * 20_000))) == 20_000
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="max_extension_values"):
            Codec(max_extension_values=bad)  # type: ignore[arg-type]


def test_long_pickles_are_refused_before_they_are_read() -> None:
    # A pickle may push a million empty dicts before the date it returns: 70 MiB.
    payload = b"\x80\x04" + b"}" * (1 << 20) + pickle.dumps(datetime.date(2000, 1, 1), 4)[2:]
    message = msgpack.packb([msgpack.ExtType(127, payload)])
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="longer than the 1024 admitted"):
            Codec().unpackb(message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(message)  # the payload msgpack hands over; unread it would be 70x


def peak_ratio(codec: Codec, message: bytes) -> float:
    tracemalloc.start()
    try:
        with suppress(DecodeError):
            codec.unpackb(message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / len(message)


def array_of(item: bytes, size: int) -> bytes:
    count = size // len(item)
    return b"\xdd" + count.to_bytes(4, "big") + item * count


HOSTILE_ITEMS = {
    "empty maps": b"\x80",
    "one-entry maps": b"\x81\xa0\xc0",
    "one-entry maps of a negative int": b"\x81\xa1a\xe0",
    "one-entry maps of a 2-byte str": b"\x81\xa0\xa2\xc4\x80",
    "negative fixints": b"\xe0",
    "one-item arrays": b"\x91\xe0",
    "one-character non-latin-1 strs": b"\xa2\xc4\x80",
}


@pytest.mark.parametrize("item", HOSTILE_ITEMS.values(), ids=HOSTILE_ITEMS.keys())
def test_peak_memory_is_a_bounded_multiple_of_the_message(item: bytes) -> None:
    ratio = peak_ratio(Codec(), array_of(item, 256 << 10))
    assert ratio <= DOCUMENTED_MEMORY_BOUND


def test_map_budget_refuses_only_map_dense_messages() -> None:
    codec = Codec()
    size = 1 << 20
    # Exactly one map per MAPS_PER_BYTE bytes passes, one more byte's worth does not.
    dense = array_of(b"\x81\xa1a\x01", size)
    assert len(codec.unpackb(dense)) == size // 4
    with pytest.raises(DecodeError, match=f"more than one map per {MAPS_PER_BYTE} bytes"):
        codec.unpackb(array_of(b"\x81\xa0\xc0", size))
    # Small messages may be all maps, and any message may hold MIN_MAP_BUDGET maps.
    small = array_of(b"\x80", MIN_MAP_BUDGET - 5)
    assert len(codec.unpackb(small)) == MIN_MAP_BUDGET - 5
    padded = msgpack.packb([{}] * MIN_MAP_BUDGET + [b"x" * MIN_MAP_BUDGET])
    assert len(codec.unpackb(padded)) == MIN_MAP_BUDGET + 1
    with pytest.raises(DecodeError, match=f"or {MIN_MAP_BUDGET} maps in all"):
        codec.unpackb(msgpack.packb([{}] * (MIN_MAP_BUDGET + 1) + [b"x" * MIN_MAP_BUDGET]))


@pytest.mark.parametrize("depth", [1024, 1025])
def test_nesting_is_bounded_by_msgpack(depth: int) -> None:
    message = b"\x91" * depth + b"\xc0"
    if depth <= 1024:
        Codec().unpackb(message)
    else:
        with pytest.raises(DecodeError):
            Codec().unpackb(message)


ALLOCATION_BOMBS = {
    "LONG_BINPUT": b"\x80\x02Nr" + (1 << 22).to_bytes(4, "little") + b".",
    "PUT": b"Np4194304\n.",
    "PUT on the last line": b"Np4194304",
    "PUT after a date": pickle.dumps(datetime.date(2000, 1, 1), 0)[:-1] + b"p4194304\n.",
    "BINBYTES8": b"\x80\x04\x8e" + (1 << 26).to_bytes(8, "little") + b"x.",
    "BINUNICODE": b"\x80\x04X" + (1 << 26).to_bytes(4, "little") + b"x.",
    "BINSTRING": b"T" + (1 << 26).to_bytes(4, "little") + b"x.",
}


@pytest.mark.parametrize("payload", ALLOCATION_BOMBS.values(), ids=ALLOCATION_BOMBS.keys())
def test_pickles_cannot_make_the_unpickler_allocate(payload: bytes) -> None:
    # The C unpickler sizes its memo by the largest index it is told to store at,
    # and allocates a declared length before reading it: these few bytes would
    # make it allocate 64 MiB (gigabytes with larger numbers).
    message = msgpack.packb([msgpack.ExtType(127, payload)])
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match=r"memo index|longer than the pickle"):
            Codec().unpackb(message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # unchecked: 64 MiB


@given(st.binary(max_size=64), st.sampled_from([123, 124, 125, 126, 127]))
def test_arbitrary_pickle_payloads_give_a_value_or_decode_error(payload: bytes, code: int) -> None:
    message = msgpack.packb([msgpack.ExtType(code, b"\x80\x04" + payload)])
    with suppress(DecodeError):
        (value,) = Codec().unpackb(message)
        assert isinstance(
            value, datetime.tzinfo | datetime.timedelta | datetime.date | datetime.time
        )
