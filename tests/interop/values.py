"""Values that must cross between anyzmq and aiozmq peers unchanged (but for
lists arriving as tuples). Imported by the aiozmq peer too: no anyzmq here."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

VALUES: list[Any] = [
    1,
    -2.5,
    2**63,
    "text é",
    b"\x00bytes\xff",
    None,
    True,
    [1, [2, "three"]],
    {"key": [1, 2], "nested": {"b": b"x"}},
    datetime.date(2024, 2, 29),
    datetime.time(13, 14, 15, 16),
    datetime.timedelta(days=-1, seconds=5, microseconds=6),
    datetime.timezone(datetime.timedelta(hours=5, minutes=30), "IST"),
    datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
    datetime.datetime(2024, 2, 29, 12, 0, tzinfo=datetime.UTC),
    datetime.datetime(2024, 7, 1, 12, 0, tzinfo=PARIS),
    datetime.time(8, 30, tzinfo=PARIS),
]


class Animal:
    pass


class Dog(Animal):
    pass


class Puppy(Dog):
    pass


def _class_name(value: object) -> bytes:
    return type(value).__name__.encode()


def _tagged(code: int) -> Any:
    return lambda payload: ("code", code, payload.decode())


#: A table with an entry for ``object`` and one for a subclass of another entry's
#: class: each value comes back as ``("code", code, class name)``, telling which
#: code the sender packed it with.
TAGGING_TABLE: dict[int, Any] = {
    0: (object, _class_name, _tagged(0)),
    1: (Animal, _class_name, _tagged(1)),
    2: (Dog, _class_name, _tagged(2)),
}
TAGGED_VALUES: list[Any] = [
    Animal(),
    Dog(),
    Puppy(),
    datetime.datetime(2024, 2, 29, 12, 0),
    datetime.date(2024, 2, 29),
    datetime.timedelta(seconds=1),
    datetime.UTC,
]
#: How aiozmq 1.0 packs ``TAGGED_VALUES`` with ``TAGGING_TABLE``, as the peer decodes them.
TAGGED_AS: tuple[Any, ...] = (
    ("code", 1, "Animal"),
    ("code", 2, "Dog"),  # its exact class's entry, not the lower code of its base
    ("code", 0, "Puppy"),  # no exact entry: the lowest code that matches
    datetime.datetime(2024, 2, 29, 12, 0),  # 126, not 0
    datetime.date(2024, 2, 29),  # 127
    datetime.timedelta(seconds=1),  # 124
    ("code", 0, "timezone"),  # 123 is for tzinfo itself: object's entry matches first
)
