"""Ingest throughput: REST pages -> catalog rows/s, weight-budget use under a rate limit, peak RSS of a day.

    .venv/bin/python benchmarks/bench_ingest.py            # full run (~2 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_ingest.py --quick    # smoke run (~15 s)
    .venv/bin/python benchmarks/bench_ingest.py --parts 1  # only the decode-and-write part

Three parts, one table:

1. **Decode and write, rows/s.** Real REST bodies are fetched once from the local exchange (USD-M BTCUSDT:
   ``--agg-pages`` aggTrades pages of 1000 by ``fromId``, ``--kline-pages`` 1m klines pages of 1500 by
   ``endTime``), then timed from bytes to files in a fresh catalog:

   * *ours*: what ``ingest`` runs on the bodies: ``columnar.decode_body`` with the endpoint's schema (as
     ``Fetcher`` pages: column-wise, msgspec for a page not in the compact shape), ``parsing.closed_klines`` for
     klines, then the runner's own ``SeriesSink`` for the kind's target
     (``runner.target_for``): batches of ``CONVERT_ROWS`` converted on its worker threads (one per output), streamed into the
     period files (aggTrades: one file a UTC day; klines: bars *and* KlineStats, one file a month each), fsync +
     rename. Best of ``--repeats`` passes after a warm-up; the CPU seconds of all threads are shown too (the
     wall rate depends on what else runs on the machine).
   * *Nautilus wrangler*: ``json.loads`` per page, one float DataFrame, ``TradeTickDataWrangler`` /
     ``BarDataWrangler.process`` (instrument from the exchange's exchangeInfo), one
     ``ParquetDataCatalog.write_data`` call (bars only: no KlineStats). One pass after a warm-up.

   When ours is below 1,000,000 rows/s, the CPU time of each stage alone (decode, each output's conversion,
   the appenders' writes) per 1M rows is printed under the table.

2. **Weight budget.** The real CLI (``python -m framework.main ingest``, USD-M BTCUSDT ``agg_trades``) in a child
   process against a local exchange with ``weight_limit=2400, window_s=10`` (the client learns both
   from exchangeInfo ``rateLimits``), over a span that needs several windows of budget. The exchange's
   limiter is wrapped to log the weight it accepted per window; the share is accepted weight / limit over
   the windows strictly between the first and the last (those two are partial by construction). Server-side
   429 and 418 counts come from the limiter.

3. **Peak RSS of a day.** The real CLI ingests one full day of USD-M BTCUSDT aggTrades (``history="1d"``:
   the whole tape) with ``weight_limit=10**7``; the child's peak RSS is ``os.wait4``'s ``ru_maxrss`` (that
   child alone, forked from a small spawner process: Linux carries the forking process's peak into the child's
   ``ru_maxrss``). The catalog's rows and distinct trade ids are checked against the exchange's id range.

The exchange runs in a thread of this process; the ingest children are separate processes, so their RSS
and CPU are theirs alone. Nothing is asserted: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from framework.binance.columnar import decode_body  # noqa: E402
from framework.binance.endpoints import Market  # noqa: E402
from framework.binance.endpoints import endpoint as lookup  # noqa: E402

NS = 1_000_000
HOUR_MS = 3_600_000

SYMBOL = "BTCUSDT"
TARGET_ROWS_S = 1_000_000
TARGET_SHARE = 0.90
TARGET_RSS_MB = 500


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass
class Fig:
    """One line of the table."""

    part: str
    figure: str
    value: str
    target: str = ""
    met: str = ""
    detail: str = ""


@dataclass
class Results:
    figs: list[Fig] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)

    def add(self, *args: str, **kw: str) -> None:
        self.figs.append(Fig(*args, **kw))
        f = self.figs[-1]
        print(f"  [{f.part}] {f.figure}: {f.value} {f.detail}", flush=True)


def _ok(good: bool) -> str:
    return "yes" if good else "NO"


# ---- part 1: decode and write ----------------------------------------------------------------------------


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def fetch_pages(agg_pages: int, kline_pages: int) -> tuple[list[bytes], list[bytes], bytes, int]:
    """aggTrades bodies (ascending ids), klines bodies (ascending time), exchangeInfo body, exchange now (ms)."""
    from framework.exchange.server import ExchangeConfig
    from framework.exchange.server import LocalExchangeThread

    days = max(2, int(kline_pages * 1500 / 1440) + 3)
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", history=f"{days}d", weight_limit=10**9)) as ex:
        fut = ex.urls["futures_http"]
        now_ms = ex.market.now()
        latest = json.loads(_get(f"{fut}/fapi/v1/aggTrades?symbol={SYMBOL}&limit=1000"))
        first = latest[-1]["a"] + 1 - 1000 * agg_pages
        agg = [_get(f"{fut}/fapi/v1/aggTrades?symbol={SYMBOL}&limit=1000&fromId={first + 1000 * i}")
               for i in range(agg_pages)]
        # klines: the newest closed 1m kline back, pages of 1500 by endTime
        end = (now_ms // 60_000) * 60_000 - 1  # close_time of the last closed minute
        klines = []
        for _ in range(kline_pages):
            body = _get(f"{fut}/fapi/v1/klines?symbol={SYMBOL}&interval=1m&limit=1500&endTime={end}")
            klines.append(body)
            end = json.loads(body)[0][0] - 1
        klines.reverse()
        info = _get(f"{fut}/fapi/v1/exchangeInfo")
    for what, bodies, want in (("aggTrades", agg, 1000), ("klines", klines, 1500)):
        short = [len(json.loads(b)) for b in bodies if len(json.loads(b)) != want]
        if short:
            raise RuntimeError(f"local exchange served {len(short)} short {what} pages ({short[:3]} rows)")
    return agg, klines, info, now_ms


def instrument_of(info_body: bytes):
    from framework.data.instruments import parse_instruments

    info = msgspec.json.decode(info_body, type=lookup(Market.FUTURES, "exchange_info").schema)
    info = msgspec.structs.replace(info, symbols=[s for s in info.symbols if s.symbol == SYMBOL])
    return parse_instruments(Market.FUTURES, info, ts_ns=0)[0]


def ours(pages: list[bytes], root: Path, kind: str, inst, now_ms: int) -> int:
    """What ``ingest`` runs from the REST bodies on: decode as ``Fetcher`` pages, keep closed klines as
    ``Ingestor._ingest``, then the runner's own ``SeriesSink`` for the kind's target (batches of
    ``CONVERT_ROWS``, the target's outputs and file periods: klines write bars and KlineStats, one file a
    month; trades one file a day, streamed)."""
    from framework.catalog.store import CatalogStore
    from framework.data import parsing
    from framework.ingest.config import SeriesSpec
    from framework.ingest.runner import SeriesSink
    from framework.ingest.runner import target_for

    step = "1m" if kind == "klines" else None
    target = target_for(SeriesSpec(Market.FUTURES, kind, SYMBOL, step), inst, {})
    schema = lookup(Market.FUTURES, kind).schema
    with SeriesSink(CatalogStore(str(root)), target) as sink:
        for body in pages:
            rows = decode_body(body, schema)
            sink.add(parsing.closed_klines(rows, now_ms) if step else rows)
    return sink.rows


def nautilus_trades(pages: list[bytes], root: Path, inst) -> int:
    import pandas as pd
    from nautilus_trader.persistence.catalog import ParquetDataCatalog
    from nautilus_trader.persistence.wranglers import TradeTickDataWrangler

    rows = [r for body in pages for r in json.loads(body)]
    df = pd.DataFrame.from_records(rows, columns=["a", "p", "q", "f", "l", "T", "m"])
    df = pd.DataFrame(
        {
            "price": df["p"].astype(float).to_numpy(),
            "quantity": df["q"].astype(float).to_numpy(),
            "side": df["m"].map({True: "SELL", False: "BUY"}).to_numpy(),
            "trade_id": df["a"].astype(str).to_numpy(),
        },
        index=pd.to_datetime(df["T"], unit="ms", utc=True),
    )
    objs = TradeTickDataWrangler(inst).process(df)
    ParquetDataCatalog(str(root)).write_data(objs)
    return len(objs)


def nautilus_bars(pages: list[bytes], root: Path, inst, now_ms: int) -> int:
    import pandas as pd
    from nautilus_trader.persistence.catalog import ParquetDataCatalog
    from nautilus_trader.persistence.wranglers import BarDataWrangler

    from framework.data import parsing

    rows = [r for body in pages for r in json.loads(body) if r[6] < now_ms]
    df = pd.DataFrame.from_records([r[:7] for r in rows], columns=["t", "open", "high", "low", "close", "volume", "ct"])
    df = pd.DataFrame(
        {k: df[k].astype(float).to_numpy() for k in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(df["ct"] + 1, unit="ms", utc=True),  # stamped at close, as ours
    )
    objs = BarDataWrangler(parsing.kline_bar_type(inst.id, "1m"), inst).process(df)
    ParquetDataCatalog(str(root)).write_data(objs)
    return len(objs)


def _files(root: Path) -> tuple[int, float]:
    files = list((root / "data").rglob("*.parquet"))
    return len(files), sum(p.stat().st_size for p in files) / 1e6


def timed_case(fn, pages, args, tmp: Path, name: str, repeats: int, warm: int) -> dict:
    """Warm-up on ``warm`` pages, then the best of ``repeats`` passes, each into a fresh catalog."""
    fn(pages[:warm], tmp / f"{name}-warm", *args)
    best = None
    for i in range(repeats):
        root = tmp / f"{name}-{i}"
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        n = fn(pages, root, *args)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        if best is None or secs < best[0]:
            best = (secs, n, root, cpu)
    files, mb = _files(best[2])
    for p in tmp.glob(f"{name}-*"):
        shutil.rmtree(p, ignore_errors=True)
    return {"secs": best[0], "rows": best[1], "files": files, "mb": mb, "rate": best[1] / best[0], "cpu": best[3]}


def stage_times(pages: list[bytes], kind: str, inst, now_ms: int) -> str:
    """Where our path's time goes, each stage alone on this thread (in ``ingest`` the conversion and the writes
    run on other threads, overlapping the decoding): decode, then each output's conversion in batches of
    ``CONVERT_ROWS``, then the appenders (streamed, period files) fed with those tables."""
    from framework.catalog.store import CatalogStore
    from framework.data import parsing
    from framework.ingest.config import SeriesSpec
    from framework.ingest.runner import CONVERT_ROWS
    from framework.ingest.runner import join_pages
    from framework.ingest.runner import target_for

    step = "1m" if kind == "klines" else None
    target = target_for(SeriesSpec(Market.FUTURES, kind, SYMBOL, step), inst, {})
    schema = lookup(Market.FUTURES, kind).schema
    t0 = time.process_time()
    rows = join_pages([decode_body(body, schema) for body in pages])
    times = {"decode": time.process_time() - t0}
    if step:
        rows = parsing.closed_klines(rows, now_ms)
    batches = [rows.slice(i, CONVERT_ROWS) for i in range(0, len(rows), CONVERT_ROWS)]
    tables = []
    for series, convert in target.outputs:
        t0 = time.process_time()
        tables.append((series, [convert(b) for b in batches]))
        times[f"convert {series.data_cls.__name__}"] = time.process_time() - t0
    with tempfile.TemporaryDirectory() as tmp:
        store = CatalogStore(tmp)
        t0 = time.process_time()
        for series, parts in tables:
            with store.appender(series, spill_rows=CONVERT_ROWS) as app:
                for part in parts:
                    app.add(part)
        times["write (all threads)"] = time.process_time() - t0
    per_m = 1e6 / len(rows)
    return ", ".join(f"{k} {v * per_m:.2f}" for k, v in times.items()) + " (CPU s per 1M rows)"


def part_decode_write(res: Results, args) -> None:
    print(f"part 1: fetching {args.agg_pages} aggTrades pages + {args.kline_pages} klines pages ...", flush=True)
    t0 = time.perf_counter()
    agg, klines, info, now_ms = fetch_pages(args.agg_pages, args.kline_pages)
    mb_agg, mb_kl = sum(map(len, agg)) / 1e6, sum(map(len, klines)) / 1e6
    print(f"  fetched in {time.perf_counter() - t0:.1f} s ({mb_agg:.0f} + {mb_kl:.0f} MB of JSON)", flush=True)
    import nautilus_trader  # noqa: F401  (imports outside the timing)

    import framework.ingest.runner  # noqa: F401

    inst = instrument_of(info)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        cases = [
            ("aggTrades", "ours", ours, agg, ("agg_trades", inst, now_ms), args.repeats, mb_agg),
            ("aggTrades", "Nautilus wrangler", nautilus_trades, agg, (inst,), 1, mb_agg),
            ("klines 1m", "ours", ours, klines, ("klines", inst, now_ms), args.repeats, mb_kl),
            ("klines 1m", "Nautilus wrangler", nautilus_bars, klines, (inst, now_ms), 1, mb_kl),
        ]
        out = {}
        for kind, who, fn, pages, extra, reps, mb in cases:
            r = timed_case(fn, pages, extra, tmp, f"{kind}-{who}".replace(" ", "_"), reps, warm=min(10, len(pages)))
            out[(kind, who)] = r
            r["rss"] = peak_rss_mb()
            r["mbs"] = mb / r["secs"]
        for kind in ("aggTrades", "klines 1m"):
            o, n = out[(kind, "ours")], out[(kind, "Nautilus wrangler")]
            for who, r in (("ours", o), ("Nautilus wrangler", n)):
                best = f"best of {args.repeats}" if who == "ours" else "1 pass"
                res.add(
                    "1", f"{kind} JSON->catalog, {who}", f"{r['rate']:,.0f} rows/s",
                    target=f">= {TARGET_ROWS_S:,}" if who == "ours" else "",
                    met=_ok(r["rate"] >= TARGET_ROWS_S) if who == "ours" else "",
                    detail=f"{r['rows']:,} rows in {r['secs']:.2f} s ({best}; {r['cpu']:.2f} s CPU, all threads), "
                           f"{r['mbs']:.0f} MB/s JSON, {r['files']} files {r['mb']:.0f} MB"
                           + (f", x{n['secs'] / o['secs']:.1f} vs Nautilus" if who == "ours" else ""),
                )
            res.summary[kind] = f"{o['rate'] / 1e6:.2f}M rows/s (Nautilus {n['rate'] / 1e6:.2f}M)"
            if o["rate"] < TARGET_ROWS_S and not args.no_profile:
                pages, name = (agg, "agg_trades") if kind == "aggTrades" else (klines, "klines")
                res.profiles.append((f"{kind}, ours ({len(pages)} pages)", stage_times(pages, name, inst, now_ms)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- parts 2 and 3: the real CLI against the local exchange ------------------------------------------------


class ChargeLog:
    """Wraps the exchange limiter's ``charge``: weight accepted and refused per window (server's windows)."""

    def __init__(self, limiter) -> None:
        self.limiter = limiter
        self.accepted: dict[int, int] = {}
        self.refused: dict[int, int] = {}
        self.lock = threading.Lock()
        orig = limiter.charge

        def charge(ip, weight, *a, **kw):
            try:
                used = orig(ip, weight, *a, **kw)
            except Exception:
                self._log(self.refused, ip, weight)
                raise
            self._log(self.accepted, ip, weight)
            return used

        limiter.charge = charge

    def _log(self, book: dict[int, int], ip: str, weight: int) -> None:
        c = self.limiter._clients.get(ip)
        window = c.window if c is not None else int(time.time() // self.limiter.window_s)
        with self.lock:
            book[window] = book.get(window, 0) + weight


#: Runs each CLI child and reports its ``os.wait4`` usage. Linux carries a process's peak RSS across fork and
#: exec (``ru_maxrss`` keeps the forked parent's high-water mark), so children forked by this benchmark, whose
#: process holds ~2 GB after part 1, would report that. The spawner is started first, while this process is
#: small, and its children fork from a bare interpreter.
_SPAWNER = r"""
import json, os, subprocess, sys
for line in sys.stdin:
    job = json.loads(line)
    with open(job["log"], "wb") as out:
        proc = subprocess.Popen(job["cmd"], cwd=job["cwd"], stdout=out, stderr=subprocess.STDOUT)
        print(json.dumps({"pid": proc.pid}), flush=True)
        _, status, usage = os.wait4(proc.pid, 0)
    print(json.dumps({"status": status, "maxrss_kb": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}),
          flush=True)
