"""The OrderFlow actor in a BacktestEngine, on the local exchange's aggTrades, checked against the tape.

The engine gets 30 market minutes of USD-M BTCUSDT aggTrades as TradeTicks (our exact parsing). Expected values
come from the tape itself, computed independently of the actor's integer engine: closed buckets from the tape's
prefix-sum windows (quote volume and taker-buy quote volume in the tape's integer units), the large-trade
threshold and sliding windows by summing the tape's aggTrades. Every comparison is exact (Decimal equality).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.engine import BacktestEngineConfig
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.enums import AccountType
from nautilus_trader.model.enums import OmsType
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money

from framework.binance.endpoints import Market
from framework.binance.schemas import FuturesAggTrade
from framework.binance.schemas import FuturesExchangeInfo
from framework.data.instruments import parse_instruments
from framework.data.parsing import parse_agg_trades
from framework.exchange.data import load_data
from framework.exchange.market import LocalMarket
from framework.exchange.market_state import MarketClock
from framework.exchange.tape import SymbolTape
from framework.orderflow.types import OrderFlowUpdate
from framework.orderflow.types import subscribe_order_flow
from framework.timeunits import MINUTE_MS
from strategies.actors.order_flow import OrderFlowActor
from strategies.actors.order_flow import OrderFlowConfig

FUT = Market.FUTURES
SYMBOL = "BTCUSDT"
MINUTES = 30
LARGE = "20000"


class Collector(Actor):
    """Keeps every OrderFlowUpdate published on the bus."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[OrderFlowUpdate] = []

    def on_start(self) -> None:
        subscribe_order_flow(self)

    def on_data(self, data: OrderFlowUpdate) -> None:
        self.updates.append(data)


def quote(units: int, tape: SymbolTape) -> Decimal:
    return Decimal(units).scaleb(-(tape.price_decimals + tape.qty_decimals))


def expected_bucket(tape: SymbolTape, start_ms: int, length_ms: int) -> tuple[Decimal, Decimal, int]:
    k = tape.window(start_ms, start_ms + length_ms - 1, 0)
    buy = quote(k.taker_buy_quote_volume, tape)
    return buy, quote(k.quote_volume, tape) - buy, k.trades


def agg_sums(tape: SymbolTape, first_id: int, last_id: int, min_units: int = 0) -> tuple[Decimal, Decimal, int]:
    buy = sell = count = 0
    for agg_id in range(first_id, last_id + 1):
        a = tape.agg_trade(agg_id)
        amount = a.price * a.qty
        if amount < min_units:
            continue
        count += 1
        if a.is_buyer_maker:
            sell += amount
        else:
            buy += amount
    return quote(buy, tape), quote(sell, tape), count


@pytest.fixture(scope="module")
def market() -> LocalMarket:
    data = load_data()
    return LocalMarket(data, MarketClock(LocalMarket.default_origin(data), speed=0), history_ms=2 * 3_600_000)


@pytest.fixture(scope="module")
def run(market: LocalMarket) -> tuple[list[OrderFlowUpdate], SymbolTape, int, int]:
    tape = market.tape(FUT, SYMBOL)
    info = msgspec.convert(market.data.market(FUT).exchange_info, FuturesExchangeInfo)
    instrument = next(i for i in parse_instruments(FUT, info) if i.raw_symbol.value == SYMBOL)
    start_ms = (market.now() - MINUTES * MINUTE_MS - 7_000) // MINUTE_MS * MINUTE_MS
    first, last = tape.first_agg_at(start_ms), tape.last_agg_at(start_ms + MINUTES * MINUTE_MS - 1)
    rows = [msgspec.convert(market.agg_trade_json(FUT, SYMBOL, tape.agg_trade(i)), FuturesAggTrade)
            for i in range(first, last + 1)]
    ticks = parse_agg_trades(rows, instrument)

    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="WARNING")))
    engine.add_venue(Venue("BINANCE"), OmsType.NETTING, AccountType.MARGIN, [Money(1_000_000, USDT)])
    engine.add_instrument(instrument)
    engine.add_data(ticks)
    actor = OrderFlowActor(OrderFlowConfig(
        instrument_ids=(str(instrument.id),), bucket="1m", windows=("1m", "5m"), thresholds=("0", LARGE),
        publish_interval="10s", log_buckets=False,
    ))
    collector = Collector()
    engine.add_actor(actor)
    engine.add_actor(collector)
    engine.run()
    flows = actor.flows[instrument.id]
    assert all(f.flow.duplicates == 0 and f.flow.id_gaps == 0 for f in flows)
    engine.dispose()
    return collector.updates, tape, start_ms, len(ticks)


