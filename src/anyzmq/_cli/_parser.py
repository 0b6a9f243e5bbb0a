"""The ``anyzmq`` command line's arguments: one subcommand per job, each with
examples in its ``--help``."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any, Final

from .. import __version__
from ._keygen import certificate_name, keygen
from ._keys import authorized_keys, keypair_file, server_key
from ._proxy import KINDS, proxy
from ._runners import listen, serve
from ._senders import call, inspect, notify, publish
from ._values import read_keyword, read_value

__all__ = ["BACKENDS", "DEFAULT_TIMEOUT", "build_parser", "glue_key_values"]

#: The event loops a command can run on (``--backend``).
BACKENDS: Final = ("asyncio", "trio")
#: Seconds ``call``, ``inspect``, ``notify`` and ``publish`` wait by default.
DEFAULT_TIMEOUT: Final = 10.0

_VALUES = (
    "Each ARG and each VALUE is read as JSON when it parses as JSON, else taken as a\n"
    'string: 1 is a number, \'"1"\' the string "1", hello the string "hello".\n'
    "Arguments that start with '-' (other than numbers) go after --, with every\n"
    "option before ENDPOINT: anyzmq call --kw a=1 EP echo -- -x\n"
)

_EXAMPLES: Final = {
    "call": """\
examples:
  anyzmq call tcp://127.0.0.1:5555 add 1 2
  anyzmq call tcp://127.0.0.1:5555 ns.echo hello --kw flag=true --timeout 2
  anyzmq call tcp://127.0.0.1:5555 store '{"a": [1, 2]}'
  anyzmq call tcp://127.0.0.1:5555 add 1 2 --server-key keys/server.key \\
      --keypair keys/clients/alice.key_secret

The result is printed as JSON on stdout. A remote error prints "Type: message" on
stderr and exits 1, as does a server that refuses this client in the CURVE
handshake ("authentication failed"); no answer within --timeout exits 3; a wrong
command line exits 2.
""",
    "inspect": """\
examples:
  anyzmq inspect tcp://127.0.0.1:5555
  anyzmq inspect tcp://127.0.0.1:5555 --json
  anyzmq inspect tcp://127.0.0.1:5555 --server-key keys/server.key

Lists every method the server exposes: its dotted name and signature, then the
first line of its docstring (--json: the whole docstring).
""",
    "serve": """\
examples:
  anyzmq serve myapp.handlers:Handler --bind tcp://127.0.0.1:5555
  anyzmq serve myapp.handlers:handler --bind 'tcp://127.0.0.1:*' --backend trio
  anyzmq serve myapp.handlers:Handler --connect tcp://proxy:5556
  anyzmq serve myapp.handlers:Handler --bind tcp://0.0.0.0:5555 \\
      --keypair keys/server.key_secret --authorized keys/clients

ATTR is a handler object or a class made with no arguments; the current directory
is importable. Once serving, prints one line per --bind or --connect, in order,
bound endpoints with their real port. SIGINT or SIGTERM stops it (exit 0).
""",
    "notify": """\
examples:
  anyzmq notify tcp://127.0.0.1:5557 log.write "disk full" --kw level=3
  anyzmq notify tcp://127.0.0.1:5557 jobs.run 7 --server-key keys/worker.key

Exits 0 once the call has gone to a connected server, 3 when none took it
within --timeout, 1 when every server refuses this client in the CURVE handshake
("authentication failed").
""",
    "publish": """\
examples:
  anyzmq publish tcp://127.0.0.1:5558 alerts log.write "disk full"
  anyzmq publish tcp://127.0.0.1:5558 alerts ping --server-key keys/listener.key

Waits for a subscriber of TOPIC (publish-subscribe drops what nobody subscribed
to), publishes, and exits 0 once the call has left; 3 when no subscriber came
within --timeout; 1 when every subscriber refuses this client in the CURVE
handshake ("authentication failed").
""",
    "listen": """\
examples:
  anyzmq listen --bind 'tcp://127.0.0.1:*' --topic alerts
  anyzmq listen --connect tcp://127.0.0.1:5557 --pipeline
  anyzmq listen --bind 'tcp://127.0.0.1:*' --keypair keys/listener.key_secret

Prints each call received as one JSON line on stdout,
{"topic": ..., "method": ..., "args": [...], "kwargs": {...}}, until SIGINT or
SIGTERM; the endpoints (bound with their real port) go to stderr first.
""",
    "proxy": """\