"""


class Spawner:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _SPAWNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def start(self, cmd: list[str], log: Path) -> int:
        self.proc.stdin.write(json.dumps({"cmd": cmd, "cwd": str(ROOT), "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["pid"]

    def wait(self) -> dict:
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


SPAWNER: Spawner | None = None


def run_cli(urls: dict[str, str], catalog: Path, start_ms: int, end_ms: int) -> dict:
    """``python -m framework.main ingest`` in a child (of the spawner); wall time and the child's own peak RSS."""
    assert SPAWNER is not None
    cmd = [
        sys.executable, "-m", "framework.main", "ingest",
        "--market", "futures", "--symbols", SYMBOL, "--kinds", "agg_trades",
        "--start", str(start_ms), "--end", str(end_ms), "--catalog", str(catalog),
        "--base-path-spot", urls["spot_http"], "--base-path-futures", urls["futures_http"],
        "--log-level", "WARNING",
    ]
    log = catalog.parent / f"{catalog.name}.log"
    t0 = time.perf_counter()
    pid = SPAWNER.start(cmd, log)
    samples: list[tuple[float, float]] = []  # (s since start, VmRSS MB): where in the run the peak falls
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                return
            kb = next((int(x.split()[1]) for x in text.splitlines() if x.startswith("VmRSS:")), 0)
            samples.append((time.perf_counter() - t0, kb / 1024))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    done = SPAWNER.wait()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(done["status"])
    text = log.read_text(errors="replace")
    if code != 0:
        raise RuntimeError(f"ingest exited {code}:\n{text[-3000:]}")
    tenths = [max((m for t, m in samples if t <= wall * k / 10), default=0.0) for k in range(1, 11)]
    return {"wall": wall, "rss_mb": done["maxrss_kb"] / 1024, "cpu": done["cpu"], "log": text, "rss_tenths": tenths}


