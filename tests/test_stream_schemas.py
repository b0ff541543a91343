"""Stream event Structs and StreamDecoder against every recorded Binance frame we hold.

Each frame is decoded on the combined path (bytes and text), the raw payload path (stream known) and the
raw event path (dispatch by ``e``); the event must carry exactly the fields and values ``json.loads`` sees
(strings stay strings, ints stay ints, bools stay bools). Bad input must raise StreamDecodeError and
nothing else.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import msgspec
import pytest

from framework.binance import schemas as rest
from framework.binance.endpoints import Market
from framework.binance.stream_decoder import StreamDecodeError
from framework.binance.stream_decoder import StreamDecoder
from framework.binance.stream_schemas import ContinuousKlineEvent
from framework.binance.stream_schemas import ForceOrderEvent
from framework.binance.stream_schemas import FuturesAggTradeEvent
from framework.binance.stream_schemas import FuturesBookTickerEvent
from framework.binance.stream_schemas import FuturesDepthEvent
from framework.binance.stream_schemas import FuturesTicker24hrEvent
from framework.binance.stream_schemas import FuturesTradeEvent
from framework.binance.stream_schemas import KlineEvent
from framework.binance.stream_schemas import MarkPriceEvent
from framework.binance.stream_schemas import MiniTickerEvent
from framework.binance.stream_schemas import Reply
from framework.binance.stream_schemas import ReplyError
from framework.binance.stream_schemas import RollingTickerEvent
from framework.binance.stream_schemas import SpotAggTradeEvent
from framework.binance.stream_schemas import SpotBookTickerEvent
from framework.binance.stream_schemas import SpotDepthEvent
from framework.binance.stream_schemas import SpotPartialDepthEvent
from framework.binance.stream_schemas import SpotTicker24hrEvent
from framework.binance.stream_schemas import SpotTradeEvent
from framework.binance.streams import EVENT_TYPES
from framework.binance.streams import STREAMS
from framework.binance.streams import futures_category
from framework.binance.streams import parse_stream
from framework.binance.streams import payload_type
from framework.binance.websocket import stream_url
from tests.conftest import FIXTURES

DATASETS = FIXTURES / "datasets"
SPOT, FUT = Market.SPOT, Market.FUTURES
PREFIX = b'{"stream":"'

# Which Struct each recorded stream must decode to.
EXPECTED_TYPE = {
    (SPOT, "trade"): SpotTradeEvent,
    (SPOT, "aggTrade"): SpotAggTradeEvent,
    (SPOT, "kline"): KlineEvent,
    (SPOT, "bookTicker"): SpotBookTickerEvent,
    (SPOT, "depth"): SpotDepthEvent,
    (SPOT, "ticker"): SpotTicker24hrEvent,
    (SPOT, "rollingTicker"): RollingTickerEvent,
    (FUT, "trade"): FuturesTradeEvent,
    (FUT, "aggTrade"): FuturesAggTradeEvent,
    (FUT, "kline"): KlineEvent,
    (FUT, "continuousKline"): ContinuousKlineEvent,
    (FUT, "markPrice"): MarkPriceEvent,
    (FUT, "bookTicker"): FuturesBookTickerEvent,
    (FUT, "depth"): FuturesDepthEvent,
}
# Raw payloads in the fixtures (documentation examples) and the stream they would arrive on.
RAW_DOC_STREAM = {"24hrTicker": "bnbbtc@ticker", "1hTicker": "bnbbtc@ticker_1h"}

_CANON = msgspec.json.Encoder(order="sorted")


def assert_same(event: msgspec.Struct, expected: dict | list) -> None:
    """``event`` holds exactly the keys and values of ``expected`` (json.loads), types included."""
    # Through JSON so (price, qty) tuples compare as lists; absent optional fields stay absent
    # (omit_defaults).
    got = msgspec.json.decode(msgspec.json.encode(event))
    assert got == expected
    # == treats True as 1; the canonical encoding does not.
    assert _CANON.encode(got) == _CANON.encode(expected)


def payload_of(line: bytes) -> bytes:
    """The exact ``data`` bytes of a combined frame as Binance sends it (``{"stream":"…","data":…}``)."""
    head = line.index(b'","data":') + len(b'","data":')
    assert line.startswith(PREFIX) and line.endswith(b"}")
    return line[head:-1]


def check_lines(market: Market, lines: list[bytes]) -> int:
    """Decode every line every way; return how many stream frames were checked."""
    combined, raw = StreamDecoder(market), StreamDecoder(market)
    checked = 0
    for line in lines:
        expected = json.loads(line)
        if "lastUpdateId" in expected:  # captures hold one REST depth snapshot (order book sync point)
            snapshot = msgspec.structs.asdict(msgspec.json.decode(line, type=rest.Depth))
            snapshot = {k: [list(level) for level in v] if k in ("bids", "asks") else v
                        for k, v in snapshot.items() if v is not None}
            assert snapshot == expected
            continue
        if "stream" not in expected:  # a raw payload (documentation example)
            event = raw.decode_event(line)
            assert_same(event, expected)
            assert raw.decode_payload(RAW_DOC_STREAM[expected["e"]], line) == event
            checked += 1
            continue
        stream, event = combined.decode(line)
        assert stream == expected["stream"]
        parsed = parse_stream(stream, market)
        assert parsed is not None and not parsed.array
        assert type(event) is EXPECTED_TYPE[market, parsed.kind.name], (stream, type(event))
        assert_same(event, expected["data"])
        assert combined.decode(line.decode()) == (stream, event)  # text frames too
        payload = payload_of(line)
        assert raw.decode_payload(stream, payload) == event
        assert raw.decode_event(payload) == event
        checked += 1
    return checked


def read_lines(path: Path) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in path.read_bytes().splitlines() if line.strip()]


def read_capture(path: Path) -> list[bytes]:
    """``<recv ns> <frame>`` lines of a gzipped stream capture -> frames."""
    with gzip.open(path, "rb") as f:
        return [line.rstrip(b"\r\n").split(b" ", 1)[1] for line in f if line.strip()]


# ---- every recorded frame --------------------------------------------------------------------------------

WS_FILES = [*sorted((FIXTURES / "spot" / "ws").glob("*.jsonl")),
            *sorted((FIXTURES / "futures" / "ws").glob("*.jsonl"))]


@pytest.mark.parametrize("path", WS_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_recorded_ws_fixture(path: Path) -> None:
    market = SPOT if path.parent.parent.name == "spot" else FUT
    lines = read_lines(path)
    assert lines
    assert check_lines(market, lines) == len(lines)


def test_ws_fixtures_cover_every_event_type() -> None:
    assert len(WS_FILES) >= 15
    seen = set()
    for path in WS_FILES:
        market = SPOT if path.parent.parent.name == "spot" else FUT
        decoder = StreamDecoder(market)
        for line in read_lines(path):
            event = decoder.decode_event(payload_of(line) if line.startswith(PREFIX) else line)
            seen.add((market, type(event)))
    assert {(m, t) for (m, _), t in EXPECTED_TYPE.items()} <= seen


@pytest.mark.parametrize(
    ("market", "relpath", "count"),
    [
        (SPOT, "spot_aggTrade_frames/BTC_ETH_DOT_USDT_aggTrade_2021-04-04.jsonl", 1910),
        (SPOT, "spot_stream_capture/BTCUSDT_trade_frames_2024-08-08.jsonl", 9757),
    ],
)
def test_dataset_frames(market: Market, relpath: str, count: int) -> None:
    lines = read_lines(DATASETS / relpath)
    assert len(lines) == count
    assert check_lines(market, lines) == count


@pytest.mark.parametrize(
    ("market", "relpath", "count"),
    [
        (FUT, "futures_stream_capture/btcusdt_20240808.gz", 93954),
        (SPOT, "spot_stream_capture/btcusdt_20240808.gz", 41249),
    ],
)
def test_stream_capture(market: Market, relpath: str, count: int) -> None:
    frames = read_capture(DATASETS / relpath)
    assert len(frames) == count
    assert check_lines(market, frames) == count - 1  # less the REST depth snapshot


# ---- stream names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "kind"),
    [
        ("btcusdt@trade", ("trade", False)),
        ("btcusdt@aggTrade", ("aggTrade", False)),
        ("btcusdt@kline_1m", ("kline", False)),
        ("btcusdt@kline_1h@+08:00", ("kline", False)),
        ("btcusdt_perpetual@continuousKline_1m", ("continuousKline", False)),
        ("btcusdt@markPrice", ("markPrice", False)),
        ("btcusdt@markPrice@1s", ("markPrice", False)),
        ("btcusdt@ticker", ("ticker", False)),
        ("btcusdt@ticker_4h", ("rollingTicker", False)),
        ("btcusdt@miniTicker", ("miniTicker", False)),
        ("btcusdt@bookTicker", ("bookTicker", False)),
        ("btcusdt@depth", ("depth", False)),
        ("btcusdt@depth@0ms", ("depth", False)),
        ("btcusdt@depth@100ms", ("depth", False)),
        ("btcusdt@depth20@100ms", ("partialDepth", False)),
        ("btcusdt@forceOrder", ("forceOrder", False)),
        ("!markPrice@arr@1s", ("markPrice", True)),
        ("!ticker@arr", ("ticker", True)),
        ("!miniTicker@arr", ("miniTicker", True)),
        ("!bookTicker", ("bookTicker", False)),
        ("!forceOrder@arr", ("forceOrder", False)),
        ("btcusdt", None),
        ("@trade", None),
        ("btcusdt@", None),
    ],
)
def test_parse_stream(stream: str, kind: tuple[str, bool] | None) -> None:
    parsed = [p for m in Market if (p := parse_stream(stream, m)) is not None]
    assert {(p.kind.name, p.array) for p in parsed} == ({kind} if kind else set())


def test_every_grammar_form_of_the_table_parses_to_its_row() -> None:
    """The grammar the table prints (``<symbol>@kline_<interval>[@+08:00]``) is the one ``parse_stream`` reads."""
    for kind in STREAMS:
        for market in kind.schemas:
            params = (kind.param_values or {}).get(market, (None,))
            for form in kind.grammar:
                base = form.split("[")[0].replace("<symbol>", "btcusdt").replace("<pair>_<contractType>",
                                                                                   "btcusdt_perpetual")
                for param in params:
                    name = base.replace(f"<{kind.param}>", param) if param else base
                    for option in ("", *kind.options):
                        parsed = parse_stream(name + option, market)
                        assert parsed is not None and parsed.kind is kind, (name + option, market)
                        assert (parsed.param, parsed.options) == (param, option)
                        assert parsed.array == (form.startswith("!") and kind.all_market_list)
                        assert parsed.payload_type is not None
        for market in set(Market) - set(kind.schemas):  # a stream of the other market only
            assert parse_stream(kind.grammar[0].split("[")[0].replace("<symbol>", "btcusdt"), market) is None


@pytest.mark.parametrize(("stream", "category"), [
    ("btcusdt@bookTicker", "public"), ("!bookTicker", "public"), ("btcusdt@depth", "public"),
    ("btcusdt@depth@100ms", "public"), ("btcusdt@depth20@100ms", "public"),
    ("btcusdt@aggTrade", "market"), ("btcusdt@kline_1m", "market"), ("btcusdt@markPrice@1s", "market"),
    ("!forceOrder@arr", "market"), ("btcusdt@nothing", "market"),
])
def test_usd_m_path_of_a_stream(stream: str, category: str) -> None:
    assert futures_category(stream) == category
    assert stream_url(FUT, "ws://h", [stream]) == f"ws://h/{category}/stream?streams={stream}"


def test_event_types_come_from_the_table() -> None:
    assert EVENT_TYPES[SPOT]["4hTicker"] is RollingTickerEvent
    assert EVENT_TYPES[FUT]["depthUpdate"] is FuturesDepthEvent
    assert "bookTicker" not in EVENT_TYPES[SPOT]  # spot's bookTicker carries no "e"
    assert EVENT_TYPES[FUT]["bookTicker"] is FuturesBookTickerEvent


def test_payload_type_by_market() -> None:
    assert payload_type(SPOT, "btcusdt@trade") is SpotTradeEvent
    assert payload_type("futures", "btcusdt@trade") is FuturesTradeEvent
    assert payload_type(SPOT, "btcusdt@depth5") is SpotPartialDepthEvent
    assert payload_type(FUT, "btcusdt@depth5@100ms") is FuturesDepthEvent
    assert payload_type(FUT, "!markPrice@arr") == list[MarkPriceEvent]
    assert payload_type(SPOT, "btcusdt@markPrice") is None  # USD-M only
    assert payload_type(FUT, "btcusdt@ticker_1h") is None  # spot only
    assert payload_type(SPOT, "btcusdt@nothing") is None


# ---- shapes with no recorded frame (examples from Binance's documentation) -------------------------------

DOC_FRAMES = [
    (SPOT, b'{"stream":"bnbbtc@miniTicker","data":{"e":"24hrMiniTicker","E":1672515782136,"s":"BNBBTC",'
           b'"c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}}', MiniTickerEvent),
    (SPOT, b'{"stream":"bnbbtc@depth5@100ms","data":{"lastUpdateId":160,"bids":[["0.0024","10"]],'
           b'"asks":[["0.0026","100"]]}}', SpotPartialDepthEvent),
    (SPOT, b'{"stream":"bnbbtc@ticker_4h","data":{"e":"4hTicker","E":1672515782136,"s":"BNBBTC","p":"0.0015",'
           b'"P":"250.00","o":"0.0010","h":"0.0025","l":"0.0010","c":"0.0025","w":"0.0018","v":"10000",'
           b'"q":"18",'
           b'"O":0,"C":1675216573749,"F":0,"L":18150,"n":18151}}', RollingTickerEvent),
    (FUT, b'{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT",'
          b'"S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014",'
          b'"z":"0.014","T":1568014460893}}}', ForceOrderEvent),
    (FUT, b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":123456789,"s":"BTCUSDT","p":"0.0015",'
          b'"P":"250.00","w":"0.0018","c":"0.0025","Q":"10","o":"0.0010","h":"0.0025","l":"0.0010",'
          b'"v":"10000","q":"18","O":0,"C":86400000,"F":0,"L":18150,"n":18151}}', FuturesTicker24hrEvent),
    (FUT, b'{"stream":"btcusdt@depth5@100ms","data":{"e":"depthUpdate","E":1571889248277,"T":1571889248276,'
          b'"s":"BTCUSDT","U":390497796,"u":390497878,"pu":390497794,"b":[["7403.89","0.002"]],'
          b'"a":[["7405.96","3.340"]]}}', FuturesDepthEvent),
]


@pytest.mark.parametrize(
    ("market", "frame", "event_type"), DOC_FRAMES, ids=lambda x: getattr(x, "__name__", None)
)
def test_documented_shapes(market: Market, frame: bytes, event_type: type) -> None:
    decoder = StreamDecoder(market)
    stream, event = decoder.decode(frame)
    assert type(event) is event_type
    assert_same(event, json.loads(frame)["data"])
    assert decoder.decode_payload(stream, payload_of(frame)) == event
    assert decoder.decode_event(payload_of(frame)) == event


def test_all_market_array_stream() -> None:
    item = (b'{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11185.87786614",'
            b'"i":"11784.62659091","P":"11784.25641265","r":"0.00030000","T":1562306400000}')
    frame = b'{"stream":"!markPrice@arr@1s","data":[' + item + b"," + item.replace(b"BTC", b"ETH") + b"]}"
    decoder = StreamDecoder(FUT)
    for _ in range(3):
        stream, events = decoder.decode(frame)
        assert stream == "!markPrice@arr@1s"
        assert [type(e) for e in events] == [MarkPriceEvent, MarkPriceEvent]
        assert_same(events, json.loads(frame)["data"])
    assert decoder.decode_payload("!markPrice@arr@1s", payload_of(frame)) == events


# ---- control replies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reply"),
    [
        (b'{"result":null,"id":1}', Reply(1, None)),
        (b'{"result":["btcusdt@aggTrade","btcusdt@depth"],"id":3}',
         Reply(3, ["btcusdt@aggTrade", "btcusdt@depth"])),
        (b'{"result":true,"id":5}', Reply(5, True)),
        (b'{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":7}',
         Reply(7, None, ReplyError(2, "Invalid request: unknown variant"))),
        (b'{"error":{"code":3,"msg":"Invalid JSON"},"id":null}',
         Reply(None, None, ReplyError(3, "Invalid JSON"))),
        (b'{"code":0,"msg":"Unknown property","id":9}', Reply(9, None, ReplyError(0, "Unknown property"))),
    ],
)
def test_control_replies(frame: bytes, reply: Reply) -> None:
    for market in Market:
        decoder = StreamDecoder(market, ["btcusdt@aggTrade"])
        assert decoder.decode(frame) == (None, reply)
        assert decoder.decode(frame.decode()) == (None, reply)
        assert decoder.decode_event(frame) == reply
    assert reply.ok is (reply.error is None)


# ---- bad input ---------------------------------------------------------------------------------------------

GOOD_SPOT = read_lines(FIXTURES / "spot" / "ws" / "aggTrade.jsonl")[0]
GOOD_FUT_DEPTH = read_lines(FIXTURES / "futures" / "ws" / "depth.jsonl")[0]
BAD_SPOT_FRAMES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b"123",
    b'"btcusdt@aggTrade"',
    b"{}",
    b'{"id":1}',
    b"\xff\xfe{}",
    b"not json at all",
    GOOD_SPOT + b"x",
    GOOD_SPOT[:-1] + b",}",
    b'{"stream":"btcusdt@aggTrade"}',
    b'{"stream":"btcusdt@aggTrade","data":null}',
    b'{"stream":"btcusdt@aggTrade","data":[]}',
    b'{"stream":"btcusdt@aggTrade","data":{}}',
    b'{"stream":"btcusdt@unknownStream","data":{"e":"x"}}',
    b'{"stream":"btcusdt@markPrice","data":{}}',  # USD-M only
    b'{"stream":42,"data":{}}',
    GOOD_SPOT.replace(b'"p":"58001.03000000"', b'"p":58001.03'),  # a decimal sent as a number
    GOOD_SPOT.replace(b'"m":true', b'"m":"true"'),
    GOOD_SPOT.replace(b'"a":665076760', b'"a":"665076760"'),
    GOOD_SPOT.replace(b'"T":1617566591314,', b""),  # a required field missing
    GOOD_SPOT.replace(b',"M":true', b""),  # spot aggTrade without M (a USD-M shape)
]


def _raises(call, *args) -> StreamDecodeError:
    with pytest.raises(StreamDecodeError) as info:
        call(*args)
    assert isinstance(info.value, ValueError)
    return info.value


@pytest.mark.parametrize("frame", BAD_SPOT_FRAMES)
def test_malformed_frames_raise_stream_decode_error(frame: bytes) -> None:
    fresh = StreamDecoder(SPOT)
    warm = StreamDecoder(SPOT, ["btcusdt@aggTrade"])
    for decoder in (fresh, warm):
        _raises(decoder.decode, frame)
        try:
            text = frame.decode()
        except UnicodeDecodeError:
            continue
        _raises(decoder.decode, text)
    # A bad frame does not disturb the next good one.
    assert type(warm.decode(GOOD_SPOT)[1]) is SpotAggTradeEvent
    assert type(fresh.decode(GOOD_SPOT)[1]) is SpotAggTradeEvent


def test_error_names_the_stream() -> None:
    error = _raises(StreamDecoder(SPOT, ["btcusdt@aggTrade"]).decode, BAD_SPOT_FRAMES[-1])
    assert error.stream == "btcusdt@aggTrade"
    assert error.frame.startswith(b'{"stream":"btcusdt@aggTrade"')
    error = _raises(StreamDecoder(SPOT).decode, b'{"stream":"btcusdt@unknownStream","data":{}}')
    assert error.stream == "btcusdt@unknownStream"


@pytest.mark.parametrize("frame", [GOOD_SPOT, GOOD_FUT_DEPTH])
def test_every_truncation_raises(frame: bytes) -> None:
    market = SPOT if frame is GOOD_SPOT else FUT
    stream = json.loads(frame)["stream"]
    fresh, warm = StreamDecoder(market), StreamDecoder(market, [stream])
    payload = payload_of(frame)
    for cut in range(len(frame)):
        for decoder in (fresh, warm):
            _raises(decoder.decode, frame[:cut])
    for cut in range(len(payload)):
        _raises(warm.decode_payload, stream, payload[:cut])
        _raises(warm.decode_event, payload[:cut])
    assert warm.decode(frame)[0] == stream


def test_wrong_market_shape_raises() -> None:
    spot_trade = read_lines(FIXTURES / "spot" / "ws" / "trade.jsonl")[0]
    spot_book = read_lines(FIXTURES / "spot" / "ws" / "bookTicker.jsonl")[0]
    fut_trade = read_lines(FIXTURES / "futures" / "ws" / "trade.jsonl")[0]
    _raises(StreamDecoder(FUT).decode, spot_trade)  # no X
    _raises(StreamDecoder(FUT).decode, spot_book)  # no e, T, E
    _raises(StreamDecoder(SPOT).decode, fut_trade)  # no M


def test_raw_event_bad_input() -> None:
    decoder = StreamDecoder(FUT)
    _raises(decoder.decode_event, b'{"e":"somethingNew","E":1}')
    _raises(decoder.decode_event, b'{"e":"trade","E":1}')
    _raises(decoder.decode_event, b'{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}')  # spot shape
    _raises(decoder.decode_event, b"[1,2]")
    _raises(decoder.decode_event, b"{}")
    _raises(decoder.decode_payload, "btcusdt@nothing", b"{}")
    _raises(decoder.decode_payload, "btcusdt@trade", b'{"e":"trade"}')


# ---- the fast path ---------------------------------------------------------------------------------------


def test_one_stream_union_still_requires_the_stream_tag() -> None:
    decoder = StreamDecoder(SPOT, ["btcusdt@aggTrade"])
    _raises(decoder.decode, b'{"data":' + payload_of(GOOD_SPOT) + b"}")
    _raises(StreamDecoder(SPOT).decode, b'{"data":' + payload_of(GOOD_SPOT) + b"}")


def test_streams_compile_into_the_fast_path() -> None:
    lines = read_lines(DATASETS / "spot_aggTrade_frames" / "BTC_ETH_DOT_USDT_aggTrade_2021-04-04.jsonl")
    decoder = StreamDecoder(SPOT)
    assert decoder.streams == ()
    for line in lines[:500]:
        decoder.decode(line)
    assert set(decoder.streams) == {"btcusdt@aggTrade", "ethusdt@aggTrade", "dotusdt@aggTrade"}
    declared = StreamDecoder(SPOT, ["btcusdt@aggTrade", "btcusdt@trade"])
    assert set(declared.streams) == {"btcusdt@aggTrade", "btcusdt@trade"}
    declared.add(["ethusdt@kline_1m"])
    assert "ethusdt@kline_1m" in declared.streams
    with pytest.raises(ValueError, match="unknown spot stream"):
        declared.add(["btcusdt@markPrice"])
