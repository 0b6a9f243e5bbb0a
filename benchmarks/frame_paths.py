"""How to send and receive one large msgpack frame, measured per size: the CPU time
and minor page faults of the sending and of the receiving thread per message
(ZeroMQ's I/O threads and waiting excluded), for each way of packing and sending
and each way of receiving and unpacking.

    python benchmarks/frame_paths.py              # 64 KiB to 32 MiB, 5 rounds
    python benchmarks/frame_paths.py -s 262144 -r 3

A sender process (PUSH) and a receiver process (PULL) over tcp://127.0.0.1; every
message is ``[tag, msgpack((payload,))]`` with a random payload. Batches rotate
through every pair of (send path, receive path), so each path is measured beside
every other one and under the same load; the table gives, per path, the median over
the rounds of its mean per message.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from anyzmq._codec import Codec

SIZES = [64 << 10, 256 << 10, 1 << 20, 4 << 20, 32 << 20]
BATCH_BYTES = 64 << 20  # per batch, whatever the size


def thread_usage() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


def send_paths(sock: zmq.Socket[bytes]) -> dict[str, Callable[[bytes, Any], None]]:
    packer = msgpack.Packer()
    codec = Codec()

    def copied(tag: bytes, value: Any) -> None:  # a plain loop: send_multipart copies
        sock.send_multipart([tag, msgpack.packb(value)])

    def packed_lent(tag: bytes, value: Any) -> None:  # anyzmq before #13's second part
        sock.send(tag, zmq.SNDMORE)
        sock.send(packer.pack(value), 0, copy=False)

    def buffer_lent(tag: bytes, value: Any) -> None:  # Codec.pack_frame
        sock.send(tag, zmq.SNDMORE)
        sock.send(codec.pack_frame(value), 0, copy=False)

    return {"packb+copy": copied, "pack+lend": packed_lent, "pack_frame+lend": buffer_lent}


def recv_paths(sock: zmq.Socket[bytes]) -> dict[str, Callable[[], Any]]:
    def copied() -> Any:  # pyzmq's default copying recv
        return msgpack.unpackb(sock.recv_multipart()[1])

    def frame_bytes() -> Any:  # recv(copy=False) then .bytes: the pump before
        return msgpack.unpackb(sock.recv_multipart(copy=False)[1].bytes)

    def frame_view() -> Any:  # recv(copy=False), unpacked from the frame's buffer
        return msgpack.unpackb(sock.recv_multipart(copy=False)[1].buffer)

    return {"recv()": copied, "frame.bytes": frame_bytes, "frame.buffer": frame_view}


def batches(rounds: int, paths: int) -> list[tuple[int, int]]:
    """(send path, receive path) of every batch: each pair once per round."""
    return [(s, r) for _ in range(rounds) for s in range(paths) for r in range(paths)]


def sender(endpoint: str, size: int, rounds: int) -> None:
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, 4)  # the sender must not run ahead by much
    sock.connect(endpoint)
    paths = list(send_paths(sock).values())
    count = max(2, BATCH_BYTES // size)
    payload = os.urandom(size)
    sums = []
    for send_index, _ in batches(rounds, len(paths)):
        send = paths[send_index]
        cpu, faults = thread_usage()
        for _ in range(count):
            send(b"%d" % send_index, (payload,))
        cpu_after, faults_after = thread_usage()
        sums.append(f"{send_index} {(cpu_after - cpu) / count} {(faults_after - faults) / count}")
    sock.send_multipart([b"end", msgpack.packb(None)])
    # Lent buffers must outlive their sending: wait for ZeroMQ before exiting.
    sock.close(linger=-1)
    zmq.Context.instance().term()
    print("\n".join(sums), flush=True)


def measure(size: int, rounds: int) -> dict[str, dict[str, float]]:
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, 4)
    sock.setsockopt(zmq.MAXMSGSIZE, -1)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    child = subprocess.Popen(
        [sys.executable, __file__, "--send", f"tcp://127.0.0.1:{port}", str(size), str(rounds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    names = list(recv_paths(sock))
    paths = list(recv_paths(sock).values())
    count = max(2, BATCH_BYTES // size)
    per_path: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for _, recv_index in batches(rounds, len(paths)):
        receive = paths[recv_index]
        cpu, faults = thread_usage()
        for _ in range(count):
            (value,) = receive()
            assert len(value) == size
        cpu_after, faults_after = thread_usage()
        per_path[names[recv_index]].append(
            ((cpu_after - cpu) / count, (faults_after - faults) / count)
        )
    assert sock.recv_multipart()[0] == b"end"
    out, _ = child.communicate(timeout=60)
    sock.close()
    send_names = list(send_paths(sock))
    sent: dict[str, list[tuple[float, float]]] = {name: [] for name in send_names}
    for line in out.strip().splitlines():
        index, cpu_s, faults_s = line.split()
        sent[send_names[int(index)]].append((float(cpu_s), float(faults_s)))
    return {
        **{f"send {n}": summary(v, len(names)) for n, v in sent.items()},
        **{f"recv {n}": summary(v, len(send_names)) for n, v in per_path.items()},
    }


def summary(samples: list[tuple[float, float]], per_round: int) -> dict[str, float]:
    """Median over rounds (each round: the mean of its batches) of µs and faults."""
    rounds = [samples[i : i + per_round] for i in range(0, len(samples), per_round)]
    cpu = statistics.median(statistics.fmean(c for c, _ in r) for r in rounds)
    faults = statistics.median(statistics.fmean(f for _, f in r) for r in rounds)
    return {"us": cpu * 1e6, "faults": faults}


def main() -> None:
    if sys.argv[1:2] == ["--send"]:
        sender(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("-s", "--size", type=int, action="append")
    parser.add_argument("-r", "--rounds", type=int, default=5)
    args = parser.parse_args()
    print("| size | path | µs per message (thread CPU) | faults per message |")
    print("|---|---|---|---|")
    for size in args.size or SIZES:
        started = time.perf_counter()
        for name, figures in measure(size, args.rounds).items():
            label = f"{size >> 10:,} KiB"
            print(f"| {label} | {name} | {figures['us']:,.0f} | {figures['faults']:,.0f} |")
        print(f"<!-- {size}: {time.perf_counter() - started:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