def catalog_ids(catalog: Path) -> tuple[int, int, int, int, int]:
    """Rows, distinct trade ids, min id, max id, files of the catalog's trade ticks."""
    import numpy as np
    import pyarrow.parquet as pq

    files = sorted((catalog / "data").rglob("*.parquet"))
    files = [f for f in files if "trade_tick" in str(f)]
    ids = [np.asarray(pq.read_table(f, columns=["trade_id"]).column("trade_id").to_pylist(), dtype=np.int64) for f in files]
    a = np.concatenate(ids) if ids else np.empty(0, np.int64)
    if not len(a):
        return 0, 0, 0, 0, len(files)
    return len(a), len(np.unique(a)), int(a.min()), int(a.max()), len(files)


def exchange_ids(ex, start_ms: int, end_ms: int) -> tuple[int, int]:
    tape = ex.market.tape(Market.FUTURES, SYMBOL)
    lo = max(tape.first_agg_at(start_ms), tape.first_agg_at(ex.market.listed_ms))
    return lo, tape.last_agg_at(end_ms)


def part_budget(res: Results, args) -> None:
    from framework.exchange.server import ExchangeConfig
    from framework.exchange.server import LocalExchangeThread

    limit, window = args.weight_limit, args.window_seconds
    cfg = ExchangeConfig(speed=0, start="recorded", history="1d", weight_limit=limit, window_s=window)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_budget_"))
    try:
        with LocalExchangeThread(cfg) as ex:
            log = ChargeLog(ex.limiters[Market.FUTURES])
            now = ex.market.now()
            end_ms = now - HOUR_MS
            start_ms = end_ms - int(args.budget_hours * HOUR_MS) + 1
            lo, hi = exchange_ids(ex, start_ms, end_ms)
            print(f"part 2: {hi - lo + 1:,} aggTrades ({args.budget_hours} h) under {limit} weight / {window:g} s "
                  f"(~{(hi - lo + 1) / 1000 * 20 / limit:.1f} windows of budget) ...", flush=True)
            r = run_cli(ex.urls, tmp / "catalog", start_ms, end_ms)
            lim = ex.limiters[Market.FUTURES]
            r429, r418 = lim.refused_429, lim.refused_418
            acc, ref = dict(log.accepted), dict(log.refused)
        rows, distinct, mn, mx, files = catalog_ids(tmp / "catalog")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    windows = sorted(set(acc) | set(ref))
    inner = windows[1:-1]
    shares = [acc.get(w, 0) / limit for w in inner]
    mean = sum(shares) / len(shares) if shares else float("nan")
    per_window = " ".join(f"{acc.get(w, 0)}" for w in windows)
    res.add("2", "weight used / budget, full windows", f"{mean:.1%}", target=f">= {TARGET_SHARE:.0%}",
            met=_ok(bool(shares) and mean >= TARGET_SHARE),
            detail=f"min {min(shares):.1%} over {len(inner)} full windows of {window:g} s, limit {limit}; "
                   f"accepted weight per window (first, last partial): {per_window}" if shares else
                   f"only {len(windows)} windows: {per_window}")
    res.add("2", "server 429 / 418 refusals", f"{r429} / {r418}", target="418 = 0", met=_ok(r418 == 0),
            detail=f"refused weight {sum(ref.values())}")
    ok = rows == distinct == hi - lo + 1 and (mn, mx) == (lo, hi)
    res.add("2", "rate-limited backfill", f"{rows / r['wall']:,.0f} rows/s",
            detail=f"{rows:,} rows in {r['wall']:.1f} s (CLI, child process), ids match exchange: {_ok(ok)}")
    res.summary["budget"] = f"{mean:.1%} of budget, {r429} x 429, {r418} x 418"


