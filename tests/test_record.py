"""``record`` against the local exchange: forced disconnects, kill -9 and restart, usage errors.

Ground truth is the exchange's own tape (the same aggTrade ids and klines its REST and streams serve).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pandas as pd
import pytest
import yaml
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.binance.schemas import FuturesAggTrade
from framework.catalog.layout import lock_path
from framework.catalog.series import Series
from framework.catalog.store import CatalogStore
from framework.data.kinds import SMALL_SERIES_PERIOD
from framework.data.types import KlineStats
from framework.errors import FrameworkError
from framework.exchange.faults import FaultConfig
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchange
from framework.exchange.server import LocalExchangeThread
from framework.live.feed import MarketFeed
from framework.main import main
from framework.record.config import RecordConfig
from framework.record.recorder import RECORD_TRADES_PERIOD
from framework.record.recorder import Recorder
from framework.record.recorder import Recording
from framework.record.recorder import trades_table

FUT = Market.FUTURES
IID = "BTCUSDT-PERP.BINANCE"
BAR_TYPE = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"
ROOT = Path(__file__).resolve().parents[1]
SELECTION = {"futures": {"symbols": ["BTCUSDT"], "kinds": ["agg_trades", "klines"], "intervals": ["1m"]}}


def held_ids(catalog: Path) -> list[int]:
    table = CatalogStore(catalog).read_table(Series.trades(IID), columns=["trade_id"])
    return [int(i) for i in table.column("trade_id").to_pylist()] if table.num_columns else []


def assert_bars_match_tape(catalog: Path, ex: LocalExchange) -> list[int]:
    """Consecutive 1m bars, each equal to the exchange's kline, each with its KlineStats; returns the opens."""
    cat = ParquetDataCatalog(str(catalog))
    bars = cat.bars([BAR_TYPE])
    opens = [b.ts_event // 1_000_000 - 60_000 for b in bars]
    assert len(opens) >= 2 and all(b - a == 60_000 for a, b in zip(opens, opens[1:])), "closed bars, each once"
    rows = {r[0]: r for r in ex.market.kline_rows(FUT, "BTCUSDT", "1m", opens[0], opens[-1], 1000)}
    for bar, open_ms in zip(bars, opens):
        row = rows[open_ms]
        assert [str(bar.open), str(bar.high), str(bar.low), str(bar.close), str(bar.volume)] == row[1:6]
    stats = [s.data if hasattr(s, "data") else s for s in cat.query(KlineStats, identifiers=[BAR_TYPE])]
    assert [s.ts_event for s in stats] == [b.ts_event for b in bars]
    assert [s.quote_volume_str for s in stats] == [rows[o][7] for o in opens]
    return opens


@pytest.mark.timeout(90)
async def test_recording_through_20_disconnects_holds_exactly_the_exchange_tape(tmp_path: Path) -> None:
    faults = FaultConfig(drop_ws_every=40, malformed_frame_rate=0.02)
    async with LocalExchange(ExchangeConfig(speed=60, start="recorded", faults=faults)) as ex:
        urls = BinanceUrls(**ex.urls)
        client = BinanceRestClient(BinanceHttpConfig(urls=urls))
        cfg = msgspec.convert({"catalog": str(tmp_path), "markets": SELECTION, "flush_secs": 0.5, "duration": 5.0},
                              RecordConfig)
        recorder = Recorder(cfg, client, urls)
        started_ms = ex.market.now()
        try:
            summary = await recorder.run(asyncio.Event())
        finally:
            await client.close()
        stopped_ms = ex.market.now()
        tape = ex.market.tape(FUT, "BTCUSDT")
        drops = ex.streams[FUT].drops
        ids = held_ids(tmp_path)
        assert_bars_match_tape(tmp_path, ex)

    feed = summary.feeds["futures"]
    assert drops >= 20 and feed["reconnects"] >= 20 and feed["malformed"] > 0
    assert sorted(ids) == list(range(ids[0], ids[0] + len(ids))), "every id once: none missing, none doubled"
    assert tape.agg_trade(ids[0] - 1).time <= started_ms + 30_000  # started with the run (0.5 s wall: a loaded machine)
    assert tape.agg_trade(ids[-1] + 1).time > stopped_ms - 60_000  # caught up at the stop
    assert CatalogStore(tmp_path).check(Series.trades(IID)) == []


@pytest.mark.timeout(60)
async def test_a_failing_catalog_write_ends_an_open_ended_run_with_one_line(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path)
    lock_path(store.root, store.series_dir(Series.trades(IID))).mkdir(parents=True)  # fault: the lock cannot be opened
    async with LocalExchange(ExchangeConfig(speed=60, start="recorded")) as ex:
        urls = BinanceUrls(**ex.urls)
        client = BinanceRestClient(BinanceHttpConfig(urls=urls))
        cfg = msgspec.convert({"catalog": str(tmp_path), "markets": SELECTION, "flush_secs": 0.2}, RecordConfig)
        try:  # no duration, no stop: only the failed flush can end it
            with pytest.raises(FrameworkError, match=r"writing futures BTCUSDT agg_trades into .* failed \("):
                await Recorder(cfg, client, urls).run(asyncio.Event())
        finally:
            await client.close()


def _record(cfg: Path, urls: dict[str, str], *extra: str) -> list[str]:
    return [sys.executable, "-m", "framework.main", "record", str(cfg), "--base-path-futures", urls["futures_http"],
            "--stream-url-futures", urls["futures_ws"], "--log-level", "WARNING", *extra]


@pytest.mark.timeout(120)
def test_kill_9_then_restart_leaves_the_catalog_complete_without_duplicates(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    cfg = tmp_path / "record.yaml"
    cfg.write_text(yaml.safe_dump({"catalog": str(catalog), "flush_secs": 0.3, "markets": SELECTION}))
    with LocalExchangeThread(ExchangeConfig(speed=60, start="recorded")) as ex:
        proc = subprocess.Popen(_record(cfg, ex.urls), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                if len(held_ids(catalog)) > 500:
                    break
                time.sleep(0.2)
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.5)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        before = held_ids(catalog)
        time.sleep(1.0)  # a minute of market time happens while nobody records
        done = subprocess.run(_record(cfg, ex.urls, "--duration", "2"), cwd=ROOT, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        ids = held_ids(catalog)
        assert_bars_match_tape(catalog, ex)
        tape = ex.market.tape(FUT, "BTCUSDT")
    assert before and ids[: len(before)] == before
    assert sorted(ids) == list(range(ids[0], ids[0] + len(ids))), "the kill's gap backfilled, nothing doubled"
    assert tape.agg_trade(ids[-1]).time - tape.agg_trade(before[-1]).time > 30_000  # spans the dead minute
    assert "gaps filled" in done.stdout.decode()
    assert CatalogStore(catalog).check(Series.trades(IID)) == []
    assert CatalogStore(catalog).check(Series.bars(BAR_TYPE, period=SMALL_SERIES_PERIOD)) == []


@pytest.mark.parametrize(("argv", "needle"), [
    (["--drop-ws-every", "5"], "add --offline"),
])
def test_record_usage_errors_are_one_line(argv: list[str], needle: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text(yaml.safe_dump({"catalog": str(tmp_path), "markets": SELECTION}))
    assert main(["record", str(cfg), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_record_config_names_a_bad_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text(yaml.safe_dump({"markets": {"spot": {"symbols": ["BTCUSDT"], "kinds": ["open_interest"]}}}))
    assert main(["record", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown data kind 'open_interest' for spot" in err and len(err.splitlines()) == 1


def _hourly_trades_recording(path: Path) -> tuple[CatalogStore, Series, Recording]:
    """The recorder's trade recording of BTCUSDT-PERP into hour files, merged per day."""
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    series = Series.trades(inst.id, period=RECORD_TRADES_PERIOD)
    return CatalogStore(path), series, Recording("t", [(series, lambda rows: trades_table(inst, rows))], None,
                                                 consolidate_days=True)


def _agg_trades(times_ms: list[int]) -> list[FuturesAggTrade]:
    return [FuturesAggTrade(a=i + 1, p="60000.1", q="0.001", f=i + 1, l=i + 1, T=t, m=False)
            for i, t in enumerate(times_ms)]


def test_trades_go_to_hour_files_and_a_completed_day_becomes_one_file(tmp_path: Path) -> None:
    """A flush rewrites only the current hour's file; the write that passes midnight merges the finished day."""
    store, series, rec = _hourly_trades_recording(tmp_path)
    day = 19_945 * 86_400_000
    hour = 3_600_000
    times = [day + 21 * hour + 5, day + 22 * hour + 7, day + 23 * hour + 9, day + 24 * hour + 11]
    rows = _agg_trades(times)
    for batch in (rows[:1], rows[1:3]):
        rec.write(store, batch)
    assert len(store.files(series)) == 3  # 21h, 22h, 23h: each flush rewrote at most its own hour
    rec.write(store, rows[3:])
    files = [(f.start, f.end) for f in store.files(series)]
    assert files == [(times[0] * 1_000_000, (day + 24 * hour) * 1_000_000 - 1),
                     ((day + 24 * hour) * 1_000_000, times[3] * 1_000_000)]
    assert held_ids(tmp_path) == [1, 2, 3, 4] and store.holdings(series).contiguous


def test_a_first_write_past_midnight_merges_the_day_it_completed(tmp_path: Path) -> None:
    store, series, rec = _hourly_trades_recording(tmp_path)
    midnight = 19_946 * 86_400_000
    times = [midnight - 7_200_000 + 5, midnight - 3_600_000 + 7, midnight + 9]  # 22h, 23h, then the next day
    rec.write(store, _agg_trades(times))
    assert [(f.start, f.end) for f in store.files(series)] == [(times[0] * 1_000_000, midnight * 1_000_000 - 1),
                                                               (midnight * 1_000_000, times[2] * 1_000_000)]


@pytest.mark.parametrize("config", sorted((ROOT / "configs" / "record").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_config_runs_offline(config: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    assert main(["record", str(config), "--offline", "--duration", "3", "--catalog", str(catalog)]) == 0
    assert any(catalog.rglob("*.parquet")), "it recorded something"


# -- stopping, resuming, the start's catch-up (issue 10) -----------------------------------------------------

TRADES = {"futures": {"symbols": ["BTCUSDT"], "kinds": ["agg_trades"]}}
RECORDED = "2024-08-09T00:01:00Z"  # the local exchange's "recorded" clock start (the end of its recordings)


def trade_times(catalog: Path) -> list[int]:
    table = CatalogStore(catalog).read_table(Series.trades(IID), columns=["ts_init"])
    return [t // 1_000_000 for t in table.column("ts_init").to_pylist()]


def assert_no_empty_files(catalog: Path) -> None:
    import pyarrow.parquet as pq

    empty = [f for f in (catalog / "data").rglob("*.parquet") if pq.read_metadata(f).num_rows == 0]
    assert not empty, f"empty files: {empty[:3]}"


def ms_of(text: str) -> int:
    """An ISO time -> epoch ms."""
    return int(pd.Timestamp(text).value // 1_000_000)


def runs(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids -> their contiguous runs (first, last)."""
    out: list[tuple[int, int]] = []
    for i in ids:
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


@pytest.mark.timeout(120)
def test_readme_order_ingest_then_record_skips_an_old_gap_with_a_warning_stops_on_time_and_reports_the_gap(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's order on one catalog: an offline ingest (the recordings' time, 2024) then an offline record
    (wall-clock now): the ~2-year gap is more than max_backfill, so record says so once, starts at the newest
    trade and stops at --duration; the gap is not declared held and shows in ingest's gap report."""
    catalog = tmp_path / "catalog"
    ingest = ["ingest", str(ROOT / "configs/ingest/backtest_examples_trades.yaml"), "--offline", "--catalog",
              str(catalog)]
    assert main(ingest) == 0
    before = held_ids(catalog)
    capsys.readouterr()
    started = time.monotonic()
    assert main(["record", str(ROOT / "configs/record/btc_futures.yaml"), "--offline", "--catalog", str(catalog),
                 "--duration", "3", "--log-level", "WARNING"]) == 0
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, err
    assert ("futures BTCUSDT agg_trades: the catalog ends 2024-08-08T23:59:59.643Z" in warnings[0]
            and "d ago, more than max_backfill 1d: starting at the newest trade" in warnings[0])
    ids = held_ids(catalog)
    assert ids[: len(before)] == before and len(ids) > len(before), "new rows after the old ones, none doubled"
    assert len(runs(ids)) == 2, "what each run covered is contiguous; only the skipped gap is missing"
    times = trade_times(catalog)
    gap = (times[len(before) - 1] * 1_000_000 + 1, times[len(before)] * 1_000_000 - 1)
    missing = CatalogStore(catalog).holdings(Series.trades(IID)).missing(*gap)
    assert len(missing) == 1 and missing[0][1] == gap[1], "no file claims any of the skipped gap"
    assert missing[0][0] - gap[0] < 1_000_000_000  # (the ingested file runs to its requested end, 00:00)
    assert_no_empty_files(catalog)
    assert main(ingest) == 0  # nothing new to fetch; the report covers the whole series
    report = msgspec.json.decode((catalog / "ingest_report.json").read_bytes())["series"][0]
    assert report["missing"] == [[before[-1] + 1, ids[len(before)] - 1]]


@pytest.mark.timeout(120)
def test_the_skipped_gap_warning_prints_an_ingest_command_that_runs_as_printed_and_fills_the_gap(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Offline: record at the recordings' end, then record 19 minutes later with max_backfill 5m: the gap is
    skipped with a warning whose ingest command (``python -m framework.main ... --offline``, the same clock),
    run exactly as printed, exits 0 and fills the gap: the catalog then holds every id from the first run's
    first to the second run's last, once."""
    import shlex

    catalog = tmp_path / "catalog"
    cfg = tmp_path / "record.yaml"
    cfg.write_text(yaml.safe_dump({"catalog": str(catalog), "flush_secs": 0.5, "markets": TRADES}))
    record = ["record", str(cfg), "--offline", "--duration", "2", "--log-level", "WARNING"]
    assert main([*record, "--start", "recorded", "--speed", "10"]) == 0
    capsys.readouterr()
    assert main([*record, "--start", "2024-08-09T00:20:00Z", "--backfill", "5m"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "more than max_backfill 5m" in warnings[0], warnings
    command = warnings[0].split("`")[1]
    assert command.startswith("python -m framework.main ingest --market futures --symbols BTCUSDT --kinds "
                              "agg_trades --start 2024-08-09T00:0") and " --offline --offline-start 2024-08-09T00:2" \
        in command, command
    assert len(runs(held_ids(catalog))) == 2, "the gap is missing before the printed command runs"
    argv = shlex.split(command)
    done = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, capture_output=True, timeout=90,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    ids = held_ids(catalog)
    assert ids == list(range(ids[0], ids[-1] + 1)), "the printed command filled the gap, nothing doubled"
    assert_no_empty_files(catalog)


def _wait_for_rows(catalog: Path, more_than: int, proc: subprocess.Popen, seconds: float = 60) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        ids = held_ids(catalog)
        if len(ids) > more_than:
            return ids
        time.sleep(0.2)
    raise AssertionError(f"no flush past {more_than} rows within {seconds} s")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigterm_sigint_and_duration_stop_record_during_the_start_catch_up_and_the_next_start_resumes(
        tmp_path: Path) -> None:
    """A catalog 6 hours behind the exchange: the start's catch-up is ~650k aggTrades (minutes under the weight
    budget). SIGTERM, SIGINT and --duration each stop it within seconds, what was fetched is written, and each
    next start resumes exactly after it (real processes, real signals)."""
    catalog = tmp_path / "catalog"
    cfg = tmp_path / "record.yaml"
    cfg.write_text(yaml.safe_dump({"catalog": str(catalog), "flush_secs": 1, "flush_rows": 5000, "markets": TRADES}))
    assert main(["record", str(cfg), "--offline", "--start", "2024-08-08T18:00:00Z", "--speed", "10",
                 "--duration", "3"]) == 0
    seed = held_ids(catalog)
    assert seed
    argv = [sys.executable, "-m", "framework.main", "record", str(cfg), "--offline", "--start", "recorded",
            "--backfill", "all", "--log-level", "WARNING"]
    tape = LocalExchange(ExchangeConfig(start="recorded")).market.tape(FUT, "BTCUSDT")
    held = seed
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _wait_for_rows(catalog, len(held) + 5000, proc)
            time.sleep(6)  # into the catch-up's progress reports
            sent = time.monotonic()
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert time.monotonic() - sent < 5, f"{sig.name}: took {time.monotonic() - sent:.1f} s to stop"
        assert proc.returncode == 0, err.decode()[-2000:]
        assert "backfill: futures BTCUSDT agg_trades: " in err.decode() and "rows/s, ETA" in err.decode()
        ids = held_ids(catalog)
        assert ids == list(range(seed[0], ids[-1] + 1)), f"{sig.name}: resumed exactly, nothing doubled"
        assert len(ids) > len(held) + 5000 and ids[: len(held)] == held
        assert tape.agg_trade(ids[-1]).time < ms_of("2024-08-08T23:00Z"), "stopped inside the catch-up"
        held = ids
    started = time.monotonic()
    done = subprocess.run([*argv, "--duration", "3"], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0 and time.monotonic() - started < 20, done.stderr.decode()[-2000:]
    ids = held_ids(catalog)
    assert ids == list(range(seed[0], ids[-1] + 1)) and len(ids) > len(held)
    assert_no_empty_files(catalog)


@pytest.mark.timeout(60)
async def test_a_stream_the_exchange_refuses_ends_the_feed_connection_instead_of_reconnecting_forever() -> None:
    """The local exchange answers a stream of a listed symbol without a tape (ETHBUSD) with HTTP 400, as Binance
    does an unknown stream: after 5 refusals in a row the feed reports it (``failed``) and stops trying."""
    async with LocalExchange(ExchangeConfig(start="recorded")) as ex:
        urls = BinanceUrls(**ex.urls)
        client = BinanceRestClient(BinanceHttpConfig(urls=urls))
        feed = MarketFeed(FUT, client, urls.futures_ws)
        feed.agg_trades("ETHBUSD", lambda row, filled: None)
        try:
            await feed.start()
            await asyncio.wait_for(feed.failed.wait(), timeout=20)
            await asyncio.sleep(0.2)
            reader = feed._shards[0].tasks[0]
            assert reader.done() and not reader.cancelled(), "the connection's reader ended: no more reconnects"
            assert ex.streams[FUT].connections == 0
        finally:
            await feed.stop()
            await client.close()
    assert feed.error is not None and feed.error.status == 400 and feed.error.attempts == 5
    assert feed.refused_streams == ["ethbusd@aggTrade"]
