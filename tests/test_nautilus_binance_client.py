"""NautilusTrader's own Binance USD-M futures data client, in a real TradingNode, against the local exchange.

Nothing is mocked on the Nautilus side: ``BinanceLiveDataClientFactory`` builds ``BinanceFuturesDataClient``
from a ``BinanceDataClientConfig`` whose ``base_url_http`` / ``base_url_ws`` point at the local exchange on
127.0.0.1 (no API keys: the public market-data path). A tiny Actor subscribes to BTCUSDT-PERP.BINANCE trade
ticks and records them. The test asserts that

* the instrument was loaded from the exchangeInfo the local exchange serves (a 2021 recording: its
  serverTime, tick size, step size and lot limits),
* Nautilus opened one websocket on ``/stream?streams=...`` and asked for ``btcusdt@aggTrade`` only (USD-M
  trades are aggTrades in Nautilus 1.231), and every REST call it made was answered 200,
* the node received a meaningful number of trade ticks, with contiguous, strictly increasing aggTrade ids
  (nothing lost, nothing repeated), each equal to the exchange's tape for that id: price, size (with the
  instrument's precisions), aggressor side (SELLER when the buyer was the maker) and event time,
* the feed is live (no tick older than the exchange clock when the node started) and the node stops cleanly
  (its socket closed from its side).

The node runs on its own event loop in the test's (main) thread; the exchange runs on another loop in a
thread (``LocalExchangeThread``), as a real venue would. The test is synchronous, so it shares no loop with
pytest-asyncio. Importing ``nautilus_trader.live.node`` under pytest does not install the uvloop policy (the
kernel skips it when ``pytest`` is imported); the kernel's signal handlers are restored after the run. The
process-wide Nautilus logger keeps the LoggingConfig of the first kernel built in the process.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

import pytest
from nautilus_trader.adapters.binance import BinanceAccountType
from nautilus_trader.adapters.binance import BinanceDataClientConfig
from nautilus_trader.adapters.binance import BinanceLiveDataClientFactory
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.config import LiveDataEngineConfig
from nautilus_trader.config import LiveExecEngineConfig
from nautilus_trader.config import LiveRiskEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.config import TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from framework.binance.endpoints import Market
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from framework.exchange.server import LocalExchangeThread
from framework.exchange.streams import ServerConnection
from framework.exchange.streams import StreamServer
from framework.exchange.tape import fmt_units

FUT = Market.FUTURES
SYMBOL = "BTCUSDT"
INSTRUMENT_ID = InstrumentId.from_str("BTCUSDT-PERP.BINANCE")
SPEED = 20  # market seconds per wall second
# The packaged BTCUSDT futures tape has >= 612 aggTrades in any 60 market seconds (3 wall seconds at SPEED 20;
# ~10k per 6-minute cycle): half of that holds wherever the run lands on the tape. A quieter tape only makes
# the run last longer (up to DEADLINE_SECONDS), it does not make the test fail.
MIN_TICKS = 300
MIN_RUN_SECONDS = 3.0  # keep receiving for at least this long after the first tick
DEADLINE_SECONDS = 25.0  # for the node to start and both conditions to be met (2 busy cores)
NODE_STOP_SECONDS = 15.0


def ns_to_ms(ns: int) -> int:
    """Back to Binance's milliseconds (the adapter's ``millis_to_nanos`` goes through a float: ...8999936)."""
    return round(ns / 1_000_000)


class TradeRecorder(Actor):
    """Subscribes to one instrument's trade ticks and keeps them (and the instrument found in the cache)."""

    def __init__(self) -> None:
        super().__init__(ActorConfig(component_id="TradeRecorder"))
        self.ticks: list[TradeTick] = []
        self.first_tick_wall: float | None = None
        self.instrument: Instrument | None = None

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(INSTRUMENT_ID)
        self.subscribe_trade_ticks(INSTRUMENT_ID)

    def on_trade_tick(self, tick: TradeTick) -> None:
        if self.first_tick_wall is None:
            self.first_tick_wall = time.monotonic()
        self.ticks.append(tick)

    def on_stop(self) -> None:
        self.unsubscribe_trade_ticks(INSTRUMENT_ID)


