"""How long the kernel takes to send 248 KiB over TCP loopback, by where the data
starts in its page: the effect behind issue #13's slow 256 KiB echoes.

    python benchmarks/page_offsets.py                # offsets around a page boundary
    python benchmarks/page_offsets.py 16 2048        # chosen offsets
    BEFORE=100 python benchmarks/page_offsets.py     # after a 100-byte send, not 8 KiB

Each send of the payload follows a send of ``BEFORE`` bytes (default 8,192: what
ZeroMQ writes from its own buffer before it sends the rest of a large frame straight
from the frame's memory). A reader thread drains the socket. Prints the median time
of each send by the payload's offset in its page.
"""

from __future__ import annotations

import mmap
import os
import socket
import statistics
import sys
import threading
import time

PAYLOAD = 253_985  # the part of a 256 KiB echo answer that ZeroMQ sends from the frame
ROUNDS = int(os.environ.get("ROUNDS", "30"))
BEFORE = int(os.environ.get("BEFORE", "8192"))


def main() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def drain() -> None:
        peer, _ = listener.accept()
        sink = bytearray(1 << 21)
        while peer.recv_into(sink):
            pass

    threading.Thread(target=drain, daemon=True).start()
    sender = socket.create_connection(listener.getsockname())
    sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    memory = mmap.mmap(-1, 1 << 20)  # starts on a page boundary
    memory[:] = os.urandom(1 << 20)
    view = memoryview(memory)
    head = bytes(BEFORE)
    offsets = [int(arg) for arg in sys.argv[1:]] or [*range(4032, 4096, 8), *range(0, 129, 8)]
    times: dict[int, list[float]] = {offset: [] for offset in offsets}
    for _ in range(ROUNDS):
        for offset in offsets:
            if head:
                sender.sendall(head)
            started = time.perf_counter()
            sender.sendall(view[offset : offset + PAYLOAD])
            times[offset].append(time.perf_counter() - started)
            time.sleep(0.0005)  # let the reader catch up: each send starts on an idle socket
    for offset in offsets:
        print(f"offset {offset:4d} in its page: {statistics.median(times[offset]) * 1e6:5.0f} us")


if __name__ == "__main__":
    main()
