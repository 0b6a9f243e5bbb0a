"""The package as installed is complete: every module, ``py.typed``, its metadata.

On an editable install these pass trivially; CI also runs the suite against the
built wheel in a fresh environment (with ``ANYZMQ_TEST_INSTALLED=1``), where they
catch a file left out of the wheel or a wrong dependency.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import distribution
from pathlib import Path

import pytest

import anyzmq

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "anyzmq"
INSTALLED = Path(anyzmq.__file__).resolve().parent


def test_tests_import_the_wheel_when_asked() -> None:
    if os.environ.get("ANYZMQ_TEST_INSTALLED") != "1":
        pytest.skip("set ANYZMQ_TEST_INSTALLED=1 to check that the installed package is tested")
    assert not INSTALLED.is_relative_to(ROOT / "src"), f"anyzmq imported from {INSTALLED}"


def test_marked_as_typed() -> None:
    assert (INSTALLED / "py.typed").is_file()


def test_every_module_is_installed() -> None:
    if not SOURCE.is_dir():
        pytest.skip("no source tree beside the tests")
    source = {path.relative_to(SOURCE) for path in SOURCE.rglob("*.py")}
    installed = {path.relative_to(INSTALLED) for path in INSTALLED.rglob("*.py")}
    assert source <= installed, f"missing: {sorted(source - installed)}"


def test_version_is_the_distribution_version() -> None:
    assert anyzmq.__version__ == distribution("anyzmq").version


def test_runtime_dependencies() -> None:
    requires = distribution("anyzmq").requires or []
    runtime = {
        re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()
        for requirement in requires
        if "extra ==" not in requirement
    }
    assert runtime == {"anyio", "msgpack", "pyzmq"}


def test_license_text_is_shipped() -> None:
    files = distribution("anyzmq").files or []
    if not any(file.name == "LICENSE" for file in files) and not (ROOT / "LICENSE").is_file():
        pytest.fail("no LICENSE in the distribution or beside it")
    if os.environ.get("ANYZMQ_TEST_INSTALLED") == "1":
        assert any(file.name == "LICENSE" for file in files), "the wheel ships no LICENSE"
