"""Our Binance data client in a real TradingNode against the local exchange with forced disconnects.

The exchange (in a thread, its own loop) drops every stream connection after a few dozen frames and sends
extra truncated frames; the node (this thread, its own loop) runs our factory with a spot and a USD-M client
and an Actor that subscribes to everything they serve: trade ticks of both markets (each routed to its
market's client), bars and their KlineStats, the markPrice stream (mark, index, Nautilus funding updates, our
FundingRate), tickers (``BinanceTicker``) and the REST-polled series. Trades and bars must be one gap-free
ordered sequence; every other value must equal the exchange's own at its time.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest
from nautilus_trader.adapters.binance.common.types import BinanceTicker
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.config import LiveDataEngineConfig
from nautilus_trader.config import LiveExecEngineConfig
from nautilus_trader.config import LiveRiskEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.config import TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import IndexPriceUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import InstrumentId

from framework.binance.endpoints import Market
from framework.data import types
from framework.data.types import KlineStats
from framework.exchange.faults import FaultConfig
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.exchange.tape import fmt_units
from framework.live.config import BinanceFrameworkDataClientConfig
from framework.live.factories import BinanceFrameworkDataClientFactory

INSTRUMENT_ID = InstrumentId.from_str("BTCUSDT-PERP.BINANCE")
SPOT_ID = InstrumentId.from_str("BTCUSDT.BINANCE")
BAR_TYPE = BarType.from_str("BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL")
SPEED = 60  # a 1-minute bar closes every wall second
MIN_RECONNECTS = 5
RUN_SECONDS = 30.0
POLL_PERIOD_MS = 5 * 60_000  # at SPEED a new 5m row every 5 wall seconds
#: polled type -> (local exchange's endpoint name, our field, the endpoint's field)
POLLED = {
    types.OpenInterest: ("open_interest_hist", "open_interest_str", "sumOpenInterest"),
    types.TopTraderPositionRatio: ("top_long_short_position_ratio", "long_short_ratio_str", "longShortRatio"),
    types.TopTraderAccountRatio: ("top_long_short_account_ratio", "long_short_ratio_str", "longShortRatio"),
    types.GlobalAccountRatio: ("long_short_account_ratio", "long_short_ratio_str", "longShortRatio"),
    types.TakerBuySellVolume: ("taker_long_short_ratio", "buy_volume_str", "buyVol"),
    types.Basis: ("basis", "basis_str", "basis"),
}
CLIENT_ID = ClientId("BINANCE-FUTURES")


class Recorder(Actor):
    def __init__(self) -> None:
        super().__init__(ActorConfig(component_id="Recorder"))
        self.ticks: list[TradeTick] = []
        self.spot_ticks: list[TradeTick] = []
        self.bars: list[Bar] = []
        self.stats: list[KlineStats] = []
        self.marks: list[MarkPriceUpdate] = []
        self.indexes: list[IndexPriceUpdate] = []
        self.funding_updates: list[FundingRateUpdate] = []
        self.custom: dict[type, list[Any]] = {}

    def on_start(self) -> None:
        self.subscribe_trade_ticks(INSTRUMENT_ID)
        self.subscribe_trade_ticks(SPOT_ID)  # routed by venue like the rest: each reaches its market's client
        self.subscribe_bars(BAR_TYPE)
        self.subscribe_mark_prices(INSTRUMENT_ID)
        self.subscribe_index_prices(INSTRUMENT_ID)
        self.subscribe_funding_rates(INSTRUMENT_ID)
        self.subscribe_data(DataType(KlineStats), client_id=CLIENT_ID)
        for cls in (types.FundingRate, BinanceTicker):  # the built-in adapter's way
            self.subscribe_data(DataType(cls, metadata={"instrument_id": INSTRUMENT_ID}), client_id=CLIENT_ID)
        for cls in POLLED:
            self.subscribe_data(DataType(cls), instrument_id=INSTRUMENT_ID)

    def on_trade_tick(self, tick: TradeTick) -> None:
        (self.ticks if tick.instrument_id == INSTRUMENT_ID else self.spot_ticks).append(tick)

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)

    def on_mark_price(self, update: MarkPriceUpdate) -> None:
        self.marks.append(update)

    def on_index_price(self, update: IndexPriceUpdate) -> None:
        self.indexes.append(update)

    def on_funding_rate(self, update: FundingRateUpdate) -> None:
        self.funding_updates.append(update)

    def on_data(self, data: Any) -> None:
        if isinstance(data, KlineStats):
            self.stats.append(data)
        else:
            self.custom.setdefault(type(data), []).append(data)

    def done(self) -> bool:
        """Enough of everything: bars, funding, tickers, and polled rows beyond the first poll's two."""
        return (len(self.bars) >= 3 and bool(self.funding_updates) and len(self.custom.get(BinanceTicker, [])) >= 2
                and all(len(self.custom.get(cls, [])) >= 3 for cls in POLLED))


