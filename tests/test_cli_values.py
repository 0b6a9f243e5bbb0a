"""The command line's values: arguments read as JSON or strings, results printed
in readable JSON, the inspect listing and remote error lines."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from anyzmq import rpc
from anyzmq._cli._main import _innermost
from anyzmq._cli._parser import build_parser
from anyzmq._cli._senders import error_text, listing_text
from anyzmq._cli._values import read_keyword, read_value, to_json


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-2.5", -2.5),
        ('"1"', "1"),
        ("hello", "hello"),
        ("hello world", "hello world"),
        ("", ""),
        ("true", True),
        ("null", None),
        ("[1, [2]]", [1, [2]]),
        ('{"a": {"b": null}}', {"a": {"b": None}}),
        ("{not json", "{not json"),
    ],
)
def test_read_value_is_json_or_a_string(text: str, value: object) -> None:
    assert read_value(text) == value
    assert type(read_value(text)) is type(value)


def test_read_keyword() -> None:
    assert read_keyword("a=1") == ("a", 1)
    assert read_keyword("a=b=c") == ("a", "b=c")
    assert read_keyword("a=") == ("a", "")
    for bad in ("a", "=1", ""):
        with pytest.raises(ValueError, match="expected NAME=VALUE"):
            read_keyword(bad)


def test_values_json_cannot_show_print_readably() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    value = {
        "bytes": b"\x00ab",
        "bytearray": bytearray(b"z"),
        "tuple": (1, (2, "x")),
        "set": frozenset({3}),
        "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, 600, tzinfo=paris),
        "naive": datetime.datetime(2024, 1, 2, 3, 4),
        "date": datetime.date(2024, 1, 2),
        "time": datetime.time(3, 4, 5),
        "delta": datetime.timedelta(days=1, seconds=7),
        "zone": paris,
        1: "int key",
        b"k": "bytes key",
        None: "None key",
        "other": complex(1, 2),
        "text": "é",
    }
    assert to_json(value) == (
        '{"bytes": "b\'\\\\x00ab\'", "bytearray": "b\'z\'", "tuple": [1, [2, "x"]], '
        '"set": [3], "datetime": "2024-01-02T03:04:05.000600+01:00", '
        '"naive": "2024-01-02T03:04:00", "date": "2024-01-02", "time": "03:04:05", '
        '"delta": "1 day, 0:00:07", "zone": "Europe/Paris", "1": "int key", '
        '"b\'k\'": "bytes key", "null": "None key", "other": "(1+2j)", "text": "é"}'
    )


def test_bytes_print_as_their_python_literal() -> None:
    assert to_json(b"it's") == '"b\\"it\'s\\""'
    assert to_json([b"\xff"]) == "[\"b'\\\\xff'\"]"


def test_listing_text_aligns_the_summaries() -> None:
    listing = [
        rpc.MethodInfo("add", "(a, b=10)", "Add.\n\nMore."),
        rpc.MethodInfo("ns.long_name", "(x: int) -> int", "Long."),
        rpc.MethodInfo("bare", "()", ""),
    ]
    assert listing_text(listing) == (
        "add(a, b=10)                 Add.\nns.long_name(x: int) -> int  Long.\nbare()\n"
    )
    assert listing_text([]) == ""


def test_listing_text_marks_stream_methods() -> None:
    listing = [rpc.MethodInfo("rows", "(q: str)", "Rows.", stream=True)]
    assert listing_text(listing) == "rows(q: str) [stream]  Rows.\n"


def test_error_text_names_the_remote_type() -> None:
    assert error_text(ValueError("boom")) == "ValueError: boom"
    assert error_text(KeyError("k")) == "KeyError: 'k'"
    assert error_text(TimeoutError()) == "TimeoutError"
    remote = rpc.GenericError("pkg.mod.Custom", ("oops",), "Custom('oops')")
    assert error_text(remote) == "pkg.mod.Custom: oops"


def test_innermost_unwraps_single_member_groups_only() -> None:
    inner = ValueError("x")
    assert _innermost(BaseExceptionGroup("a", [ExceptionGroup("b", [inner])])) is inner
    pair = ExceptionGroup("c", [inner, KeyError()])
    assert _innermost(pair) is pair


@pytest.mark.parametrize("command", ["call", "notify"])
def test_a_missing_method_is_reported_alone(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "tcp://127.0.0.1:1"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith("the following arguments are required: METHOD\n")
    assert build_parser().parse_args([command, "tcp://127.0.0.1:1", "m"]).args == []
