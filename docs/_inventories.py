"""Intersphinx inventories for the documentation build, made from the tables below.

The build machine reaches no documentation site, so Sphinx cannot download other
projects' ``objects.inv``. Instead :func:`mapping` writes small inventories that list
the objects these docs refer to, each with its address in that project's published
documentation. A reference to an object missing here fails the build (nitpicky
mode): add the object to its project's table, with the page its own documentation
uses. Where the sites can be reached, ``ANYZMQ_DOCS_ONLINE_INVENTORIES=1`` makes the
build use the projects' published inventories instead, which checks these tables.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

# project: (base URL, version, {(role, name): page relative to the base URL})
# Anchors are the object's full name (Sphinx's default), so only the page is listed.
PROJECTS: dict[str, tuple[str, str, dict[tuple[str, str], str]]] = {
    "python": (
        "https://docs.python.org/3/",
        "3",
        {
            ("py:class", "bool"): "library/functions.html",
            ("py:class", "bytes"): "library/stdtypes.html",
            ("py:class", "dict"): "library/stdtypes.html",
            ("py:class", "float"): "library/functions.html",
            ("py:class", "frozenset"): "library/stdtypes.html",
            ("py:class", "int"): "library/functions.html",
            ("py:class", "object"): "library/functions.html",
            ("py:class", "str"): "library/stdtypes.html",
            ("py:class", "tuple"): "library/stdtypes.html",
            ("py:class", "type"): "library/functions.html",
            ("py:exception", "BaseException"): "library/exceptions.html",
            ("py:exception", "Exception"): "library/exceptions.html",
            ("py:exception", "LookupError"): "library/exceptions.html",
            ("py:exception", "OSError"): "library/exceptions.html",
            ("py:exception", "RuntimeError"): "library/exceptions.html",
            ("py:exception", "TimeoutError"): "library/exceptions.html",
            ("py:exception", "TypeError"): "library/exceptions.html",
            ("py:exception", "ValueError"): "library/exceptions.html",
            ("py:data", "None"): "library/constants.html",
            ("py:data", "typing.Any"): "library/typing.html",
            ("py:data", "typing.Self"): "library/typing.html",
            ("py:class", "abc.ABC"): "library/abc.html",
            ("py:function", "asyncio.timeout"): "library/asyncio-task.html",
            ("py:class", "collections.abc.Awaitable"): "library/collections.abc.html",
            ("py:class", "collections.abc.Callable"): "library/collections.abc.html",
            ("py:class", "collections.abc.Iterable"): "library/collections.abc.html",
            ("py:class", "collections.abc.Mapping"): "library/collections.abc.html",
            ("py:class", "logging.Logger"): "library/logging.html",
            ("py:class", "os.PathLike"): "library/os.html",
            ("py:class", "pathlib.Path"): "library/pathlib.html",
            ("py:exception", "ConnectionError"): "library/exceptions.html",
            ("py:exception", "NotADirectoryError"): "library/exceptions.html",
            ("py:class", "types.TracebackType"): "library/types.html",
        },
    ),
    "anyio": (
        "https://anyio.readthedocs.io/en/stable/",
        "4",
        {
            ("py:function", "anyio.run"): "api.html",
            ("py:function", "anyio.fail_after"): "api.html",
            ("py:function", "anyio.move_on_after"): "api.html",
            ("py:function", "anyio.current_time"): "api.html",
            ("py:function", "anyio.current_effective_deadline"): "api.html",
            ("py:class", "anyio.CancelScope"): "api.html",
            ("py:function", "anyio.get_cancelled_exc_class"): "api.html",
        },
    ),
    "trio": (
        "https://trio.readthedocs.io/en/stable/",
        "0",
        {
            ("py:function", "trio.run"): "reference-core.html",
            ("py:function", "trio.fail_after"): "reference-core.html",
            ("py:function", "trio.move_on_after"): "reference-core.html",
            ("py:exception", "trio.Cancelled"): "reference-core.html",
        },
    ),
    "pyzmq": (
        "https://pyzmq.readthedocs.io/en/latest/",
        "26",
        {
            ("py:class", "zmq.Socket"): "api/zmq.html",
            ("py:method", "zmq.Socket.setsockopt"): "api/zmq.html",
            ("py:class", "zmq.SocketOption"): "api/zmq.html",
            ("py:function", "zmq.curve_keypair"): "api/zmq.html",
            ("py:class", "zmq.Context"): "api/zmq.html",
            ("py:exception", "zmq.ZMQError"): "api/zmq.html",
        },
    ),
}


def inventory(project: str, version: str, objects: dict[tuple[str, str], str]) -> bytes:
    """An ``objects.inv`` (format 2) listing ``objects``."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    lines = "".join(
        f"{name} {role} 1 {page}#$ -\n" for (role, name), page in sorted(objects.items())
    )
    return header.encode() + zlib.compress(lines.encode())


def mapping(directory: Path) -> dict[str, tuple[str, str]]:
    """Write each project's inventory into ``directory``; return ``intersphinx_mapping``."""
    if os.environ.get("ANYZMQ_DOCS_ONLINE_INVENTORIES") == "1":
        return {name: (base, f"{base}objects.inv") for name, (base, _, _) in PROJECTS.items()}
    directory.mkdir(parents=True, exist_ok=True)
    result: dict[str, tuple[str, str]] = {}
    for name, (base, version, objects) in PROJECTS.items():
        path = directory / f"{name}.inv"
        path.write_bytes(inventory(name, version, objects))
        result[name] = (base, str(path))
    return result
