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

from anyzmq._context import shared_context

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
    sockets = getattr(shared_context(), "_sockets", None)  # pyzmq's weak set
    if sockets is None:
        yield
        return
    before = set(sockets)
    yield
    leaked = [s for s in sockets if s not in before and not s.closed]
    for sock in leaked:
        sock.close(linger=0)
    assert not leaked, f"sockets left open: {leaked}"


@pytest.fixture(params=["loop reader", "polling"])
def pump_arm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with each way the socket pump can wait: on asyncio, once with
    the loop's persistent reader and once polling through ``anyio.wait_readable``
    (what loops without ``add_reader`` get). Trio always polls: it runs once."""
    arm: str = request.param
    if arm == "polling":
        from anyzmq import _backend

        monkeypatch.setattr(
            _backend._AsyncioBackend,
            "readiness",
            lambda self, fd, probe: _backend._PollReadiness(fd, probe),
        )
    return arm


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect trio's "polling" runs: the same as its "loop reader" runs."""
    kept: list[pytest.Item] = []
    duplicates: list[pytest.Item] = []
    for item in items:
        params = getattr(item, "callspec", None)
        params = params.params if params is not None else {}
        is_trio = params.get("anyio_backend", ("",))[0] == "trio"
        (duplicates if is_trio and params.get("pump_arm") == "polling" else kept).append(item)
    if duplicates:
        config.hook.pytest_deselected(items=duplicates)
        items[:] = kept
