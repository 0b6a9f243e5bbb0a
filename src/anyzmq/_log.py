"""The library's logger, and rate-limited reports of dropped messages."""

from __future__ import annotations

import logging
import time
from typing import Final, final

__all__ = ["RateLimitedWarning", "logger"]

#: The logger of ``anyzmq.rpc``: exceptions from handlers (with ``log_exceptions``)
#: and messages dropped as malformed are reported here.
logger: Final = logging.getLogger("anyzmq.rpc")


@final
class RateLimitedWarning:
    """Logs ``"<what>: <detail>"`` at WARNING, at most one line per ``interval``
    seconds; the lines in between are counted and the count is reported with the
    next one, so that a flood of garbage cannot become a flood of log lines."""

    __slots__ = ("_interval", "_last", "_suppressed", "_what", "total")

    def __init__(self, what: str, interval: float = 1.0) -> None:
        self._what = what
        self._interval = interval
        self._last = -interval
        self._suppressed = 0
        self.total = 0

    def report(self, detail: str) -> None:
        self.total += 1
        now = time.monotonic()
        if now - self._last < self._interval:
            self._suppressed += 1
            return
        self._last = now
        if self._suppressed:
            logger.warning(
                "%s: %s (and %d more since the last report)",
                self._what,
                detail,
                self._suppressed,
            )
            self._suppressed = 0
        else:
            logger.warning("%s: %s", self._what, detail)
