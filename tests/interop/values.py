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
