"""The benchmark's control channel: a REP socket served by a thread of each server
process, so that a client can learn when the server has received what it sent,
whatever the peer's own protocol (pipeline and pub-sub have no answers).

Requests are msgpack arrays: ``["expect", n]`` resets the counters and sets the
target, ``["wait"]`` answers once every counter has reached the target,
``["ready"]`` answers whether every counter has seen a probe, ``["rss"]`` answers the
server's resident memory, ``["stop"]`` ends the thread.
"""

from __future__ import annotations

import threading
from typing import Any

import msgpack
import zmq


def resident_bytes() -> int:
    """Resident memory of this process (Linux), in bytes."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


class Counter:
    """Counts messages one receiver got; the hot path is one increment and one compare."""

    __slots__ = ("count", "done", "probed", "target")

    def __init__(self) -> None:
        self.count = 0
        self.target = -1
        self.probed = False
        self.done = threading.Event()

    def add(self) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()

    def reset(self, target: int) -> None:
        self.done.clear()
        self.count = 0
        self.target = target


class ControlServer:
    """Answers control requests for ``counters`` from a thread."""

    def __init__(self, counters: list[Counter]) -> None:
        self.counters = counters
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.socket = context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind("tcp://127.0.0.1:*")
        self.endpoint: str = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            request = msgpack.unpackb(self.socket.recv())
            command = request[0]
            answer: Any = None
            if command == "expect":
                for counter in self.counters:
                    counter.reset(request[1])
            elif command == "wait":
                for counter in self.counters:
                    counter.done.wait()
                answer = [counter.count for counter in self.counters]
            elif command == "ready":
                answer = all(counter.probed for counter in self.counters)
            elif command == "rss":
                answer = resident_bytes()
            self.socket.send(msgpack.packb(answer))
            if command == "stop":
                self.socket.close()
                return


class ControlClient:
    """The client end: blocking calls, made outside the measured sections."""

    def __init__(self, endpoint: str) -> None:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.socket = context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def request(self, *command: Any) -> Any:
        self.socket.send(msgpack.packb(list(command)))
        return msgpack.unpackb(self.socket.recv())

    def close(self) -> None:
        self.socket.close()