def test_closed_buckets_equal_the_tape(run: tuple[list[OrderFlowUpdate], SymbolTape, int, int]) -> None:
    updates, tape, start_ms, n_ticks = run
    assert n_ticks > 5_000
    buckets = [u for u in updates if u.kind == "bucket" and u.min_quote == 0]
    starts = [u.start_ns // 1_000_000 for u in buckets]
    # the first minute began before the engine's first tick (partial: not published); the last stays open
    assert starts == [start_ms + m * MINUTE_MS for m in range(1, MINUTES - 1)]
    cumulative = Decimal(0)
    for u in buckets:
        buy, sell, trades = expected_bucket(tape, u.start_ns // 1_000_000, MINUTE_MS)
        assert (u.buy_quote, u.sell_quote) == (buy, sell), u
        assert u.delta == buy - sell
        assert u.end_ns - u.start_ns == MINUTE_MS * 1_000_000 and u.span == "1m"
        assert u.buy_count + u.sell_count == tape.last_agg_at(u.end_ns // 1_000_000 - 1) - tape.first_agg_at(
            u.start_ns // 1_000_000) + 1
        assert trades >= u.buy_count + u.sell_count  # trades are fills; aggTrades group them
        cumulative += u.delta
    # the cumulative delta counts from the first tick: the first (unpublished) minute is in it too
    first_minute = expected_bucket(tape, start_ms, MINUTE_MS)
    assert buckets[-1].cumulative_delta == cumulative + first_minute[0] - first_minute[1]


def test_large_trade_buckets_equal_the_tape(run: tuple[list[OrderFlowUpdate], SymbolTape, int, int]) -> None:
    updates, tape, _, _ = run
    min_units = int(Decimal(LARGE).scaleb(tape.price_decimals + tape.qty_decimals))
    large = [u for u in updates if u.kind == "bucket" and u.min_quote == Decimal(LARGE)]
    assert len(large) == MINUTES - 2
    counted = 0
    for u in large:
        first = tape.first_agg_at(u.start_ns // 1_000_000)
        last = tape.last_agg_at(u.end_ns // 1_000_000 - 1)
        buy, sell, count = agg_sums(tape, first, last, min_units)
        assert (u.buy_quote, u.sell_quote, u.buy_count + u.sell_count) == (buy, sell, count), u
        counted += count
    assert 0 < counted < sum(u.buy_count + u.sell_count for u in updates if u.kind == "bucket" and u.min_quote == 0)


def test_sliding_windows_equal_the_tape(run: tuple[list[OrderFlowUpdate], SymbolTape, int, int]) -> None:
    updates, tape, start_ms, _ = run
    fed_from = tape.first_agg_at(start_ms)
    windows = [u for u in updates if u.kind == "window"]
    assert {u.span for u in windows} == {"1m", "5m"}
    assert len(windows) >= 2 * 2 * (MINUTES * 6 - 2)  # two spans, two thresholds, every 10 s
    for u in windows[::7]:  # a spread sample keeps the test fast; each check sums the tape's aggTrades
        span_ms = (u.end_ns - u.start_ns) // 1_000_000
        read_ms = u.end_ns // 1_000_000
        first = max(tape.first_agg_at(read_ms - span_ms + 1), fed_from)
        last = min(tape.last_agg_at(read_ms), u.last_trade_id)  # what the actor had seen at the read
        min_units = int(u.min_quote.scaleb(tape.price_decimals + tape.qty_decimals))
        buy, sell, count = agg_sums(tape, first, last, min_units)
        assert (u.buy_quote, u.sell_quote, u.buy_count + u.sell_count) == (buy, sell, count), u
