"""Request-reply: calls, errors, timeouts, cancellation and routing."""

from __future__ import annotations

import datetime
import logging
import math

import anyio
import pytest
import zmq

from anyzmq import rpc

from .support import LOOPBACK, endpoint, raw_socket, request_header, rpc_pair, wait_until

pytestmark = pytest.mark.anyio


class MyError(Exception):
    pass


class NeedsTwo(Exception):
    def __init__(self, a: object, b: object) -> None:
        super().__init__(a, b)


class Sub(rpc.AttrHandler):
    @rpc.method
    def double(self, x: int) -> int:
        return 2 * x


class Handler(rpc.AttrHandler):
    def __init__(self) -> None:
        self.sub = Sub()
        self.started = anyio.Event()
        self.finally_ran = anyio.Event()
        self.gate = anyio.Event()
        self.cancelled = 0  # forever() calls that ended

    @rpc.method
    def add(self, a: int, b: int = 1) -> int:
        return a + b

    @rpc.method
    async def async_add(self, a: int, b: int) -> int:
        await anyio.lowlevel.checkpoint()
        return a + b

    @rpc.method
    def echo(self, value: object) -> object:
        return value

    @rpc.method
    def kw(self, *args: int, **kwargs: int) -> object:
        return args, kwargs

    @rpc.method
    def value_error(self, text: str) -> None:
        raise ValueError(text, 42)

    @rpc.method
    def my_error(self) -> None:
        raise MyError("mine")

    @rpc.method
    def needs_two(self) -> None:
        raise NeedsTwo("a", "b")

    @rpc.method
    def unserializable_result(self) -> object:
        return object()

    @rpc.method
    def unserializable_error(self) -> None:
        raise ValueError(object())

    @rpc.method
    async def forever(self) -> None:
        self.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.cancelled += 1
            self.finally_ran.set()

    @rpc.method
    async def gated(self, value: object) -> object:
        self.started.set()
        await self.gate.wait()
        self.finally_ran.set()
        return value

    @rpc.method
    async def stubborn(self, value: object) -> object:
        """Like gated, but shielded: it answers late even when its caller has gone."""
        self.started.set()
        with anyio.CancelScope(shield=True):
            await self.gate.wait()
        self.finally_ran.set()
        return value

    @rpc.method
    def bad_result(self) -> int:
        return "not a number"  # type: ignore[return-value]

    def not_marked(self) -> int:
        return 1


async def test_call_returns_result() -> None:
    async with rpc_pair(Handler()) as (_, client):
        assert await client.call.add(1, 2) == 3
        assert await client.call.add(1) == 2
        assert await client.call.add(a=5, b=6) == 11
        assert await client.call.async_add(3, 4) == 7
        assert await client.call.sub.double(21) == 42


async def test_values_round_trip_with_lists_as_tuples() -> None:
    when = datetime.datetime(2024, 2, 29, 12, 30, tzinfo=datetime.UTC)
    value = {"list": [1, [2, 3]], "bytes": b"\x00\xff", "text": "é", "none": None, "when": when}
    async with rpc_pair(Handler()) as (_, client):
        assert await client.call.echo(value) == {
            "list": (1, (2, 3)),
            "bytes": b"\x00\xff",
            "text": "é",
            "none": None,
            "when": when,
        }
        assert await client.call.kw(1, 2, x=3) == ((1, 2), {"x": 3})


async def test_missing_or_unmarked_names_raise_not_found() -> None:
    async with rpc_pair(Handler()) as (_, client):
        for call in (
            client.call.missing,
            client.call.not_marked,
            client.call.sub.missing,
            client.call.missing.add,
            client.call.add.deeper,
        ):
            with pytest.raises(rpc.NotFoundError):
                await call()
        with pytest.raises(ValueError, match="empty"):
            client.call()  # type: ignore[unused-coroutine]


async def test_bad_arguments_raise_parameter_error() -> None:
    async with rpc_pair(Handler()) as (_, client):
        with pytest.raises(rpc.ParameterError):
            await client.call.add()
        with pytest.raises(rpc.ParameterError):
            await client.call.add(1, 2, 3)
        with pytest.raises(rpc.ParameterError):
            await client.call.add(1, c=3)
        with pytest.raises(rpc.ParameterError, match="'a'"):
            await client.call.add("not a number", 2)
        assert rpc.ParametersError is rpc.ParameterError


async def test_builtin_exceptions_are_translated_with_their_args() -> None:
    async with rpc_pair(Handler()) as (_, client):
        with pytest.raises(ValueError) as info:  # noqa: PT011
            await client.call.value_error("boom")
        assert info.value.args == ("boom", 42)


