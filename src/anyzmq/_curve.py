"""CURVE keys, certificate files, and the ``curve=`` settings of servers and clients.

A :class:`KeyPair` is two Z85-encoded keys (40 bytes each). Certificate files are
in the format of pyzmq's ``zmq.auth`` (and czmq's): a public certificate
``NAME.key`` holds the public key, a secret certificate ``NAME.key_secret`` holds
both, each as ``public-key = "..."``/``secret-key = "..."`` lines of a ``curve``
section, so keys made with either tool work with the other.

:class:`CurveServer` makes a server a CURVE server that admits only the clients
its policy lists; its ZAP handler is in ``_zap.py``. :class:`CurveClient` gives a
client the server's public key and its own key pair. Both set their socket
options when the service is entered, before it binds or connects.
"""

from __future__ import annotations

import datetime
import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

import anyio
import zmq
from zmq.utils import z85

from ._backend import Backend
from ._connections import ConnectionWatcher
from ._zap import ZapMembership, new_domain

__all__ = [
    "CurveClient",
    "CurveServer",
    "CurveServerSession",
    "KeyPair",
    "check_curve",
    "check_curve_options",
    "curve_keypair",
    "load_public_key",
    "load_public_keys",
]

#: Characters of a Z85-encoded CURVE key.
_KEY_LENGTH: Final = 40

_NO_CURVE = (
    "this libzmq was built without CURVE (zmq.has('curve') is False): install a pyzmq "
    "wheel from PyPI (it bundles libzmq with libsodium), or build libzmq with libsodium"
)


def _require_curve() -> None:
    if not zmq.has("curve"):
        raise RuntimeError(_NO_CURVE)


def _z85_key(key: object, what: str) -> bytes:
    """``key`` as Z85 bytes.

    Raises:
        TypeError: ``key`` is neither bytes nor str.
        ValueError: ``key`` is not a 40-character Z85 key.
    """
    if isinstance(key, str):
        key = key.encode("ascii", "replace")
    if not isinstance(key, bytes):
        raise TypeError(f"{what} must be a Z85 key (bytes or str), got {type(key).__name__}")
    try:
        valid = len(key) == _KEY_LENGTH and len(z85.decode(key)) == 32
    except (ValueError, KeyError, IndexError, OverflowError):
        valid = False
    if not valid:
        raise ValueError(f"{what} must be a 40-character Z85 key, got {len(key)} bytes")
    return key


