"""The public surface is exactly what we mean it to be."""

from __future__ import annotations

import anyzmq
from anyzmq import rpc

EXPECTED = {
    "AbstractHandler",
    "AttrHandler",
    "AuthenticationError",
    "CallInfo",
    "ConnectionLostError",
    "CurveClient",
    "CurveServer",
    "Error",
    "ErrorTable",
    "GenericError",
    "HandlerLike",
    "KeyPair",
    "MethodInfo",
    "NotFoundError",
    "ParameterError",
    "ParametersError",
    "PipelineClient",
    "PipelineServer",
    "ProtocolError",
    "PubSubClient",
    "PubSubService",
    "RPCClient",
    "RPCClientView",
    "RPCServer",
    "Service",
    "ServiceClosedError",
    "SocketOptions",
    "Stream",
    "StreamCall",
    "StreamMismatchError",
    "Transport",
    "TranslationTable",
    "Translator",
    "connect_pipeline",
    "connect_pubsub",
    "connect_rpc",
    "current_call",
    "curve_keypair",
    "load_public_key",
    "load_public_keys",
    "logger",
    "method",
    "serve_pipeline",
    "serve_pubsub",
    "serve_rpc",
}


def test_rpc_exports_exactly_the_api() -> None:
    assert set(rpc.__all__) == EXPECTED
    public = {name for name in vars(rpc) if not name.startswith("_")}
    assert public == EXPECTED
    for name in rpc.__all__:
        assert getattr(rpc, name) is not None


def test_top_level() -> None:
    assert anyzmq.__all__ == ["__version__", "rpc"]
    assert anyzmq.rpc is rpc
    assert isinstance(anyzmq.__version__, str)


def test_errors_are_a_flat_hierarchy_with_public_module() -> None:
    for cls in (
        rpc.GenericError,
        rpc.AuthenticationError,
        rpc.NotFoundError,
        rpc.ParameterError,
        rpc.ServiceClosedError,
        rpc.ProtocolError,
        rpc.StreamMismatchError,
    ):
        assert issubclass(cls, rpc.Error)
        assert cls.__module__ == "anyzmq.rpc"
    assert issubclass(rpc.NotFoundError, LookupError)
    assert issubclass(rpc.ParameterError, ValueError)
    assert issubclass(rpc.StreamMismatchError, TypeError)
    assert rpc.ParametersError is rpc.ParameterError
    assert rpc.logger.name == "anyzmq.rpc"
