"""``aiozmq.rpc``'s logger: anyzmq's records are handed on to it."""

from __future__ import annotations

import logging
from typing import Final

from anyzmq.rpc import logger as _anyzmq_logger

__all__ = ["logger"]

logger: Final = logging.getLogger("aiozmq.rpc")


class _HandOn(logging.Handler):
    """Passes each ``anyzmq.rpc`` record to the ``aiozmq.rpc`` logger's handlers,
    as far as that logger's level lets it through."""

    def emit(self, record: logging.LogRecord) -> None:
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


if not any(isinstance(handler, _HandOn) for handler in _anyzmq_logger.handlers):
    _anyzmq_logger.addHandler(_HandOn())
    _anyzmq_logger.setLevel(logging.DEBUG)
    _anyzmq_logger.propagate = False  # the root logger hears it once, through aiozmq.rpc
