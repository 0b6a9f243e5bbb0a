"""Every async test runs on asyncio, on asyncio with uvloop (where installed) and on trio.

Set ``ANYZMQ_TEST_BACKENDS`` (comma-separated: ``asyncio``, ``uvloop``, ``trio``) to
run a subset, as the nox sessions do.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

_ALL: dict[str, Any] = {
    "asyncio": pytest.param(("asyncio", {}), id="asyncio"),
    "uvloop": pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    "trio": pytest.param(("trio", {}), id="trio"),
}


def _backends() -> list[Any]:
    wanted = os.environ.get("ANYZMQ_TEST_BACKENDS", "asyncio,uvloop,trio").split(",")
    chosen = []
    for name in (item.strip() for item in wanted if item.strip()):
        if name not in _ALL:
            raise pytest.UsageError(f"unknown backend in ANYZMQ_TEST_BACKENDS: {name!r}")
        if name == "uvloop" and importlib.util.find_spec("uvloop") is None:
            continue
        chosen.append(_ALL[name])
    return chosen


@pytest.fixture(params=_backends())
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(autouse=True)
def _no_socket_leaks() -> Iterator[None]:
    """Every socket a test opens is closed by the end of the test."""
    sockets = getattr(zmq.Context.instance(), "_sockets", None)  # pyzmq's weak set
    if sockets is None:
        yield
        return
    before = set(sockets)
    yield
    leaked = [s for s in sockets if s not in before and not s.closed]
    for sock in leaked:
        sock.close(linger=0)
    assert not leaked, f"sockets left open: {leaked}"