def node_config(urls: dict[str, str]) -> TradingNodeConfig:
    return TradingNodeConfig(
        trader_id="TESTER-002",
        logging=LoggingConfig(log_level="WARNING"),
        data_engine=LiveDataEngineConfig(graceful_shutdown_on_exception=True),
        risk_engine=LiveRiskEngineConfig(graceful_shutdown_on_exception=True),
        exec_engine=LiveExecEngineConfig(graceful_shutdown_on_exception=True),
        data_clients={
            "BINANCE-FUTURES": BinanceFrameworkDataClientConfig(
                market="futures", base_url_http=urls["futures_http"], base_url_ws=urls["futures_ws"],
                instrument_provider=InstrumentProviderConfig(load_ids=frozenset({INSTRUMENT_ID})),
                poll_interval_secs=0.5, poll_period="5m",
            ),
            "BINANCE-SPOT": BinanceFrameworkDataClientConfig(
                market="spot", base_url_http=urls["spot_http"], base_url_ws=urls["spot_ws"],
                instrument_provider=InstrumentProviderConfig(load_ids=frozenset({SPOT_ID})),
            ),
        },
        timeout_connection=20.0,
        timeout_disconnection=10.0,
        timeout_post_stop=0.5,
    )


async def drive(node: TradingNode, recorder: Recorder, ex: Any) -> None:
    run = asyncio.create_task(node.run_async())
    deadline = time.monotonic() + RUN_SECONDS
    try:
        while time.monotonic() < deadline and not run.done():
            if ex.streams[Market.FUTURES].drops >= MIN_RECONNECTS and recorder.done():
                break
            await asyncio.sleep(0.1)
        if run.done():
            run.result()
            raise AssertionError("the node stopped by itself")
    finally:
        await node.stop_async()
        if not run.done():
            await asyncio.wait_for(run, 15)