async def test_unknown_exceptions_become_generic_error() -> None:
    async with rpc_pair(Handler()) as (_, client):
        with pytest.raises(rpc.GenericError) as info:
            await client.call.my_error()
    assert info.value.exc_type == f"{__name__}.MyError"
    assert info.value.arguments == ("mine",)
    assert info.value.exc_repr == "MyError('mine')"


async def test_error_table_is_searched_first() -> None:
    table = {f"{__name__}.MyError": MyError, "builtins.ValueError": KeyError}
    async with rpc_pair(Handler(), error_table=table) as (_, client):
        with pytest.raises(MyError, match="mine"):
            await client.call.my_error()
        with pytest.raises(KeyError):
            await client.call.value_error("x")


async def test_exception_whose_args_do_not_fit_becomes_generic_error() -> None:
    table = {f"{__name__}.NeedsTwo": MyError}
    async with rpc_pair(Handler(), error_table={f"{__name__}.NeedsTwo": NeedsTwo}) as (_, client):
        with pytest.raises(NeedsTwo):
            await client.call.needs_two()
    async with rpc_pair(Handler(), error_table=table) as (_, client):
        # MyError("a", "b") is fine too; a class refusing the args falls back.
        with pytest.raises(MyError):
            await client.call.needs_two()
    async with rpc_pair(Handler(), error_table={f"{__name__}.NeedsTwo": UnicodeDecodeError}) as (
        _,
        client,
    ):
        with pytest.raises(rpc.GenericError):
            await client.call.needs_two()


async def test_unserializable_result_or_error_still_answers() -> None:
    async with rpc_pair(Handler()) as (_, client):
        with pytest.raises(TypeError, match="unserializable_result"):
            await client.call.unserializable_result()
        with pytest.raises(ValueError, match="object object at"):
            await client.call.unserializable_error()
        assert await client.call.add(1, 1) == 2


async def test_unserializable_argument_raises_before_sending() -> None:
    async with rpc_pair(Handler()) as (_, client):
        with pytest.raises(TypeError, match="cannot serialize"):
            await client.call.echo(object())
        assert client.pending_calls == 0
        assert await client.call.add(1, 1) == 2


async def test_return_annotation_checks_result() -> None:
    async with rpc_pair(Handler()) as (_, client):
        with pytest.raises(ValueError, match="not a number"):
            await client.call.bad_result()


async def test_client_timeout_raises_timeout_error_and_drops_late_answer() -> None:
    handler = Handler()
    async with rpc_pair(handler, timeout=0.05) as (_, client):
        with pytest.raises(TimeoutError):
            await client.call.forever()
        assert client.pending_calls == 0
        assert await client.with_timeout(5).call.add(1, 2) == 3


async def test_late_answer_never_reaches_a_later_call() -> None:
    handler = Handler()
    async with rpc_pair(handler) as (server, client):
        with pytest.raises(TimeoutError):
            await client.with_timeout(0.05).call.stubborn("late")
        handler.gate.set()
        await handler.finally_ran.wait()  # the late answer is on its way
        assert await client.call.echo("mine") == "mine"
        assert await client.call.add(1, 2) == 3
        assert client.pending_calls == 0
        assert server.running_calls == 0


async def test_timeout_when_no_server_answers() -> None:
    async with rpc.connect_rpc(connect="tcp://127.0.0.1:9", timeout=0.05) as client:
        with pytest.raises(TimeoutError):
            await client.call.add(1, 2)
        assert client.pending_calls == 0
    async with rpc.connect_rpc(bind=LOOPBACK, timeout=0.05) as client:
        with pytest.raises(TimeoutError):  # no peer: the request cannot even be queued
            await client.call.add(1, 2)
        assert client.pending_calls == 0


async def test_with_timeout_view() -> None:
    async with rpc_pair(Handler()) as (_, client):
        view = client.with_timeout(0.05)
        assert view.timeout == 0.05
        assert client.timeout is None
        with view as scoped:
            with pytest.raises(TimeoutError):
                await scoped.call.forever()
            assert await scoped.with_timeout(None).call.add(2) == 3
        with pytest.raises(ValueError, match="positive"):
            client.with_timeout(0)
        with pytest.raises(TypeError):
            client.with_timeout("1")  # type: ignore[arg-type]


async def test_server_timeout_cancels_handler_and_caller_gets_timeout_error() -> None:
    handler = Handler()
    async with rpc_pair(handler, server={"timeout": 0.05}) as (server, client):
        with pytest.raises(TimeoutError):
            await client.call.forever()
        assert handler.finally_ran.is_set()
        assert server.running_calls == 0


