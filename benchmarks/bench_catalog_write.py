"""Catalog write throughput: our fast path vs Nautilus's object path vs Nautilus's wrangler path.

    .venv/bin/python benchmarks/bench_catalog_write.py            # ~1M trades + ~1M bars (~5 minutes)
    .venv/bin/python benchmarks/bench_catalog_write.py --quick    # 100k rows each (~30 s)
    .venv/bin/python benchmarks/bench_catalog_write.py --only fast

Synthetic BTCUSDT-PERP data shaped like Binance's: ~1M aggTrades over one UTC day (price random walk in
0.1 ticks around 65,000, lognormal sizes in 0.001 steps, ms timestamps with ties, consecutive ids) and ~1M
1-minute klines (~694 days). Every case starts from the decoded columns and ends with files in a fresh catalog
written per period (UTC days; bars also per calendar month) with explicit bounds:

* ``fast (mantissas)``: int64 mantissas -> ``CatalogStore.write_trades`` / ``write_bars`` (Arrow table
  built with vectorised casts, sort/dedupe check, temp file + fsync + atomic rename).
  ``nofsync``: ``durable=False``.
* ``fast (strings)``: the same from Arrow arrays of Binance's decimal strings (parsing included).
* ``object path``: ``TradeTick/Bar.from_raw_arrays_to_list`` (Cython) then ``catalog.write_data(chunk,
  start=, end=)`` per period; the object build is timed too (``build s``).
* ``wrangler path``: a float DataFrame -> ``TradeTickDataWrangler`` / ``BarDataWrangler.process`` then
  ``write_data`` per period.

Each case runs in its own process (so ``peak RSS`` is that case's, synthetic input included), best of
``--repeats`` passes into fresh directories for the fast cases, one pass for the Nautilus paths (their
per-day bar case alone takes over a minute: ``write_data`` re-lists and re-parses every file name of the
directory on each call). ``same bytes`` compares the case's catalog files with the fast path's (sha256 of
names + bytes). Nothing is asserted: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DAY = 86_400_000_000_000
DAY0 = 19_800 * DAY  # 2024-03-18T00:00Z
MIN = 60_000_000_000
INSTR = "BTCUSDT-PERP.BINANCE"
BAR_TYPE = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"
PRICE_PREC, SIZE_PREC = 1, 3  # as TestInstrumentProvider.btcusdt_perp_binance() (tick 0.1, step 0.001)


def gen_trades(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ms = np.sort(rng.integers(0, 86_400_000, n)).astype(np.int64)
    price = 650_000 + np.cumsum(rng.integers(-3, 4, n))  # 65000.0 +- 0.1 ticks
    size = np.maximum(1, np.round(rng.lognormal(2.0, 1.6, n))).astype(np.int64)  # 0.001 BTC steps
    return {
        "price": price.astype(np.int64),
        "size": size,
        "aggressor_side": rng.integers(1, 3, n).astype(np.uint8),
        "trade_id": np.arange(4_300_000_000, 4_300_000_000 + n, dtype=np.int64),
        "ts_event": (DAY0 + ms * 1_000_000).astype(np.uint64),
    }


def gen_bars(n: int, seed: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 650_000 + np.cumsum(rng.integers(-40, 41, n))
    open_ = np.concatenate([[650_000], close[:-1]])
    return {
        "open": open_.astype(np.int64),
        "high": (np.maximum(open_, close) + rng.integers(0, 30, n)).astype(np.int64),
        "low": (np.minimum(open_, close) - rng.integers(0, 30, n)).astype(np.int64),
        "close": close.astype(np.int64),
        "volume": rng.integers(1_000, 2_000_000, n).astype(np.int64),
        "ts_event": (DAY0 + (np.arange(n, dtype=np.int64) + 1) * MIN).astype(np.uint64),
    }


def to_strings(m: np.ndarray, prec: int):
    import pyarrow as pa
    import pyarrow.compute as pc

    # Binance-style decimal strings, built vectorised (not timed): "65000.1", "0.012"
    scale = 10**prec
    ip = pc.cast(pa.array(m // scale), pa.string())
    fp = pc.utf8_lpad(pc.cast(pa.array(m % scale), pa.string()), prec, "0")
    return pc.binary_join_element_wise(ip, fp, ".")


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((root / "data").rglob("*.parquet")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def periods(ts: np.ndarray, monthly: bool) -> list[tuple[int, int, int, int]]:
    """(lo, hi, start, end): row slices per period with the period's closed bounds."""
    from framework.catalog import Period

    per = Period("month" if monthly else "1D")
    out = []
    t = ts.astype(np.int64)
    for s, e, _, _ in per.segments(int(t[0]), int(t[-1])):
        ps, pe = per.bounds(s)
        lo, hi = np.searchsorted(t, ps, "left"), np.searchsorted(t, pe, "right")
        if hi > lo:
            out.append((int(lo), int(hi), ps, pe))
    return out


# -- cases (each runs in a child process) ------------------------------------------------------------------


