"""Runs an example's ``main()`` on the backend named by ``--backend``."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

import anyio


def run_example(main: Callable[[], Awaitable[None]], description: str | None) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, backend=args.backend)
