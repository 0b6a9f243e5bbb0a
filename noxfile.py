"""Test matrix (every installed Python 3.11+ x every backend), lint and types.

nox                      # everything available here
nox -s tests-3.12        # one Python, all backends
nox -s "tests-3.11(backend='trio')"
nox -s lint
nox -s aiozmq_suite      # aiozmq 1.0's own rpc tests, on every Python (downloads aiozmq)
nox -s docs              # the documentation site, into docs/_build/html
nox -s wheel             # sdist and wheel, twine check, the suite against the wheel
"""

from __future__ import annotations

import os
import shutil
from glob import glob
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "lint"]

CANDIDATES = ["3.11", "3.12", "3.13"]

# pyenv installs versions that its shims do not expose unless selected: put their
# bin folders on PATH so that nox finds every installed interpreter.
_pyenv_versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
if _pyenv_versions.is_dir():
    _bins = [str(p / "bin") for p in sorted(_pyenv_versions.iterdir()) if (p / "bin").is_dir()]
    os.environ["PATH"] = os.pathsep.join([*_bins, os.environ.get("PATH", "")])

PYTHONS = [v for v in CANDIDATES if shutil.which(f"python{v}")] or CANDIDATES[:1]


@nox.session(python=PYTHONS)
@nox.parametrize("backend", ["asyncio", "uvloop", "trio"])
def tests(session: nox.Session, backend: str) -> None:
    """The test suite on one Python and one event loop."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs, env={"ANYZMQ_TEST_BACKENDS": backend})


@nox.session(python=PYTHONS[0])
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy --strict on src, tests and examples."""
    session.install("-e", ".[dev]")
    paths = ["src", "tests", "examples", "scripts", "benchmarks", "docs", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("mypy", "--strict", "src", "tests", "examples", "scripts")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmarks against aiozmq 1.0 (which needs Python 3.11) and plain pyzmq.

    Arguments after ``--`` go to benchmarks/run.py, e.g. ``nox -s bench -- --quick``.
    """
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHONS)
def aiozmq_suite(session: nox.Session) -> None:
    """aiozmq 1.0's own rpc tests against anyzmq, through tests/aiozmq_suite's adapter.

    Downloads aiozmq 1.0.0's source distribution (network needed); not run by
    default. Arguments after ``--`` go to that suite's pytest.
    """
    session.install("-e", ".[test]")
    session.run("python", "tests/aiozmq_suite/run.py", *session.posargs)


@nox.session(python=PYTHONS[0])
def docs(session: nox.Session) -> None:
    """The documentation site into docs/_build/html, with warnings as errors and
    every cross-reference checked (nitpicky). Arguments after ``--`` go to
    sphinx-build."""
    session.install("-e", ".[docs]")
    shutil.rmtree("docs/_build/html", ignore_errors=True)
    options = ["-W", "--keep-going", "-n", "-b", "html"]
    session.run("sphinx-build", *options, "docs", "docs/_build/html", *session.posargs)


@nox.session(python=PYTHONS[0])
def wheel(session: nox.Session) -> None:
    """Build the sdist and the wheel, check them with twine, install the wheel (not
    the checkout) and run the test suite against it."""
    session.install("build", "twine")
    shutil.rmtree("dist", ignore_errors=True)
    session.run("python", "-m", "build")
    session.run("twine", "check", "--strict", *glob("dist/*"))
    (built,) = glob("dist/*.whl")
    session.install(f"{built}[test]")
    session.run("pytest", *session.posargs, env={"ANYZMQ_TEST_INSTALLED": "1"})