examples:
  anyzmq proxy rpc --frontend tcp://*:5555 --backend tcp://*:5556
  anyzmq proxy pubsub --frontend tcp://*:5558 --backend tcp://*:5559

Clients (callers, publishers) connect to the frontend, servers (and listeners) to
the backend. rpc: ROUTER/DEALER, calls spread round-robin over the connected
servers; pipeline: PULL/PUSH; pubsub: XSUB/XPUB, subscriptions travel upstream.
Prints the frontend and the backend as bound, one per line; SIGINT or SIGTERM
stops it (exit 0).
""",
    "keygen": """\
examples:
  anyzmq keygen server --dir keys
  anyzmq keygen alice --dir keys/clients

Writes DIR/NAME.key (the public certificate: hand it to the peers) and
DIR/NAME.key_secret (both keys, readable by you only), in the certificate format of
pyzmq's zmq.auth, then prints their paths and the public key. Servers take the
secret certificate (--keypair), their clients the public one (--server-key); a
server's --authorized takes clients' public certificates, or a directory of them.
Existing files are replaced only with --force (else exit 1).
""",
}


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _method_name(text: str) -> str:
    parts = text.split(".")
    if not all(parts) or any(part.startswith("__") and part.endswith("__") for part in parts):
        raise argparse.ArgumentTypeError(f"not a dotted method name: {text!r}")
    return text


def _keyword(text: str) -> tuple[str, Any]:
    try:
        return read_keyword(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Endpoint(argparse.Action):
    """``--bind EP`` and ``--connect EP`` append ``(kind, EP)`` to one list, in order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        endpoints = [*(getattr(namespace, self.dest, None) or []), (self.const, values)]
        setattr(namespace, self.dest, endpoints)


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        dest="loop",
        choices=BACKENDS,
        default="asyncio",
        help="the event loop to run on (default: asyncio; trio needs anyzmq[trio])",
    )


def _add_timeout(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for {what} (default: {DEFAULT_TIMEOUT:g})",
    )


def _add_call(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", type=_method_name, metavar="METHOD", help="dotted method name")
    # A default keeps argparse from listing ARG among the missing required arguments.
    parser.add_argument(
        "args", nargs="*", type=read_value, default=[], metavar="ARG", help="an argument"
    )
    parser.add_argument(
        "--kw",
        action="append",
        type=_keyword,
        default=[],
        metavar="NAME=VALUE",
        help="keyword argument (repeatable)",
    )


def _add_endpoints(parser: argparse.ArgumentParser) -> None:
    for kind in ("bind", "connect"):
        parser.add_argument(
            f"--{kind}",
            dest="endpoints",
            action=_Endpoint,
            const=kind,
            default=[],
            metavar="EP",
            help=f"{kind} to this endpoint (repeatable; at least one --bind or --connect)",
        )


def _add_client_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server-key",
        type=server_key,
        metavar="KEY",
        help="talk CURVE to a server with this public key: 40 Z85 characters, or a "
        "certificate file holding it (NAME.key or NAME.key_secret)",
    )
    parser.add_argument(
        "--keypair",
        type=keypair_file,
        metavar="FILE",
        help="with --server-key: this client's secret certificate (NAME.key_secret, "
        "from 'anyzmq keygen'); default: a new key pair for this run, which only a "
        "server without --authorized admits",
    )


def _add_server_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keypair",
        type=keypair_file,
        metavar="FILE",
        help="turn CURVE on with this secret certificate (NAME.key_secret, from "
        "'anyzmq keygen'); clients need its public key (their --server-key)",
    )
    parser.add_argument(
        "--authorized",
        action="append",
        type=authorized_keys,
        default=[],
        metavar="PATH",
        help="with --keypair: admit only the clients whose public key is in this "
        "certificate file, or in this directory's *.key files (repeatable); without "
        "it, any client that knows the server's public key is admitted",
    )


def _command(
    commands: Any, name: str, summary: str, run: Any, *, takes_values: bool = False
) -> argparse.ArgumentParser:
    description = summary[0].upper() + summary[1:] + "."
    if takes_values:
        description += "\n\n" + _VALUES
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=_EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run, command=name, subparser=parser)
    return parser


