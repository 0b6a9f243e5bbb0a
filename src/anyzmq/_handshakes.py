"""What the socket monitor says about handshakes, and which servers refuse a client.

A ZeroMQ client whose server refuses it (CURVE with a key the server does not
admit, the wrong server key, CURVE on one side only) sees nothing: its messages
wait in a queue for a connection that never completes, and libzmq gives up on
reconnecting after a refusal it considers final. The socket monitor reports each
failed handshake (``EVENT_HANDSHAKE_FAILED_AUTH``, ``..._PROTOCOL``,
``..._NO_DETAIL``) and each successful one; :class:`Handshakes` keeps, per
endpoint, whether its last handshake failed, so that a client can fail its calls
with :class:`AuthenticationError` while every server it connects to refuses it.
"""

from __future__ import annotations

from typing import Final, final

import zmq

from ._errors import AuthenticationError
from ._transport import Transport

__all__ = ["HANDSHAKE_EVENTS", "Handshakes", "describe_failure"]

_SUCCEEDED: Final = int(zmq.EVENT_HANDSHAKE_SUCCEEDED)
_FAILED_AUTH: Final = int(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
_FAILED_PROTOCOL: Final = int(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
_FAILED_NO_DETAIL: Final = int(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)

#: The monitor events a :class:`Handshakes` understands.
HANDSHAKE_EVENTS: Final = _SUCCEEDED | _FAILED_AUTH | _FAILED_PROTOCOL | _FAILED_NO_DETAIL

_MISMATCH: Final = int(zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
_CRYPTOGRAPHIC: Final = int(zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)


def describe_failure(event: int, value: int) -> str:
    """A failed handshake's monitor event (and its value) in words."""
    if event == _FAILED_AUTH:
        return f"authentication failed: the server does not admit this client's key (ZAP {value})"
    if event == _FAILED_PROTOCOL:
        if value == _MISMATCH:
            return "authentication failed: one side uses CURVE and the other does not"
        if value == _CRYPTOGRAPHIC:
            return "authentication failed: CURVE keys do not match (wrong server key?)"
        return f"authentication failed: handshake protocol error {value:#x}"
    return (
        "authentication failed in the handshake (wrong server key, or the server "
        "has no ZAP handler answering)"
    )


@final
class Handshakes:
    """The endpoints of one client whose last handshake failed."""

    __slots__ = ("_refused", "any_refused")

    def __init__(self) -> None:
        self._refused: dict[str, AuthenticationError] = {}
        #: Whether some endpoint's last handshake failed (an attribute, not a
        #: property: every call reads it).
        self.any_refused = False

    def is_refused(self, endpoint: str) -> bool:
        return endpoint in self._refused

    def record(self, endpoint: str, event: int, value: int) -> None:
        """Note a handshake event of ``endpoint``'s connection."""
        if event == _SUCCEEDED:
            self._refused.pop(endpoint, None)
        elif event & HANDSHAKE_EVENTS:
            self._refused[endpoint] = AuthenticationError(endpoint, describe_failure(event, value))
        self.any_refused = bool(self._refused)

    def admitted(self, endpoint: str) -> None:
        """``endpoint``'s handshake succeeded."""
        self._refused.pop(endpoint, None)
        self.any_refused = bool(self._refused)

    def refused(self, endpoint: str) -> AuthenticationError | None:
        """The error for calls over ``endpoint`` if its last handshake failed."""
        error = self._refused.get(endpoint)
        return None if error is None else _fresh(error)

    def forget(self, endpoint: str) -> None:
        """``endpoint`` is no longer connected."""
        self._refused.pop(endpoint, None)
        self.any_refused = bool(self._refused)

    def refusal(self, transport: Transport | None) -> AuthenticationError | None:
        """The error for a call made now: every endpoint the client connects to
        refused its last handshake (and the client binds none), else None."""
        if not self._refused or transport is None or transport.bindings():
            return None
        connections = transport.connections()
        if not connections:
            return None
        if len(connections) == 1 and len(self._refused) == 1:
            # Monitor events may spell an endpoint differently from connect().
            (error,) = self._refused.values()
            return _fresh(error)
        refused = [self._refused.get(endpoint) for endpoint in sorted(connections)]
        if any(error is None for error in refused):
            return None
        return _fresh(refused[0])  # type: ignore[arg-type]


def _fresh(error: AuthenticationError) -> AuthenticationError:
    """A new exception each time: one raised twice would grow its traceback."""
    return AuthenticationError(error.endpoint, error.reason)
