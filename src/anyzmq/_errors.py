"""The exceptions anyzmq raises, a small flat hierarchy under :class:`Error`."""

from __future__ import annotations

from typing import Any, Final, final

from ._format import bounded_repr

__all__ = [
    "AuthenticationError",
    "ConnectionLostError",
    "Error",
    "GenericError",
    "NotFoundError",
    "ParameterError",
    "ParametersError",
    "ProtocolError",
    "ServiceClosedError",
    "StreamMismatchError",
]


class Error(Exception):
    """Base class of every exception that anyzmq itself raises."""


@final
class GenericError(Error):
    """Raised on the caller when the remote exception has no local translation.

    The remote exception's full class name is not in the client's ``error_table``
    nor among the builtins, or its arguments do not fit the local class.

    ``str()`` reads like the remote exception would in a traceback
    (``"pkg.mod.MyError: the message"``); ``repr()`` is aiozmq.rpc's
    (``"<Generic RPC Error pkg.mod.MyError('the message',): MyError('the message')>"``).
    Both bound how much of the arguments they show.

    Attributes:
        exc_type: the remote class's full name, for example ``"pkg.mod.MyError"``.
        arguments: the arguments the remote exception was built with.
        exc_repr: ``repr()`` of the remote exception, as the server wrote it.
    """

    def __init__(self, exc_type: str, arguments: tuple[Any, ...], exc_repr: str) -> None:
        super().__init__(exc_type, arguments, exc_repr)
        self.exc_type = exc_type
        self.arguments = arguments
        self.exc_repr = exc_repr

    def __str__(self) -> str:
        # What str() of the remote exception gives, as BaseException.__str__ does.
        arguments = self.arguments
        if not arguments:
            return self.exc_type
        if len(arguments) == 1 and isinstance(arguments[0], str):
            message = arguments[0]
            if len(message) > _MESSAGE_LIMIT:
                message = message[: _MESSAGE_LIMIT - 3] + "..."
        else:
            shown = arguments[0] if len(arguments) == 1 else arguments
            message = bounded_repr(shown, _MESSAGE_LIMIT)
        return f"{self.exc_type}: {message}"

    def __repr__(self) -> str:
        shown = bounded_repr(self.arguments, _MESSAGE_LIMIT)
        return f"<Generic RPC Error {self.exc_type}{shown}: {self.exc_repr}>"


#: Longest text :class:`GenericError` shows of the remote arguments.
_MESSAGE_LIMIT: Final = 1000


class NotFoundError(Error, LookupError):
    """Raised when the called name is empty, missing, or not marked with ``@method``."""


class ParameterError(Error, ValueError):
    """Raised when the call's arguments do not bind to the method's signature,
    an annotation refuses an argument, or the arguments cannot be decoded."""


#: The name aiozmq.rpc uses for :class:`ParameterError`, kept as an alias.
ParametersError = ParameterError


@final
class ConnectionLostError(Error, ConnectionError):
    """Raised on a call whose connection to the server was lost before its answer
    came: the server went away, or ZeroMQ dropped the connection (for example for
    a message over ``max_message_size``). The call may or may not have run."""


@final
class AuthenticationError(Error, ConnectionError):
    """Raised by a client's calls and notifications while its server refuses every
    connection of the client in the CURVE handshake: the client's key is not
    authorised, the client has the wrong server key, or one side uses CURVE and the
    other does not. Nothing was delivered over a refused connection, so unlike
    :class:`ConnectionLostError` the refused call did not run.

    Attributes:
        endpoint: the endpoint whose server refused the client.
        reason: what the handshake failure says, in words.
    """

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(endpoint, reason)
        self.endpoint = endpoint
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.endpoint} refused the connection: {self.reason}"


@final
class ServiceClosedError(Error):
    """Raised when a service is used before it is entered or after it is closed,
    and on every call still waiting for its answer when its client closes."""


@final
class ProtocolError(Error):
    """Raised on the caller when the answer to its call cannot be decoded, for
    example when it holds a value that the codec refuses."""


@final
class StreamMismatchError(Error, TypeError):
    """Raised on the caller when a stream method (an async generator) is called
    with ``client.call``, when a plain method is opened with ``client.stream``,
    and when ``client.stream`` reaches a server that does not stream (aiozmq).
    The method did not run."""


for _cls in (
    AuthenticationError,
    ConnectionLostError,
    Error,
    GenericError,
    NotFoundError,
    ParameterError,
    ServiceClosedError,
    ProtocolError,
    StreamMismatchError,
):
    _cls.__module__ = "anyzmq.rpc"
