"""The ``anyzmq`` command line (also ``python -m anyzmq``). The library never
imports this package; it uses only the library's API and private services."""

from ._main import main as main

__all__ = ["main"]
