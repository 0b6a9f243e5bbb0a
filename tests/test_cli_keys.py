"""CURVE on the command line: ``anyzmq keygen``, and the key options of the client
commands (``--server-key``, ``--keypair``) and of the server commands
(``--keypair``, ``--authorized``), each process run as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq.auth

from anyzmq import rpc
from anyzmq._cli._parser import build_parser, glue_key_values

from .support import LOOPBACK
from .test_cli import PATIENCE, ROOT, Done, loop, run, run_sync, running, server

pytestmark = pytest.mark.anyio

__all__ = ["loop"]  # the fixture, shared with test_cli


@dataclass(frozen=True)
class Keys:
    """Certificates on disk: the server's, a client the server lists (alice) and
    one it does not (mallory)."""

    server_public: str
    server_secret: str
    server_key: str  # the Z85 text
    clients: str  # a directory holding alice.key
    alice: str  # alice's secret certificate
    mallory: str  # mallory's secret certificate
    mallory_public: str


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    server = rpc.curve_keypair()
    server_public, server_secret = server.save(tmp_path, "server")
    (tmp_path / "clients").mkdir()
    _, alice = rpc.curve_keypair().save(tmp_path / "clients", "alice")
    mallory_public, mallory = rpc.curve_keypair().save(tmp_path, "mallory")
    return Keys(
        server_public=str(server_public),
        server_secret=str(server_secret),
        server_key=server.public.decode("ascii"),
        clients=str(tmp_path / "clients"),
        alice=str(alice),
        mallory=str(mallory),
        mallory_public=str(mallory_public),
    )


def keygen_lines(done: Done) -> tuple[Path, Path, bytes]:
    """The public and secret certificates and the public key that keygen printed."""
    assert done.code == 0, done
    public, secret, key = done.out.splitlines()
    assert public.startswith("public certificate: ")
    assert secret.startswith("secret certificate: ")
    assert key.startswith("public key: ")
    return (
        Path(public.removeprefix("public certificate: ")),
        Path(secret.removeprefix("secret certificate: ")),
        key.removeprefix("public key: ").encode("ascii"),
    )


def test_keygen_writes_certificates_that_load_and_refuses_to_overwrite(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "keys"  # missing: created
    public, secret, key = keygen_lines(run_sync("keygen", "server", "--dir", str(folder)))
    assert (public, secret) == (folder / "server.key", folder / "server.key_secret")
    pair = rpc.KeyPair.load(secret)
    assert pair.public == key == rpc.load_public_key(public)
    assert zmq.auth.load_certificate(public) == (key, None)
    assert zmq.auth.load_certificate(secret) == (key, pair.secret)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600

    before = (public.read_bytes(), secret.read_bytes())
    done = run_sync("keygen", "server", "--dir", str(folder))
    assert done == Done(
        1,
        "",
        f"anyzmq keygen: refusing to overwrite {public} and {secret} (give --force to replace)\n",
    )
    assert (public.read_bytes(), secret.read_bytes()) == before
    secret.unlink()  # one of the two is enough to refuse
    done = run_sync("keygen", "server", "--dir", str(folder))
    assert (done.code, done.err) == (
        1,
        f"anyzmq keygen: refusing to overwrite {public} (give --force to replace)\n",
    )

    secret.write_text("old")
    secret.chmod(0o644)
    public, secret, new_key = keygen_lines(
        run_sync("keygen", "server", "--dir", str(folder), "--force")
    )
    assert new_key != key
    assert rpc.KeyPair.load(secret).public == new_key == rpc.load_public_key(public)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600  # made anew, not rewritten

    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for where in (a_file, a_file / "below"):
        done = run_sync("keygen", "x", "--dir", str(where))
        assert done.code == 1, done
        assert done.err.startswith("anyzmq keygen: ")
        assert "Traceback" not in done.err
        assert not list(tmp_path.glob("**/x.key*"))


def test_bad_key_arguments_are_usage_errors(tmp_path: Path, keys: Keys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    not_a_certificate = tmp_path / "notes.txt"
    not_a_certificate.write_text("hello\n")
    client = ("call", "tcp://127.0.0.1:1", "m")
    serve = ("serve", "tests.cli_app:App", "--bind", LOOPBACK)
    for argv, message in (
        ((*client, "--server-key", "nope"), "'nope' is neither a 40-character Z85 public key"),
        ((*client, "--server-key", "x" * 39 + "\x7f"), "neither a 40-character Z85 public key"),
        ((*client, "--server-key", str(not_a_certificate)), "holds no public key"),
        ((*client, "--server-key", str(empty)), "cannot read"),
        ((*client, "--server-key", keys.server_key, "--keypair", keys.server_public),
         "holds no secret key (is it a public certificate?)"),
        ((*client, "--server-key", keys.server_key, "--keypair", str(tmp_path / "missing")),
         "cannot read"),
        ((*client, "--keypair", keys.alice), "--keypair needs --server-key"),
        (("publish", "tcp://127.0.0.1:1", "t", "m", "--keypair", keys.alice),
         "--keypair needs --server-key"),
        ((*serve, "--authorized", keys.clients), "--authorized needs --keypair"),
        ((*serve, "--keypair", keys.server_secret, "--authorized", str(empty)),
         "no public certificate (*.key) in"),
        (("listen", "--bind", LOOPBACK, "--keypair", keys.server_secret, "--authorized",
          str(not_a_certificate)), "holds no public key"),
        (("listen", "--bind", LOOPBACK, "--keypair", str(not_a_certificate)),
         "holds no public key"),
        (("keygen", "a/b"), "not a file name"),
        (("keygen", ".."), "not a file name"),
    ):  # fmt: skip
        done = run_sync(*argv)
        assert done.code == 2, (argv, done)
        assert done.err.startswith("usage:"), (argv, done)
        assert message in done.err, (argv, done)
        assert "Traceback" not in done.err


def test_without_curve_in_libzmq_keys_fail_with_a_message(tmp_path: Path, keys: Keys) -> None:
    for argv in (
        ["keygen", "x", "--dir", str(tmp_path / "out")],
        ["call", "tcp://127.0.0.1:1", "m", "--server-key", keys.server_key],
        ["listen", "--bind", LOOPBACK, "--keypair", keys.server_secret],
    ):
        no_curve = (
            "import sys, zmq; zmq.has = lambda feature: feature != 'curve'; "
            f"from anyzmq._cli import main; sys.exit(main({argv!r}))"
        )
        done = subprocess.run(
            [sys.executable, "-c", no_curve], check=False, capture_output=True, timeout=PATIENCE
        )
        err = done.stderr.decode()
        assert done.returncode == 1, (argv, err)
        assert err.startswith(f"anyzmq {argv[0]}: this libzmq was built without CURVE"), err
    assert not (tmp_path / "out").exists()


async def test_serve_with_authorized_clients_and_call_and_inspect_over_curve(
    loop: str, keys: Keys
) -> None:
    curve = ("--keypair", keys.server_secret, "--authorized", keys.clients)
    async with server(loop, *curve) as address:
        alice = ("--keypair", keys.alice, "--backend", loop)
        done = await run(
            "call", address, "add", "1", "2", "--server-key", keys.server_public, *alice
        )
        assert done == Done(0, "3\n", "")
        done = await run("inspect", address, "--server-key", keys.server_key, *alice)
        assert done.code == 0, done
        assert done.out.startswith("add(a: int, b: int = 10) -> int ")

        # Refused clients exit 1 at once rather than 3 after --timeout.
        mallory = ("--keypair", keys.mallory, "--backend", loop)
        done = await run("call", address, "add", "1", "--server-key", keys.server_key, *mallory)
        assert (done.code, done.out) == (1, ""), done
        assert done.err.startswith(f"anyzmq call: {address} refused the connection: ")
        assert "authentication failed" in done.err
        assert "--server-key" not in done.err
        done = await run("inspect", address, "--backend", loop)  # no CURVE
        assert done.code == 1, done
        assert "authentication failed" in done.err
        assert "give its public key with --server-key" in done.err


async def test_listen_with_curve_and_publish_and_notify_to_it(loop: str, keys: Keys) -> None:
    # Without --authorized, any client that knows the key: here one with a new key pair.
    listen = ("listen", "--bind", LOOPBACK, "--keypair", keys.server_secret, "--backend", loop)
    async with running(*listen) as listener:
        address = await listener.line(stderr=True)
        done = await run(
            "publish", address, "alerts", "log.write", "disk full",
            "--server-key", keys.server_public, "--backend", loop,
        )  # fmt: skip
        assert done == Done(0, "", "")
        assert json.loads(await listener.line()) == {
            "topic": "alerts",
            "method": "log.write",
            "args": ["disk full"],
            "kwargs": {},
        }
        done = await run("publish", address, "alerts", "m", "--backend", loop)  # no CURVE
        assert done.code == 1, done
        assert done.err.startswith(f"anyzmq publish: {address} refused the connection: ")
        assert "authentication failed" in done.err
        assert await listener.stop() == 0

    # --authorized twice: a certificate file and a directory; both lists admitted.
    pipeline = (*listen, "--pipeline", "--authorized", keys.mallory_public)
    async with running(*pipeline, "--authorized", keys.clients) as listener:
        address = await listener.line(stderr=True)
        for number, keypair in enumerate((keys.mallory, keys.alice)):
            done = await run(
                "notify", address, "jobs.run", str(number), "--server-key", keys.server_key,
                "--keypair", keypair, "--backend", loop,
            )  # fmt: skip
            assert done == Done(0, "", "")
            assert json.loads(await listener.line())["args"] == [number]
        done = await run(  # a new key pair for the run, listed nowhere
            "notify", address, "jobs.run", "2", "--server-key", keys.server_key, "--backend", loop
        )
        assert done.code == 1, done
        assert done.err.startswith(f"anyzmq notify: {address} refused the connection: ")
        assert "authentication failed" in done.err
        assert await listener.stop() == 0


def test_the_documented_session_runs(tmp_path: Path) -> None:
    """The CURVE session of ``docs/cli.md``, pasted into ``sh`` as it is (on a
    socket file rather than port 5555, which may be taken)."""
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    found = re.search(r"```sh\n(.*?)```", page[page.index("## Keys and CURVE") :], re.DOTALL)
    assert found is not None
    script = found.group(1).replace("tcp://127.0.0.1:5555", f"ipc://{tmp_path}/greeter")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    process = subprocess.Popen(
        ["sh", "-c", script + "wait\n"],
        cwd=tmp_path,
        env={**os.environ, "PATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the background server is in its group
    )
    try:
        out, err = process.communicate(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    lines = out.decode().splitlines()
    assert lines[-1] == '"hello, alice"', (lines, err)
    assert lines.count(f"ipc://{tmp_path}/greeter") == 1
    assert "public certificate: keys/clients/alice.key" in lines
    assert rpc.KeyPair.load(tmp_path / "keys" / "server.key_secret")
    assert "anyzmq call: " in err.decode()
    assert "authentication failed" in err.decode()
    assert "Traceback" not in err.decode()


def test_a_server_key_that_starts_with_a_dash_is_read_as_a_value() -> None:
    # One Z85 key in 85 starts with "-", which argparse would take for an option.
    key = next(k.public for k in iter(rpc.curve_keypair, None) if k.public.startswith(b"-"))
    argv = ["inspect", "tcp://127.0.0.1:5555", "--server-key", key.decode()]
    args = build_parser().parse_args(glue_key_values(argv))
    assert args.server_key == key
    # After "--" every token is an argument, and stays as it was.
    tail = ["call", "tcp://127.0.0.1:5555", "echo", "--", "--server-key", "-x"]
    assert glue_key_values(tail) == tail
