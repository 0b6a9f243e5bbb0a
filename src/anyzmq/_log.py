"""The library's logger, rate-limited records, and bounded reprs of what came
from the network."""

from __future__ import annotations

import logging
import time
from typing import Final, final

from ._format import bounded_repr

__all__ = [
    "RateLimitedLog",
    "RateLimitedWarning",
    "bounded_exception",
    "logger",
    "shorten",
]

#: The logger of ``anyzmq.rpc``: exceptions from handlers (with ``log_exceptions``)
#: and messages dropped as malformed are reported here.
logger: Final = logging.getLogger("anyzmq.rpc")

#: Characters of one value (a name, an argument) that a log record shows.
MAX_SHOWN: Final = 200


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` itself if it has at most ``limit`` characters, else its start and
    its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def bounded_exception(exc: BaseException) -> BaseException:
    """An exception of ``exc``'s class and traceback whose arguments are shortened
    (see :func:`shorten`, :func:`bounded_repr`) and whose chain is left out, so
    that logging it with its traceback stays bounded; ``exc`` itself if its class
    refuses the shortened arguments."""
    args = tuple(shorten(arg) if isinstance(arg, str) else bounded_repr(arg) for arg in exc.args)
    try:
        shown = type(exc)(*args)
    except Exception:
        return exc
    shown.__suppress_context__ = True
    return shown.with_traceback(exc.__traceback__)


@final
class RateLimitedLog:
    """Logs at ``level`` at most one record per ``interval`` seconds; the records
    in between are counted, and the count is added to the next one, so that a
    flood of garbage cannot become a flood of log lines. The first record always
    goes out as given."""

    __slots__ = ("_interval", "_last", "_level", "_suppressed", "total")

    def __init__(self, level: int, interval: float = 1.0) -> None:
        self._level = level
        self._interval = interval
        self._last = -interval
        self._suppressed = 0
        #: How many records were asked for, logged or not.
        self.total = 0

    def log(self, msg: str, *args: object, exc_info: BaseException | None = None) -> None:
        """Log ``msg % args`` (with ``exc_info``'s traceback) unless a record went
        out less than ``interval`` seconds ago."""
        self.total += 1
        now = time.monotonic()
        if now - self._last < self._interval:
            self._suppressed += 1
            return
        self._last = now
        if self._suppressed:
            msg += " (and %d more since the last report)"
            args = (*args, self._suppressed)
            self._suppressed = 0
        logger.log(self._level, msg, *args, exc_info=exc_info)


@final
class RateLimitedWarning:
    """Logs ``"<what>: <detail>"`` at WARNING, rate-limited as :class:`RateLimitedLog`."""

    __slots__ = ("_log", "_what")

    def __init__(self, what: str, interval: float = 1.0) -> None:
        self._what = what
        self._log = RateLimitedLog(logging.WARNING, interval)

    @property
    def total(self) -> int:
        """How many reports were made, logged or not."""
        return self._log.total

    def report(self, detail: str) -> None:
        self._log.log("%s: %s", self._what, detail)
