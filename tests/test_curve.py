"""CURVE: encrypted, authenticated services, their ZAP handler, and refused clients."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import zmq
import zmq.auth

from anyzmq import _zap, rpc
from anyzmq._context import shared_context
from anyzmq._handshakes import Handshakes

from .support import LOOPBACK, SAFETY, Recorder, endpoint, request_header, wait_until

pytestmark = pytest.mark.anyio

if not zmq.has("curve"):  # pragma: no cover
    pytest.skip("libzmq without CURVE", allow_module_level=True)


@pytest.fixture(scope="module")
def server_keys() -> rpc.KeyPair:
    return rpc.curve_keypair()


@pytest.fixture(scope="module")
def client_keys() -> rpc.KeyPair:
    return rpc.curve_keypair()


@pytest.fixture(scope="module")
def stranger_keys() -> rpc.KeyPair:
    return rpc.curve_keypair()


# The three service pairs, driven alike.

Serve = Callable[[Recorder, rpc.CurveServer | None], AbstractAsyncContextManager[Any]]
Connect = Callable[[str, rpc.CurveClient | None], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class Pair:
    serve: Serve
    connect: Connect
    send: Callable[[Any, Any], Awaitable[None]]

    async def delivered(self, client: Any, handler: Recorder) -> None:
        """Send until the server's handler has one call (a subscription, and any
        handshake, reaches the client late)."""
        with anyio.fail_after(SAFETY):
            while True:
                await self.send(client, "hello")
                with anyio.move_on_after(0.05):
                    assert await handler.next() == ("record", "hello")
                    return

    async def refused(self, client: Any) -> rpc.AuthenticationError:
        """Send until a send raises AuthenticationError (one-way sends are queued
        until the client hears of the refusal; a call waits for it)."""
        with anyio.fail_after(SAFETY):
            while True:
                try:
                    await self.send(client, "nope")
                except rpc.AuthenticationError as exc:
                    return exc
                await anyio.sleep(0.01)  # polls the client's state; fail_after bounds it


async def _call(client: Any, value: Any) -> None:
    await client.call.record(value)


async def _notify(client: Any, value: Any) -> None:
    await client.notify.record(value)


async def _publish(client: Any, value: Any) -> None:
    await client.publish("t").record(value)


PAIRS = {
    "rpc": Pair(
        lambda handler, curve: rpc.serve_rpc(handler, bind=LOOPBACK, curve=curve),
        # No call timeout: a refused call must end by the refusal, not by a timeout.
        lambda address, curve: rpc.connect_rpc(connect=address, curve=curve),
        _call,
    ),
    "pipeline": Pair(
        lambda handler, curve: rpc.serve_pipeline(handler, bind=LOOPBACK, curve=curve),
        lambda address, curve: rpc.connect_pipeline(connect=address, curve=curve),
        _notify,
    ),
    "pubsub": Pair(
        lambda handler, curve: rpc.serve_pubsub(handler, bind=LOOPBACK, subscribe="t", curve=curve),
        lambda address, curve: rpc.connect_pubsub(connect=address, curve=curve),
        _publish,
    ),
}


@pytest.fixture(params=sorted(PAIRS))
def pair(request: pytest.FixtureRequest) -> Pair:
    return PAIRS[request.param]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused a client" in r.getMessage()]


class RefusalLog(logging.Handler):
    """Sets an event when a server logs a refusal (in the event loop's thread)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logged = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "refused a client" in record.getMessage():
            self.messages.append(record.getMessage())
            self.logged.set()

    async def first(self) -> str:
        with anyio.fail_after(SAFETY):
            await self.logged.wait()
        return self.messages[0]


@pytest.fixture
def refusal_log() -> Iterator[RefusalLog]:
    handler = RefusalLog()
    rpc.logger.addHandler(handler)
    try:
        yield handler
    finally:
        rpc.logger.removeHandler(handler)


async def test_authorised_client_is_served(
    pair: Pair, server_keys: rpc.KeyPair, client_keys: rpc.KeyPair
) -> None:
    handler = Recorder()
    curve = rpc.CurveServer(server_keys, authorized=[client_keys.public])
    async with pair.serve(handler, curve) as server:
        client_curve = rpc.CurveClient(server_keys.public, client_keys)
        async with pair.connect(endpoint(server), client_curve) as client:
            await pair.delivered(client, handler)


async def test_any_client_with_the_server_key_when_authorized_is_none(
    pair: Pair, server_keys: rpc.KeyPair
) -> None:
    handler = Recorder()
    async with (
        pair.serve(handler, rpc.CurveServer(server_keys)) as server,
        pair.connect(endpoint(server), rpc.CurveClient(server_keys.public)) as client,
    ):
        await pair.delivered(client, handler)


async def test_unlisted_client_is_refused(
    pair: Pair,
    server_keys: rpc.KeyPair,
    client_keys: rpc.KeyPair,
    stranger_keys: rpc.KeyPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Recorder()
    caplog.set_level(logging.WARNING, "anyzmq.rpc")
    curve = rpc.CurveServer(server_keys, authorized=[client_keys.public])
    async with pair.serve(handler, curve) as server:
        stranger = rpc.CurveClient(server_keys.public, stranger_keys)
        async with pair.connect(endpoint(server), stranger) as client:
            error = await pair.refused(client)
            assert "authentication failed" in str(error)
            assert isinstance(error, ConnectionError)
            # Later sends fail at once while the server keeps refusing.
            with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                await pair.send(client, "again")
    with pytest.raises(TimeoutError):
        await handler.next(timeout=0.1)  # nothing reached the handler
    (logged, *_) = refusals(caplog)
    assert stranger_keys.public.decode() in logged
    assert "not authorised" in logged


async def test_wrong_server_key_is_refused(
    pair: Pair, server_keys: rpc.KeyPair, client_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    handler = Recorder()
    async with pair.serve(handler, rpc.CurveServer(server_keys)) as server:
        wrong = rpc.CurveClient(stranger_keys.public, client_keys)
        async with pair.connect(endpoint(server), wrong) as client:
            error = await pair.refused(client)
            assert "authentication failed" in str(error)


async def test_plain_client_is_refused_and_logged(
    pair: Pair, server_keys: rpc.KeyPair, refusal_log: RefusalLog
) -> None:
    handler = Recorder()
    async with pair.serve(handler, rpc.CurveServer(server_keys)) as server:
        async with pair.connect(endpoint(server), None) as client:
            error = await pair.refused(client)
            assert "one side uses CURVE" in str(error)
        assert "a client without CURVE" in await refusal_log.first()


async def test_curve_client_of_a_plain_server_is_refused(
    pair: Pair, server_keys: rpc.KeyPair
) -> None:
    handler = Recorder()
    async with (
        pair.serve(handler, None) as server,
        pair.connect(endpoint(server), rpc.CurveClient(server_keys.public)) as client,
    ):
        await pair.refused(client)


async def test_a_call_in_flight_fails_at_the_refusal_not_by_a_timeout(
    server_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    curve = rpc.CurveServer(server_keys, authorized=[])
    async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve) as server:
        stranger = rpc.CurveClient(server_keys.public, stranger_keys)
        async with rpc.connect_rpc(connect=endpoint(server), curve=stranger) as client:
            with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                await client.call.record(1)
            assert client.pending_calls == 0


class Numbers(rpc.AttrHandler):
    @rpc.method
    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


async def _read_all(client: rpc.RPCClient) -> list[int]:
    async with client.stream.count(3) as items:
        return [item async for item in items]


async def test_a_stream_in_flight_fails_at_the_refusal_with_authentication_error(
    server_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    # It used to end with ConnectionLostError (which says it may have run).
    curve = rpc.CurveServer(server_keys, authorized=[])
    async with rpc.serve_rpc(Numbers(), bind=LOOPBACK, curve=curve) as server:
        stranger = rpc.CurveClient(server_keys.public, stranger_keys)
        async with rpc.connect_rpc(connect=endpoint(server), curve=stranger) as client:
            with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                await _read_all(client)


async def test_a_stream_opened_once_refused_raises_authentication_error_at_once(
    server_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    curve = rpc.CurveServer(server_keys, authorized=[])
    async with rpc.serve_rpc(Numbers(), bind=LOOPBACK, curve=curve) as server:
        stranger = rpc.CurveClient(server_keys.public, stranger_keys)
        async with rpc.connect_rpc(connect=endpoint(server), curve=stranger) as client:
            with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                await client.call.count(1)  # learns of the refusal
            with pytest.raises(rpc.AuthenticationError):
                async with client.stream.count(3):
                    pytest.fail("entered")  # pragma: no cover


async def test_a_blocked_notification_is_woken_by_the_refusal(
    server_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    curve = rpc.CurveServer(server_keys, authorized=[])
    async with rpc.serve_pipeline(Recorder(), bind=LOOPBACK, curve=curve) as server:
        stranger = rpc.CurveClient(server_keys.public, stranger_keys)
        async with rpc.connect_pipeline(
            connect=endpoint(server), curve=stranger, socket_options={zmq.SNDHWM: 1}
        ) as client:
            # The queue fills at once; a later send waits until the refusal wakes it.
            async def flood() -> None:
                for i in range(10_000):
                    await client.notify.record(i)

            with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                await flood()


async def test_two_servers_keep_their_own_lists(
    client_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    first_keys, second_keys = rpc.curve_keypair(), rpc.curve_keypair()
    first, second = Recorder(), Recorder()
    async with (
        rpc.serve_rpc(
            first, bind=LOOPBACK, curve=rpc.CurveServer(first_keys, [client_keys.public])
        ) as server1,
        rpc.serve_rpc(
            second, bind=LOOPBACK, curve=rpc.CurveServer(second_keys, [stranger_keys.public])
        ) as server2,
    ):
        for server, keys, admitted, refused in (
            (server1, first_keys, client_keys, stranger_keys),
            (server2, second_keys, stranger_keys, client_keys),
        ):
            good = rpc.CurveClient(keys.public, admitted)
            async with rpc.connect_rpc(connect=endpoint(server), curve=good) as client:
                await client.call.record("ok")
            bad = rpc.CurveClient(keys.public, refused)
            async with rpc.connect_rpc(connect=endpoint(server), curve=bad) as client:
                with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                    await client.call.record("no")
    assert await first.next() == ("record", "ok")
    assert await second.next() == ("record", "ok")


async def test_the_handler_outlives_the_server_that_started_it(
    server_keys: rpc.KeyPair, client_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    curve = rpc.CurveServer(server_keys, authorized=[client_keys.public])
    async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve) as second:
        async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve):
            pass  # entered after the first, and left before it: never the host
        async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve) as third:
            pass
        del third
        for keys, admitted in ((client_keys, True), (stranger_keys, False)):
            client_curve = rpc.CurveClient(server_keys.public, keys)
            async with rpc.connect_rpc(connect=endpoint(second), curve=client_curve) as client:
                if admitted:
                    await client.call.record(1)
                else:
                    with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                        await client.call.record(1)
    assert not _zap._handlers  # the last one to leave closed the handler


async def test_the_host_hands_over_when_it_leaves_first(
    server_keys: rpc.KeyPair, client_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    curve = rpc.CurveServer(server_keys, authorized=[client_keys.public])
    host = rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve)
    leave = anyio.Event()

    async def run_host(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with host:
            task_status.started()
            await leave.wait()

    async with anyio.create_task_group() as tg:
        await tg.start(run_host)
        async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve) as heir:
            leave.set()
            await host.wait_closed()  # the first server, the handler's host, is gone
            for keys, admitted in ((client_keys, True), (stranger_keys, False)):
                client_curve = rpc.CurveClient(server_keys.public, keys)
                async with rpc.connect_rpc(connect=endpoint(heir), curve=client_curve) as client:
                    if admitted:
                        await client.call.record(1)
                    else:
                        with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                            await client.call.record(1)
    assert not _zap._handlers
    # And a new handler can be bound at once by the next server.
    async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve) as again:
        client_curve = rpc.CurveClient(server_keys.public, client_keys)
        async with rpc.connect_rpc(connect=endpoint(again), curve=client_curve) as client:
            await client.call.record(2)


# Failing closed: a CURVE server never admits a client that no handler admitted.


def _raw_curve_client(context: zmq.Context[Any], server_key: bytes) -> zmq.Socket[bytes]:
    keys = rpc.curve_keypair()
    sock: zmq.Socket[bytes] = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
    return sock


def _send_request(client: zmq.Socket[bytes]) -> None:
    client.send_multipart([request_header(1), b"record", b"\x91\x01", b"\x80"])


async def test_no_handler_bound_means_refused(
    server_keys: rpc.KeyPair, monkeypatch: pytest.MonkeyPatch, refusal_log: RefusalLog
) -> None:
    # The handler's socket is made but never bound: libzmq finds no ZAP handler.
    def unbound(context: zmq.Context[Any]) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        return sock

    monkeypatch.setattr(_zap, "_bind_handler", unbound)
    handler = Recorder()
    # authorized=None: a server that failed open would admit this client.
    curve = rpc.CurveServer(server_keys)
    async with rpc.serve_rpc(handler, bind=LOOPBACK, curve=curve) as server:
        client = _raw_curve_client(shared_context(), server_keys.public)
        try:
            client.connect(endpoint(server))
            _send_request(client)
            # The server's monitor reports the failed handshake...
            assert "no ZAP handler" in await refusal_log.first()
            # ...and the call never runs nor is answered.
            assert not client.poll(300, zmq.POLLIN)
            with pytest.raises(TimeoutError):
                await handler.next(timeout=0.1)
        finally:
            client.close(linger=0)


async def test_a_handler_that_does_not_answer_admits_nobody(
    server_keys: rpc.KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As while the handler is handed over: requests are taken but not answered.
    asked = anyio.Event()

    def no_answer(self: _zap._Handler, frames: list[bytes]) -> None:
        asked.set()

    monkeypatch.setattr(_zap._Handler, "answer", no_answer)
    handler = Recorder()
    async with rpc.serve_rpc(handler, bind=LOOPBACK, curve=rpc.CurveServer(server_keys)) as server:
        client = _raw_curve_client(shared_context(), server_keys.public)
        try:
            client.connect(endpoint(server))
            _send_request(client)
            with anyio.fail_after(SAFETY):
                await asked.wait()
            # The server neither runs the call nor answers it meanwhile.
            assert not client.poll(300, zmq.POLLIN)
            with pytest.raises(TimeoutError):
                await handler.next(timeout=0.1)
        finally:
            client.close(linger=0)


def _request(domain: bytes, key: bytes, mechanism: bytes = b"CURVE") -> list[bytes]:
    return [b"peer", b"", b"1.0", b"7", domain, b"127.0.0.1", b"", mechanism, key]


def test_handler_answers_by_domain_and_key(
    client_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    handler = _zap._Handler(None)  # type: ignore[arg-type]
    reports: list[str] = []

    class Member:
        authorized = frozenset({client_keys.public})

        def refused(self, detail: str) -> None:
            reports.append(detail)

    handler.members[b"d"] = Member()  # type: ignore[assignment]
    binary = zmq.utils.z85.decode(client_keys.public)
    assert handler.answer(_request(b"d", binary)) == [
        b"peer", b"", b"1.0", b"7", b"200", b"OK", client_keys.public, b"",
    ]  # fmt: skip
    stranger = zmq.utils.z85.decode(stranger_keys.public)
    denied = handler.answer(_request(b"d", stranger))
    assert denied is not None
    assert denied[4:7] == [b"400", b"key not authorised", b""]
    assert stranger_keys.public.decode() in reports[0]
    # A domain no open server registered: refused.
    unknown = handler.answer(_request(b"other", binary))
    assert unknown is not None
    assert unknown[4] == b"400"
    # Not CURVE: refused.
    plain = handler.answer(_request(b"d", b"", mechanism=b"NULL"))
    assert plain is not None
    assert plain[4] == b"400"
    assert handler.answer([b"peer", b"junk"]) is None


# Keys and certificate files.


def test_keypair() -> None:
    keys = rpc.curve_keypair()
    assert len(keys.public) == len(keys.secret) == 40
    assert keys.secret.decode() not in repr(keys)
    assert rpc.KeyPair(keys.public.decode(), keys.secret.decode()) == keys  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Z85"):
        rpc.KeyPair(b"short", keys.secret)
    with pytest.raises(ValueError, match="Z85"):
        rpc.KeyPair(b"~" * 40, keys.secret)
    with pytest.raises(TypeError):
        rpc.KeyPair(1, keys.secret)  # type: ignore[arg-type]


def test_certificates_round_trip_and_match_zmq_auth(tmp_path: Path) -> None:
    keys = rpc.curve_keypair()
    public_file, secret_file = keys.save(tmp_path, "server")
    assert (public_file.name, secret_file.name) == ("server.key", "server.key_secret")
    assert secret_file.stat().st_mode & 0o077 == 0
    assert rpc.KeyPair.load(secret_file) == keys
    assert rpc.load_public_key(public_file) == keys.public
    # pyzmq's zmq.auth reads ours...
    assert zmq.auth.load_certificate(secret_file) == (keys.public, keys.secret)
    assert zmq.auth.load_certificate(public_file) == (keys.public, None)
    # ...and we read its.
    theirs_public, theirs_secret = zmq.auth.create_certificates(tmp_path, "client")
    loaded = rpc.KeyPair.load(theirs_secret)
    assert rpc.load_public_key(theirs_public) == loaded.public
    assert rpc.load_public_keys(tmp_path) == {keys.public, loaded.public}
    with pytest.raises(ValueError, match="no secret key"):
        rpc.KeyPair.load(public_file)
    (tmp_path / "bad.key").write_text('curve\n    public-key = "nope"\n')
    with pytest.raises(ValueError, match=r"bad\.key"):
        rpc.load_public_keys(tmp_path)


def test_saving_over_a_readable_secret_file_makes_it_private(tmp_path: Path) -> None:
    old = tmp_path / "server.key_secret"
    old.write_text("old")
    old.chmod(0o644)
    keys = rpc.curve_keypair()
    _, secret_file = keys.save(tmp_path, "server")
    assert secret_file.stat().st_mode & 0o077 == 0
    assert rpc.KeyPair.load(secret_file) == keys


async def test_authorized_directory_is_read_at_construction(
    tmp_path: Path, server_keys: rpc.KeyPair, client_keys: rpc.KeyPair
) -> None:
    client_keys.save(tmp_path, "alice")
    curve = rpc.CurveServer(server_keys, authorized=tmp_path)
    assert curve.authorized == frozenset({client_keys.public})
    rpc.curve_keypair().save(tmp_path, "later")
    assert curve.authorized == frozenset({client_keys.public})  # never re-read
    async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve) as server:
        client_curve = rpc.CurveClient(server_keys.public, client_keys)
        async with rpc.connect_rpc(connect=endpoint(server), curve=client_curve) as client:
            await client.call.record(1)


def test_bad_curve_arguments(server_keys: rpc.KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    curve_server = rpc.CurveServer(server_keys)
    curve_client = rpc.CurveClient(server_keys.public)
    with pytest.raises(TypeError, match="CurveServer"):
        rpc.serve_rpc(Recorder(), curve=curve_client)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="CurveClient"):
        rpc.connect_pipeline(curve=curve_server)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="KeyPair"):
        rpc.CurveServer(server_keys.public)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="one key"):
        rpc.CurveServer(server_keys, authorized=server_keys.public)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Z85"):
        rpc.CurveServer(server_keys, authorized=["nope"])
    with pytest.raises(ValueError, match="server_key"):
        rpc.CurveClient(b"nope")
    with pytest.raises(ValueError, match="ZAP_ENFORCE_DOMAIN"):
        rpc.serve_rpc(Recorder(), curve=curve_server, socket_options={zmq.ZAP_ENFORCE_DOMAIN: 0})
    with pytest.raises(ValueError, match="CURVE_SERVERKEY"):
        rpc.connect_pubsub(curve=curve_client, socket_options={zmq.CURVE_SERVERKEY: b"x" * 40})
    assert curve_client.public_key != server_keys.public  # an ephemeral key pair
    assert server_keys.secret.decode() not in repr(curve_server)
    monkeypatch.setattr(zmq, "has", lambda capability: False)
    for make in (
        rpc.curve_keypair,
        lambda: rpc.CurveServer(server_keys),
        lambda: rpc.CurveClient(server_keys.public),
    ):
        with pytest.raises(RuntimeError, match="libsodium"):
            make()


def test_the_handler_is_handed_over_across_threads_and_loops(
    server_keys: rpc.KeyPair, client_keys: rpc.KeyPair, stranger_keys: rpc.KeyPair
) -> None:
    curve = rpc.CurveServer(server_keys, authorized=[client_keys.public])
    hosting, leave = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    async def first_server() -> None:  # on trio, in a thread: the handler's host
        async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve):
            hosting.set()
            await anyio.to_thread.run_sync(leave.wait)

    def run_first() -> None:
        try:
            anyio.run(first_server, backend="trio")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            hosting.set()

    async def second_server() -> None:  # on asyncio, here: takes the handler over
        async with rpc.serve_rpc(Recorder(), bind=LOOPBACK, curve=curve) as server:
            leave.set()
            await anyio.to_thread.run_sync(thread.join)
            (zap,) = _zap._handlers.values()
            assert zap.host is not None
            assert zap.host.domain == next(iter(zap.members))
            for keys, admitted in ((client_keys, True), (stranger_keys, False)):
                client_curve = rpc.CurveClient(server_keys.public, keys)
                async with rpc.connect_rpc(connect=endpoint(server), curve=client_curve) as client:
                    if admitted:
                        with anyio.fail_after(SAFETY):
                            await client.call.record(1)
                    else:
                        with anyio.fail_after(SAFETY), pytest.raises(rpc.AuthenticationError):
                            await client.call.record(1)

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert hosting.wait(30)
        assert not failures
        anyio.run(second_server, backend="asyncio")
    finally:
        leave.set()
        thread.join(30)
    assert not failures
    assert not _zap._handlers


def test_handshakes_refuse_only_when_every_connection_is_refused() -> None:
    handshakes = Handshakes()
    sock: zmq.Socket[bytes] = shared_context().socket(zmq.DEALER)
    try:
        transport = rpc.Transport(sock)
        transport.connect("tcp://127.0.0.1:1")
        transport.connect("tcp://127.0.0.1:2")
        assert handshakes.refusal(transport) is None
        handshakes.record("tcp://127.0.0.1:1", zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400)
        assert handshakes.refusal(transport) is None  # the other may still admit
        handshakes.record("tcp://127.0.0.1:2", zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, 32)
        refusal = handshakes.refusal(transport)
        assert isinstance(refusal, rpc.AuthenticationError)
        assert refusal.endpoint == "tcp://127.0.0.1:1"
        handshakes.record("tcp://127.0.0.1:2", zmq.EVENT_HANDSHAKE_SUCCEEDED, 0)
        assert handshakes.refusal(transport) is None
        handshakes.record("tcp://127.0.0.1:2", zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400)
        transport.bind("tcp://127.0.0.1:*")
        assert handshakes.refusal(transport) is None  # peers may also connect to us
    finally:
        sock.close(linger=0)


async def test_a_server_that_fails_to_enter_leaves_nothing_behind(
    server_keys: rpc.KeyPair,
) -> None:
    curve = rpc.CurveServer(server_keys)
    with pytest.raises(OSError, match="Invalid argument"):
        async with rpc.serve_rpc(Recorder(), bind="tcp://nonsense", curve=curve):
            pytest.fail("entered")
    assert not _zap._handlers  # its membership left; its sockets are closed (see conftest)
    with pytest.raises(OSError, match="Invalid argument"):
        async with rpc.connect_pipeline(
            connect="tcp://nonsense", curve=rpc.CurveClient(server_keys.public)
        ):
            pytest.fail("entered")


class KeyRecorder(Recorder):
    """Records each call with the caller's key, as ``rpc.current_call()`` gives it."""

    @rpc.method
    def record(self, value: Any) -> None:
        self.put(("record", (value, rpc.current_call().peer_key)))

    @rpc.method
    async def record_later(self, value: Any) -> None:
        await anyio.lowlevel.checkpoint()
        self.put(("record_later", (value, rpc.current_call().peer_key)))


async def test_handlers_know_the_callers_key(
    pair: Pair, server_keys: rpc.KeyPair, client_keys: rpc.KeyPair
) -> None:
    handler = KeyRecorder()
    async with (
        pair.serve(handler, rpc.CurveServer(server_keys, [client_keys.public])) as server,
        pair.connect(endpoint(server), rpc.CurveClient(server_keys.public, client_keys)) as client,
    ):
        with anyio.fail_after(SAFETY):
            while True:  # a subscription reaches the publisher late
                await pair.send(client, "hello")
                with anyio.move_on_after(0.05):
                    assert await handler.next() == ("record", ("hello", client_keys.public))
                    break


async def test_peer_key_of_async_methods_and_plain_servers(
    server_keys: rpc.KeyPair, client_keys: rpc.KeyPair
) -> None:
    handler = KeyRecorder()
    curve = rpc.CurveServer(server_keys)
    # With a server timeout, the call's deadline is set again when it starts.
    async with (
        rpc.serve_rpc(handler, bind=LOOPBACK, curve=curve, timeout=30) as server,
        rpc.connect_rpc(
            connect=endpoint(server), curve=rpc.CurveClient(server_keys.public, client_keys)
        ) as client,
    ):
        await client.call.record_later(1)
        assert await handler.next() == ("record_later", (1, client_keys.public))
    async with (
        rpc.serve_rpc(handler, bind=LOOPBACK) as server,
        rpc.connect_rpc(connect=endpoint(server)) as client,
    ):
        await client.call.record(2)
        await client.call.record_later(3)
        assert await handler.next() == ("record", (2, None))
        assert await handler.next() == ("record_later", (3, None))


class KeyStreams(rpc.AttrHandler):
    @rpc.method
    async def keys(self, n: int) -> AsyncIterator[bytes | None]:
        for _ in range(n):
            yield rpc.current_call().peer_key

    @rpc.method
    def key(self) -> bytes | None:
        return rpc.current_call().peer_key


async def test_stream_methods_and_threaded_handlers_know_the_callers_key(
    server_keys: rpc.KeyPair, client_keys: rpc.KeyPair
) -> None:
    curve = rpc.CurveServer(server_keys, [client_keys.public])
    async with (
        rpc.serve_rpc(KeyStreams(), bind=LOOPBACK, curve=curve, sync_handler_threads=2) as server,
        rpc.connect_rpc(
            connect=endpoint(server), curve=rpc.CurveClient(server_keys.public, client_keys)
        ) as client,
    ):
        with anyio.fail_after(SAFETY):
            async with client.stream.keys(3) as keys:
                assert [key async for key in keys] == [client_keys.public] * 3
            assert await client.call.key() == client_keys.public


async def test_with_one_of_two_servers_refusing_calls_and_streams_go_to_the_other(
    server_keys: rpc.KeyPair, client_keys: rpc.KeyPair
) -> None:
    admitting = rpc.CurveServer(server_keys, [client_keys.public])
    refusing = rpc.CurveServer(server_keys, [])
    async with (
        rpc.serve_rpc(KeyStreams(), bind=LOOPBACK, curve=refusing) as no,
        rpc.serve_rpc(KeyStreams(), bind=LOOPBACK, curve=admitting) as yes,
    ):
        for endpoints in ([endpoint(no), endpoint(yes)], [endpoint(yes), endpoint(no)]):
            curve = rpc.CurveClient(server_keys.public, client_keys)
            async with rpc.connect_rpc(connect=endpoints, curve=curve) as client:
                # No timeout: each call must be answered, or refused, never left waiting.
                with anyio.fail_after(30):
                    for _ in range(10):
                        with suppress(rpc.AuthenticationError):  # sent before the handshakes
                            assert await client.call.key() == client_keys.public
                        with suppress(rpc.AuthenticationError):
                            assert await _keys(client) == [client_keys.public] * 2
                    await wait_until(lambda: client.connected_endpoints == {endpoint(yes)})
                    assert await client.call.key() == client_keys.public
                    assert await _keys(client) == [client_keys.public] * 2


async def _keys(client: rpc.RPCClient) -> list[bytes | None]:
    async with client.stream.keys(2) as keys:
        return [key async for key in keys]
