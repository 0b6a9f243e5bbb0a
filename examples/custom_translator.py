"""Value translators: send instances of your own class through RPC."""

from __future__ import annotations

from typing import Any

import msgpack
from _runner import run_example

from anyzmq import rpc


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Point):
            return (self.x, self.y) == (other.x, other.y)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Point({self.x}, {self.y})"


def pack_point(point: Point) -> bytes:
    data: bytes = msgpack.packb((point.x, point.y))
    return data


def unpack_point(data: bytes) -> Point:
    return Point(*msgpack.unpackb(data))


translation_table: dict[int, Any] = {0: (Point, pack_point, unpack_point)}


class ServerHandler(rpc.AttrHandler):
    @rpc.method
    def remote(self, val: Point) -> Point:
        return val


async def main() -> None:
    async with rpc.serve_rpc(
        ServerHandler(), bind="tcp://127.0.0.1:*", translation_table=translation_table
    ) as server:
        (endpoint,) = server.transport.bindings()
        async with rpc.connect_rpc(connect=endpoint, translation_table=translation_table) as client:
            ret = await client.call.remote(Point(1, 2))
            assert ret == Point(1, 2)
            print(f"remote(Point(1, 2)) = {ret!r}")


if __name__ == "__main__":
    run_example(main, __doc__)
