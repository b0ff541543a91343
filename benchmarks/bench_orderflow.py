"""Order-flow update rate: trades/s through the O(1) engine and through the actor's ``on_trade_tick`` path.

    .venv/bin/python benchmarks/bench_orderflow.py            # 1M trades per case (~1 minute)
    .venv/bin/python benchmarks/bench_orderflow.py --quick    # 100k trades per case

Input: the local exchange's USD-M BTCUSDT aggTrades (the tape repeats, so ids stay contiguous at any length),
parsed once into Nautilus ``TradeTick``s with our exact parser, and into the engine's
``(trade_id, ts_ns, amount, buyer)`` tuples, then frozen for the collector (``gc.freeze``). Cases (best of
``--repeats`` passes, garbage collector on):

* ``engine on_trades``: ``TakerFlow.on_trades`` over the tuples (15m bucket, one 15m sliding window).
* ``engine on_trade loop``: the same, one ``on_trade`` call per trade from a Python loop.
* ``engine 2 windows + threshold``: 15m bucket, 1m and 15m windows, large-trade threshold 100,000 USDT.
* ``actor on_trade_tick``: ``OrderFlowActor.on_trade_tick`` per TradeTick (id parse, raw price x size, one
  ``TakerFlow`` per threshold, bucket closes published on the message bus), the actor registered in a
  ``BacktestEngine``; thresholds 0 and 100,000.
* ``backtest engine end to end``: a ``BacktestEngine`` run of the ticks with the actor subscribed (Nautilus's
  data engine, message bus, clock and timers included); ticks/s.

Target: >= 1M trades/s through the engine. Nothing is asserted: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
from nautilus_trader.backtest.engine import BacktestEngine  # noqa: E402
from nautilus_trader.backtest.engine import BacktestEngineConfig  # noqa: E402
from nautilus_trader.config import LoggingConfig  # noqa: E402
from nautilus_trader.model.currencies import USDT  # noqa: E402
from nautilus_trader.model.enums import AccountType  # noqa: E402
from nautilus_trader.model.enums import AggressorSide  # noqa: E402
from nautilus_trader.model.enums import OmsType  # noqa: E402
from nautilus_trader.model.identifiers import Venue  # noqa: E402
from nautilus_trader.model.objects import Money  # noqa: E402

from framework.binance.endpoints import Market  # noqa: E402
from framework.binance.schemas import FuturesAggTrade  # noqa: E402
from framework.binance.schemas import FuturesExchangeInfo  # noqa: E402
from framework.data.instruments import parse_instruments  # noqa: E402
from framework.data.parsing import parse_agg_trades  # noqa: E402
from framework.exchange.data import load_data  # noqa: E402
from framework.exchange.market import LocalMarket  # noqa: E402
from framework.exchange.market_state import MarketClock  # noqa: E402
from framework.orderflow.windows import TakerFlow  # noqa: E402
from framework.orderflow.windows import quote_amount  # noqa: E402
from framework.orderflow.windows import to_amount  # noqa: E402
from strategies.actors.order_flow import OrderFlowActor  # noqa: E402
from strategies.actors.order_flow import OrderFlowConfig  # noqa: E402

FUT = Market.FUTURES
MIN15 = 15 * 60 * 1_000_000_000
MIN1 = 60 * 1_000_000_000


def load_ticks(n: int):  # noqa: ANN201
    data = load_data()
    market = LocalMarket(data, MarketClock(LocalMarket.default_origin(data), speed=0), history_ms=86_400_000)
    tape = market.tape(FUT, "BTCUSDT")
    info = msgspec.convert(market.data.market(FUT).exchange_info, FuturesExchangeInfo)
    instrument = next(i for i in parse_instruments(FUT, info) if i.raw_symbol.value == "BTCUSDT")
    first = tape.first_agg_at(market.listed_ms)
    rows = [msgspec.convert(market.agg_trade_json(FUT, "BTCUSDT", tape.agg_trade(i)), FuturesAggTrade)
            for i in range(first, first + n)]
    ticks = parse_agg_trades(rows, instrument)
    tuples = [(int(t.trade_id.value), t.ts_event, quote_amount(t), t.aggressor_side == AggressorSide.BUYER)
              for t in ticks]
    return instrument, ticks, tuples


def best(fn, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def actor_config(instrument_id: str) -> OrderFlowConfig:
    return OrderFlowConfig(instrument_ids=(instrument_id,), bucket="15m", windows=("15m",),
                           thresholds=("0", "100000"), publish_interval="1s", log_buckets=False)


def new_engine(instrument) -> BacktestEngine:  # noqa: ANN001
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(Venue("BINANCE"), OmsType.NETTING, AccountType.MARGIN, [Money(1_000_000, USDT)])
    engine.add_instrument(instrument)
    return engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100k trades per case")
    ap.add_argument("--trades", type=int, default=None, help="trades per case (default 1,000,000)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = args.trades or (100_000 if args.quick else 1_000_000)

    started = time.perf_counter()
    instrument, ticks, tuples = load_ticks(n)
    span_min = (ticks[-1].ts_event - ticks[0].ts_event) / MIN1
    print(f"input: {n:,} USD-M BTCUSDT aggTrades over {span_min:,.0f} market minutes "
          f"(built in {time.perf_counter() - started:.1f}s)")
    # the input (1M ticks and tuples) lives through every case: keep the collector from rescanning it, as a long-
    # running node's collector does not rescan what it froze at start (gc stays on for what the cases allocate)
    gc.freeze()
    large = to_amount("100000")
    results: list[tuple[str, float]] = []

    def engine_batch() -> None:
        TakerFlow(MIN15, (MIN15,)).on_trades(tuples)

    def engine_loop() -> None:
        flow = TakerFlow(MIN15, (MIN15,))
        on_trade = flow.on_trade
        for t in tuples:
            on_trade(*t)

    def engine_full() -> None:
        TakerFlow(MIN15, (MIN1, MIN15), min_amount=large).on_trades(tuples)

    for name, fn in (("engine on_trades", engine_batch), ("engine on_trade loop", engine_loop),
                     ("engine 2 windows + threshold", engine_full)):
        results.append((name, n / best(fn, args.repeats)))

    # the actor registered in an engine (message bus, clock), then fed directly
    engine = new_engine(instrument)
    actor = OrderFlowActor(actor_config(str(instrument.id)))
    engine.add_actor(actor)
    engine.add_data(ticks[:1])
    engine.run()

    def actor_path() -> None:
        actor.flows = {instrument.id: actor.new_flows()}
        on_trade_tick = actor.on_trade_tick
        for tick in ticks:
            on_trade_tick(tick)

    results.append(("actor on_trade_tick (2 thresholds)", n / best(actor_path, args.repeats)))
    engine.dispose()

    def end_to_end() -> None:
        e = new_engine(instrument)
        e.add_actor(OrderFlowActor(actor_config(str(instrument.id))))
        e.add_data(ticks)
        e.run()
        e.dispose()

    results.append(("backtest engine end to end", n / best(end_to_end, 1)))

    print(f"\n{'case':<38}{'trades/s':>14}{'ns/trade':>10}")
    for name, rate in results:
        print(f"{name:<38}{rate:>14,.0f}{1e9 / rate:>10,.0f}")
    engine_rate = results[0][1]
    print(f"\nsummary: engine {engine_rate / 1e6:.2f}M trades/s (target 1M: {'met' if engine_rate >= 1e6 else 'NOT met'}),"
          f" actor on_trade_tick {results[3][1] / 1e6:.2f}M/s, backtest end to end {results[4][1] / 1e3:.0f}k ticks/s")


if __name__ == "__main__":
    main()
