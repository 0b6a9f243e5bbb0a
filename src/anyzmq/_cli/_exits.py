"""Exit codes of the ``anyzmq`` command, and the error that ends a command with one."""

from __future__ import annotations

from typing import Final

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_TIMEOUT", "EXIT_USAGE", "CommandError"]

#: The command did what it was asked.
EXIT_OK: Final = 0
#: The remote method raised, or the command could not do its work (an endpoint
#: refused, a server without introspection, an undecodable answer).
EXIT_FAILURE: Final = 1
#: The command line is wrong (argparse's own code), or names nothing servable.
EXIT_USAGE: Final = 2
#: Nobody answered (call, inspect) or took the message (notify, publish) in time.
EXIT_TIMEOUT: Final = 3


class CommandError(Exception):
    """Ends a command: its message goes to stderr, ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code
