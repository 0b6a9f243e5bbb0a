"""Remote procedure calls over ZeroMQ: request-reply, pipeline and pub-sub.

``from anyzmq import rpc`` gives the whole public API.
"""

from ._calls import CallInfo as CallInfo
from ._calls import current_call as current_call
from ._codec import TranslationTable as TranslationTable
from ._codec import Translator as Translator
from ._curve import CurveClient as CurveClient
from ._curve import CurveServer as CurveServer
from ._curve import KeyPair as KeyPair
from ._curve import curve_keypair as curve_keypair
from ._curve import load_public_key as load_public_key
from ._curve import load_public_keys as load_public_keys
from ._error_table import ErrorTable as ErrorTable
from ._errors import AuthenticationError as AuthenticationError
from ._errors import ConnectionLostError as ConnectionLostError
from ._errors import Error as Error
from ._errors import GenericError as GenericError
from ._errors import NotFoundError as NotFoundError
from ._errors import ParameterError as ParameterError
from ._errors import ParametersError as ParametersError
from ._errors import ProtocolError as ProtocolError
from ._errors import ServiceClosedError as ServiceClosedError
from ._errors import StreamMismatchError as StreamMismatchError
from ._handlers import AbstractHandler as AbstractHandler
from ._handlers import AttrHandler as AttrHandler
from ._handlers import HandlerLike as HandlerLike
from ._handlers import method as method
from ._introspect import MethodInfo as MethodInfo
from ._log import logger as logger
from ._pipeline import PipelineClient as PipelineClient
from ._pipeline import PipelineServer as PipelineServer
from ._pipeline import connect_pipeline as connect_pipeline
from ._pipeline import serve_pipeline as serve_pipeline
from ._pubsub import PubSubClient as PubSubClient
from ._pubsub import PubSubService as PubSubService
from ._pubsub import connect_pubsub as connect_pubsub
from ._pubsub import serve_pubsub as serve_pubsub
from ._rpc import RPCClient as RPCClient
from ._rpc import RPCClientView as RPCClientView
from ._rpc import RPCServer as RPCServer
from ._rpc import connect_rpc as connect_rpc
from ._rpc import serve_rpc as serve_rpc
from ._service import Service as Service
from ._service import SocketOptions as SocketOptions
from ._stream_client import Stream as Stream
from ._stream_client import StreamCall as StreamCall
from ._transport import Transport as Transport

__all__ = [
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
    "TranslationTable",
    "Translator",
    "Transport",
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
]