def case_fast_trades(d, root, strings=False, durable=True):
    from framework.catalog import CatalogStore

    price, size = d["price"], d["size"]
    if strings:
        price, size = to_strings(price, PRICE_PREC), to_strings(size, SIZE_PREC)
    store = CatalogStore(root, durable=durable)
    start = DAY0
    end = int(d["ts_event"][-1]) if len(d["ts_event"]) else DAY0
    t0 = time.perf_counter()
    store.write_trades(
        INSTR,
        PRICE_PREC,
        SIZE_PREC,
        price=price,
        size=size,
        aggressor_side=d["aggressor_side"],
        trade_id=d["trade_id"],
        ts_event=d["ts_event"],
        start=start,
        end=max(end, DAY0 + DAY - 1),
    )
    return time.perf_counter() - t0, 0.0


def case_object_trades(d, root):
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    cat = ParquetDataCatalog(str(root))
    t0 = time.perf_counter()
    objs = TradeTick.from_raw_arrays_to_list(
        InstrumentId.from_str(INSTR),
        PRICE_PREC,
        SIZE_PREC,
        d["price"] / 10**PRICE_PREC,
        d["size"] / 10**SIZE_PREC,
        d["aggressor_side"],
        d["trade_id"].astype(str).tolist(),
        d["ts_event"],
        d["ts_event"],
    )
    t_build = time.perf_counter() - t0
    for lo, hi, ps, pe in periods(d["ts_event"], False):
        cat.write_data(objs[lo:hi], start=ps, end=pe)
    return time.perf_counter() - t0, t_build


def case_wrangler_trades(d, root):
    import pandas as pd
    from nautilus_trader.persistence.catalog import ParquetDataCatalog
    from nautilus_trader.persistence.wranglers import TradeTickDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    cat = ParquetDataCatalog(str(root))
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    t0 = time.perf_counter()
    df = pd.DataFrame(
        {
            "price": d["price"] / 10**PRICE_PREC,
            "quantity": d["size"] / 10**SIZE_PREC,
            "side": np.where(d["aggressor_side"] == 1, "BUY", "SELL"),
            "trade_id": d["trade_id"],
        },
        index=pd.to_datetime(d["ts_event"].astype(np.int64), unit="ns", utc=True),
    )
    objs = TradeTickDataWrangler(inst).process(df)
    t_build = time.perf_counter() - t0
    for lo, hi, ps, pe in periods(d["ts_event"], False):
        cat.write_data(objs[lo:hi], start=ps, end=pe)
    return time.perf_counter() - t0, t_build


def case_fast_bars(d, root, monthly=False, strings=False, durable=True):
    from framework.catalog import CatalogStore

    cols = {k: d[k] for k in ("open", "high", "low", "close", "volume")}
    if strings:
        cols = {k: to_strings(v, SIZE_PREC if k == "volume" else PRICE_PREC) for k, v in cols.items()}
    store = CatalogStore(root, period="month" if monthly else "1D", durable=durable)
    t0 = time.perf_counter()
    store.write_bars(BAR_TYPE, PRICE_PREC, SIZE_PREC, **cols, ts_event=d["ts_event"], start=DAY0)
    return time.perf_counter() - t0, 0.0


def case_object_bars(d, root, monthly=False):
    from nautilus_trader.model.data import Bar
    from nautilus_trader.model.data import BarType
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    cat = ParquetDataCatalog(str(root))
    t0 = time.perf_counter()
    p, s = 10.0**PRICE_PREC, 10.0**SIZE_PREC
    objs = Bar.from_raw_arrays_to_list(
        BarType.from_str(BAR_TYPE),
        PRICE_PREC,
        SIZE_PREC,
        d["open"] / p,
        d["high"] / p,
        d["low"] / p,
        d["close"] / p,
        d["volume"] / s,
        d["ts_event"],
        d["ts_event"],
    )
    t_build = time.perf_counter() - t0
    for i, (lo, hi, ps, pe) in enumerate(periods(d["ts_event"], monthly)):
        cat.write_data(
            objs[lo:hi],
            start=max(ps, DAY0) if i == 0 else ps,
            end=pe if hi < len(objs) else int(d["ts_event"][-1]),
        )
    return time.perf_counter() - t0, t_build


def case_wrangler_bars(d, root, monthly=False):
    import pandas as pd
    from nautilus_trader.model.data import BarType
    from nautilus_trader.persistence.catalog import ParquetDataCatalog
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    cat = ParquetDataCatalog(str(root))
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    t0 = time.perf_counter()
    p, s = 10.0**PRICE_PREC, 10.0**SIZE_PREC
    df = pd.DataFrame(
        {k: d[k] / p for k in ("open", "high", "low", "close")} | {"volume": d["volume"] / s},
        index=pd.to_datetime(d["ts_event"].astype(np.int64), unit="ns", utc=True),
    )
    objs = BarDataWrangler(BarType.from_str(BAR_TYPE), inst).process(df)
    t_build = time.perf_counter() - t0
    for i, (lo, hi, ps, pe) in enumerate(periods(d["ts_event"], monthly)):
        cat.write_data(
            objs[lo:hi],
            start=max(ps, DAY0) if i == 0 else ps,
            end=pe if hi < len(objs) else int(d["ts_event"][-1]),
        )
    return time.perf_counter() - t0, t_build


