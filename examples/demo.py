"""The demo: a server and a client in two processes over loopback, each on its
own backend, printing what happens. Run without arguments it plays both pairings
(asyncio client against a trio server, then trio client against an asyncio server).
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys

import anyio

from anyzmq import rpc


class Calculator(rpc.AttrHandler):
    def __init__(self, backend: str) -> None:
        self.backend = backend

    @rpc.method
    def add(self, a: int, b: int) -> int:
        return a + b

    @rpc.method
    async def slow_echo(self, value: object, delay: float) -> object:
        await anyio.sleep(delay)
        return value

    @rpc.method
    def divide(self, a: float, b: float) -> float:
        return a / b

    @rpc.method
    def where(self) -> str:
        return f"a server on {self.backend}"


async def serve(backend: str) -> None:
    async with rpc.serve_rpc(Calculator(backend), bind="tcp://127.0.0.1:*", timeout=5) as server:
        (endpoint,) = server.transport.bindings()
        print(endpoint, flush=True)  # the parent reads this line to connect
        await anyio.to_thread.run_sync(sys.stdin.read)  # serve until stdin closes


async def call(endpoint: str, backend: str) -> None:
    async with rpc.connect_rpc(connect=endpoint, timeout=5) as client:
        print(f"[{backend} client] connected to {await client.call.where()}")
        print(f"[{backend} client] add(2, 3) -> {await client.call.add(2, 3)}")
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        print(f"[{backend} client] slow_echo(now) -> {await client.call.slow_echo(now, 0.1)}")
        try:
            await client.call.divide(1, 0)
        except ZeroDivisionError as exc:
            print(f"[{backend} client] divide(1, 0) raised {exc!r}")
        with anyio.move_on_after(0.05) as scope:
            await client.call.slow_echo("late", 1)
        print(f"[{backend} client] a call cancelled after 50 ms: {scope.cancelled_caught}")
        try:
            await client.with_timeout(0.05).call.slow_echo("late", 1)
        except TimeoutError:
            print(f"[{backend} client] with_timeout(0.05) raised TimeoutError")
        async with anyio.create_task_group() as tg:
            results: list[int] = []

            async def add_one(i: int) -> None:
                results.append(await client.call.add(i, 1))

            for i in range(100):
                tg.start_soon(add_one, i)
        ok = sorted(results) == list(range(1, 101))
        print(f"[{backend} client] 100 concurrent calls, all answered: {ok}")


def play(client_backend: str, server_backend: str) -> None:
    print(f"--- {client_backend} client, {server_backend} server ---", flush=True)
    command = [sys.executable, __file__, "--serve", "--backend", server_backend]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as server:
        assert server.stdout is not None and server.stdin is not None
        endpoint = server.stdout.readline().strip()
        try:
            anyio.run(call, endpoint, client_backend, backend=client_backend)
        finally:
            server.stdin.close()
    if server.returncode != 0:
        raise SystemExit(f"the server exited with {server.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help="only run a server")
    parser.add_argument("--backend", choices=["asyncio", "trio"], help="one backend only")
    args = parser.parse_args()
    if args.serve:
        anyio.run(serve, args.backend or "asyncio", backend=args.backend or "asyncio")
    elif args.backend:
        play(args.backend, args.backend)
    else:
        play("asyncio", "trio")
        play("trio", "asyncio")


if __name__ == "__main__":
    main()
