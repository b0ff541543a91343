"""Every write path once at real size (issue 10, "Volume"): a day of USD-M BTCUSDT aggTrades (2,507,280
rows) and a month of 1m klines (43,200 bars + KlineStats) over REST through the ``ingest`` CLI, and
``record``'s write path (hour files, then the day merge) fed a day of trades in flush-sized batches. The
bulk-file path has its own day:
``tests/test_ingest_hardening.py::test_a_real_day_of_usdm_agg_trades_from_a_bulk_file``.

Each asserts exact results (every id / bar once, no gaps, exact values on samples against the exchange's REST
answers or the generated rows, no empty or leftover files, a re-run that writes nothing) and the peak RSS.
All are ``slow``: the quick suite deselects them, ``.ci/run`` runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import FIXED_PRECISION

from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.http import BinanceRestClient
from framework.binance.schemas import FuturesAggTrade
from framework.catalog import CatalogStore
from framework.catalog import Series
from framework.catalog.health import check
from framework.catalog.nautilus_paths import file_name
from framework.data import parsing
from framework.data.fixed_point import raw_to_int
from framework.ingest.targets import kline_series
from framework.record.config import RecordConfig
from framework.record.recorder import RECORD_TRADES_PERIOD
from framework.record.recorder import Recorder
from framework.record.recorder import Recording
from framework.timeunits import DAY_MS
from framework.timeunits import MINUTE_MS
from framework.timeunits import NS_PER_MS
from framework.values import parse_time_ms
from tests.test_ingest_hardening import pc_decimal

ROOT = Path(__file__).resolve().parents[1]
IID = "BTCUSDT-PERP.BINANCE"
HOUR_MS = 3_600_000
#: The exchange's clock stands still at the end of the day ingested; 31 days of tape lie before it.
CLOCK = "2024-08-09T00:00:00Z"
DAY_START = parse_time_ms("2024-08-08T00:00:00Z")
MONTH_START = parse_time_ms("2024-07-10T00:00:00Z")  # 30 days before CLOCK: 43,200 closed 1m bars
MB = 1024  # kB per MB (/proc reports kB)

pytestmark = pytest.mark.slow


# -- helpers -------------------------------------------------------------------------------------------------


def raw(text: str) -> int:
    """A Binance decimal string as the catalog's raw fixed-point integer (exact)."""
    return int(Decimal(text).scaleb(FIXED_PRECISION))


def hwm_kb(pid: int | str = "self") -> int | None:
    """Peak resident set (VmHWM, kB) of a live process, None once it has exited."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # an exited child not yet reaped (a zombie) has no memory lines
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith("VmHWM:")), None)


def run_cli(tmp: Path, *argv: str, timeout: float = 240) -> tuple[subprocess.CompletedProcess, float, float]:
    """``python -m framework.main *argv`` in a child: (result, wall seconds, the child's peak RSS in MB).

    The peak is the child's own VmHWM, sampled until it exits (``ru_maxrss`` of a child would carry this
    process's high-water mark over the fork)."""
    out, err = tmp / "cli.out", tmp / "cli.err"
    started = time.monotonic()
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([sys.executable, "-m", "framework.main", *argv], cwd=ROOT, stdout=o, stderr=e,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, hwm_kb(proc.pid) or 0)
            if time.monotonic() - started > timeout:
                proc.kill()
            time.sleep(0.05)
    took = time.monotonic() - started
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())
    return done, took, peak / MB