def part_day(res: Results, args) -> None:
    from framework.exchange.server import ExchangeConfig
    from framework.exchange.server import LocalExchangeThread

    cfg = ExchangeConfig(speed=0, start="recorded", history="1d", weight_limit=10**7)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_day_"))
    try:
        with LocalExchangeThread(cfg) as ex:
            now = ex.market.now()
            start_ms = ex.market.listed_ms if args.day_hours >= 24 else now - int(args.day_hours * HOUR_MS)
            end_ms = now
            lo, hi = exchange_ids(ex, start_ms, end_ms)
            print(f"part 3: {hi - lo + 1:,} aggTrades ({(end_ms - start_ms) / HOUR_MS:.1f} h), weight_limit 10**7 ...",
                  flush=True)
            r = run_cli(ex.urls, tmp / "catalog", start_ms, end_ms)
            r429, r418 = ex.limiters[Market.FUTURES].refused_429, ex.limiters[Market.FUTURES].refused_418
        rows, distinct, mn, mx, files = catalog_ids(tmp / "catalog")
        size = sum(p.stat().st_size for p in (tmp / "catalog" / "data").rglob("*.parquet")) / 1e6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    expected = hi - lo + 1
    ok = rows == distinct == expected and (mn, mx) == (lo, hi)
    res.add("3", "day backfill, ingest child peak RSS", f"{r['rss_mb']:,.0f} MB", target=f"< {TARGET_RSS_MB} MB",
            met=_ok(r["rss_mb"] < TARGET_RSS_MB), detail="os.wait4 ru_maxrss of the CLI process; max VmRSS by 10%..100% of wall: "
                   + " ".join(f"{m:.0f}" for m in r["rss_tenths"]))
    res.add("3", "day backfill, rows/s", f"{rows / r['wall']:,.0f} rows/s",
            detail=f"{rows:,} rows in {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU (child), {files} files {size:.0f} MB, "
                   f"429/418: {r429}/{r418}")
    res.add("3", "day backfill, catalog rows = exchange ids", _ok(ok), target="equal", met=_ok(ok),
            detail=f"catalog {rows:,} rows / {distinct:,} distinct ids {mn}..{mx}; exchange {expected:,} ids {lo}..{hi}")
    res.summary["day"] = f"day {rows / 1e6:.2f}M rows at {rows / r['wall']:,.0f} rows/s, peak RSS {r['rss_mb']:.0f} MB"


