"""anyzmq: remote procedure calls over ZeroMQ for trio and asyncio.

The API lives in :mod:`anyzmq.rpc`: ``from anyzmq import rpc``.
"""

from importlib.metadata import version as _version

from . import rpc as rpc

__version__: str = _version("anyzmq")

__all__ = ["__version__", "rpc"]
