"""The documentation's code is still true: its Python blocks run, and the names it
uses and the API reference it lists match ``anyzmq.rpc``.

Every ```` ```python ```` block in ``README.md`` and ``docs/*.md`` is a complete
program that this module runs, once per backend when it calls :func:`anyio.run`
(the backend is forced, whatever the block passes). A MyST comment on the line
just before the fence says otherwise:

``% fragment``
    part of a program, shown for its shape: it must compile (top-level ``await``
    and ``async with`` allowed), and is not run.
``% aiozmq``
    a complete aiozmq.rpc program (the migration page): run as written, on asyncio,
    where aiozmq is installed; compiled otherwise.
``% not-run: <why>``
    not Python to run or compile, such as a summary of signatures.

Longer examples are files in ``examples/``, pulled into the pages with
``literalinclude`` and run by ``tests/test_examples.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from anyzmq import rpc

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

MARKS = ("fragment", "aiozmq", "not-run")
BACKENDS: dict[str, tuple[str, dict[str, Any]]] = {
    "asyncio": ("asyncio", {}),
    "uvloop": ("asyncio", {"use_uvloop": True}),
    "trio": ("trio", {}),
}

_FENCE = re.compile(r"^(?P<indent>\s*)```python\s*$")
_MARK = re.compile(r"^\s*%\s*(?P<mark>[\w-]+)")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    mark: str  # "" for a complete program, else one of MARKS

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def read_blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start = index + 1
        end = start
        while lines[end].strip() != "```":
            end += 1
        mark = _MARK.match(lines[index - 1]) if index else None
        yield Block(
            page=str(path.relative_to(ROOT)),
            line=start,
            code=textwrap.dedent("\n".join(lines[start:end])) + "\n",
            mark=mark.group("mark") if mark else "",
        )
        index = end + 1


BLOCKS = [block for page in PAGES for block in read_blocks(page)]
PROGRAMS = [block for block in BLOCKS if block.mark == ""]


def _run_cases() -> Iterator[Any]:
    for block in PROGRAMS:
        backends = list(BACKENDS) if "anyio.run(" in block.code else ["no event loop"]
        for backend in backends:
            yield pytest.param(block, backend, id=f"{block.name}-{backend}")


def forcing_backend(
    real_run: Callable[..., Any], backend: str, calls: list[str]
) -> Callable[..., Any]:
    """An ``anyio.run`` that runs on ``backend``, whatever its caller asks for."""
    name, options = BACKENDS[backend]

    def run(func: Callable[..., Any], *args: Any, **ignored: Any) -> Any:
        calls.append(backend)
        return real_run(func, *args, backend=name, backend_options=options)

    return run


def test_blocks_are_found() -> None:
    pages = {block.page for block in BLOCKS}
    assert {"README.md", "docs/index.md", "docs/guide.md", "docs/migrating.md"} <= pages
    assert len(PROGRAMS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_marks_are_known(block: Block) -> None:
    assert block.mark in ("", *MARKS), f"{block.name}: unknown mark % {block.mark}"


@pytest.mark.parametrize(("block", "backend"), list(_run_cases()))
def test_program_runs(block: Block, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "uvloop" and importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop is not installed")
    code = compile(block.code, block.name, "exec")
    if backend not in BACKENDS:
        exec(code, {"__name__": "__main__"})
        return
    calls: list[str] = []
    monkeypatch.setattr(anyio, "run", forcing_backend(anyio.run, backend, calls))
    exec(code, {"__name__": "__main__"})
    assert calls == [backend], "the block should call anyio.run once"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.mark in ("fragment", "aiozmq")], ids=lambda b: b.name
)
def test_fragment_compiles(block: Block) -> None:
    compile(block.code, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mark == "aiozmq"], ids=lambda b: b.name)
def test_aiozmq_program_runs(block: Block) -> None:
    pytest.importorskip("aiozmq")
    exec(compile(block.code, block.name, "exec"), {"__name__": "__main__"})


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_rpc_names_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<![\w.])rpc\.(\w+)", text))
    used |= set(re.findall(r"\banyzmq\.rpc\.(\w+)", text))
    assert used <= set(rpc.__all__), f"not in anyzmq.rpc: {sorted(used - set(rpc.__all__))}"


def test_api_reference_lists_every_public_name() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\.\. (?:auto\w+:: anyzmq\.rpc\.|py:\w+:: )(\w+)", text, re.M)
    assert sorted(documented) == sorted(rpc.__all__)


def test_every_example_is_shown() -> None:
    text = (DOCS / "examples.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"^```\{literalinclude\} \.\./examples/(\w+\.py)$", text, re.M))
    assert shown == {path.name for path in (ROOT / "examples").glob("*.py")}
