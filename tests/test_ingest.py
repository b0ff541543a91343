"""``ingest`` end to end against the local exchange: ground truth, idempotence, kill -9, rate limits, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import TradeTick
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

from framework.binance.endpoints import Market
from framework.data import types
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.exchange.tape import fmt_units
from framework.values import parse_time_ms

ROOT = Path(__file__).resolve().parents[1]
START, END = "2024-08-08T23:00:00Z", "2024-08-09T00:00:00Z"
KINDS = "agg_trades,klines,funding,open_interest,top_position_ratio,top_account_ratio,global_account_ratio,taker_volume"


def ingest(ex, catalog: Path, *extra: str, env: dict | None = None, wait: bool = True):
    args = [sys.executable, "-m", "framework.main", "ingest", "--catalog", str(catalog), "--market", "futures",
            "--symbols", "BTCUSDT", "--kinds", KINDS, "--intervals", "1m", "--periods", "5m",
            "--start", START, "--end", END, *extra]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "BASE_PATH_SPOT": ex.urls["spot_http"],
                "BASE_PATH_FUTURES": ex.urls["futures_http"], **(env or {})}
    if not wait:
        return subprocess.Popen(args, env=full_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(args, env=full_env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def snapshot(catalog: Path) -> dict[str, str]:
    """Every visible parquet file of the catalog with the hash of its bytes."""
    return {str(p.relative_to(catalog)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(catalog.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def exchange():
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", weight_limit=1_000_000)) as ex:
        yield ex


@pytest.fixture(scope="module")
def full(exchange, tmp_path_factory):
    catalog = tmp_path_factory.mktemp("full")
    proc = ingest(exchange, catalog)
    assert proc.returncode == 0, proc.stderr
    return catalog, proc


def test_full_ingest_equals_the_exchange_ground_truth(exchange, full) -> None:
    catalog, proc = full
    tape = exchange.exchange.market.tape(Market.FUTURES, "BTCUSDT") if hasattr(exchange, "exchange") else \
        exchange.market.tape(Market.FUTURES, "BTCUSDT")
    lo, hi = parse_time_ms(START), parse_time_ms(END)
    cat = ParquetDataCatalog(str(catalog))
    ticks = cat.query(TradeTick)
    ids = [int(t.trade_id.value) for t in ticks]
    assert ids == list(range(tape.first_agg_at(lo), tape.last_agg_at(hi) + 1))  # every id once, in order
    qty = sum(tape.agg_trade(i).qty for i in ids)
    assert sum(t.size.as_decimal() for t in ticks) == Decimal(fmt_units(qty, tape.qty_decimals))
    assert all(t.ts_event == tape.agg_trade(int(t.trade_id.value)).time * 1_000_000 for t in ticks[::997])
    bars = cat.query(Bar)
    assert len(bars) == 60 and [b.ts_event for b in bars] == [(lo + 60_000 * (i + 1)) * 1_000_000 for i in range(60)]
    vol = sum(b.volume.as_decimal() for b in bars)
    trade_qty = sum(tape.trade(i).qty for i in range(tape.first_trade_at(lo), tape.last_trade_at(hi - 1) + 1))
    # bars hold [lo, hi) minute by minute; the aggTrades above run to hi inclusive
    assert vol == Decimal(fmt_units(trade_qty, tape.qty_decimals))
    stats = [c.data for c in cat.query(types.KlineStats)]
    assert len(stats) == 60 and [s.ts_event for s in stats] == [b.ts_event for b in bars]
    taker = sum(tape.trade(i).qty for i in range(tape.first_trade_at(lo), tape.last_trade_at(hi - 1) + 1)
                if not tape.trade(i).is_buyer_maker)
    assert sum(s.taker_buy_base_volume for s in stats) == Decimal(fmt_units(taker, tape.qty_decimals))
    assert len(cat.query(types.OpenInterest)) == 13  # 23:00 .. 00:00 every 5 minutes
    assert len(cat.query(types.TakerBuySellVolume)) == 13
    for cls in (types.TopTraderPositionRatio, types.TopTraderAccountRatio, types.GlobalAccountRatio):
        assert len(cat.query(cls)) == 13
    assert len(cat.query(types.FundingRate)) == 1  # 2024-08-09 00:00
    report = json.loads((catalog / "ingest_report.json").read_text())
    assert all(s["missing_count"] == 0 for s in report["series"])
    assert "BTCUSDT agg_trades" in proc.stdout


def test_second_run_writes_nothing(exchange, full) -> None:
    catalog, _ = full
    before = snapshot(catalog)
    proc = ingest(exchange, catalog)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(catalog) == before
    report = json.loads((catalog / "ingest_report.json").read_text())
    assert all(s["fetched"] == 0 for s in report["series"])


def test_killed_runs_resume_to_the_same_catalog(exchange, full, tmp_path: Path) -> None:
    reference = snapshot(full[0])
    catalog = tmp_path / "killed"
    for delay in (0.8, 1.6, 2.4, 3.2):  # seconds into the run: setup, trades, bars, custom data
        proc = ingest(exchange, catalog, wait=False)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for path in catalog.rglob("*.parquet"):  # whatever is visible is whole and readable
            pq.read_table(path)
    final = ingest(exchange, catalog)
    assert final.returncode == 0, final.stderr
    assert snapshot(catalog) == reference


def test_429_is_honoured_and_no_418(tmp_path: Path) -> None:
    # a budget of 400 per 3 s and a neighbour on the same IP spending most of it: ingest must wait, not fail
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", weight_limit=400, window_s=3)) as ex:
        import urllib.request

        for _ in range(18):  # 18 x 20 = 360 weight in the current window
            urllib.request.urlopen(ex.urls["futures_http"] + "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1").read()
        proc = ingest(ex, tmp_path / "c", "--kinds", "agg_trades", "--start", "2024-08-08T23:50:00Z")
        limiter = ex.exchange.limiters[Market.FUTURES] if hasattr(ex, "exchange") else ex.limiters[Market.FUTURES]
        assert proc.returncode == 0, proc.stderr
        assert limiter.refused_418 == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--symbols", "NOPEUSDT"], "NOPEUSDT not listed on Binance futures"),
    (["--kinds", "candles"], "unknown data kind 'candles'"),
    (["--start", "2024-08-09", "--end", "2024-08-08"], "is not before end"),
    (["--periods", "3m", "--kinds", "open_interest"], "Binance does not offer '3m'"),
])
def test_bad_input_is_one_line_and_writes_nothing(exchange, tmp_path: Path, args: list[str], message: str) -> None:
    catalog = tmp_path / "c"
    proc = ingest(exchange, catalog, *args)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(catalog.rglob("*.parquet"))


def test_catalog_path_that_is_a_file(exchange, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    proc = ingest(exchange, path)
    assert proc.returncode == 2 and "is a file" in proc.stderr


FIXTURES = ROOT / "tests" / "fixtures" / "binance" / "datasets"


def bulk_tree(root: Path, zipped: bool = False) -> Path:
    """The two recorded kline CSVs laid out as on data.binance.vision (optionally zipped)."""
    import shutil
    import zipfile

    for market_path, symbol, interval, source in (
        ("futures/um", "LINKUSDT", "1m", FIXTURES / "futures_um_klines_1m" / "LINKUSDT-1m-2023-02.csv"),
        ("spot", "BTCUSDT", "1h", FIXTURES / "spot_klines_1h" / "BTCUSDT-1h-2022-01.csv"),
    ):
        folder = root / "data" / market_path / "monthly" / "klines" / symbol / interval
        folder.mkdir(parents=True)
        if zipped:
            with zipfile.ZipFile(folder / (source.stem + ".zip"), "w") as z:
                z.write(source, source.name)
        else:
            shutil.copy(source, folder / source.name)
    return root


def import_files(ex, catalog: Path, files: Path):
    """Bulk files with the bundled exchangeInfo (``--offline``: no network call at all)."""
    return subprocess.run(
        [sys.executable, "-m", "framework.main", "ingest", "--from-files", str(files), "--catalog", str(catalog),
         "--offline"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "BASE_PATH_SPOT": ex.urls["spot_http"],
             "BASE_PATH_FUTURES": ex.urls["futures_http"]},
        cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_bulk_files_import_exactly_once(exchange, tmp_path: Path) -> None:
    import csv

    catalog = tmp_path / "cat"
    proc = import_files(exchange, catalog, bulk_tree(tmp_path / "files"))
    assert proc.returncode == 0, proc.stderr
    cat = ParquetDataCatalog(str(catalog))
    link = cat.query(Bar, identifiers=["LINKUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"])
    btc = cat.query(Bar, identifiers=["BTCUSDT.BINANCE-1-HOUR-LAST-EXTERNAL"])
    assert (len(link), len(btc)) == (40_320, 744)
    with open(FIXTURES / "futures_um_klines_1m" / "LINKUSDT-1m-2023-02.csv") as f:
        rows = list(csv.reader(f))[1:]
    assert sum(b.volume.as_decimal() for b in link) == sum(Decimal(r[5]) for r in rows)
    assert (str(link[0].open), link[0].ts_event) == (rows[0][1], (int(rows[0][6]) + 1) * 1_000_000)
    before = snapshot(catalog)
    again = import_files(exchange, catalog, tmp_path / "files")
    assert again.returncode == 0 and snapshot(catalog) == before
    zipped = tmp_path / "zcat"
    assert import_files(exchange, zipped, bulk_tree(tmp_path / "zfiles", zipped=True)).returncode == 0
    assert snapshot(zipped) == before


def test_no_bulk_files_is_a_usage_error(exchange, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = import_files(exchange, tmp_path / "cat", tmp_path / "empty")
    assert proc.returncode == 2 and "no Binance bulk file found" in proc.stderr


def test_spot_agg_trades_and_klines(exchange, tmp_path: Path) -> None:
    catalog = tmp_path / "spot"
    proc = ingest(exchange, catalog, "--market", "spot", "--kinds", "agg_trades,klines", "--intervals", "1m,5m",
                  "--start", "2024-08-08T23:50:00Z")
    assert proc.returncode == 0, proc.stderr
    tape = exchange.market.tape(Market.SPOT, "BTCUSDT")
    lo, hi = parse_time_ms("2024-08-08T23:50:00Z"), parse_time_ms(END)
    ticks = ParquetDataCatalog(str(catalog)).query(TradeTick)
    assert [int(t.trade_id.value) for t in ticks] == list(range(tape.first_agg_at(lo), tape.last_agg_at(hi) + 1))
    assert {str(t.instrument_id) for t in ticks} == {"BTCUSDT.BINANCE"}
    bars = ParquetDataCatalog(str(catalog)).query(Bar)
    assert sorted({str(b.bar_type) for b in bars}) == ["BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL",
                                                       "BTCUSDT.BINANCE-5-MINUTE-LAST-EXTERNAL"]


def test_every_example_config_runs_offline(tmp_path: Path) -> None:
    for cfg in sorted((ROOT / "configs" / "ingest").glob("*.yaml")):
        proc = subprocess.run([sys.executable, "-m", "framework.main", "ingest", str(cfg), "--offline",
                               "--catalog", str(tmp_path / cfg.stem)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"{cfg}: {proc.stderr[-2000:]}"
        report = json.loads((tmp_path / cfg.stem / "ingest_report.json").read_text())
        assert all(s["rows"] > 0 for s in report["series"]), report


# -- in process: the sink's worker thread, the piecewise gap report ----------------------------------------------


def _link_klines() -> tuple[list, object]:
    import csv

    import msgspec

    from framework.binance import schemas as rest
    from framework.data.instruments import parse_instruments

    info = msgspec.json.decode((ROOT / "tests/fixtures/binance/futures/rest/exchangeInfo.json").read_bytes(),
                               type=rest.FuturesExchangeInfo)
    inst = next(i for i in parse_instruments("futures", info) if i.id.value == "LINKUSDT-PERP.BINANCE")
    with open(FIXTURES / "futures_um_klines_1m" / "LINKUSDT-1m-2023-02.csv") as f:
        rows = [msgspec.convert([int(v) if i in (0, 6, 8) else v for i, v in enumerate(r)], rest.Kline)
                for r in list(csv.reader(f))[1:]]
    return rows, inst


def test_sink_error_on_the_worker_surfaces_and_the_rerun_completes(tmp_path: Path, monkeypatch) -> None:
    import msgspec

    from framework.catalog.store import CatalogStore
    from framework.ingest import runner
    from framework.ingest.config import SeriesSpec

    monkeypatch.setattr(runner, "CONVERT_ROWS", 10_000)
    rows, inst = _link_klines()
    target = runner.target_for(SeriesSpec(Market.FUTURES, "klines", "LINKUSDT", "1m"), inst, {})

    def run(root: Path, pages: list[list]) -> None:
        with runner.SeriesSink(CatalogStore(root), target) as sink:
            for page in pages:
                sink.add(page)

    pages = [rows[i:i + 1500] for i in range(0, len(rows), 1500)]
    run(tmp_path / "clean", pages)
    broken = [list(p) for p in pages]
    broken[22][0] = msgspec.structs.replace(broken[22][0], open="1e5")  # row 33,000: in the 4th batch
    with pytest.raises(ValueError, match="not a plain decimal"):
        run(tmp_path / "failed", broken)
    held = CatalogStore(tmp_path / "failed").read_table(target.series, columns=["ts_init"]).num_rows
    assert held == 3 * 7 * 1500  # the three batches (7 pages each) before the bad one, written on the way out
    run(tmp_path / "failed", [rows[held:]])  # the rerun fetches from the catalog's end
    assert snapshot(tmp_path / "failed") == snapshot(tmp_path / "clean")


def test_gap_report_in_pieces_equals_the_whole() -> None:
    import numpy as np

    from framework.ingest.report import SeriesReport

    ids = np.array([5, 6, 7, 9, 10, 14, 15, 16, 20], dtype=np.int64)
    whole = SeriesReport.for_ids("s", ids, np.arange(9) * 1000, None, None)
    for cut in range(1, 9):
        pieces = SeriesReport.for_id_chunks("s", [ids[:cut], ids[cut:]], 0, 8000)
        assert (pieces.rows, pieces.missing, pieces.missing_count, pieces.first, pieces.last) == \
            (whole.rows, whole.missing, whole.missing_count, whole.first, whole.last)
    with pytest.raises(ValueError, match="out of id order"):
        SeriesReport.for_id_chunks("s", [ids[3:], ids[:3]], 0, 1)


def test_trades_held_up_to_inside_a_millisecond_resume_without_a_hole(exchange, full, tmp_path: Path) -> None:
    """A run stopped by an exception writes up to its last row, possibly mid-millisecond: the next run must
    fetch the rest of that millisecond too."""
    from framework.catalog.series import Series
    from framework.catalog.store import CatalogStore

    held = CatalogStore(full[0])
    series = Series.trades("BTCUSDT-PERP.BINANCE")
    table = held.read_table(series)
    ts = table.column("ts_init").to_numpy()
    same = np.flatnonzero(ts[1:] == ts[:-1])
    cut = int(same[len(same) // 4]) + 1  # between two trades of one ms
    store = CatalogStore(tmp_path)
    store.write_table(series, table.slice(0, cut), start=parse_time_ms(START) * 1_000_000)
    proc = ingest(exchange, tmp_path, "--kinds", "agg_trades")
    assert proc.returncode == 0, proc.stderr
    assert store.read_table(series, columns=["trade_id"]).column("trade_id").to_pylist() == \
        table.column("trade_id").to_pylist()