@final
@dataclass(frozen=True, repr=False)
class KeyPair:
    """A CURVE key pair, both keys Z85-encoded (40 bytes each).

    Raises (at construction):
        TypeError, ValueError: a key is not a 40-character Z85 key.
    """

    public: bytes
    secret: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "public", _z85_key(self.public, "public"))
        object.__setattr__(self, "secret", _z85_key(self.secret, "secret"))

    def __repr__(self) -> str:
        # The secret key stays out of logs and tracebacks.
        return f"KeyPair(public={self.public!r}, secret=...)"

    def save(self, directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
        """Write ``NAME.key`` (the public certificate) and ``NAME.key_secret`` (both
        keys, readable by the owner only) into ``directory``; return their paths.

        Raises:
            OSError: a file cannot be written.
        """
        folder = Path(directory)
        public_path = folder / f"{name}.key"
        secret_path = folder / f"{name}.key_secret"
        _write_certificate(public_path, "Public", self.public, None)
        _write_certificate(secret_path, "**Secret**", self.public, self.secret)
        return public_path, secret_path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyPair:
        """The key pair of a secret certificate file (``NAME.key_secret``).

        Raises:
            OSError: the file cannot be read.
            ValueError: the file holds no valid public and secret key.
        """
        public, secret = _read_certificate(Path(path))
        if secret is None:
            raise ValueError(f"{path} holds no secret key (is it a public certificate?)")
        return cls(public, secret)


def curve_keypair() -> KeyPair:
    """A new random CURVE key pair.

    Raises:
        RuntimeError: libzmq was built without CURVE.
    """
    _require_curve()
    public, secret = zmq.curve_keypair()
    return KeyPair(public, secret)


def load_public_key(path: str | os.PathLike[str]) -> bytes:
    """The public key (Z85 bytes) of a public or secret certificate file.

    Raises:
        OSError: the file cannot be read.
        ValueError: the file holds no valid public key.
    """
    public, _ = _read_certificate(Path(path))
    return public


def load_public_keys(directory: str | os.PathLike[str]) -> frozenset[bytes]:
    """The public keys of every public certificate (``*.key``) in ``directory``.

    Raises:
        OSError: the directory or a file cannot be read.
        ValueError: a certificate holds no valid public key.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a directory of certificates: {folder}")
    return frozenset(load_public_key(path) for path in sorted(folder.glob("*.key")))


def _write_certificate(path: Path, kind: str, public: bytes, secret: bytes | None) -> None:
    lines = [
        f"#   ****  Generated on {datetime.datetime.now():%Y-%m-%d %H:%M:%S} by anyzmq  ****",
        f"#   ZeroMQ CURVE {kind} Certificate",
        "#   Keep the secret certificate private; share only the public one."
        if secret is not None
        else "#   Give this file to the peers that must know this key.",
        "",
        "metadata",
        "curve",
        f'    public-key = "{public.decode("ascii")}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode("ascii")}"')
    text = "\n".join(lines) + "\n"
    mode = 0o600 if secret is not None else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    if hasattr(os, "fchmod"):  # an existing file keeps its mode through open()
        os.fchmod(fd, mode)
    with open(fd, "w", encoding="ascii") as file:
        file.write(text)


def _read_certificate(path: Path) -> tuple[bytes, bytes | None]:
    """(public, secret or None) from a certificate file.

    Raises:
        OSError: the file cannot be read.
        ValueError: no valid public key, or an invalid secret key.
    """
    public: bytes | None = None
    secret: bytes | None = None
    for raw in path.read_bytes().splitlines():
        line = raw.strip()
        if line.startswith(b"#") or b"=" not in line:
            continue
        name, value = (part.strip() for part in line.split(b"=", 1))
        value = value.strip(b"\"'")
        if name == b"public-key":
            public = value
        elif name == b"secret-key":
            secret = value
    if public is None:
        raise ValueError(f"{path} holds no public key")
    try:
        return _z85_key(public, "public-key"), (
            None if secret is None else _z85_key(secret, "secret-key")
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _authorized_keys(
    authorized: Iterable[bytes | str] | str | os.PathLike[str] | None,
) -> frozenset[bytes] | None:
    if authorized is None:
        return None
    if isinstance(authorized, str | os.PathLike):
        return load_public_keys(authorized)
    if isinstance(authorized, bytes):  # type: ignore[unreachable]
        raise TypeError("authorized must be an iterable of keys or a directory, not one key")
    return frozenset(_z85_key(key, "an authorized key") for key in authorized)


@final
class CurveServer:
    """``curve=`` of a server: encrypt every connection with CURVE and admit only
    the clients that ``authorized`` lists.

    Args:
        keypair: the server's key pair; clients need its public key.
        authorized: the client public keys admitted (Z85 bytes or str), or a
            directory whose public certificates (``*.key``) list them. Read here,
            once: later changes to the directory are not seen (enter a new server
            to change the list). None admits every client that knows the
            server's public key.

    Raises:
        RuntimeError: libzmq was built without CURVE.
        TypeError, ValueError: a key is not a Z85 key.
        OSError, ValueError: the directory or a certificate in it cannot be read.
    """

    __slots__ = ("_authorized", "_keypair")

    def __init__(
        self,
        keypair: KeyPair,
        authorized: Iterable[bytes | str] | str | os.PathLike[str] | None = None,
    ) -> None:
        _require_curve()
        if not isinstance(keypair, KeyPair):
            raise TypeError(f"keypair must be a KeyPair, got {type(keypair).__name__}")
        self._keypair = keypair
        self._authorized = _authorized_keys(authorized)

    @property
    def public_key(self) -> bytes:
        """The server's public key, for its clients."""
        return self._keypair.public

    @property
    def authorized(self) -> frozenset[bytes] | None:
        """The client keys admitted, or None when any client is."""
        return self._authorized

    def __repr__(self) -> str:
        admitted = "any client" if self._authorized is None else f"{len(self._authorized)} keys"
        return f"CurveServer(public={self._keypair.public!r}, authorized={admitted})"

    def _attach(self, sock: zmq.Socket[bytes], backend: Backend, owner: str) -> CurveServerSession:
        """Register a ZAP domain for ``sock`` with the context's handler, then make
        ``sock`` a CURVE server of that domain; the caller starts and closes the
        session returned.

        Raises:
            OSError: ZeroMQ refused an option or the handler's endpoint.
        """
        domain = new_domain()
        membership = ZapMembership(sock, backend, domain, self._authorized, owner)
        try:
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            sock.setsockopt(zmq.CURVE_SECRETKEY, self._keypair.secret)
            sock.setsockopt(zmq.ZAP_DOMAIN, domain)
            # Without a handler answering, libzmq refuses rather than admits.
            sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
        except zmq.ZMQError as exc:
            membership.close()
            raise OSError(exc.errno, exc.strerror) from exc
        return CurveServerSession(sock, backend, membership)


_SERVER_SIDE_FAILURES: Final = {
    int(zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH): "a client without CURVE",
    int(zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC): "a client with the wrong server key",
}


@final
class CurveServerSession:
    """A CURVE server's share of the ZAP handler, and the monitor that logs the
    clients refused before ZAP is asked (without CURVE, with the wrong server key)."""

    __slots__ = ("_membership", "_watcher")

    def __init__(
        self, sock: zmq.Socket[bytes], backend: Backend, membership: ZapMembership
    ) -> None:
        self._membership = membership
        self._watcher = ConnectionWatcher(sock, backend, _ignore, on_refused=self._on_handshake)
        try:
            self._watcher.start()  # before the server binds
        except BaseException:
            membership.close()
            raise

    @property
    def peer_refusals(self) -> int:
        """How many refusals were reported (logged or not)."""
        return self._membership.refusals

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Start the session's tasks in the server's task group."""
        self._membership.start(task_group)
        task_group.start_soon(self._watcher.run, name="CURVE handshakes")

    def close(self) -> None:
        """Leave the ZAP handler (idempotent); call it once the tasks have ended."""
        self._watcher.close()
        self._membership.close()

    def _on_handshake(self, endpoint: str, event: int, value: int) -> None:
        # Failed authorisations are reported by the ZAP handler, with the key.
        if event == _FAILED_PROTOCOL:
            who = _SERVER_SIDE_FAILURES.get(value, f"a client (protocol error {value:#x})")
            self._membership.refused(f"{who} at {endpoint} failed the CURVE handshake")
        elif event == _FAILED_NO_DETAIL:
            why = "no ZAP handler to ask" if value == errno.EFAULT else os.strerror(value)
            self._membership.refused(f"a client at {endpoint} failed the CURVE handshake: {why}")


_FAILED_PROTOCOL: Final = int(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
_FAILED_NO_DETAIL: Final = int(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


def _ignore(endpoint: str) -> None:
    del endpoint


def check_curve(curve: object, expected: type[CurveServer] | type[CurveClient]) -> None:
    """Check a ``curve=`` argument.

    Raises:
        TypeError: ``curve`` is neither None nor an ``expected``.
    """
    if curve is not None and not isinstance(curve, expected):
        raise TypeError(f"curve must be an rpc.{expected.__name__} or None, got {curve!r}")


#: Socket options that ``curve=`` sets, and that ``socket_options`` must then leave alone
#: (``ZAP_ENFORCE_DOMAIN=0`` would make a server admit anyone while no handler answers).
_SECURITY_OPTIONS: Final = frozenset(
    int(option)
    for option in (
        zmq.CURVE_SERVER,
        zmq.CURVE_SECRETKEY,
        zmq.CURVE_PUBLICKEY,
        zmq.CURVE_SERVERKEY,
        zmq.ZAP_DOMAIN,
        zmq.ZAP_ENFORCE_DOMAIN,
        zmq.PLAIN_SERVER,
        zmq.PLAIN_USERNAME,
        zmq.PLAIN_PASSWORD,
    )
)


def check_curve_options(curve: object, options: Iterable[int]) -> None:
    """Refuse ``socket_options`` that would change what ``curve=`` sets.

    Raises:
        ValueError: ``curve`` is given and an option is a security option.
    """
    if curve is None:
        return
    clashing = sorted(
        zmq.SocketOption(option).name for option in options if option in _SECURITY_OPTIONS
    )
    if clashing:
        raise ValueError(
            f"socket_options must not set {', '.join(clashing)} when curve= is given: "
            "curve= sets the socket's security"
        )


@final
class CurveClient:
    """``curve=`` of a client: talk CURVE to a server whose public key is
    ``server_key``, as ``keypair`` (a new random key pair, made here, when None).

    Raises:
        RuntimeError: libzmq was built without CURVE.
        TypeError, ValueError: ``server_key`` is not a Z85 key, or ``keypair`` is
            not a :class:`KeyPair`.
    """

    __slots__ = ("_keypair", "_server_key")

    def __init__(self, server_key: bytes | str, keypair: KeyPair | None = None) -> None:
        _require_curve()
        self._server_key = _z85_key(server_key, "server_key")
        if keypair is None:
            keypair = curve_keypair()
        elif not isinstance(keypair, KeyPair):
            raise TypeError(f"keypair must be a KeyPair or None, got {type(keypair).__name__}")
        self._keypair = keypair

    @property
    def server_key(self) -> bytes:
        """The public key the server must have."""
        return self._server_key

    @property
    def public_key(self) -> bytes:
        """The client's public key, which the server's ``authorized`` must list."""
        return self._keypair.public

    def __repr__(self) -> str:
        return f"CurveClient(server_key={self._server_key!r}, public={self._keypair.public!r})"

    def _attach(self, sock: zmq.Socket[bytes], backend: Backend, owner: str) -> None:
        """Make ``sock`` a CURVE client of the server.

        Raises:
            OSError: ZeroMQ refused an option.
        """
        try:
            sock.setsockopt(zmq.CURVE_SERVERKEY, self._server_key)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, self._keypair.public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, self._keypair.secret)
        except zmq.ZMQError as exc:
            raise OSError(exc.errno, exc.strerror) from exc
