"""Values on the wire: msgpack, tuples for lists, the datetime family, custom
translators, and refusal of anything that would run code."""

from __future__ import annotations

import contextlib
import datetime
import os
import pickle
import zoneinfo
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyzmq._codec import Codec, DecodeError

from .support import as_received


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


POINT_TABLE = {
    0: (
        Point,
        lambda p: msgpack.packb((p.x, p.y)),
        lambda b: Point(*msgpack.unpackb(b)),
    )
}

DATETIMES = [
    datetime.date(2024, 2, 29),
    datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
    datetime.datetime(2024, 2, 29, 12, tzinfo=datetime.UTC),
    datetime.datetime(2024, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    datetime.time(13, 14, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=-3), "X")),
    datetime.timedelta(days=-2, microseconds=5),
    datetime.UTC,
    zoneinfo.ZoneInfo("America/New_York"),
]


def roundtrip(value: Any, codec: Codec | None = None) -> Any:
    codec = codec or Codec()
    return codec.unpackb(codec.packb(value))


@pytest.mark.parametrize("value", DATETIMES, ids=lambda v: type(v).__name__)
def test_datetime_family_round_trips(value: Any) -> None:
    result = roundtrip(value)
    assert result == value
    assert type(result) is type(value)


def test_datetime_codes_match_aiozmq() -> None:
    codec = Codec()
    for value, code in [
        (datetime.UTC, 123),
        (datetime.timedelta(1), 124),
        (datetime.time(1), 125),
        (datetime.datetime(2000, 1, 1), 126),
        (datetime.date(2000, 1, 1), 127),
    ]:
        ext = msgpack.unpackb(codec.packb(value), ext_hook=msgpack.ExtType)
        assert ext.code == code
        # aiozmq 1.0 reads these with plain pickle.loads.
        assert pickle.loads(ext.data) == value


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("value", DATETIMES, ids=lambda v: type(v).__name__)
def test_pickles_of_every_protocol_are_accepted(value: Any, protocol: int) -> None:
    code = next(
        c
        for c, cls in (
            (123, datetime.tzinfo),
            (124, datetime.timedelta),
            (125, datetime.time),
            (126, datetime.datetime),
            (127, datetime.date),
        )
        if isinstance(value, cls)
    )
    packed = msgpack.packb(msgpack.ExtType(code, pickle.dumps(value, protocol=protocol)))
    assert Codec().unpackb(packed) == value


class Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("code", [123, 124, 125, 126, 127])
@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(Evil()),
        pickle.dumps(Evil(), protocol=0),
        pickle.dumps(datetime.date(2000, 1, 1).__class__),
        pickle.dumps({"not": "a date"}),
        b"\x80\x05garbage",
        b"",
    ],
    ids=["reduce-os-system", "protocol-0", "class-object", "dict", "garbage", "empty"],
)
def test_hostile_ext_payloads_are_refused(code: int, payload: bytes, monkeypatch: Any) -> None:
    ran: list[object] = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
    with pytest.raises(DecodeError, match=f"extension type {code}"):
        Codec().unpackb(msgpack.packb(msgpack.ExtType(code, payload)))
    assert ran == []


def test_getattr_is_admitted_only_for_zoneinfo() -> None:
    # A pickle reaching for getattr(ZoneInfo, "clear_cache") or any other attribute.
    payload = (
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\x07getattr\x93"
        b"\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93\x8c\x0bclear_cache\x86R)R."
    )
    with pytest.raises(DecodeError, match="not admitted"):
        Codec().unpackb(msgpack.packb(msgpack.ExtType(123, payload)))


def test_value_of_the_wrong_class_for_its_code_is_refused() -> None:
    payload = pickle.dumps(datetime.date(2000, 1, 1))
    with pytest.raises(DecodeError, match="expected a datetime"):
        Codec().unpackb(msgpack.packb(msgpack.ExtType(126, payload)))


def test_unknown_ext_code_is_refused() -> None:
    with pytest.raises(DecodeError, match="unknown extension type code 7"):
        Codec().unpackb(msgpack.packb(msgpack.ExtType(7, b"x")))


@pytest.mark.parametrize(
    "data", [b"\xc1", b"\x92\x01", b"\x01\x02", msgpack.packb({(1, 2): 3}, use_bin_type=True)[:0]]
)
def test_invalid_msgpack_raises_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        Codec().unpackb(data)


def test_map_keys_must_be_str_or_bytes() -> None:
    with pytest.raises(DecodeError):
        Codec().unpackb(msgpack.packb({1: "int key"}))
    assert roundtrip({"s": 1, b"b": 2}) == {"s": 1, b"b": 2}


