"""The hot-path decoder of Binance market-stream frames into the typed events of ``stream_schemas``.

A decoder serves one market (the same stream name means different shapes on the two markets)::

    decoder = StreamDecoder(Market.SPOT)
    stream, event = decoder.decode(frame)        # combined stream: {"stream": ..., "data": ...}
    event = decoder.decode_payload(stream, data)  # raw /ws/<stream> connection, stream known
    event = decoder.decode_event(data)            # raw /ws connection, several subscriptions

Which Struct a stream's ``data`` is, and which one an event type ``e`` names, come from the stream table
(``streams.py``). Control replies (``{"result": null, "id": 1}``, ``{"error": {"code": .., "msg": ..}, "id": ..}``)
decode to ``Reply`` (with stream ``None`` from ``decode``). Anything else that cannot be decoded raises
``StreamDecodeError``: count it and skip the frame.

Hot path (measured in ``benchmarks/bench_decode.py``): each known stream gets a wrapper Struct tagged by its
stream name (``tag_field="stream"``), and one ``msgspec.json.Decoder`` of the union of them dispatches and
decodes a frame in a single C pass, with no Python-level look at the bytes. Frames the union refuses (a stream
not compiled in yet, a control reply, a bad frame) take the general path: decode ``{"stream", "data": Raw}``,
resolve the stream name, decode ``data``. Per frame that path takes about 1.3x the union's time, and slicing
the stream name out of the bytes to pick a per-stream decoder 1.3-1.5x (a few Python-level bytes operations
cost about as much as msgspec's whole decode).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from typing import ClassVar
from typing import Union

import msgspec
from msgspec import UNSET
from msgspec import UnsetType

from framework.binance.endpoints import Market
from framework.binance.stream_schemas import Reply
from framework.binance.stream_schemas import ReplyError
from framework.binance.stream_schemas import SpotBookTickerEvent
from framework.binance.stream_schemas import SpotPartialDepthEvent
from framework.binance.streams import EVENT_TYPES
from framework.binance.streams import payload_type


class StreamDecodeError(ValueError):
    """A frame that is not JSON, not the shape its stream carries, or from a stream no decoder knows.

    The one exception the decoders raise for bad input: count it and skip the frame.
    """

    def __init__(self, reason: str, frame: bytes | str | memoryview | bytearray, stream: str | None = None):
        self.reason = reason
        self.stream = stream
        self.frame = bytes(frame[:200]) if not isinstance(frame, str) else frame[:200]
        where = f" ({stream})" if stream else ""
        super().__init__(f"{reason}{where}: {self.frame!r}")


# ----------------------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------------------


class StreamMsg(msgspec.Struct, frozen=True, gc=False):
    """A combined-stream frame of one known stream.

    A decoder makes one subclass per stream, tagged by the stream name (``tag_field="stream"``), so a single
    ``msgspec`` union decoder both dispatches on ``stream`` and decodes ``data`` in one pass. ``stream`` is a
    class attribute; ``data`` the typed payload.
    """

    stream: ClassVar[str]


class _Envelope(msgspec.Struct, gc=False):
    """Any frame a combined or raw connection delivers, with ``data`` left undecoded."""

    stream: str | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    e: str | UnsetType = UNSET
    u: int | UnsetType = UNSET
    lastUpdateId: int | UnsetType = UNSET
    id: int | str | None | UnsetType = UNSET
    result: Any | UnsetType = UNSET
    error: ReplyError | UnsetType = UNSET
    code: int | UnsetType = UNSET  # older docs show errors as {"code", "msg", "id"}
    msg: str | UnsetType = UNSET


class _NoStream(StreamMsg, frozen=True, gc=False, tag_field="stream", tag="\x00"):
    """A member of every union that never decodes (no JSON value is UNSET).

    With it a union has two members even for one stream, so msgspec requires the ``stream`` tag.
    """

    data: UnsetType


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_E_PREFIX_B = b'{"e":"'
_E_PREFIX_S = '{"e":"'
MAX_STREAMS = 4096  # streams one decoder compiles into its union (a connection carries at most 1024)
_REBUILD_FRAMES = 32  # general-path frames per compiled stream that pay for a rebuild of the union


def _reply(env: _Envelope) -> Reply | None:
    rid = None if env.id is UNSET else env.id
    if env.error is not UNSET:
        return Reply(rid, None, env.error)
    if env.result is not UNSET:
        return Reply(rid, env.result)
    if env.code is not UNSET and env.msg is not UNSET:
        return Reply(rid, None, ReplyError(env.code, env.msg))
    return None


class StreamDecoder:
    """Decodes one market's stream frames into typed events. One per market (or per connection).

    Streams passed to the constructor or ``add`` are compiled into the union decoder at once; streams first
    met in frames are decoded on the general path and compiled once their general-path frames would have
    paid for the rebuild (cost grows with the number of streams), so a large subscription warms up without
    rebuilding per stream.
    """

    __slots__ = (
        "market", "_events", "_payload", "_classes", "_pending", "_union", "_slow",
        "_event_b", "_event_s",
    )

    def __init__(self, market: Market | str, streams: Iterable[str] = ()):
        self.market = Market(market)
        self._events = EVENT_TYPES[self.market]
        self._payload: dict[str, msgspec.json.Decoder] = {}  # stream -> decoder of its bare payload
        self._classes: dict[str, type[StreamMsg]] = {}  # compiled into _union
        self._pending: dict[str, type[StreamMsg]] = {}  # seen, not yet compiled
        self._union = msgspec.json.Decoder(_NoStream)
        self._slow = 0  # general-path frames since the last rebuild
        self._event_b = {k.encode(): msgspec.json.Decoder(v) for k, v in self._events.items()}
        self._event_s = {k: msgspec.json.Decoder(v) for k, v in self._events.items()}
        if streams:
            self.add(streams)

    @property
    def streams(self) -> tuple[str, ...]:
        """Streams compiled into the fast path."""
        return tuple(self._classes)

    def add(self, streams: Iterable[str]) -> None:
        """Compile ``streams`` into the fast path now (e.g. when subscribing). ValueError for unknown ones."""
        for stream in streams:
            if stream not in self._classes:
                self._pending[stream] = self._message_class(stream)
        self._rebuild()

    # -- combined streams: {"stream": ..., "data": ...} --------------------------------------------------

    def decode(self, frame: bytes | str) -> tuple[str | None, Any]:
        """``(stream, event)`` of a combined-stream frame; ``(None, Reply)`` for a control reply.

        Raises StreamDecodeError for anything else.
        """
        try:
            msg = self._union.decode(frame)
        except msgspec.DecodeError:  # new stream, control reply or bad frame
            return self._decode_general(frame)
        return msg.stream, msg.data

    def _decode_general(self, frame: bytes | str) -> tuple[str | None, Any]:
        env = self._envelope(frame)
        stream = env.stream
        if stream is UNSET or env.data is UNSET:
            reply = _reply(env)
            if reply is None:
                raise StreamDecodeError("neither a stream frame nor a control reply", frame)
            return None, reply
        decoder = self._payload_decoder(stream, frame)
        try:
            event = decoder.decode(env.data)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), frame, stream) from None
        if stream not in self._classes and len(self._classes) + len(self._pending) < MAX_STREAMS:
            if stream not in self._pending:
                self._pending[stream] = self._message_class(stream, decoder.type)
            self._slow += 1
            if self._slow >= _REBUILD_FRAMES * (len(self._classes) + 1):
                self._rebuild()
        return stream, event

    def _message_class(self, stream: str, payload: Any = None) -> type[StreamMsg]:
        if payload is None:
            payload = payload_type(self.market, stream)
            if payload is None:
                raise ValueError(f"unknown {self.market.value} stream {stream!r}")
        return msgspec.defstruct(
            "StreamMsg", [("data", payload)], bases=(StreamMsg,), tag_field="stream", tag=stream,
            frozen=True, gc=False, namespace={"stream": stream},
        )

    def _rebuild(self) -> None:
        if self._pending:
            self._classes.update(self._pending)
            self._pending.clear()
            self._union = msgspec.json.Decoder(Union[(_NoStream, *self._classes.values())])  # noqa: UP007
        self._slow = 0

    # -- raw streams: the payload alone ------------------------------------------------------------------

    def decode_payload(self, stream: str, payload: bytes | str) -> Any:
        """The event of a raw ``/ws/<stream>`` payload whose stream is known."""
        decoder = self._payload.get(stream) or self._payload_decoder(stream, payload)
        try:
            return decoder.decode(payload)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), payload, stream) from None

    def decode_event(self, payload: bytes | str) -> Any:
        """The event of a raw payload, told apart by its event type ``e``; a Reply for a control reply.

        For raw ``/ws`` connections carrying several streams (spot bookTicker and partial depth, which carry
        no ``e``, are recognised by their fields). Array payloads (``!…@arr``) need ``decode_payload``.
        """
        try:
            if payload[:6] == _E_PREFIX_B:
                decoder = self._event_b.get(payload[6:payload.find(b'"', 6)])
                if decoder is not None:
                    return decoder.decode(payload)
            elif payload[:6] == _E_PREFIX_S:
                decoder = self._event_s.get(payload[6:payload.find('"', 6)])
                if decoder is not None:
                    return decoder.decode(payload)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), payload) from None
        env = self._envelope(payload)
        if env.e is not UNSET:
            event_type = self._events.get(env.e)
            if event_type is None:
                raise StreamDecodeError(f"unknown {self.market.value} event type {env.e!r}", payload)
        elif self.market is Market.SPOT and env.lastUpdateId is not UNSET:
            event_type = SpotPartialDepthEvent
        elif self.market is Market.SPOT and env.u is not UNSET:
            event_type = SpotBookTickerEvent
        else:
            reply = _reply(env)
            if reply is None:
                raise StreamDecodeError("neither a stream event nor a control reply", payload)
            return reply
        try:
            return msgspec.json.decode(payload, type=event_type)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), payload) from None

    # -- helpers -----------------------------------------------------------------------------------------

    @staticmethod
    def _envelope(frame: bytes | str) -> _Envelope:
        try:
            return _ENVELOPE.decode(frame)
        except msgspec.DecodeError as e:
            raise StreamDecodeError(str(e), frame) from None

    def _payload_decoder(self, stream: str, frame: bytes | str) -> msgspec.json.Decoder:
        decoder = self._payload.get(stream)
        if decoder is None:
            payload = payload_type(self.market, stream)
            if payload is None:
                raise StreamDecodeError(f"unknown {self.market.value} stream", frame, stream)
            decoder = msgspec.json.Decoder(payload)
            if len(self._payload) < MAX_STREAMS:
                self._payload[stream] = decoder
        return decoder