@pytest.mark.timeout(90)
def test_node_sees_every_stream_and_polled_series_across_forced_disconnects(restore_signals: None) -> None:
    faults = FaultConfig(drop_ws_every=60, malformed_frame_rate=0.02)
    with LocalExchangeThread(ExchangeConfig(speed=SPEED, start="recorded", faults=faults)) as ex:
        loop = asyncio.new_event_loop()
        node = TradingNode(node_config(ex.urls), loop=loop)
        node.add_data_client_factory("BINANCE", BinanceFrameworkDataClientFactory)
        recorder = Recorder()
        node.trader.add_actor(recorder)
        node.build()
        client = node.kernel.data_engine._clients[CLIENT_ID]
        routed_to = node.kernel.data_engine._routing_map[INSTRUMENT_ID.venue].id
        try:
            loop.run_until_complete(drive(node, recorder, ex))
        finally:
            node.dispose()
            loop.close()
        drops = ex.streams[Market.FUTURES].drops
        tape = ex.market.tape(Market.FUTURES, "BTCUSDT")
        spot_tape = ex.market.tape(Market.SPOT, "BTCUSDT")
        spot_fmt = ex.market.formats[(Market.SPOT, "BTCUSDT")]
        fmt = ex.market.formats[(Market.FUTURES, "BTCUSDT")]
        premium = {m.ts_event: ex.market.at(m.ts_event // 1_000_000).premium_index("BTCUSDT")
                   for m in recorder.marks + recorder.funding_updates}
        funding_hours = ex.market.funding_interval_ms("BTCUSDT") // 3_600_000
        tickers = {t.ts_event: ex.market.at(t.ts_event // 1_000_000).ticker_24hr(Market.FUTURES, "BTCUSDT")
                   for t in recorder.custom[BinanceTicker]}
        polled = {cls: {r["timestamp"]: r for r in ex.market.futures_data_rows(name, "BTCUSDT", "5m", 0, None, 500)}
                  for cls, (name, _, _) in POLLED.items()}

    stats = client.stats()
    assert routed_to == ClientId("BINANCE-SPOT")  # so every futures subscription was handed over to its client
    assert drops >= MIN_RECONNECTS and stats["reconnects"] >= MIN_RECONNECTS
    assert stats["malformed"] > 0 and stats["handler_errors"] == 0
    ids = [int(t.trade_id.value) for t in recorder.ticks]
    assert len(ids) > 500
    assert ids == list(range(ids[0], ids[0] + len(ids))), "trade ids must be contiguous, each once"
    assert stats["sequences"]["btcusdt@aggTrade"]["filled"] > 0  # some came from the gap fill
    for tick in recorder.ticks[:: max(1, len(ids) // 50)]:
        agg = tape.agg_trade(int(tick.trade_id.value))
        assert str(tick.price) == fmt.p(agg.price) and str(tick.size) == fmt_units(agg.qty, tick.size.precision)
        assert tick.aggressor_side == (AggressorSide.SELLER if agg.is_buyer_maker else AggressorSide.BUYER)
        assert tick.ts_event == agg.time * 1_000_000
    spot_ids = [int(t.trade_id.value) for t in recorder.spot_ticks]  # the spot client, beside the futures one
    assert len(spot_ids) > 50 and spot_ids == list(range(spot_ids[0], spot_ids[0] + len(spot_ids)))
    for tick in recorder.spot_ticks[:: max(1, len(spot_ids) // 20)]:
        assert str(tick.price) == spot_fmt.p(spot_tape.agg_trade(int(tick.trade_id.value)).price)
    closes = [b.ts_event for b in recorder.bars]
    assert len(closes) >= 3 and all(b - a == 60_000_000_000 for a, b in zip(closes, closes[1:]))
    assert [s.ts_event for s in recorder.stats] == closes
    assert recorder.marks, "mark prices flow"

    # markPrice: mark, index and funding equal the exchange's premium index at the event time
    assert recorder.marks and len(recorder.indexes) == len(recorder.marks)
    for mark, index in zip(recorder.marks, recorder.indexes):
        row = premium[mark.ts_event]
        assert index.ts_event == mark.ts_event
        assert (str(mark.value), str(index.value)) == (row["markPrice"], row["indexPrice"])
    ours = recorder.custom[types.FundingRate]
    assert len(ours) == len(recorder.funding_updates) >= 1
    for update, rate in zip(recorder.funding_updates, ours):
        row = premium[update.ts_event]
        assert update.rate == Decimal(row["lastFundingRate"]) == rate.rate
        assert update.next_funding_ns == row["nextFundingTime"] * 1_000_000 == rate.funding_time
        assert update.interval == funding_hours * 60 and rate.interval_hours == funding_hours
        assert rate.mark_price == Decimal(row["markPrice"]) and rate.instrument_id == INSTRUMENT_ID
    # tickers: the adapter's BinanceTicker, equal to the exchange's 24 h statistics at the event time
    for ticker in recorder.custom[BinanceTicker]:
        row = tickers[ticker.ts_event]
        assert ticker.instrument_id == INSTRUMENT_ID
        assert (ticker.last_price, ticker.volume, ticker.quote_volume) == (
            Decimal(row["lastPrice"]), Decimal(row["volume"]), Decimal(row["quoteVolume"]))
        assert (ticker.first_id, ticker.last_id, ticker.count) == (row["firstId"], row["lastId"], row["count"])
    # REST-polled series: each period once, in order, none skipped while live, values equal the endpoint's
    for cls, (_, ours_field, field) in POLLED.items():
        rows = recorder.custom[cls]
        times = [r.ts_event // 1_000_000 for r in rows]
        assert len(times) >= 3 and all(b - a == POLL_PERIOD_MS for a, b in zip(times, times[1:])), (cls, times)
        for row in rows:
            assert Decimal(getattr(row, ours_field)) == Decimal(polled[cls][row.ts_event // 1_000_000][field])