def test_custom_translator() -> None:
    codec = Codec(POINT_TABLE)
    assert roundtrip([Point(1, 2), {"p": Point(3, 4)}], codec) == (Point(1, 2), {"p": Point(3, 4)})
    with pytest.raises(DecodeError):  # the other side does not know code 0
        Codec().unpackb(codec.packb(Point(1, 2)))


def ext_code(codec: Codec, value: object) -> int:
    ext = msgpack.unpackb(codec.packb(value), ext_hook=msgpack.ExtType)
    assert isinstance(ext, msgpack.ExtType)
    code: int = ext.code
    return code


class Base:
    pass


class Derived(Base):
    pass


class Further(Derived):
    pass


def tagging(cls: type, tag: str) -> tuple[type, Any, Any]:
    return (cls, lambda v: tag.encode(), lambda b: b.decode())


def test_exact_class_entry_wins_over_a_lower_base_class_entry() -> None:
    # As aiozmq 1.0 packs: the entry for the value's own class, whatever its code.
    codec = Codec({1: tagging(Base, "base"), 2: tagging(Derived, "derived")})
    assert ext_code(codec, Base()) == 1
    assert ext_code(codec, Derived()) == 2
    # No exact entry: the lowest code whose class matches by isinstance.
    assert ext_code(codec, Further()) == 1
    assert codec.unpackb(codec.packb([Derived(), Further()])) == ("derived", "base")


def test_an_entry_for_object_does_not_take_the_datetime_family() -> None:
    codec = Codec({0: tagging(object, "anything")})
    assert ext_code(codec, datetime.datetime(2000, 1, 1)) == 126
    assert ext_code(codec, datetime.date(2000, 1, 1)) == 127
    assert ext_code(codec, datetime.timedelta(1)) == 124
    # tzinfo subclasses have no exact entry (123 is for tzinfo itself): object's code wins.
    assert ext_code(codec, datetime.UTC) == 0
    assert ext_code(codec, zoneinfo.ZoneInfo("Europe/Paris")) == 0
    assert codec.unpackb(codec.packb([Point(1, 2), datetime.date(2000, 1, 1)])) == (
        "anything",
        datetime.date(2000, 1, 1),
    )


def test_the_higher_code_wins_between_entries_for_the_same_class() -> None:
    codec = Codec({3: tagging(Point, "three"), 9: tagging(Point, "nine")})
    assert ext_code(codec, Point(1, 2)) == 9
    # A user entry for datetime at another code loses to the predefined 126, as in aiozmq.
    codec = Codec({0: tagging(datetime.datetime, "mine")})
    assert ext_code(codec, datetime.datetime(2000, 1, 1)) == 126
    assert codec.unpackb(msgpack.packb(msgpack.ExtType(0, b"x"))) == "x"


def test_user_entry_replaces_predefined_code() -> None:
    table = {
        127: (
            datetime.date,
            lambda d: d.isoformat().encode(),
            lambda b: datetime.date.fromisoformat(b.decode()),
        )
    }
    codec = Codec(table)
    ext = msgpack.unpackb(codec.packb(datetime.date(2000, 1, 2)), ext_hook=msgpack.ExtType)
    assert ext.data == b"2000-01-02"
    assert roundtrip(datetime.date(2000, 1, 2), codec) == datetime.date(2000, 1, 2)


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({128: (int, bytes, int)}, ValueError),
        ({-1: (int, bytes, int)}, ValueError),
        ({"0": (int, bytes, int)}, ValueError),
        ({True: (int, bytes, int)}, ValueError),
        ({0: (int, bytes)}, TypeError),
        ({0: ("int", bytes, int)}, TypeError),
        ({0: (int, 1, int)}, TypeError),
    ],
)
def test_bad_translation_tables_are_refused(table: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="translation_table"):
        Codec(table)


def test_unknown_type_raises_type_error_and_packer_recovers() -> None:
    codec = Codec()
    with pytest.raises(TypeError, match="cannot serialize object"):
        codec.packb([1, object()])
    assert codec.unpackb(codec.packb([1, 2])) == (1, 2)


def test_failing_unpacker_gives_decode_error() -> None:
    def refuse(_: bytes) -> Any:
        raise ValueError("no")

    codec = Codec({0: (Point, lambda p: b"x", refuse)})
    with pytest.raises(DecodeError, match="refused its payload"):
        codec.unpackb(codec.packb(Point(1, 2)))


msgpackable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=5) | st.binary(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)


@given(msgpackable)
def test_any_msgpackable_value_round_trips_with_lists_as_received(value: Any) -> None:
    assert roundtrip(value) == as_received(value)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        Codec().unpackb(data)
