"""What the two one-way servers (pipeline and pub-sub) share: nobody hears the
outcome of a call, so failures are logged."""

from __future__ import annotations

from typing import Any

from ._errors import NotFoundError, ParameterError
from ._log import logger
from ._server import ServerBase

__all__ = ["OneWayServer"]


class OneWayServer(ServerBase):
    """Logs every lookup or argument error, and other exceptions as asked by
    ``log_exceptions``; warns about results other than None."""

    def _succeeded(self, reply: Any, name: str, result: Any) -> None:
        if result is not None:
            logger.warning("%s handler %r returned %r, not None", type(self).__name__, name, result)

    def _failed(self, reply: Any, name: str, exc: BaseException, args: Any, kwargs: Any) -> None:
        if isinstance(exc, NotFoundError | ParameterError):
            logger.error("Call to %r caused error: %r", name, exc)
        else:
            self._log_failure(name, exc, args, kwargs)