@dataclass
class WireLog:
    """What Nautilus did on the wire, seen from the exchange (its websocket URLs and control frames)."""

    ws_paths: list[str] = field(default_factory=list)
    control_frames: list[str] = field(default_factory=list)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> WireLog:
    """Record websocket upgrade URLs and control messages at the exchange (wrappers, behaviour unchanged)."""
    log = WireLog()
    serve, answer = StreamServer._serve, ServerConnection._answer

    async def recording_serve(self: StreamServer, request: Any, *args: Any, **kwargs: Any) -> Any:
        log.ws_paths.append(request.path_qs)
        return await serve(self, request, *args, **kwargs)

    def recording_answer(self: ServerConnection, text: str | bytes) -> dict:
        log.control_frames.append(text.decode() if isinstance(text, bytes) else text)
        return answer(self, text)

    monkeypatch.setattr(StreamServer, "_serve", recording_serve)
    monkeypatch.setattr(ServerConnection, "_answer", recording_answer)
    return log


def node_config(ex: LocalExchange) -> TradingNodeConfig:
    return TradingNodeConfig(
        trader_id="TESTER-001",
        logging=LoggingConfig(log_level="INFO"),
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        risk_engine=LiveRiskEngineConfig(graceful_shutdown_on_exception=True),
        exec_engine=LiveExecEngineConfig(graceful_shutdown_on_exception=True),
        data_clients={
            "BINANCE": BinanceDataClientConfig(
                account_type=BinanceAccountType.USDT_FUTURES,
                base_url_http=ex.urls["futures_http"],
                base_url_ws=ex.urls["futures_ws"],
                # no api_key/api_secret: the public data path (with keys the provider queries the account)
                instrument_provider=InstrumentProviderConfig(load_ids=frozenset({INSTRUMENT_ID})),
            ),
        },
        timeout_connection=20.0,
        timeout_disconnection=10.0,
        timeout_post_stop=0.5,
    )


@dataclass
class Run:
    instrument: Instrument | None
    ticks: list[TradeTick]
    market_start_ms: int
    wall_seconds: float


async def drive(node: TradingNode, recorder: TradeRecorder, ex: LocalExchange) -> Run:
    """Run the node until enough ticks came over enough time (or the deadline), then stop it."""
    market_start_ms = ex.market.now()
    started = time.monotonic()
    deadline = started + DEADLINE_SECONDS
    run_task = asyncio.create_task(node.run_async())
    try:
        while time.monotonic() < deadline and not run_task.done():
            first = recorder.first_tick_wall
            enough = len(recorder.ticks) >= MIN_TICKS
            if first is not None and enough and time.monotonic() - first >= MIN_RUN_SECONDS:
                break
            await asyncio.sleep(0.05)
        if run_task.done():
            run_task.result()  # surfaces an exception raised while starting
            raise AssertionError("the node stopped running by itself")
        instrument = node.kernel.cache.instrument(INSTRUMENT_ID)
    finally:
        await node.stop_async()
        if not run_task.done():
            await asyncio.wait_for(run_task, NODE_STOP_SECONDS)
    return Run(instrument, list(recorder.ticks), market_start_ms, time.monotonic() - started)


