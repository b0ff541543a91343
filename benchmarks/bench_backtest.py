"""Backtest throughput: our YAML runner beside a plain Nautilus ``BacktestEngine`` on the same data, and the wall
time of a one-year 1-minute-bar backtest.

    .venv/bin/python benchmarks/bench_backtest.py            # full run (~2 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_backtest.py --quick    # smoke run (~20 s)

Data is synthetic (``framework.backtest.synthetic``: a seeded random walk written through ``CatalogStore``), since
the local exchange's recording repeats every few minutes. Strategy: ``EmaCrossRsi`` on BTCUSDT-PERP 1m bars.

1. **Overhead.** ``--days`` of bars, median of ``--repeats`` interleaved passes (the order alternates, so a
   noisy neighbour hits both sides alike) of
   * *plain engine*: ``ParquetDataCatalog.bars`` -> ``BacktestEngine`` (one MARGIN venue with the same funding
     settlement module, the instrument, the bars, the strategy, ``run_analysis`` as Nautilus defaults) -> ``run``;
   * *our runner*: ``framework.backtest.config.resolve`` (validation included) -> ``runner.run`` (``BacktestNode``,
     funding settlement module, reports, equity curve, summary; charts off, timed apart).
   Both simulate the same thing, so the difference is what the runner adds. events/s = bars / wall seconds.
   Printed: the whole pass and the ``BacktestNode.run`` part alone against the plain engine. Target: <= +10 %.
2. **One year.** 525,600 1m bars (``--year-days`` days) with funding every 8 h, through the runner end to end.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pandas as pd
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nautilus_trader.backtest.engine import BacktestEngine  # noqa: E402
from nautilus_trader.common.config import msgspec_decoding_hook  # noqa: E402
from nautilus_trader.config import BacktestEngineConfig  # noqa: E402
from nautilus_trader.config import LoggingConfig  # noqa: E402
from nautilus_trader.model.enums import AccountType  # noqa: E402
from nautilus_trader.model.enums import OmsType  # noqa: E402
from nautilus_trader.model.identifiers import Venue  # noqa: E402
from nautilus_trader.model.objects import Money  # noqa: E402
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog  # noqa: E402

from framework.backtest import runner  # noqa: E402
from framework.backtest.config import resolve  # noqa: E402
from framework.backtest.funding import FundingSettlement  # noqa: E402
from framework.backtest.funding import FundingSettlementConfig  # noqa: E402
from framework.backtest.synthetic import SyntheticMarket  # noqa: E402
from framework.backtest.synthetic import write_synthetic  # noqa: E402
from strategies.examples.ema_cross import EmaCrossRsi  # noqa: E402
from strategies.examples.ema_cross import EmaCrossRsiConfig  # noqa: E402

START = pd.Timestamp("2024-01-01", tz="UTC")
PERP = "BTCUSDT-PERP.BINANCE"
BAR_TYPE = f"{PERP}-1-MINUTE-LAST-EXTERNAL"
STRATEGY = {"instrument_id": PERP, "fast_period": 20, "slow_period": 60, "trade_notional": "2000"}


def spec(catalog: Path, days: int, charts: bool = False) -> dict:
    return {
        "name": f"bench_{days}d", "catalog": str(catalog), "start": START.isoformat(),
        "end": (START + pd.Timedelta(days=days)).isoformat(),
        "instruments": [{"symbol": "BTCUSDT", "market": "futures"}], "data": {"bars": ["1m"]},
        "charts": charts, "log_level": "ERROR",
        "strategies": [{"class": "strategies.examples.ema_cross:EmaCrossRsi", "config": STRATEGY}],
    }


def plain(catalog: Path, days: int) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    cat = ParquetDataCatalog(str(catalog))
    instrument = cat.instruments(instrument_ids=[PERP])[0]
    end = START + pd.Timedelta(days=days)
    bars = cat.bars([BAR_TYPE], start=START, end=end)
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    funding = FundingSettlement(FundingSettlementConfig(catalog_path=str(catalog), instrument_ids=[PERP]))
    engine.add_venue(Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     starting_balances=[Money(10_000, instrument.quote_currency)], default_leverage=Decimal(1),
                     modules=[funding])
    engine.add_instrument(instrument)
    engine.add_data(bars)
    engine.add_strategy(EmaCrossRsi(msgspec.convert(STRATEGY, EmaCrossRsiConfig, dec_hook=msgspec_decoding_hook)))
    engine.run(start=START, end=end)
    wall = time.perf_counter() - t0
    fills = len(engine.trader.generate_order_fills_report())
    engine.dispose()
    return wall, len(bars), fills


def ours(catalog: Path, days: int, out: Path, charts: bool = False) -> tuple[float, int, int, dict]:
    t0 = time.perf_counter()
    summary = runner.run(resolve(spec(catalog, days, charts), "bench"), out)
    return time.perf_counter() - t0, summary["iterations"], summary["fills"], summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 3 days, 10-day 'year'")
    p.add_argument("--days", type=int, default=30, help="span of the overhead comparison (default 30)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved passes per side, median (default 7)")
    p.add_argument("--year-days", type=int, default=365, help="span of the long run (default 365)")
    args = p.parse_args()
    if args.quick:
        args.days, args.year_days, args.repeats = 3, 10, 3
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        t0 = time.perf_counter()
        catalog = write_synthetic(tmp_path / "cat", SyntheticMarket(
            start_ns=START.value, minutes=args.year_days * 1440, spot=False, statistics=False))
        print(f"synthetic catalog: {args.year_days * 1440:,} 1m bars + 8h funding (seeded random walk) "
              f"written in {time.perf_counter() - t0:.1f} s", flush=True)

        plain(catalog, args.days)  # warm both paths (imports, first-call caches) before timing
        ours(catalog, args.days, tmp_path / "warm")
        walls: dict[str, list[float]] = {"plain": [], "ours": [], "node": []}
        for i in tqdm(range(args.repeats), desc="passes", unit="pair", file=sys.stderr):
            for side in ("plain", "ours") if i % 2 == 0 else ("ours", "plain"):
                gc.collect()  # no garbage of the previous pass collected on this one's clock
                if side == "plain":
                    wall, n_plain, fills_plain = plain(catalog, args.days)
                    walls["plain"].append(wall)
                else:
                    wall, n_ours, fills_ours, summary = ours(catalog, args.days, tmp_path / f"run{i}")
                    walls["ours"].append(wall)
                    walls["node"].append(summary["elapsed_s"])
        med = {k: statistics.median(v) for k, v in walls.items()}
        t0 = time.perf_counter()
        ours(catalog, args.days, tmp_path / "charts", charts=True)
        charts_wall = time.perf_counter() - t0 - med["ours"]
        assert (n_plain, fills_plain) == (n_ours, fills_ours), "both sides must see the same bars and fill alike"
        print(f"\n{'case (median of ' + str(args.repeats) + ')':<46}{'bars':>10}{'fills':>8}{'wall s':>9}"
              f"{'events/s':>11}{'spread s':>10}")
        rows = [("plain BacktestEngine", "plain"), ("our runner, whole pass (no charts)", "ours"),
                ("  of which BacktestNode.run (load + engine)", "node")]
        for label, key in rows:
            spread = max(walls[key]) - min(walls[key])
            print(f"{label + ' (' + str(args.days) + ' d)':<46}{n_plain:>10,}{fills_plain:>8}{med[key]:>9.3f}"
                  f"{n_plain / med[key]:>11,.0f}{spread:>10.3f}")
        # each pair ran back to back, so its ratio shares the machine's mood: the median ratio is the steadier figure
        paired = {k: statistics.median(o / p for o, p in zip(walls[k], walls["plain"], strict=True)) - 1
                  for k in ("ours", "node")}
        print(f"overhead of our runner (median of paired ratios): {paired['ours']:+.1%} whole pass, "
              f"{paired['node']:+.1%} node run alone (target <= +10%); ratio of medians: "
              f"{med['ours'] / med['plain'] - 1:+.1%} / {med['node'] / med['plain'] - 1:+.1%}; "
              f"charts add {charts_wall:.2f} s")

        wall, n, fills, summary = ours(catalog, args.year_days, tmp_path / "year")
        print(f"\n{args.year_days}-day 1m backtest through the runner: {n:,} bars, {fills} fills, "
              f"{summary['funding_payments']} funding payments, wall {wall:.1f} s ({n / wall:,.0f} events/s; "
              f"engine alone {summary['elapsed_s']:.1f} s)")


if __name__ == "__main__":
    main()