CASES = {
    # name: (kind, function, kwargs)
    "trades fast (mantissas)": ("trades", case_fast_trades, {}),
    "trades fast (mantissas) nofsync": ("trades", case_fast_trades, {"durable": False}),
    "trades fast (strings)": ("trades", case_fast_trades, {"strings": True}),
    "trades object path": ("trades", case_object_trades, {}),
    "trades wrangler path": ("trades", case_wrangler_trades, {}),
    "bars/day fast (mantissas)": ("bars", case_fast_bars, {}),
    "bars/day fast (mantissas) nofsync": ("bars", case_fast_bars, {"durable": False}),
    "bars/day object path": ("bars", case_object_bars, {}),
    "bars/day wrangler path": ("bars", case_wrangler_bars, {}),
    "bars/month fast (mantissas)": ("bars", case_fast_bars, {"monthly": True}),
    "bars/month fast (strings)": ("bars", case_fast_bars, {"monthly": True, "strings": True}),
    "bars/month object path": ("bars", case_object_bars, {"monthly": True}),
    "bars/month wrangler path": ("bars", case_wrangler_bars, {"monthly": True}),
}


def run_case(name: str, rows: int, repeats: int) -> dict:
    kind, fn, kwargs = CASES[name]
    if "fast" not in name:
        repeats = 1
    import nautilus_trader  # noqa: F401  (import cost outside the timing)

    import framework.catalog  # noqa: F401

    d = gen_trades(rows) if kind == "trades" else gen_bars(rows)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best = None
    tmp = Path(tempfile.mkdtemp(prefix="bench_catalog_"))
    try:
        for i in range(repeats):
            root = tmp / f"r{i}"
            root.mkdir()
            secs, build = fn(d, root, **kwargs)
            if best is None or secs < best[0]:
                best = (secs, build, root)
        files = len(list((best[2] / "data").rglob("*.parquet")))
        size = sum(p.stat().st_size for p in (best[2] / "data").rglob("*.parquet"))
        dig = digest(best[2])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "case": name,
        "rows": rows,
        "secs": best[0],
        "build": best[1],
        "files": files,
        "mb": size / 1e6,
        "digest": dig,
        "rss_base": rss_before,
        "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="100k rows, one pass")
    ap.add_argument("--only", help="run the cases whose name contains this")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args()
    if args.quick:
        args.rows, args.repeats = 100_000, 1
    if args.case:
        print(json.dumps(run_case(args.case, args.rows, args.repeats)))
        return

    import nautilus_trader
    import pyarrow

    print(
        f"catalog write, {args.rows:,} rows per case, fast cases best of {args.repeats}; "
        f"python {platform.python_version()}, nautilus_trader {nautilus_trader.__version__}, "
        f"pyarrow {pyarrow.__version__}, {os.cpu_count()} CPUs",
    )
    results = []
    for name in CASES:
        if args.only and args.only not in name:
            continue
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--case",
                name,
                "--rows",
                str(args.rows),
                "--repeats",
                str(args.repeats),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"  {name:36s} {r['rows'] / r['secs']:>12,.0f} rows/s", flush=True)

    ref = {}
    for r in results:
        kind = r["case"].split(" ")[0]
        if "fast (mantissas)" in r["case"] and "nofsync" not in r["case"]:
            ref[kind] = r
    head = (
        f"{'case':36s} {'rows/s':>12s} {'seconds':>8s} {'build s':>8s} {'x object':>8s} {'files':>6s} "
        f"{'MB':>7s} {'RSS base':>8s} {'RSS peak':>8s} {'same bytes':>10s}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        kind = r["case"].split(" ")[0]
        obj = next((o for o in results if o["case"] == f"{kind} object path"), None)
        x = obj["secs"] / r["secs"] if obj else float("nan")
        same = (
            "ref"
            if ref.get(kind) is r
            else ("yes" if ref.get(kind, {}).get("digest") == r["digest"] else "no")
        )
        build = f"{r['build']:.2f}" if r["build"] else "-"
        print(
            f"{r['case']:36s} {r['rows'] / r['secs']:>12,.0f} {r['secs']:>8.2f} {build:>8s} {x:>8.1f} "
            f"{r['files']:>6d} {r['mb']:>7.1f} {r['rss_base']:>8.0f} {r['rss_peak']:>8.0f} {same:>10s}",
        )
    fast = ref.get("trades")
    if fast:
        print(
            f"\nsummary: fast path writes {fast['rows'] / fast['secs']:,.0f} trade rows/s (target 1,000,000)."
        )


if __name__ == "__main__":
    main()
