"""CURVE on the command line: ``anyzmq keygen``, and the key options of the client
commands (``--server-key``, ``--keypair``) and of the server commands
(``--keypair``, ``--authorized``), each process run as a user runs it."""

from __future__ import annotations

import stat
from pathlib import Path

import zmq.auth

from anyzmq import rpc

from .test_cli import Done, run_sync


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
