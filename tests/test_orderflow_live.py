"""The OrderFlow actor live: our data client over forced websocket drops, a restore from catalog + REST, a restart.

A real TradingNode (``framework.live.node``: our USD-M data client, the sandbox) runs the actor against the local
exchange at speed 20 with ``drop_ws_every``: the exchange closes the stream socket every 300 frames, so the client
reconnects many times and must fill each gap by REST. The catalog holds the aggTrades "the recorder wrote before
a crash": the last 6 market minutes but the latest 40 seconds. The actor starts mid-bucket with ``restore``: the
catalog's trades, then REST from the next id up to the live stream. It runs, stops, and starts again (a restart in
the middle of a window) on the same catalog.

Every published bucket and sliding-window reading of both runs must equal the exchange's tape to the cent: buckets
from the tape's prefix-sum klines, thresholds and windows by summing the tape's aggTrades (a window up to the last
trade id the actor had counted when it published).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig

from framework.binance.config import BinanceUrls
from framework.binance.endpoints import Market
from framework.binance.schemas import FuturesAggTrade
from framework.binance.schemas import FuturesExchangeInfo
from framework.catalog.store import CatalogStore
from framework.data.instruments import parse_instruments
from framework.data.parsing import parse_agg_trades
from framework.exchange.faults import FaultConfig
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.exchange.tape import SymbolTape
from framework.live.node import PaperRun
from framework.live.node import PaperTradingConfig
from framework.orderflow.types import OrderFlowUpdate
from framework.orderflow.types import subscribe_order_flow
from framework.timeunits import MINUTE_MS
from strategies.actors.order_flow import OrderFlowActor
from tests.test_orderflow_actor import agg_sums
from tests.test_orderflow_actor import quote

FUT = Market.FUTURES
SYMBOL = "BTCUSDT"
INSTRUMENT = "BTCUSDT-PERP.BINANCE"
LARGE = "100000"
DROP_EVERY = 300


class Collector(Actor):
    """Keeps every OrderFlowUpdate published on the bus."""

    def __init__(self, config: ActorConfig | None = None) -> None:
        super().__init__(config)
        self.updates: list[OrderFlowUpdate] = []

    def on_start(self) -> None:
        subscribe_order_flow(self)

    def on_data(self, data: OrderFlowUpdate) -> None:
        self.updates.append(data)


def paper_config(catalog: Path) -> PaperTradingConfig:
    return msgspec.convert({
        "log_level": "WARNING",
        "actors": [
            {"actor_path": "strategies.actors.order_flow:OrderFlowActor",
             "config_path": "strategies.actors.order_flow:OrderFlowConfig",
             "config": {"instrument_ids": [INSTRUMENT], "bucket": "1m", "windows": ["1m", "5m"],
                        "thresholds": ["0", LARGE], "publish_interval": "1s", "log_buckets": False,
                        "restore": True, "catalog_path": str(catalog), "urls": None}},
            {"actor_path": "tests.test_orderflow_live:Collector", "config_path": "nautilus_trader.config:ActorConfig",
             "config": {}},
        ],
    }, PaperTradingConfig)


def run_node(cfg: PaperTradingConfig, urls: BinanceUrls, seconds: float) -> tuple[OrderFlowActor, Collector]:
    raw = msgspec.to_builtins(cfg)
    raw["actors"][0]["config"]["urls"] = msgspec.to_builtins(urls)
    paper = PaperRun(msgspec.convert(raw, PaperTradingConfig), urls)
    actors = paper.node.trader.actors()
    actor = next(a for a in actors if isinstance(a, OrderFlowActor))
    collector = next(a for a in actors if isinstance(a, Collector))
    summary = paper.run(seconds)
    assert summary.failure is None and summary.stopped_by == "duration"
    return actor, collector


def check_against_tape(updates: list[OrderFlowUpdate], tape: SymbolTape) -> dict[str, int]:
    checked = {"bucket": 0, "window": 0}
    for i, u in enumerate(updates):
        min_units = int(u.min_quote.scaleb(tape.price_decimals + tape.qty_decimals))
        start_ms, end_ms = u.start_ns // 1_000_000, u.end_ns // 1_000_000
        if u.kind == "bucket":
            k = tape.window(start_ms, end_ms - 1, 0)
            if min_units == 0:
                buy = quote(k.taker_buy_quote_volume, tape)
                expected = (buy, quote(k.quote_volume, tape) - buy)
                got = (u.buy_quote, u.sell_quote)
            else:
                expected = agg_sums(tape, tape.first_agg_at(start_ms), tape.last_agg_at(end_ms - 1), min_units)
                got = (u.buy_quote, u.sell_quote, u.buy_count + u.sell_count)
        elif i % 4:  # a spread sample of the window readings keeps the test fast
            continue
        else:
            last = min(tape.last_agg_at(end_ms), u.last_trade_id)
            expected = agg_sums(tape, tape.first_agg_at(start_ms + 1), last, min_units)
            got = (u.buy_quote, u.sell_quote, u.buy_count + u.sell_count)
        assert got == expected, (u, expected)
        checked[u.kind] += 1
    return checked


@pytest.mark.timeout(120)
def test_order_flow_is_exact_across_disconnects_restore_and_restart(tmp_path: Path, restore_signals: None) -> None:
    faults = FaultConfig(drop_ws_every=DROP_EVERY)
    with LocalExchangeThread(ExchangeConfig(speed=20, faults=faults, journal=True)) as ex:
        urls = BinanceUrls(**ex.urls)
        tape = ex.market.tape(FUT, SYMBOL)
        info = msgspec.convert(ex.data.market(FUT).exchange_info, FuturesExchangeInfo)
        instrument = next(i for i in parse_instruments(FUT, info) if i.raw_symbol.value == SYMBOL)
        catalog = tmp_path / "catalog"
        cfg = paper_config(catalog)

        def record_until(ms: int, after_id: int) -> int:
            """What the recorder wrote: aggTrades after ``after_id`` up to ``ms`` (market time)."""
            last = tape.last_agg_at(ms)
            rows = [msgspec.convert(ex.market.agg_trade_json(FUT, SYMBOL, tape.agg_trade(i)), FuturesAggTrade)
                    for i in range(after_id + 1, last + 1)]
            CatalogStore(catalog).write_objects(parse_agg_trades(rows, instrument))
            return last

        # before "the crash" the recorder had written 6 market minutes, but not the last 40 seconds
        crash_ms = ex.market.now() - 40_000
        recorded = record_until(crash_ms, tape.first_agg_at(crash_ms - 6 * MINUTE_MS) - 1)
        actor1, collector1 = run_node(cfg, urls, 12.0)
        served_first = len(ex.journal)
        # the recorder went on, and stopped 40 s before the restart
        restart_crash_ms = ex.market.now() - 40_000
        recorded_again = record_until(restart_crash_ms, recorded)
        actor2, collector2 = run_node(cfg, urls, 8.0)
        journal = list(ex.journal)
        connections = ex.streams[FUT].connections

    # REST started right after the catalog's last id (the restore), never earlier (gap fills come later)
    for served, last_recorded in ((journal[:served_first], recorded), (journal[served_first:], recorded_again)):
        from_ids = [int(q.split("fromId=")[1].split("&")[0]) for q in (s.query for s in served
                    if s.path == "/fapi/v1/aggTrades") if "fromId=" in q]
        assert min(from_ids) == last_recorded + 1, (last_recorded, sorted(from_ids)[:5])
    for actor in (actor1, actor2):
        for f in actor.flows[instrument.id]:
            assert f.flow.id_gaps == 0 and f.flow.late == 0, vars(f.flow)
    assert connections >= 8, f"only {connections} stream connections: the drops did not happen"
    for updates in (collector1.updates, collector2.updates):
        checked = check_against_tape(updates, tape)
        assert checked["bucket"] >= 2 and checked["window"] >= 5, checked
    # right after each start the 5-minute window is already whole (restored), not counting from zero, and reaches
    # back into what the catalog held
    for updates, crash in ((collector1.updates, crash_ms), (collector2.updates, restart_crash_ms)):
        first_5m = next(u for u in updates if u.kind == "window" and u.span == "5m" and u.min_quote == 0)
        restored_from = tape.first_agg_at(first_5m.start_ns // 1_000_000 + 1)
        assert first_5m.buy_count + first_5m.sell_count == first_5m.last_trade_id - restored_from + 1 > 1000
        assert first_5m.start_ns // 1_000_000 < crash, "the window reaches back into the catalog's part"
