"""A catalog on object storage vs a local folder: ingest rows/s side by side.

    .venv/bin/python benchmarks/bench_s3_catalog.py            # full run (~1 minute on 2 cores)
    .venv/bin/python benchmarks/bench_s3_catalog.py --quick    # smoke run

The object store is **moto's S3 server on loopback** (``moto_server``, started here on a free port), not AWS
S3: no network latency, no bandwidth limit, a Python server. The figures show what the object-storage write
protocol costs in requests and CPU on this machine, not what a real bucket over a real network gives.

Two parts, one table:

1. **ingest, end to end.** The real CLI (``python -m framework.main ingest --offline``: the local exchange in the
   child process) into a fresh local folder and into a fresh bucket: a day of USD-M BTCUSDT 1m klines, and
   ``--trade-hours`` hours of its aggTrades (1 h: ~100k rows, within the local exchange's weight budget; more
   hours wait for the budget, which then dominates both sides). Wall time of the child from start to exit (imports, the local
   exchange and its REST pages included), best of ``--repeats``; rows/s = rows written / wall time.
2. **The store alone.** The aggTrades just ingested, read back once, written again through ``CatalogStore`` into
   a fresh local folder and a fresh bucket in pages of ``--page`` rows (each page a ``write_table``: a lease, the
   recovery listing, a partial period rewritten, i.e. the staged and journalled replacement on S3), then read
   back with Nautilus's ``ParquetDataCatalog``. Best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.s3_support import start_moto  # noqa: E402
from tests.s3_support import stop  # noqa: E402

END = "2024-08-09T00:00:00Z"  # --offline: the recordings' time, two days of tape behind it


def ingest(catalog: str, env: dict[str, str], kinds: str, start: str) -> float:
    """Wall seconds of one ``ingest`` child (it must succeed)."""
    argv = [sys.executable, "-m", "framework.main", "ingest", "--market", "futures", "--symbols", "BTCUSDT",
            "--kinds", kinds, "--intervals", "1m", "--start", start, "--end", END, "--offline", "--catalog", catalog]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed:\n{proc.stderr[-3000:]}")
    return secs


def main() -> None:
    """Run both parts and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: one repeat, half an hour of trades")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trade-hours", type=float, default=1.0)
    ap.add_argument("--page", type=int, default=20_000, help="rows per write in part 2")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.trade_hours = 1, 0.5
    server = start_moto()
    env = {**os.environ, **server.env, "PYTHONPATH": str(ROOT)}
    os.environ.update(server.env)
    client = server.client()
    tmp = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    trade_start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1723161600 - args.trade_hours * 3600))
    rows_out: list[tuple[str, int, float, float]] = []
    try:
        from nautilus_trader.model.data import Bar
        from nautilus_trader.model.data import TradeTick

        from framework.catalog import CatalogStore
        from framework.catalog import Series
        from framework.catalog.location import open_location

        cases = [("klines, 1 day", "klines", "2024-08-08T00:00:00Z", Bar),
                 (f"aggTrades, {args.trade_hours:g} h", "agg_trades", trade_start, TradeTick)]
        last_trades = None
        for label, kinds, start, cls in cases:
            best = {}
            for where in ("local", "s3"):
                times = []
                for _ in range(args.repeats):
                    if where == "local":
                        catalog = str(tmp / f"c{uuid.uuid4().hex[:8]}")
                    else:
                        bucket = f"b{uuid.uuid4().hex[:12]}"
                        client.call_s3("create_bucket", Bucket=bucket)
                        catalog = f"s3://{bucket}/cat"
                    times.append(ingest(catalog, env, kinds, start))
                best[where] = (min(times), catalog)
            rows = len(open_location(best["s3"][1]).nautilus_catalog().query(cls))
            assert rows == len(open_location(best["local"][1]).nautilus_catalog().query(cls))
            rows_out.append((f"ingest {label}", rows, best["local"][0], best["s3"][0]))
            if cls is TradeTick:
                last_trades = best["local"][1]

        # part 2: the store alone
        series = Series.trades("BTCUSDT-PERP.BINANCE")
        table = CatalogStore(last_trades, recover=False).read_table(series)
        best = {}
        for where in ("local", "s3"):
            times = []
            for _ in range(args.repeats):
                if where == "local":
                    catalog = str(tmp / f"w{uuid.uuid4().hex[:8]}")
                else:
                    bucket = f"b{uuid.uuid4().hex[:12]}"
                    client.call_s3("create_bucket", Bucket=bucket)
                    catalog = f"s3://{bucket}/cat"
                t0 = time.perf_counter()
                store = CatalogStore(catalog)
                for lo in range(0, table.num_rows, args.page):
                    store.write_table(series, table.slice(lo, args.page))
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            n = len(open_location(catalog).nautilus_catalog().query(TradeTick))
            read = time.perf_counter() - t0
            assert n == table.num_rows
            best[where] = (min(times), read)
        pages = -(-table.num_rows // args.page)
        rows_out.append((f"store writes, {pages} pages", table.num_rows, best["local"][0], best["s3"][0]))
        rows_out.append(("Nautilus query of them", table.num_rows, best["local"][1], best["s3"][1]))
    finally:
        stop(server)
    print("object store: moto_server on 127.0.0.1 (a local Python S3 server, not AWS S3)")
    print(f"{'case':<32}{'rows':>10}{'local s':>10}{'local rows/s':>15}{'s3 s':>10}{'s3 rows/s':>14}{'s3/local':>10}")
    for label, rows, local, s3 in rows_out:
        print(f"{label:<32}{rows:>10,}{local:>10.2f}{rows / local:>15,.0f}{s3:>10.2f}{rows / s3:>14,.0f}"
              f"{local / s3:>10.2f}")


if __name__ == "__main__":
    main()
