"""CURVE on the command line: reading the key options (``--server-key``,
``--keypair``, ``--authorized``) and making the ``curve=`` of a command's service.

The readers are argparse ``type=`` functions: a file that cannot be read or holds
no key is a usage error (exit 2) with argparse's message, never a traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import rpc
from .._curve import _z85_key
from ._exits import CommandError

__all__ = [
    "authorized_keys",
    "client_curve",
    "curve_misuse",
    "keypair_file",
    "server_curve",
    "server_key",
]


def _unreadable(path: str, exc: OSError) -> argparse.ArgumentTypeError:
    why = exc.strerror or str(exc)
    return argparse.ArgumentTypeError(f"cannot read {path}: {why}")


def server_key(text: str) -> bytes:
    """``--server-key``: a Z85 public key, or the public key of a public or secret
    certificate file (an existing file wins over a key spelt the same).

    Raises:
        argparse.ArgumentTypeError: ``text`` is neither a key nor a readable
            certificate.
    """
    if not Path(text).exists():
        try:
            return _z85_key(text, "--server-key")
        except ValueError:
            message = f"{text!r} is neither a 40-character Z85 public key nor a certificate file"
            raise argparse.ArgumentTypeError(message) from None
    try:
        return rpc.load_public_key(text)
    except OSError as exc:
        raise _unreadable(text, exc) from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def keypair_file(text: str) -> rpc.KeyPair:
    """``--keypair``: the key pair of a secret certificate (``NAME.key_secret``).

    Raises:
        argparse.ArgumentTypeError: the file cannot be read, or holds no key pair
            (a public certificate, say).
    """
    try:
        return rpc.KeyPair.load(text)
    except OSError as exc:
        raise _unreadable(text, exc) from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def authorized_keys(text: str) -> frozenset[bytes]:
    """``--authorized``: the public keys of a directory's public certificates
    (``*.key``), or the one key of a certificate file.

    Raises:
        argparse.ArgumentTypeError: the directory or a file cannot be read, holds
            no key, or the directory has no ``*.key`` file (it would admit nobody).
    """
    path = Path(text)
    try:
        if not path.is_dir():
            return frozenset({rpc.load_public_key(path)})
        keys = rpc.load_public_keys(path)
    except OSError as exc:
        raise _unreadable(text, exc) from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not keys:
        raise argparse.ArgumentTypeError(f"no public certificate (*.key) in {text}")
    return keys


def curve_misuse(args: argparse.Namespace) -> str | None:
    """Why the key options of ``args`` make no sense together, or None."""
    keypair = getattr(args, "keypair", None)
    if getattr(args, "authorized", None) and keypair is None:
        return "--authorized needs --keypair (the server's own secret certificate)"
    if hasattr(args, "server_key") and keypair is not None and args.server_key is None:
        return "--keypair needs --server-key (the public key of the server)"
    return None


def client_curve(args: argparse.Namespace) -> rpc.CurveClient | None:
    """The ``curve=`` of a client command: None without ``--server-key``.

    Raises:
        CommandError: libzmq has no CURVE.
    """
    if args.server_key is None:
        return None
    try:
        return rpc.CurveClient(args.server_key, args.keypair)
    except RuntimeError as exc:
        raise CommandError(str(exc)) from exc


def server_curve(args: argparse.Namespace) -> rpc.CurveServer | None:
    """The ``curve=`` of a server command: None without ``--keypair``; every
    client that knows the server's key is admitted without ``--authorized``.

    Raises:
        CommandError: libzmq has no CURVE.
    """
    if args.keypair is None:
        return None
    authorized = frozenset[bytes]().union(*args.authorized) if args.authorized else None
    try:
        return rpc.CurveServer(args.keypair, authorized)
    except RuntimeError as exc:
        raise CommandError(str(exc)) from exc
