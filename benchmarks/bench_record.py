"""The recorder's flush: what writing buffered aggTrades into a busy day of the catalog costs.

    .venv/bin/python benchmarks/bench_record.py            # a day already holding 1M trades
    .venv/bin/python benchmarks/bench_record.py --quick    # 100k held (seconds)

``record`` buffers rows and flushes them every ``flush_secs`` / ``flush_rows`` through ``Recording.write``
(``CatalogStore.write_table``, the crash-safe atomic replace). A write into a partial period rewrites that
period's file, so a flush costs in proportion to what the period already holds, not to the rows flushed. This
prints, for flushes of 1k / 10k / 100k rows into a day already holding ``--held`` rows, the flush time and the
rows/s it amounts to, once with the trades series chunked by day (one file a day: each flush rewrites the
whole day so far) and once as the recorder writes it (``RECORD_TRADES_PERIOD``: each flush rewrites only the
current hour), plus the end-of-day consolidation of the hourly files into the day file the recorder runs once
a day. Rows are real-shaped USD-M aggTrade structs with growing ids and times; durable (fsync) writes, one core.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

from nautilus_trader.test_kit.providers import TestInstrumentProvider

from framework.binance.schemas import FuturesAggTrade
from framework.catalog.series import Series
from framework.catalog.store import CatalogStore
from framework.record.recorder import RECORD_TRADES_PERIOD
from framework.record.recorder import Recording
from framework.record.recorder import trades_table
from framework.timeunits import DAY_MS

DAY0 = 19_945 * DAY_MS  # 2024-08-10 00:00 UTC


def agg_trades(first_id: int, n: int, t0_ms: int, step_ms: float) -> list[FuturesAggTrade]:
    """``n`` aggTrades from ``first_id`` on, one every ``step_ms`` from ``t0_ms``."""
    return [FuturesAggTrade(a=first_id + i, p=f"{60000 + (i % 500) * 0.1:.1f}", q=f"{0.001 * (1 + i % 97):.3f}",
                            f=first_id + i, l=first_id + i, T=t0_ms + int(i * step_ms), m=bool(i & 1))
            for i in range(n)]


def run_case(root: Path, label: str, period: str, held: int, sizes: list[int]) -> None:
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    store = CatalogStore(root / label)
    series = Series.trades(inst.id, period=period)
    rec = Recording(label, [(series, partial(trades_table, inst))], None, consolidate_days=period != "1D")
    # the held day: ``held`` trades over its first 20 hours, written as 20 hourly flushes would leave them
    step = 20 * 3_600_000 / held
    per_hour = held // 20
    t0 = time.perf_counter()
    for h in range(20):
        rec.write(store, agg_trades(1 + h * per_hour, per_hour, DAY0 + h * 3_600_000, step))
    setup_s = time.perf_counter() - t0
    print(f"{label}: {held:,} trades held (written in 20 flushes in {setup_s:.1f} s), "
          f"{len(store.files(series))} file(s) for the day")
    next_id, next_ms = 1 + 20 * per_hour, DAY0 + 20 * 3_600_000
    in_period = per_hour * 20 if period == "1D" else 0  # rows the file a flush rewrites holds (hour 20 is new)
    for n in sizes:
        rows = agg_trades(next_id, n, next_ms, 1.0)
        t0 = time.perf_counter()
        rec.write(store, rows)
        took = time.perf_counter() - t0
        next_id, next_ms = next_id + n, next_ms + n + 1
        print(f"  flush {n:>7,} rows into a file of {in_period:>9,}: {took * 1000:8.1f} ms  "
              f"({n / took:>10,.0f} rows/s)")
        in_period += n
    if period != "1D":
        t0 = time.perf_counter()
        report = store.consolidate(series, DAY0 * 1_000_000, (DAY0 + DAY_MS) * 1_000_000 - 1)
        print(f"  end-of-day consolidation into one day file: {time.perf_counter() - t0:.2f} s "
              f"({len(report.removed)} files merged)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=1_000_000, help="trades the day holds before the flushes")
    parser.add_argument("--quick", action="store_true", help="100k held, smaller flushes")
    args = parser.parse_args()
    held = 100_000 if args.quick else args.held
    sizes = [1_000, 10_000, 1_000] if args.quick else [1_000, 10_000, 100_000, 1_000]
    print(f"bench_record: Python {platform.python_version()}, {platform.machine()}")
    root = Path(tempfile.mkdtemp(prefix="bench-record-"))
    try:
        run_case(root, "day files (one rewrite of the day per flush)", "1D", held, sizes)
        run_case(root, f"recorder ({RECORD_TRADES_PERIOD} files, consolidated daily)", RECORD_TRADES_PERIOD,
                 held, sizes)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
