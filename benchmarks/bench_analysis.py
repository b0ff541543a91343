"""Analysis speed: reading the catalog, the exact reconciliation and each chart, on two hours of BTCUSDT.

    .venv/bin/python benchmarks/bench_analysis.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from framework.analysis import reconcile
from framework.analysis import sources
from framework.analysis.dashboards import CHARTS
from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.credentials import Credentials
from framework.binance.http import BinanceRestClient
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.ingest.config import IngestConfig
from framework.ingest.config import MarketSelection
from framework.ingest.runner import Ingestor


def build(path: Path) -> None:
    cfg = IngestConfig(catalog=str(path), start="2024-08-08T22:00:00Z", end="2024-08-09T00:00:00Z", markets={
        "futures": MarketSelection(symbols=["BTCUSDT"], kinds=["agg_trades", "klines", "funding", "open_interest",
                                                               "mark_klines", "index_klines"]),
        "spot": MarketSelection(symbols=["BTCUSDT"], kinds=["agg_trades", "klines"])})
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", history="2d", weight_limit=10**6)) as ex:
        client = BinanceRestClient(BinanceHttpConfig(urls=BinanceUrls(**ex.urls)), Credentials())

        async def go():
            try:
                await Ingestor(cfg, client, progress=False).run()
            finally:
                await client.close()

        asyncio.run(go())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cat = Path(tmp) / "catalog"
        print("building a 2-hour catalog from the local exchange ...", flush=True)
        build(cat)
        t = time.perf_counter()
        trades, klines = sources.catalog_exact(cat, "BTCUSDT", "futures")
        load = time.perf_counter() - t
        t = time.perf_counter()
        rec = reconcile.reconcile(trades, klines, "BTCUSDT", "futures")
        rec_s = time.perf_counter() - t
        n = trades.table.num_rows
        print(f"reconcile: {n:,} aggTrades vs {rec.summary['bars_compared']} klines: load {load:.2f} s, "
              f"compare {rec_s:.2f} s ({n / rec_s:,.0f} aggTrades/s), match {rec.summary['match_rate']:.0%}")
        t = time.perf_counter()
        data = sources.from_catalog(cat)
        print(f"from_catalog (bars, stats, trades, OI, funding): {time.perf_counter() - t:.2f} s")
        for name, draw in CHARTS.items():
            t = time.perf_counter()
            draw(data).save(Path(tmp) / f"{name}.png")
            print(f"chart {name:<15} {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
