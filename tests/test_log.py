"""Reports of dropped messages are rate-limited."""

from __future__ import annotations

import logging

import pytest

from anyzmq import _log


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
