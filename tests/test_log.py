"""Reports of dropped messages are rate-limited."""

from __future__ import annotations

import logging

import pytest

from anyzmq import _log
from anyzmq._format import bounded_repr


def test_drop_reports_are_rate_limited(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr("anyzmq._log.time.monotonic", lambda: now[0])
    reporter = _log.RateLimitedWarning("Test dropped a message", interval=1.0)
    with caplog.at_level(logging.WARNING, logger="anyzmq.rpc"):
        for _ in range(1000):
            reporter.report("garbage")
        now[0] += 1.5
        reporter.report("more garbage")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Test dropped a message: garbage",
        "Test dropped a message: more garbage (and 999 more since the last report)",
    ]
    assert reporter.total == 1001


def test_rate_limited_log_keeps_the_first_record_as_given(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr("anyzmq._log.time.monotonic", lambda: now[0])
    limiter = _log.RateLimitedLog(logging.ERROR, interval=1.0)
    error = ValueError("bad")
    with caplog.at_level(logging.ERROR, logger="anyzmq.rpc"):
        for _ in range(10):
            limiter.log("Call to %r caused error: %r", "f", error, exc_info=error)
        now[0] += 1.0
        limiter.log("Call to %r caused error: %r", "g", error, exc_info=error)
    first, second = caplog.records
    assert (first.levelno, first.msg, first.args) == (
        logging.ERROR,
        "Call to %r caused error: %r",
        ("f", error),
    )
    assert first.exc_info is not None
    assert first.exc_info[1] is error
    assert second.getMessage() == (
        "Call to 'g' caused error: ValueError('bad') (and 9 more since the last report)"
    )
    assert limiter.total == 11


def test_shorten_keeps_short_texts_and_cuts_long_ones() -> None:
    assert _log.shorten("abc") == "abc"
    assert _log.shorten("x" * 500) == "x" * 200 + "... (500 characters)"
    assert len(bounded_repr(["y" * 10_000] * 10_000)) < 2000


def test_bounded_exception_keeps_class_and_traceback() -> None:
    def fail() -> None:
        try:
            raise KeyError("k" * 100_000)
        except KeyError as cause:
            raise LookupError("n" * 100_000, b"b" * 100_000) from cause

    with pytest.raises(LookupError) as info:
        fail()
    exc = info.value
    shown = _log.bounded_exception(exc)
    assert type(shown) is LookupError
    assert shown.__traceback__ is exc.__traceback__
    assert shown.args[0] == _log.shorten("n" * 100_000)
    assert len(shown.args[1]) < 300
    text = logging.Formatter().formatException((LookupError, shown, shown.__traceback__))
    assert len(text) < 2000

    class Strict(Exception):
        def __init__(self, first: int, second: int) -> None:
            super().__init__(first + second)

    refuses = Strict(1, 2)
    assert _log.bounded_exception(refuses) is refuses
