"""``aiozmq.rpc.packer._Packer``: packs and unpacks as a service does."""

from __future__ import annotations

from typing import Any

from anyzmq._codec import Codec
from anyzmq.rpc import TranslationTable

__all__ = ["_Packer"]


class _Packer:
    """aiozmq's value packer with a service's translation table. Its extension
    hooks and cache are aiozmq internals and are not offered."""

    def __init__(self, *, translation_table: TranslationTable | None = None) -> None:
        self._codec = Codec(translation_table)

    def packb(self, value: Any) -> bytes:
        return self._codec.packb(value)

    def unpackb(self, data: bytes) -> Any:
        return self._codec.unpackb(data)