def files_state(catalog: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under the catalog's data folder: (inode, size, mtime ns). A rewrite changes it."""
    return {str(p.relative_to(catalog)): (s.st_ino, s.st_size, s.st_mtime_ns)
            for p in sorted((catalog / "data").rglob("*")) if p.is_file() for s in [p.stat()]}


def assert_clean(catalog: Path) -> None:
    """No empty file, no leftover temporary, nothing unreadable or overlapping: every file a parquet of
    rows."""
    health = check(catalog)
    assert health.healthy, health.summary()
    for p in (catalog / "data").rglob("*"):
        if p.is_file():
            assert p.suffix == ".parquet", p
            assert pq.ParquetFile(p).metadata.num_rows > 0, p


def get(base: str, path: str) -> object:
    with urllib.request.urlopen(f"{base}{path}", timeout=60) as r:
        return json.loads(r.read())


def ingest(ex: dict[str, str], catalog: Path, *argv: str) -> tuple[subprocess.CompletedProcess, float, float]:
    return run_cli(catalog.parent, "ingest", "--catalog", str(catalog), "--market", "futures", "--symbols",
                   "BTCUSDT", *argv, "--base-path-spot", ex["spot_http"], "--base-path-futures",
                   ex["futures_http"], "--report", str(catalog.parent / "report.json"))


def report(catalog: Path) -> dict:
    return json.loads((catalog.parent / "report.json").read_text())["series"][0]


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory):
    """A ``local-exchange`` process, its clock frozen at the end of 2024-08-08, 31 days of tape, a weight
    budget the runs never reach."""
    folder = tmp_path_factory.mktemp("exchange")
    out, log = folder / "exchange.out", folder / "exchange.err"
    with out.open("w") as o, log.open("w") as err:  # files, not pipes: a full pipe would stall the exchange
        proc = subprocess.Popen(
            [sys.executable, "-m", "framework.main", "local-exchange", "--port", "0", "--speed", "0",
             "--start", CLOCK, "--history", "31d", "--weight-limit", "100000000"],
            cwd=ROOT, stdout=o, stderr=err, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not out.read_text().endswith("\n"):  # its one JSON line of URLs
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield json.loads(out.read_text().splitlines()[0])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- 1. a day of aggTrades over REST -----------------------------------------------------------------------


def test_a_day_of_usdm_agg_trades_over_rest(exchange, tmp_path: Path) -> None:
    """2,507,280 aggTrades of one UTC day through the CLI: one day file, the exchange's contiguous id range,
    exact rows, a re-run that fetches and writes nothing."""
    fut = exchange["futures_http"]
    trades = "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1"
    first = get(fut, f"{trades}&startTime={DAY_START}&endTime={DAY_START + HOUR_MS - 1}")[0]
    last = get(fut, trades)[0]  # the newest: the clock stands at the day's end
    day_end = DAY_START + DAY_MS
    assert DAY_START <= first["T"] < DAY_START + MINUTE_MS and day_end - MINUTE_MS <= last["T"] < day_end
    lo, hi = first["a"], last["a"]
    assert hi - lo + 1 >= 2_000_000

    catalog = tmp_path / "cat"
    day = ("--kinds", "agg_trades", "--start", "2024-08-08", "--end", "2024-08-09")
    proc, took, rss = ingest(exchange, catalog, *day)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report(catalog)["missing_count"] == 0 and report(catalog)["rows"] == hi - lo + 1

    store = CatalogStore(catalog)
    series = Series.trades(IID)
    assert [f.name for f in store.files(series)] == [
        "2024-08-08T00-00-00-000000000Z_2024-08-08T23-59-59-999999999Z.parquet"]
    table = store.read_table(series)
    ids = table.column("trade_id").to_numpy(zero_copy_only=False).astype(np.int64)
    assert np.array_equal(ids, np.arange(lo, hi + 1))  # every id of the day once, in order, no gap
    ts = table.column("ts_init").to_numpy()
    assert np.all(np.diff(ts.astype(np.int64)) >= 0)
    assert np.array_equal(ts, table.column("ts_event").to_numpy())
    n = len(ids)
    for i in sorted({0, 999, 1000, 49_999, 50_000, n // 2, 1_234_567, n - 1001, n - 1000, n - 1}):
        want = get(fut, f"/fapi/v1/aggTrades?symbol=BTCUSDT&fromId={lo + i}&limit=1")[0]
        row = table.slice(i, 1)
        assert (int(row["trade_id"][0].as_py()), raw_to_int(row["price"])[0], raw_to_int(row["size"])[0],
                row["ts_event"][0].as_py(), row["aggressor_side"][0].as_py()) == (
            want["a"], raw(want["p"]), raw(want["q"]), want["T"] * NS_PER_MS, 2 if want["m"] else 1), i
    del table, ids, ts
    assert_clean(catalog)

    before = files_state(catalog)
    again, took_again, rss_again = ingest(exchange, catalog, *day)
    assert again.returncode == 0, again.stderr[-3000:]
    assert files_state(catalog) == before  # nothing rewritten
    assert report(catalog)["fetched"] == 0 and report(catalog)["rows"] == n
    # the day costs little beyond the interpreter and its imports (the re-run's peak): streamed, never held
    assert rss - rss_again < 300, (rss, rss_again)
    print(f"\nday of aggTrades over REST: {n:,} rows in {took:.1f} s, peak RSS {rss:.0f} MB "
          f"(a re-run writing nothing: {rss_again:.0f} MB, {took_again:.1f} s)")


# -- 2. a month of 1m klines over REST ---------------------------------------------------------------------


def test_a_month_of_1m_klines_over_rest(exchange, tmp_path: Path) -> None:
    """43,200 bars and their KlineStats through the CLI: every minute once, exact values, a re-run that
    writes nothing."""
    fut = exchange["futures_http"]
    catalog = tmp_path / "cat"
    month = ("--kinds", "klines", "--intervals", "1m", "--start", "2024-07-10", "--end", "2024-08-09")
    proc, took, rss = ingest(exchange, catalog, *month)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report(catalog)["missing_count"] == 0 and report(catalog)["rows"] == 43_200

    store = CatalogStore(catalog)
    bars, stats = kline_series(parsing.kline_bar_type(InstrumentId.from_str(IID), "1m"))
    # bars (and their stats) are stamped at their close
    closes = (MONTH_START + MINUTE_MS * np.arange(1, 43_201, dtype=np.int64)) * NS_PER_MS
    bar_t, stat_t = store.read_table(bars), store.read_table(stats)
    for t in (bar_t, stat_t):
        assert np.array_equal(t.column("ts_init").to_numpy().astype(np.int64), closes)  # every minute once
    for i in (0, 1, 1499, 1500, 21_599, 21_600, 31_679, 31_680, 43_199):
        open_ms = MONTH_START + i * MINUTE_MS
        k = get(fut, f"/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime={open_ms}&limit=1")[0]
        assert k[0] == open_ms
        b, s = bar_t.slice(i, 1), stat_t.slice(i, 1)
        ohlcv = [raw_to_int(b[c])[0] for c in ("open", "high", "low", "close", "volume")]
        assert ohlcv == [raw(v) for v in k[1:6]], i
        assert (s["quote_volume_str"][0].as_py(), s["trade_count"][0].as_py(),
                s["taker_buy_base_volume_str"][0].as_py(), s["taker_buy_quote_volume_str"][0].as_py()) == (
            k[7], k[8], k[9], k[10]), i
    assert_clean(catalog)

    before = files_state(catalog)
    again, _, _ = ingest(exchange, catalog, *month)
    assert again.returncode == 0, again.stderr[-3000:]
    assert files_state(catalog) == before
    assert report(catalog)["fetched"] == 0 and report(catalog)["rows"] == 43_200
    assert rss < 1024, rss
    print(f"\nmonth of 1m klines over REST: 43,200 bars + stats in {took:.1f} s, peak RSS {rss:.0f} MB")


# -- 3. record's write path -------------------------------------------------------------------------------


RECORD_ROWS = 2_500_000
FLUSH_ROWS = 50_000  # RecordConfig.flush_rows' default
NEXT_DAY_ROWS = 20_000  # the first flush into the next day completes the recorded one


def day_of_trades(rows: int, next_day: int, seed: int = 7) -> dict[str, np.ndarray]:
    """``rows`` aggTrades over 2024-08-08 then ``next_day`` in the next day's first minutes (real shapes: ids
    below the local exchange's newest, several trades a millisecond, 2-decimal prices on 0.10 ticks, 3-decimal
    sizes)."""
    rng = np.random.default_rng(seed)
    total = rows + next_day
    day_end = DAY_START + DAY_MS
    times = np.concatenate([np.sort(rng.integers(DAY_START, day_end, rows)),
                            np.sort(rng.integers(day_end, day_end + 5 * MINUTE_MS, next_day))])
    return {
        "id": np.arange(3_600_000_000, 3_600_000_000 + total, dtype=np.int64),
        "time": times,
        "price": pc_decimal((600_000 + np.cumsum(rng.integers(-3, 4, total))) * 10, 2),  # "60000.10"
        "qty": pc_decimal(rng.integers(1, 5_000, total), 3),
        "maker": rng.integers(0, 2, total).astype(bool),
    }


async def test_record_writes_a_day_of_trades_in_hour_files_then_a_day_file(exchange, tmp_path: Path) -> None:
    """The recorder's own write path fed 2.5M trades in flushes of 50,000: the trades recording its set-up
    builds (against the local exchange: instrument, resume point), rows added as the feed delivers them,
    ``Recorder.flush`` -> ``Recording.write`` (hour files, the day merged when a flush reaches the next day).
    Afterwards one day file of every id once, exact rows, the next day's hour file, nothing empty or left
    over; a restart sent the last flush again writes nothing."""
    catalog = tmp_path / "cat"
    cols = day_of_trades(RECORD_ROWS, NEXT_DAY_ROWS)
    total = len(cols["id"])
    urls = BinanceUrls(**exchange)
    markets = {"futures": {"symbols": ["BTCUSDT"], "kinds": ["agg_trades"]}}
    cfg = RecordConfig.load({"catalog": str(catalog), "markets": markets}, "test")

    async def feed(rec: Recorder, recording: Recording, lo: int, hi: int) -> None:
        for a in range(lo, hi, FLUSH_ROWS):
            b = min(a + FLUSH_ROWS, hi)
            for row in map(FuturesAggTrade, cols["id"][a:b].tolist(), cols["price"][a:b].tolist(),
                           cols["qty"][a:b].tolist(), cols["id"][a:b].tolist(), cols["id"][a:b].tolist(),
                           cols["time"][a:b].tolist(), cols["maker"][a:b].tolist()):
                recording.add(row, False)
            await rec.flush()

    async def record(lo: int, hi: int, between: Callable[[], None] | None = None) -> Recording:
        """A recorder set up on the catalog (as ``run`` does before streaming), fed rows ``lo:hi``."""
        client = BinanceRestClient(BinanceHttpConfig(urls=urls))
        try:
            rec = Recorder(cfg, client, urls)
            await rec._setup()
            [recording] = rec.recordings
            if between is None:
                await feed(rec, recording, lo, hi)
            else:  # the day but its last trade, then the rest (the day's last trade and the next day's first)
                await feed(rec, recording, lo, RECORD_ROWS - 1)
                between()
                await feed(rec, recording, RECORD_ROWS - 1, hi)
            for f in rec.feeds.values():
                await f.stop()
        finally:
            await client.close()
        return recording

    store = CatalogStore(catalog)
    series = Series.trades(IID, period=RECORD_TRADES_PERIOD)

    def hour_files() -> None:
        hours = [f.name for f in store.files(series)]
        assert len(hours) == 24 and all(name.startswith("2024-08-08T") for name in hours), hours

    Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here on: the write path's own peak
    base = hwm_kb()
    started = time.monotonic()
    recording = await record(0, total, between=hour_files)
    took = time.monotonic() - started
    peak = (hwm_kb() - base) / MB
    assert recording.written == total

    day_end = (DAY_START + DAY_MS) * NS_PER_MS
    # the day merged into one file, then the next day's hour so far
    assert [f.name for f in store.files(series)] == [
        file_name(int(cols["time"][0]) * NS_PER_MS, day_end - 1),
        file_name(day_end, int(cols["time"][-1]) * NS_PER_MS)]
    day = pq.read_table(store.series_dir(series) / store.files(series)[0].name)
    assert day.num_rows == RECORD_ROWS
    table = store.read_table(series)
    ids = table.column("trade_id").to_numpy(zero_copy_only=False).astype(np.int64)
    assert np.array_equal(ids, cols["id"])  # every id once, in order
    assert np.array_equal(table.column("ts_event").to_numpy().astype(np.int64), cols["time"] * NS_PER_MS)
    sides = np.where(cols["maker"], 2, 1).astype(np.uint8)  # a buyer maker: the seller was the aggressor
    assert np.array_equal(table.column("aggressor_side").to_numpy(), sides)
    for i in sorted({0, FLUSH_ROWS - 1, FLUSH_ROWS, total // 2, RECORD_ROWS - 2, RECORD_ROWS - 1, RECORD_ROWS,
                     total - 1}):
        row = table.slice(i, 1)
        assert (raw_to_int(row["price"])[0], raw_to_int(row["size"])[0]) == (
            raw(cols["price"][i]), raw(cols["qty"][i])), i
    del table, ids, day
    assert_clean(catalog)

    before = files_state(catalog)
    await record(total - FLUSH_ROWS, total)  # a restart, sent what it holds again
    assert files_state(catalog) == before
    assert peak < 1024, peak
    print(f"\nrecord's write path: {total:,} trades in {total // FLUSH_ROWS + 1} flushes, {took:.1f} s, "
          f"peak RSS +{peak:.0f} MB over the test's start")
