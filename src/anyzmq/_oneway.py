"""What the two one-way servers (pipeline and pub-sub) share: nobody hears the
outcome of a call, so failures are logged, in aiozmq.rpc's words."""

from __future__ import annotations

import logging
from typing import Any

import zmq

from ._errors import NotFoundError, ParameterError
from ._log import RateLimitedLog, bounded_exception, logger, shorten
from ._server import ServerBase

__all__ = ["OneWayServer"]

# aiozmq.rpc's warning about a result, for each kind of server.
_RESULT_WARNINGS: dict[int, str] = {
    zmq.PULL: "Pipeline handler %r returned not None",
    zmq.SUB: "PubSub handler %r returned not None",
}


class OneWayServer(ServerBase):
    """Logs calls that name no method or whose arguments are refused at ERROR, with
    their traceback, at most one record per second for each of the two; other
    exceptions as asked by ``log_exceptions``; and warns about results other than None."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._not_found = RateLimitedLog(logging.ERROR)
        self._refused = RateLimitedLog(logging.ERROR)

    def _succeeded(self, reply: Any, name: str, result: Any) -> None:
        if result is not None:
            logger.warning(_RESULT_WARNINGS[self._socket_type], name)

    def _failed(self, reply: Any, name: str, exc: BaseException, args: Any, kwargs: Any) -> None:
        if isinstance(exc, NotFoundError | ParameterError):
            limiter = self._not_found if isinstance(exc, NotFoundError) else self._refused
            shown = bounded_exception(exc)
            limiter.log("Call to %r caused error: %r", shorten(name), shown, exc_info=shown)
        else:
            self._log_failure(name, exc, args, kwargs)
