"""CURVE: an encrypted server that admits only the clients whose keys it lists."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path

from _runner import run_example

from anyzmq import rpc


class Handler(rpc.AttrHandler):
    @rpc.method
    def remote(self, arg1: int, arg2: int) -> int:
        return arg1 + arg2

    @rpc.method
    def whoami(self) -> bytes | None:
        # On a CURVE server, the caller's public key (Z85).
        return rpc.current_call().peer_key


async def main() -> None:
    # The server logs each refusal (rate-limited) on anyzmq's logger.
    logging.basicConfig(format="server log: %(message)s", stream=sys.stdout)
    with tempfile.TemporaryDirectory() as folder:
        # Usually made once, beforehand: each side keeps its secret certificate
        # (NAME.key_secret) and gives out its public one (NAME.key).
        keys = Path(folder)
        rpc.curve_keypair().save(keys, "server")
        alice_public, _ = rpc.curve_keypair().save(keys, "alice")
        # The server's directory of admitted clients holds their public certificates.
        (keys / "authorized").mkdir()
        shutil.copy(alice_public, keys / "authorized")

        # The server: its key pair, and a directory of the client keys it admits.
        server_curve = rpc.CurveServer(
            rpc.KeyPair.load(keys / "server.key_secret"), authorized=keys / "authorized"
        )
        async with rpc.serve_rpc(Handler(), bind="tcp://127.0.0.1:*", curve=server_curve) as server:
            (endpoint,) = server.transport.bindings()
            server_key = rpc.load_public_key(keys / "server.key")

            # Alice is listed: her calls are encrypted and answered.
            alice_keys = rpc.KeyPair.load(keys / "alice.key_secret")
            alice = rpc.CurveClient(server_key, alice_keys)
            async with rpc.connect_rpc(connect=endpoint, curve=alice, timeout=10) as client:
                ret = await client.call.remote(1, 2)
                print(f"alice: remote(1, 2) = {ret}")
                seen = await client.call.whoami()
                print(f"alice: the server sees her key: {seen == alice_keys.public}")

            # A client with a key of its own that the server does not list is
            # refused in the handshake: its call fails at once, without waiting
            # for the timeout.
            stranger = rpc.CurveClient(server_key)
            async with rpc.connect_rpc(connect=endpoint, curve=stranger, timeout=10) as client:
                try:
                    await client.call.remote(1, 2)
                except rpc.AuthenticationError as exc:
                    print(f"stranger: {type(exc).__name__}: {exc.reason}")


if __name__ == "__main__":
    run_example(main, __doc__)
