"""Our Binance data client in a real TradingNode against the local exchange with forced disconnects.

The exchange (in a thread, its own loop) drops every stream connection after a few dozen frames and sends
extra truncated frames; the node (this thread, its own loop) runs our factory and an Actor that records
trade ticks, bars, their KlineStats and mark prices. Subscribers must see one gap-free ordered sequence.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest
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
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId

from framework.binance.endpoints import Market
from framework.data.types import KlineStats
from framework.exchange.faults import FaultConfig
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.exchange.tape import fmt_units
from framework.live.config import BinanceFrameworkDataClientConfig
from framework.live.factories import BinanceFrameworkDataClientFactory

INSTRUMENT_ID = InstrumentId.from_str("BTCUSDT-PERP.BINANCE")
BAR_TYPE = BarType.from_str("BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL")
SPEED = 60  # a 1-minute bar closes every wall second
MIN_RECONNECTS = 5
RUN_SECONDS = 25.0


class Recorder(Actor):
    def __init__(self) -> None:
        super().__init__(ActorConfig(component_id="Recorder"))
        self.ticks: list[TradeTick] = []
        self.bars: list[Bar] = []
        self.stats: list[KlineStats] = []
        self.marks: list[MarkPriceUpdate] = []

    def on_start(self) -> None:
        self.subscribe_trade_ticks(INSTRUMENT_ID)
        self.subscribe_bars(BAR_TYPE)
        self.subscribe_mark_prices(INSTRUMENT_ID)
        self.subscribe_data(DataType(KlineStats))

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.ticks.append(tick)

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)

    def on_mark_price(self, update: MarkPriceUpdate) -> None:
        self.marks.append(update)

    def on_data(self, data: Any) -> None:
        if isinstance(data, KlineStats):
            self.stats.append(data)


@pytest.fixture
def restore_signals() -> Any:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)}
    yield
    for s, handler in saved.items():
        if handler is not None:
            signal.signal(s, handler)


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
            if ex.streams[Market.FUTURES].drops >= MIN_RECONNECTS and len(recorder.bars) >= 3:
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
def test_node_sees_gap_free_trades_and_bars_across_forced_disconnects(restore_signals: None) -> None:
    faults = FaultConfig(drop_ws_every=60, malformed_frame_rate=0.02)
    with LocalExchangeThread(ExchangeConfig(speed=SPEED, start="recorded", faults=faults)) as ex:
        loop = asyncio.new_event_loop()
        node = TradingNode(node_config(ex.urls), loop=loop)
        node.add_data_client_factory("BINANCE", BinanceFrameworkDataClientFactory)
        recorder = Recorder()
        node.trader.add_actor(recorder)
        node.build()
        client = next(iter(node.kernel.data_engine._clients.values()))
        try:
            loop.run_until_complete(drive(node, recorder, ex))
        finally:
            node.dispose()
            loop.close()
        drops = ex.streams[Market.FUTURES].drops
        tape = ex.market.tape(Market.FUTURES, "BTCUSDT")
        fmt = ex.market.formats[(Market.FUTURES, "BTCUSDT")]

    stats = client.stats()
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
    closes = [b.ts_event for b in recorder.bars]
    assert len(closes) >= 3 and all(b - a == 60_000_000_000 for a, b in zip(closes, closes[1:]))
    assert [s.ts_event for s in recorder.stats] == closes
    assert recorder.marks, "mark prices flow"
