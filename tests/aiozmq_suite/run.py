"""Run aiozmq 1.0's own rpc tests against anyzmq, on this Python.

    python tests/aiozmq_suite/run.py [pytest arguments]

Downloads aiozmq 1.0.0's source distribution from the package index (pip),
copies its six rpc test files unchanged into a scratch folder, and runs them
with pytest in a process of their own: ``adapter/`` first on ``sys.path`` (its
``aiozmq`` shadows an installed one), ``expectations.py`` as a plugin, and a
pytest configuration of their own. Exits with pytest's status.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADAPTER = HERE / "adapter"
RELEASE = "aiozmq-1.0.0"
TEST_FILES = [
    "rpc_test.py",
    "rpc_pipeline_test.py",
    "rpc_pubsub_test.py",
    "rpc_packer_test.py",
    "rpc_namespace_test.py",
    "rpc_translators_test.py",
]
# Native tracebacks: pytest's own formatting parses sources, which trips a
# CPython 3.11.7 parser bug (SystemError: AST constructor recursion depth mismatch)
# on one of these tests.
PYTEST_INI = """\
[pytest]
addopts = -ra --tb=native -p expectations -p no:cacheprovider
xfail_strict = true
timeout = 60
"""


def download(into: Path) -> Path:
    """aiozmq 1.0.0's source distribution, unpacked under ``into``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{RELEASE.replace('-', '==')}",
            "--dest",
            str(into),
        ],
        check=True,
    )
    with tarfile.open(into / f"{RELEASE}.tar.gz") as archive:
        archive.extractall(into, filter="data")
    return into / RELEASE


def main(pytest_args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="aiozmq-suite-") as scratch:
        sdist = download(Path(scratch))
        tests = Path(scratch, "tests")
        tests.mkdir()
        for name in TEST_FILES:
            shutil.copyfile(sdist / "tests" / name, tests / name)
        (tests / "pytest.ini").write_text(PYTEST_INI)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ADAPTER), str(HERE)]),
            "AIOZMQ_SDIST": str(sdist),
        }
        command = [sys.executable, "-m", "pytest", *TEST_FILES, *pytest_args]
        return subprocess.run(command, cwd=tests, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
