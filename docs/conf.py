"""Sphinx configuration for anyzmq's documentation.

Build with ``nox -s docs`` (or ``sphinx-build -W -n -b html docs docs/_build/html`` in
an environment with ``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.ext import intersphinx

sys.path.insert(0, str(Path(__file__).parent))

import _inventories

from anyzmq import rpc

project = "anyzmq"
author = "anyzmq developers"
copyright = "2026, anyzmq developers"
release = _version("anyzmq")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinxcontrib_trio",
    "sphinx_design",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Every cross-reference must resolve: a broken one is a warning, and the build
# runs with -W. References into other projects resolve through the inventories
# below; anything of ours that does not resolve fails the build.
nitpicky = True

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
# Signatures name these aliases instead of spelling out what they stand for.
autodoc_type_aliases = {
    name: f"anyzmq.rpc.{name}" for name in ("TranslationTable", "ErrorTable", "HandlerLike")
}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# The build machine reaches no documentation site, so intersphinx reads
# inventories generated from the table in _inventories.py; the links still go
# to each project's published documentation.
intersphinx_mapping = _inventories.mapping(Path(__file__).parent / "_build" / "inventories")

# Private classes that public signatures name (the type of ``client.call``, private
# base classes): shown as plain text. Anything else of ours must resolve.
nitpick_ignore = [
    ("py:class", "anyzmq._call_proxy.MethodCall"),
]

html_theme = "furo"
html_title = f"anyzmq {release}"
html_static_path = ["_static"]
html_css_files = ["anyzmq.css"]


# Where other projects' objects are documented under another name.
_FOREIGN_ALIASES = {"zmq.sugar.socket.Socket": "zmq.Socket"}

# Sphinx writes an aliased annotation inside a union as the repr of its placeholder.
_ALIAS_PLACEHOLDER = re.compile(r"TypeAliasForwardRef\('([\w.]+)'\)")


# Classes that users get from a function or a method, never by calling the class.
_MADE_FOR_YOU = (rpc.Service, rpc.Transport, rpc.RPCClientView)


def _public_name(target: str) -> str | None:
    """``anyzmq._rpc.RPCClient`` -> ``anyzmq.rpc.RPCClient`` for names that
    ``anyzmq.rpc`` exports: the private modules are not documented."""
    module, _, rest = target.partition(".")
    if module != "anyzmq" or not rest.startswith("_"):
        return None
    private_module, _, qualname = rest.partition(".")
    head = qualname.partition(".")[0]
    if private_module and head in rpc.__all__:
        return f"anyzmq.rpc.{qualname}"
    return None


def _resolve_private(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.reference | None:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if target in _FOREIGN_ALIASES:
        node["reftarget"] = _FOREIGN_ALIASES[target]
        return intersphinx.missing_reference(app, env, node, contnode)
    public = _public_name(target)
    if public is None:
        return None
    node["reftarget"] = public
    domain = env.get_domain("py")
    resolved: nodes.reference | None = domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
    )
    return resolved


def _fix_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None]:
    if what == "class" and isinstance(obj, type) and issubclass(obj, _MADE_FOR_YOU):
        return "", None  # made by a function or a method: no constructor to show

    def fix(text: str | None) -> str | None:
        return None if text is None else _ALIAS_PLACEHOLDER.sub(r"\1", text)

    return fix(signature), fix(return_annotation)


def _public_bases(app: Sphinx, name: str, obj: type, options: object, bases: list[type]) -> None:
    """Show the nearest public ancestor instead of a private base class."""
    for index, base in enumerate(bases):
        if base.__module__.startswith("anyzmq._"):
            public = next(
                c for c in base.__mro__ if getattr(rpc, c.__name__, None) is c or c is object
            )
            bases[index] = public


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", _resolve_private)
    app.connect("autodoc-process-signature", _fix_signature)
    app.connect("autodoc-process-bases", _public_bases)
    return {"parallel_read_safe": True}