#: Options whose value may start with "-": a Z85 key may.
_KEY_OPTIONS: Final = frozenset({"--server-key"})


def glue_key_values(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--server-key KEY`` written ``--server-key=KEY``: argparse
    takes a value that starts with "-" for an option, and one Z85 key in 85 does
    (``--`` ends the options, and nothing after it is touched)."""
    glued: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            glued.append(token)
            glued.extend(tokens)
            break
        value = next(tokens, None) if token in _KEY_OPTIONS else None
        glued.append(token if value is None else f"{token}={value}")
    return glued


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line; each subcommand sets ``run`` (its
    function: an async one runs on the event loop ``loop`` names), ``command``
    (its name) and ``subparser`` (its parser)."""
    parser = argparse.ArgumentParser(
        prog="anyzmq",
        description="Call, inspect, serve and proxy anyzmq (and aiozmq) services; make CURVE keys.",
        epilog="Run 'anyzmq COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"anyzmq {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    sub = _command(
        commands, "call", "call a method and print its result as JSON", call, takes_values=True
    )
    sub.add_argument("endpoint", metavar="ENDPOINT", help="the server, e.g. tcp://host:5555")
    _add_call(sub)
    _add_timeout(sub, "the answer")
    _add_client_keys(sub)
    _add_backend(sub)

    sub = _command(commands, "inspect", "list the methods a server exposes", inspect)
    sub.add_argument("endpoint", metavar="ENDPOINT", help="the server, e.g. tcp://host:5555")
    sub.add_argument("--json", action="store_true", help="print the listing as JSON")
    _add_timeout(sub, "the answer")
    _add_client_keys(sub)
    _add_backend(sub)

    sub = _command(commands, "serve", "serve a handler over RPC", serve)
    sub.add_argument("target", metavar="MODULE:ATTR", help="the handler, or its class")
    _add_endpoints(sub)
    sub.add_argument(
        "--no-introspection",
        dest="introspection",
        action="store_false",
        help="do not answer 'anyzmq inspect' (RPCClient.describe)",
    )
    sub.add_argument(
        "--log-exceptions",
        action="store_true",
        help="log the exceptions methods raise on stderr",
    )
    _add_server_keys(sub)
    _add_backend(sub)

    sub = _command(commands, "notify", "send one pipeline call", notify, takes_values=True)
    sub.add_argument("endpoint", metavar="ENDPOINT", help="the pipeline server")
    _add_call(sub)
    _add_timeout(sub, "a server to take the call")
    _add_client_keys(sub)
    _add_backend(sub)

    sub = _command(commands, "publish", "publish one pub-sub call", publish, takes_values=True)
    sub.add_argument("endpoint", metavar="ENDPOINT", help="the subscribers (or a pubsub proxy)")
    sub.add_argument("topic", metavar="TOPIC", help="the topic (UTF-8)")
    _add_call(sub)
    _add_timeout(sub, "a subscriber of TOPIC")
    _add_client_keys(sub)
    _add_backend(sub)

    sub = _command(commands, "listen", "print the pub-sub or pipeline calls received", listen)
    _add_endpoints(sub)
    sub.add_argument(
        "--topic",
        dest="topics",
        action="append",
        default=[],
        metavar="T",
        help="receive topics starting with T (repeatable; default: every topic)",
    )
    sub.add_argument(
        "--pipeline", action="store_true", help="receive pipeline calls (PULL), not pub-sub"
    )
    _add_server_keys(sub)
    _add_backend(sub)

    sub = _command(commands, "proxy", "run libzmq's proxy between clients and servers", proxy)
    sub.add_argument("kind", choices=sorted(KINDS), help="what the proxy carries")
    sub.add_argument("--frontend", required=True, metavar="EP", help="bound; clients connect here")
    sub.add_argument("--backend", required=True, metavar="EP", help="bound; servers connect here")
    # No --backend event loop here: libzmq runs the proxy, in a thread.

    sub = _command(commands, "keygen", "make a CURVE key pair and save it as certificates", keygen)
    sub.add_argument(
        "name", type=certificate_name, metavar="NAME", help="the certificates' file name"
    )
    sub.add_argument(
        "--dir",
        default=".",
        metavar="DIR",
        help="where to write them (default: the current directory; created if missing)",
    )
    sub.add_argument("--force", action="store_true", help="replace existing certificates")
    return parser