@pytest.mark.timeout(90)
def test_nautilus_futures_data_client_receives_tape_trades(wire: WireLog, restore_signals: None) -> None:
    with LocalExchangeThread(ExchangeConfig(speed=SPEED, journal=True)) as ex:
        loop = asyncio.new_event_loop()
        node = TradingNode(node_config(ex), loop=loop)
        try:
            recorder = TradeRecorder()
            node.trader.add_actor(recorder)
            node.add_data_client_factory("BINANCE", BinanceLiveDataClientFactory)
            node.build()
            run = loop.run_until_complete(drive(node, recorder, ex))
        finally:
            node.dispose()  # closes the node's loop
            if not loop.is_closed():
                loop.close()
        stream_server = ex.streams[FUT]
        journal = list(ex.journal or [])
        # a clean stop closes the socket from Nautilus's side (before the exchange shuts down)
        closed_by = time.monotonic() + 10.0
        while stream_server.open_connections and time.monotonic() < closed_by:
            time.sleep(0.05)
        assert stream_server.open_connections == 0, "Nautilus left its websocket open after dispose()"

    # -- the instrument came from the exchangeInfo the local exchange served
    served_info = ex.data.market(FUT).exchange_info
    listed = ex.data.market(FUT).symbols[SYMBOL]
    filters = {f["filterType"]: f for f in listed["filters"]}
    tick_size, step_size = filters["PRICE_FILTER"]["tickSize"], filters["LOT_SIZE"]["stepSize"]
    instrument = run.instrument
    assert isinstance(instrument, CryptoPerpetual), f"instrument not loaded: {instrument!r}"
    assert recorder.instrument is not None, "the instrument was not in the cache when the actor started"
    assert instrument.id == recorder.instrument.id == INSTRUMENT_ID
    assert instrument.raw_symbol.value == SYMBOL
    assert instrument.price_increment == Price.from_str(tick_size)
    assert instrument.size_increment == Quantity.from_str(step_size)
    assert instrument.price_precision == -Decimal(tick_size).as_tuple().exponent == 2
    assert instrument.size_precision == -Decimal(step_size).as_tuple().exponent == 3
    assert instrument.min_quantity == Quantity.from_str(filters["LOT_SIZE"]["minQty"])
    # ts_event is the served serverTime (the 2021 recording's); Nautilus converts ms to ns through a float
    assert ns_to_ms(instrument.ts_event) == served_info["serverTime"]
    assert (instrument.base_currency.code, instrument.quote_currency.code) == ("BTC", "USDT")

    # -- what Nautilus asked for: REST (all answered 200) and one combined-stream socket for aggTrade
    rest_paths = sorted({s.path for s in journal})
    assert "/fapi/v1/exchangeInfo" in rest_paths, rest_paths
    refused = [(s.path, s.query, s.status) for s in journal if s.status != 200]
    assert not refused, refused
    assert stream_server.connections == 1, f"expected one socket (no reconnect), got {wire.ws_paths}"
    assert wire.ws_paths == ["/stream?streams=btcusdt@aggTrade"], wire.ws_paths
    # a single stream rides in the URL; control frames (the UNSUBSCRIBE sent on stop) name no other stream
    for frame in map(json.loads, wire.control_frames):
        assert frame["method"] in ("SUBSCRIBE", "UNSUBSCRIBE"), wire.control_frames
        assert frame["params"] == ["btcusdt@aggTrade"], wire.control_frames

    # -- enough live ticks, contiguous ids, each equal to the tape
    ticks = run.ticks
    assert len(ticks) >= MIN_TICKS, f"{len(ticks)} ticks in {run.wall_seconds:.1f}s (speed {SPEED})"
    ids = [int(t.trade_id.value) for t in ticks]
    assert all(b > a for a, b in zip(ids, ids[1:])), "aggTrade ids must strictly increase"
    assert ids == list(range(ids[0], ids[0] + len(ids))), "aggTrade ids must be contiguous (none lost)"
    assert stream_server.frames_sent >= len(ticks)

    tape = ex.market.tape(FUT, SYMBOL)
    assert tape is not None
    mismatches = []
    for tick in ticks:
        agg = tape.agg_trade(int(tick.trade_id.value))
        expected = (
            INSTRUMENT_ID,
            Price.from_str(fmt_units(agg.price, tape.price_decimals)),
            Quantity.from_str(fmt_units(agg.qty, tape.qty_decimals)),
            AggressorSide.SELLER if agg.is_buyer_maker else AggressorSide.BUYER,
            agg.time,
        )
        got = (tick.instrument_id, tick.price, tick.size, tick.aggressor_side, ns_to_ms(tick.ts_event))
        if got != expected:
            mismatches.append((tick.trade_id.value, got, expected))
        assert tick.price.precision == instrument.price_precision
        assert tick.size.precision == instrument.size_precision
    assert not mismatches, f"{len(mismatches)} ticks differ from the tape, first: {mismatches[:3]}"
    sides = {t.aggressor_side for t in ticks}
    assert sides == {AggressorSide.BUYER, AggressorSide.SELLER}, sides  # both mappings were exercised
    assert ns_to_ms(ticks[0].ts_event) >= run.market_start_ms, "the first tick predates the node: not live"
    span_s = (ticks[-1].ts_event - ticks[0].ts_event) / 1e9
    print(  # shown with -rP / -s
        f"\nnautilus received {len(ticks)} aggTrades (ids {ids[0]}..{ids[-1]}, {span_s:.1f} market s) in "
        f"{run.wall_seconds:.1f} wall s at speed {SPEED}; exchange sent {stream_server.frames_sent} frames "
        f"on {stream_server.connections} socket(s); REST {[(s.path, s.query, s.status) for s in journal]}; "
        f"ws {wire.ws_paths}; control frames {wire.control_frames}; "
        f"fees maker={instrument.maker_fee} taker={instrument.taker_fee}"
    )