async def test_cancelled_caller_leaves_client_usable() -> None:
    handler = Handler()
    async with rpc_pair(handler) as (server, client):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call.forever)
            with anyio.fail_after(5):
                await handler.started.wait()
            assert client.pending_calls == 1
            tg.cancel_scope.cancel()
        assert client.pending_calls == 0
        with anyio.move_on_after(0.01) as scope:
            await client.call.forever()
        assert scope.cancelled_caught
        assert client.pending_calls == 0
        assert await client.call.add(1, 2) == 3
        # The server is told: both abandoned handlers are cancelled.
        await wait_until(lambda: server.running_calls == 0)
        assert handler.cancelled >= 2


async def test_handler_cancelled_when_server_exits() -> None:
    handler = Handler()
    async with rpc.serve_rpc(handler, bind=LOOPBACK) as server:  # noqa: SIM117
        async with rpc.connect_rpc(connect=endpoint(server), timeout=5) as client:
            async with anyio.create_task_group() as tg:

                async def caller() -> None:
                    # Whichever the client sees first: the server's connection lost,
                    # or its own close.
                    with pytest.raises((rpc.ServiceClosedError, rpc.ConnectionLostError)):
                        await client.call.forever()

                tg.start_soon(caller)
                await handler.started.wait()
                server.close()
                await server.wait_closed()
                assert handler.finally_ran.is_set()
                client.close()
    assert server.running_calls == 0


async def test_thousand_concurrent_calls_reach_their_callers() -> None:
    results: dict[int, object] = {}
    async with rpc_pair(Handler(), timeout=30) as (server, client):

        async def one(i: int) -> None:
            results[i] = await client.call.async_add(i, 1_000_000)

        async with anyio.create_task_group() as tg:
            for i in range(1000):
                tg.start_soon(one, i)
        assert client.pending_calls == 0
        assert server.running_calls == 0
    assert results == {i: i + 1_000_000 for i in range(1000)}


async def test_several_clients_one_server() -> None:
    async with rpc.serve_rpc(Handler(), bind=LOOPBACK) as server:
        address = endpoint(server)
        async with (
            rpc.connect_rpc(connect=address, timeout=10) as one,
            rpc.connect_rpc(connect=address, timeout=10) as two,
            rpc.connect_rpc(connect=address, timeout=10) as three,
        ):
            clients = (one, two, three)
            seen: list[tuple[int, int, object]] = []

            async def use(n: int, client: rpc.RPCClient) -> None:
                for i in range(50):
                    seen.append((n, i, await client.call.add(n * 1000, i)))

            async with anyio.create_task_group() as tg:
                for n, client in enumerate(clients):
                    tg.start_soon(use, n, client)
    assert sorted(seen) == sorted((n, i, n * 1000 + i) for n in range(3) for i in range(50))


class Whoami(rpc.AttrHandler):
    def __init__(self, name: str) -> None:
        self.name = name

    @rpc.method
    async def whoami(self) -> str:
        await anyio.lowlevel.checkpoint()
        return self.name


async def test_one_client_several_servers() -> None:
    async with (
        rpc.serve_rpc(Whoami("a"), bind=LOOPBACK) as a,
        rpc.serve_rpc(Whoami("b"), bind=LOOPBACK) as b,
        rpc.connect_rpc(connect=[endpoint(a), endpoint(b)], timeout=10) as client,
    ):
        answers: list[str] = []
        # Round-robin only starts once both connections are up: ask until both answered.
        with anyio.fail_after(10):
            while set(answers) != {"a", "b"}:
                async with anyio.create_task_group() as tg:
                    for _ in range(20):

                        async def ask() -> None:
                            answers.append(await client.call.whoami())

                        tg.start_soon(ask)
        assert client.pending_calls == 0


async def test_client_bound_server_connected() -> None:
    async with rpc.connect_rpc(bind=LOOPBACK, timeout=10) as client:
        address = endpoint(client)
        async with rpc.serve_rpc(Handler(), connect=address):
            assert await client.call.add(2, 2) == 4


async def test_call_on_closed_or_unopened_client_raises() -> None:
    client = rpc.connect_rpc(connect="tcp://127.0.0.1:9")
    with pytest.raises(rpc.ServiceClosedError, match="not open"):
        await client.call.add(1)
    async with client:
        pass
    with pytest.raises(rpc.ServiceClosedError, match="closed"):
        await client.call.add(1)
    with pytest.raises(rpc.ServiceClosedError):
        client.transport  # noqa: B018


async def test_closing_client_fails_pending_calls() -> None:
    handler = Handler()
    async with rpc_pair(handler) as (_, client):
        async with anyio.create_task_group() as tg:

            async def closer() -> None:
                await handler.started.wait()
                client.close()

            tg.start_soon(closer)
            with pytest.raises(rpc.ServiceClosedError, match="closed before the answer"):
                await client.call.forever()
        await client.wait_closed()
        assert client.pending_calls == 0


