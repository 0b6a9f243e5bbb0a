"""aiozmq's own ``aiozmq/_test_util.py``, loaded unchanged from the downloaded
source distribution named by ``$AIOZMQ_SDIST`` (set by ``run.py``)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any


def _load() -> dict[str, Any]:
    path = Path(os.environ["AIOZMQ_SDIST"], "aiozmq", "_test_util.py")
    spec = importlib.util.spec_from_file_location("aiozmq._sdist_test_util", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: value for name, value in vars(module).items() if not name.startswith("__")}


globals().update(_load())
