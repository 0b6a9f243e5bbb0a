"""``anyzmq keygen``: a new CURVE key pair, saved as two certificate files."""

from __future__ import annotations

import argparse
import os
from contextlib import suppress
from pathlib import Path

from .. import rpc
from ._exits import CommandError

__all__ = ["certificate_name", "keygen"]


def certificate_name(text: str) -> str:
    """``NAME`` of ``keygen``: a file name without a directory.

    Raises:
        argparse.ArgumentTypeError: ``text`` is empty, ``.``, ``..`` or holds a
            path separator.
    """
    separators = {"/", os.sep, os.altsep or "/"}
    if text in ("", ".", "..") or any(sep in text for sep in separators) or "\0" in text:
        raise argparse.ArgumentTypeError(f"not a file name (use --dir for the directory): {text!r}")
    return text


def keygen(args: argparse.Namespace) -> None:
    """Write ``NAME.key`` and ``NAME.key_secret`` for a new key pair into
    ``args.dir`` (created if missing); print their paths and the public key.

    Raises:
        CommandError: a file exists and ``args.force`` is false, ``args.dir`` is
            not a directory, a file cannot be written, or libzmq has no CURVE.
    """
    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"not a directory: {folder}")
    paths = (folder / f"{args.name}.key", folder / f"{args.name}.key_secret")
    existing = [path for path in paths if path.exists() or path.is_symlink()]
    if existing and not args.force:
        names = " and ".join(str(path) for path in existing)
        raise CommandError(f"refusing to overwrite {names} (give --force to replace)")
    try:
        keypair = rpc.curve_keypair()
    except RuntimeError as exc:
        raise CommandError(str(exc)) from exc
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path in existing:
            # A new file gets the secret certificate's owner-only mode; an old one keeps its own.
            path.unlink()
        public, secret = keypair.save(folder, args.name)
    except OSError as exc:
        for path in paths:
            with suppress(OSError):
                path.unlink()  # no half pair left behind
        raise CommandError(f"cannot write the key pair into {folder}: {exc}") from exc
    print(f"public certificate: {public}")
    print(f"secret certificate: {secret}")
    print(f"public key: {keypair.public.decode('ascii')}", flush=True)
