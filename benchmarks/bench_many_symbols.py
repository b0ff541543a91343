"""Many symbols under one weight budget: share of the budget used, 429/418 refusals, fairness across symbols.

    .venv/bin/python benchmarks/bench_many_symbols.py            # 50 symbols, ~90 s
    .venv/bin/python benchmarks/bench_many_symbols.py --quick    # 20 symbols, ~20 s

The real CLI (``python -m framework.main ingest``) in a child process fetches ``--symbols`` USD-M perpetuals (the
local exchange's derived tapes, ``all-usdt-perp``'s first N) in one run: 1m klines over ``--kline-hours`` and
aggTrades over ``--agg-minutes`` each, against a local exchange with ``weight_limit=2400, window_s=10`` (the client
learns both from exchangeInfo). The exchange's limiter is wrapped (``bench_ingest.ChargeLog``) to count the weight
it accepted per window: the share is accepted weight / limit over the windows strictly between the first and the
last. Its aggTrades view is wrapped to log which symbol each page was for and when: over each full window, the
pages of the symbols whose aggTrades were under way through the whole window give Jain's fairness index
(1 = every such symbol got as many pages, 1/n = one symbol got them all). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_ingest import ChargeLog  # noqa: E402

from framework.binance.endpoints import Market  # noqa: E402
from framework.exchange.server import ExchangeConfig  # noqa: E402
from framework.exchange.server import LocalExchangeThread  # noqa: E402
from framework.values import symbol_selector  # noqa: E402

MINUTE_MS, HOUR_MS = 60_000, 3_600_000
TARGET_SHARE, TARGET_JAIN = 0.90, 0.90


class PageLog:
    """Wraps the market's aggTrades view: (wall time, symbol) of every page served."""

    def __init__(self, market) -> None:
        self.pages: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        view = market.agg_trade_rows

        def logged(m, symbol, *args, **kw):
            rows = view(m, symbol, *args, **kw)
            if len(rows) > 1:  # a page, not the one-row probes that locate a span's ids
                with self.lock:
                    self.pages.append((time.time(), symbol))
            return rows

        market.agg_trade_rows = logged


def jain(counts: list[int]) -> float:
    """Jain's fairness index of ``counts``: 1 when all are equal."""
    return sum(counts) ** 2 / (len(counts) * sum(c * c for c in counts)) if any(counts) else 1.0


def fairness(pages: list[tuple[float, str]], window_s: float) -> list[float]:
    """Jain's index per full window over the symbols whose pages ran before and after it."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for t, symbol in pages:
        first.setdefault(symbol, t)
        last[symbol] = t
    windows = sorted({int(t // window_s) for t, _ in pages})[1:-1]
    out = []
    for w in windows:
        lo, hi = w * window_s, (w + 1) * window_s
        under_way = [s for s in first if first[s] < lo and last[s] >= hi]
        if len(under_way) >= 2:
            out.append(jain([sum(1 for t, s in pages if s == symbol and lo <= t < hi) for symbol in under_way]))
    return out


def run(args: argparse.Namespace) -> dict[str, str]:
    cfg = ExchangeConfig(speed=0, start="recorded", history="1d", weight_limit=args.weight_limit,
                         window_s=args.window_seconds)
    tmp = Path(tempfile.mkdtemp(prefix="bench_many_symbols_"))
    try:
        with LocalExchangeThread(cfg) as ex:
            symbols = symbol_selector("all-usdt-perp").select(ex.data.futures.exchange_info["symbols"])[:args.symbols]
            charges, pages = ChargeLog(ex.limiters[Market.FUTURES]), PageLog(ex.market)
            now = ex.market.now()
            start, end = now - args.agg_minutes * MINUTE_MS, now - 1
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            cmd = [sys.executable, "-m", "framework.main", "ingest", "--market", "futures", "--symbols",
                   ",".join(symbols), "--kinds", "agg_trades", "--start", str(start), "--end", str(end),
                   "--catalog", str(tmp / "catalog"), "--base-path-spot", ex.urls["spot_http"],
                   "--base-path-futures", ex.urls["futures_http"], "--log-level", "WARNING"]
            print(f"{len(symbols)} symbols, aggTrades over {args.agg_minutes} min each, under {args.weight_limit} "
                  f"weight / {args.window_seconds:g} s ...", flush=True)
            started = time.perf_counter()
            proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if proc.returncode:
                raise RuntimeError(f"ingest exited {proc.returncode}:\n{proc.stderr[-3000:]}")
            limiter = ex.limiters[Market.FUTURES]
            r429, r418 = limiter.refused_429, limiter.refused_418
        series = json.loads((tmp / "catalog" / "ingest_report.json").read_text())["series"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    windows = sorted(set(charges.accepted) | set(charges.refused))
    shares = [charges.accepted.get(w, 0) / args.weight_limit for w in windows[1:-1]]
    mean = sum(shares) / len(shares) if shares else float("nan")
    rows = sum(s["fetched"] for s in series)
    complete = sum(1 for s in series if s["missing_count"] == 0 and s["rows"] > 0)
    fair = fairness(pages.pages, args.window_seconds)
    served = {s for _, s in pages.pages}
    table = {
        "weight used / budget, full windows": f"{mean:.1%} (min {min(shares, default=float('nan')):.1%} over "
                                              f"{len(shares)} windows; target >= {TARGET_SHARE:.0%})",
        "server 429 / 418": f"{r429} / {r418} (target 0 / 0)",
        "fairness (Jain, pages per symbol under way, per window)":
            f"mean {sum(fair) / len(fair):.3f}, min {min(fair):.3f} over {len(fair)} windows (target >= "
            f"{TARGET_JAIN})" if fair else "no full window with two symbols under way",
        "series complete (gap report empty)": f"{complete}/{len(series)}, {len(served)} symbols served pages",
        "rows/s": f"{rows / wall:,.0f} ({rows:,} rows in {wall:.1f} s, CLI child process)",
    }
    width = max(map(len, table))
    for name, value in table.items():
        print(f"  {name:<{width}}  {value}")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--agg-minutes", type=int, default=10)
    ap.add_argument("--weight-limit", type=int, default=2400)
    ap.add_argument("--window-seconds", type=float, default=10)
    ap.add_argument("--quick", action="store_true", help="20 symbols, 2 minutes of aggTrades each")
    args = ap.parse_args()
    if args.quick:
        args.symbols, args.agg_minutes = 20, 2
    run(args)


if __name__ == "__main__":
    main()
