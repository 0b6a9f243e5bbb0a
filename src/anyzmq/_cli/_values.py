"""Values on the command line: arguments read as JSON or taken as strings, and
results printed as JSON, with a readable text for what JSON has no notation for.

What prints how (the documented forms, see ``docs/cli.md``):

* tuples, lists, sets: arrays; dicts: objects whose keys that are not strings are
  written as JSON text (``1`` becomes ``"1"``);
* bytes: a string holding the Python literal, ``"b'\\x00abc'"``;
* ``datetime``, ``date``, ``time``: ISO 8601 strings; ``timedelta``: Python's
  ``str()`` (``"1 day, 2:00:00"``); a time zone: its name;
* anything else (a value of a translated class): a string holding its ``repr()``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["read_keyword", "read_value", "to_json", "to_plain"]


def read_value(text: str) -> Any:
    """``text`` parsed as JSON when it is JSON, else ``text`` itself.

    ``1`` is the number 1, ``'"1"'`` the string ``"1"``, ``hello`` the string
    ``"hello"``, ``'[1, "a"]'`` a list, ``null`` None.
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_keyword(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` as ``(NAME, read_value(VALUE))``.

    Raises:
        ValueError: there is no ``=``, or nothing before it.
    """
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    return name, read_value(value)


def to_plain(value: Any) -> Any:
    """``value`` with everything JSON cannot write replaced by its readable form."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return repr(bytes(value))
    if isinstance(value, Mapping):
        return {_key(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(item) for item in value]
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta | datetime.tzinfo):
        return str(value)
    return repr(value)


def _key(key: Any) -> str:
    plain = to_plain(key)
    return plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)


def to_json(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON text, in the readable forms of :func:`to_plain`."""
    return json.dumps(to_plain(value), ensure_ascii=False, indent=indent)