async def test_log_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    options = {"log_exceptions": True, "exclude_log_exceptions": (MyError,)}
    with caplog.at_level(logging.ERROR, logger="anyzmq.rpc"):
        async with rpc_pair(Handler(), server=options) as (_, client):
            with pytest.raises(ValueError):  # noqa: PT011
                await client.call.value_error("logged")
            with pytest.raises(rpc.GenericError):
                await client.call.my_error()
    messages = [r.getMessage() for r in caplog.records if r.name == "anyzmq.rpc"]
    assert len(messages) == 1
    assert "'value_error'" in messages[0]
    assert "logged" in messages[0]
    assert caplog.records[0].exc_info is not None


async def test_no_logging_by_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="anyzmq.rpc"):
        async with rpc_pair(Handler()) as (_, client):
            with pytest.raises(ValueError):  # noqa: PT011
                await client.call.value_error("quiet")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_dict_handler_and_sync_async_functions() -> None:
    @rpc.method
    def hello(name: str) -> str:
        return f"hello {name}"

    @rpc.method
    async def later(name: str) -> str:
        await anyio.lowlevel.checkpoint()
        return f"later {name}"

    handler = {"hello": hello, "ns": {"later": later}, "plain": len}
    async with rpc_pair(handler) as (_, client):
        assert await client.call.hello("you") == "hello you"
        assert await client.call.ns.later("you") == "later you"
        with pytest.raises(rpc.NotFoundError):
            await client.call.plain("x")


async def test_arguments_checked_at_construction() -> None:
    with pytest.raises(TypeError, match="AbstractHandler"):
        rpc.serve_rpc(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bind"):
        rpc.serve_rpc(Handler(), bind=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="connect"):
        rpc.connect_rpc(connect=b"tcp://127.0.0.1:1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        rpc.connect_rpc(timeout=-1)
    with pytest.raises(TypeError, match="exclude_log_exceptions"):
        rpc.serve_rpc(Handler(), exclude_log_exceptions=("x",))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="error_table"):
        rpc.connect_rpc(error_table={"x": 1})  # type: ignore[dict-item]
    rpc.connect_rpc(timeout=math.inf)


async def test_finished_calls_keep_no_answer() -> None:
    # A call with a timeout stays in the client's deadline heap for a while after it
    # ends: its answer must not (a large answer would be held for nothing).
    async with rpc_pair(Handler(), timeout=30) as (_, client):
        for n in range(20):
            assert await client.call.echo(b"x" * (1000 + n)) == b"x" * (1000 + n)
        with pytest.raises(ValueError, match="kept"):
            await client.call.value_error("kept")
        kept = [entry[2] for entry in client._deadlines._heap]
        assert len(kept) == 21
        assert all(p.value is None and p.error is None for p in kept)  # type: ignore[attr-defined]


async def test_answers_zeromq_refuses_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # With ROUTER_MANDATORY and a peer that does not read, ZeroMQ refuses answers
    # once the queue is full: each must be counted and logged, never lost silently.
    class Counting(rpc.AttrHandler):
        def __init__(self) -> None:
            self.calls = 0

        @rpc.method
        def count(self) -> int:
            self.calls += 1
            return self.calls

    handler = Counting()
    caplog.set_level(logging.WARNING, logger="anyzmq.rpc")
    address = f"inproc://refused-answers-{id(handler)}"
    options: rpc.SocketOptions = {zmq.ROUTER_MANDATORY: 1, zmq.SNDHWM: 1}
    async with rpc.serve_rpc(handler, bind=address, socket_options=options) as server:
        dealer = raw_socket(zmq.DEALER, address, rcvhwm=1)
        try:
            for n in range(200):
                dealer.send_multipart([request_header(n + 1), b"count", b"\x90", b"\x80"])
            with anyio.fail_after(30):
                while handler.calls < 200:
                    await anyio.lowlevel.checkpoint()
            answered = 0
            while dealer.poll(0):
                dealer.recv_multipart()
                answered += 1
        finally:
            dealer.close()
        assert server.dropped_messages > 0
        assert answered + server.dropped_messages == 200
    assert any("could not be sent" in r.getMessage() for r in caplog.records)


async def test_timeout_error_names_the_method_and_the_timeout() -> None:
    async with rpc_pair(Handler(), timeout=30) as (_, client):
        with pytest.raises(TimeoutError, match=r"no answer to 'forever' within 0\.2 s"):
            await client.with_timeout(0.2).call.forever()
