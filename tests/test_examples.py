"""Every example runs on both backends and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "request_reply.py": ["remote(1, 2) = 3"],
    "deadlines.py": [
        "inside fail_after(30), the handler saw the deadline: at most 30 s left",
        "the caller gave up after 0.2 s, and the server cancelled slow_job",
    ],
    "streaming.py": [
        "squares(5): [0, 1, 4, 9, 16]",
        "forever() stopped on the server after 3 items",
    ],
    "pipeline.py": ["server got remote(1)", "server got remote(3)"],
    "pubsub.py": ["subscriber got remote(1)"],
    "custom_translator.py": ["remote(Point(1, 2)) = Point(1, 2)"],
    "exception_translator.py": [
        "caught CustomError(123) with val=123",
        "caught ValueError('builtins are translated by default')",
        "without a translator: __main__.CustomError (456,)",
    ],
    "curve.py": [
        "alice: remote(1, 2) = 3",
        "alice: the server sees her key: True",
        "stranger: AuthenticationError: authentication failed: the server does not admit",
        "server log: RPCServer refused a client: client key",
    ],
    "dict_handler.py": ["a() and subnamespace.b() answered"],
    "namespaces.py": ["subhandler.a() = ('sub', 'a')"],
    "dynamic_handler.py": ["a.b.func() = ('a', 'b')"],
    "shutdown.py": [
        "leaving the server's block with a call running",
        "the caller got: worked 0.2 s",
        "the server is closed",
        "server got note('sent before the server came up')",
    ],
    "incorrect_calls.py": [
        "client.call.unknown_function(): NotFoundError('unknown_function')",
        "client.call.func(): ParameterError(\"missing a required argument: 'arg'\")",
        "client.call.func(1, 2, 3): ParameterError('too many positional arguments')",
        "client.call.func('1') = 2",
    ],
    "demo.py": [
        "connected to a server on",
        "add(2, 3) -> 5",
        "divide(1, 0) raised ZeroDivisionError",
        "a call cancelled after 50 ms: True",
        "with_timeout(0.05) raised TimeoutError",
        "100 concurrent calls, all answered: True",
    ],
}


def run(script: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return completed.stdout


def test_every_example_is_listed() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str, backend: str) -> None:
    output = run(script, "--backend", backend)
    for line in EXPECTED[script]:
        assert line in output


def test_demo_crosses_backends() -> None:
    output = run("demo.py")
    assert "--- asyncio client, trio server ---" in output
    assert "[asyncio client] connected to a server on trio" in output
    assert "--- trio client, asyncio server ---" in output
    assert "[trio client] connected to a server on asyncio" in output
    assert output.count("all answered: True") == 2
