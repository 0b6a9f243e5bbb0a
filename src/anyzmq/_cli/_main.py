"""``main()``: parse the command line, run the command (on its event loop when it
has one), and turn what ended it into an exit code and a line on stderr."""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from collections.abc import Sequence

import anyio

from ._exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError
from ._keys import curve_misuse
from ._parser import build_parser, glue_key_values

__all__ = ["main"]

#: The exit code of a command stopped by SIGINT before it could stop cleanly.
EXIT_INTERRUPTED = 130


def _innermost(exc: BaseException) -> BaseException:
    """The one exception inside single-member groups that task groups add."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``anyzmq`` command line (``argv`` defaults to ``sys.argv[1:]``) and
    return its exit code (see ``docs/cli.md``); a usage error exits 2 directly."""
    parser = build_parser()
    args = parser.parse_args(glue_key_values(sys.argv[1:] if argv is None else argv))
    if hasattr(args, "endpoints") and not args.endpoints:
        args.subparser.error("give at least one --bind or --connect")
    misuse = curve_misuse(args)
    if misuse is not None:
        args.subparser.error(misuse)
    backend = getattr(args, "loop", "asyncio")
    if backend != "asyncio" and importlib.util.find_spec(backend) is None:
        message = f"--backend {backend} needs {backend}: pip install 'anyzmq[{backend}]'"
        print(f"anyzmq {args.command}: {message}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if inspect.iscoroutinefunction(args.run):
            anyio.run(args.run, args, backend=backend)
        else:
            args.run(args)
    except BaseException as caught:
        exc = _innermost(caught)
        if isinstance(exc, CommandError):
            print(f"anyzmq {args.command}: {exc}", file=sys.stderr, flush=True)
            return exc.code
        if isinstance(exc, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if isinstance(exc, BrokenPipeError):
            # Whoever read our output has gone (| head): exit without a traceback.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILURE
        raise
    return EXIT_OK