# ---- main --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes everywhere (~15 s)")
    ap.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 1,3")
    ap.add_argument("--agg-pages", type=int, default=1000, help="aggTrades pages of 1000 rows (default 1000)")
    ap.add_argument("--kline-pages", type=int, default=334, help="1m klines pages of 1500 rows (default 334)")
    ap.add_argument("--repeats", type=int, default=3, help="best of N passes for our path (default 3)")
    ap.add_argument("--weight-limit", type=int, default=2400)
    ap.add_argument("--window-seconds", type=int, default=10)
    ap.add_argument("--budget-hours", type=float, default=6.0, help="aggTrades span of part 2 (default 6 h)")
    ap.add_argument("--day-hours", type=float, default=24.0, help="span of part 3 (default the whole day)")
    ap.add_argument("--no-profile", action="store_true", help="skip the stage times when below target")
    args = ap.parse_args()
    if args.quick:
        args.agg_pages, args.kline_pages, args.repeats = 100, 34, 1
        args.weight_limit, args.window_seconds, args.budget_hours = 600, 2, 1.0
        args.day_hours = 2.0
    parts = {p.strip() for p in args.parts.split(",")}
    global SPAWNER
    SPAWNER = Spawner()  # before anything big is loaded (see _SPAWNER)

    import nautilus_trader
    import pyarrow

    print(
        f"ingest benchmark{' (quick)' if args.quick else ''}: python {platform.python_version()}, "
        f"nautilus_trader {nautilus_trader.__version__}, pyarrow {pyarrow.__version__}, "
        f"msgspec {msgspec.__version__}, {os.cpu_count()} CPUs",
        flush=True,
    )
    res = Results()
    started = time.perf_counter()
    for key, fn in (("1", part_decode_write), ("2", part_budget), ("3", part_day)):
        if key in parts:
            try:
                fn(res, args)
            except Exception as e:  # a failed part still leaves the others' figures
                res.add(key, "FAILED", type(e).__name__, detail=str(e).splitlines()[0][:200] if str(e) else "")
                print(str(e)[-3000:], file=sys.stderr)

    head = f"{'part':4s} {'figure':40s} {'value':>18s} {'target':>12s} {'met':>4s}  detail"
    print()
    print(head)
    print("-" * len(head))
    for f in res.figs:
        print(f"{f.part:4s} {f.figure:40s} {f.value:>18s} {f.target:>12s} {f.met:>4s}  {f.detail}")
    print(f"\nbench process peak RSS {peak_rss_mb():,.0f} MB (pages, Nautilus objects, exchange); "
          f"total {time.perf_counter() - started:.0f} s")
    for title, text in res.profiles:
        print(f"\nstages, {title}: {text}")
    s = res.summary
    bits = [f"aggTrades {s['aggTrades']}" if "aggTrades" in s else "",
            f"klines {s['klines 1m']}" if "klines 1m" in s else "",
            s.get("budget", ""), s.get("day", "")]
    missed = sum(1 for f in res.figs if f.met == "NO")
    print(f"\nsummary: {'; '.join(b for b in bits if b)}; {missed} target(s) missed.")
    SPAWNER.close()


if __name__ == "__main__":
    main()
