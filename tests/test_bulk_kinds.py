"""Every kind data.binance.vision publishes for USD-M lands as REST ingest lands it: klines and the mark, index and
premium price klines, ``fundingRate`` and ``metrics`` files made from the local exchange's answers give the rows a
REST ingest of the same span gives (the fields the files do not carry are None); files that contradict their path,
or are damaged, are one line and leave no row; instruments come from the catalog, a saved exchangeInfo or
``--offline``, never from the network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from framework.binance.endpoints import Market
from framework.binance.intervals import KLINE_INTERVALS
from framework.data.kinds import KINDS
from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from framework.ingest import bulk
from framework.ingest.bulk_stats import CONVERTERS
from framework.ingest.bulk_stats import create_time_ms
from framework.ingest.report import missing_file_days
from framework.ingest.report import missing_periods
from framework.ingest.report import retention_note
from tests.bulk_support import METRICS_HEADER
from tests.bulk_support import NO_NETWORK
from tests.bulk_support import STATISTICS
from tests.bulk_support import agg_lines
from tests.bulk_support import agg_rows
from tests.bulk_support import data_files
from tests.bulk_support import funding_hours
from tests.bulk_support import funding_lines
from tests.bulk_support import kline_lines
from tests.bulk_support import metrics_lines
from tests.bulk_support import ms
from tests.bulk_support import rows
from tests.bulk_support import run
from tests.bulk_support import series_of
from tests.bulk_support import site_file
from tests.bulk_support import time_rows
from tests.bulk_support import urls
from tests.test_ingest import snapshot

DAY = "2024-08-08"
LO, HI = ms(f"{DAY}T00:00:00Z"), ms("2024-08-09T00:00:00Z") - 1
KLINE_DIRS = {"klines": "klines", "mark_klines": "markPriceKlines", "index_klines": "indexPriceKlines",
              "premium_klines": "premiumIndexKlines"}
#: What the files do not carry, per kind: None in the rows they give (REST gives the value).
NOT_IN_FILES = {"funding": {"mark_price_str"}, "taker_volume": {"buy_volume_str", "sell_volume_str"},
                **{k: {"long_share_str", "short_share_str"} for k in STATISTICS if k.endswith("_ratio")}}


@pytest.fixture(scope="module")
def exchange():
    # the tape --offline serves: two days before the recordings' end
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", history="2d", weight_limit=1_000_000)) as ex:
        yield ex


@pytest.fixture(scope="module")
def catalogs(exchange, tmp_path_factory) -> tuple[Path, Path, Path]:
    """(REST catalog, files, file catalog) for one day of every USD-M kind with files."""
    tmp = tmp_path_factory.mktemp("kinds")
    rest = tmp / "rest"
    proc = run("ingest", "--catalog", str(rest), "--market", "futures", "--symbols", "BTCUSDT", "--kinds",
               ",".join([*KLINE_DIRS, "funding", *STATISTICS]), "--intervals", "1m", "--periods", "5m",
               "--start", f"{DAY}T00:00:00Z", "--end", "2024-08-09T00:00:00Z", env=urls(exchange))
    assert proc.returncode == 0, proc.stderr
    files = tmp / "files"
    for kind, dtype in KLINE_DIRS.items():
        site_file(files, "daily", dtype, f"BTCUSDT-1m-{DAY}", kline_lines(time_rows(exchange, kind, LO, HI, "1m")),
                  "1m", zipped=True)
    site_file(files, "daily", "metrics", f"BTCUSDT-metrics-{DAY}", metrics_lines(exchange, LO, HI), zipped=True)
    month = time_rows(exchange, "funding", ms("2024-08-01T00:00:00Z"), ms("2024-09-01T00:00:00Z") - 1)
    site_file(files, "monthly", "fundingRate", "BTCUSDT-fundingRate-2024-08",
              funding_lines(month, funding_hours(exchange)), zipped=True)
    imported = tmp / "imported"
    proc = run("ingest", "--from-files", str(files), "--catalog", str(imported), "--offline", env=NO_NETWORK)
    assert proc.returncode == 0, proc.stderr
    return rest, files, imported


@pytest.mark.parametrize("kind", [*KLINE_DIRS, "funding", *STATISTICS])
def test_files_give_the_rows_rest_gives(catalogs, kind: str) -> None:
    rest, _, imported = catalogs
    lo, hi = (LO + 60_000, HI + 1) if kind in KLINE_DIRS else (LO, HI)  # bars are stamped at their close
    for series in series_of(kind, "1m"):
        by_rest = rows(rest, series, lo * 1_000_000, hi * 1_000_000)
        by_file = rows(imported, series, lo * 1_000_000, hi * 1_000_000)
        assert len(by_rest) == {"funding": 3}.get(kind, 1440 if kind in KLINE_DIRS else 288), series
        absent = NOT_IN_FILES.get(kind, set())
        assert all(r[f] is not None for r in by_rest for f in absent)
        assert all(r[f] is None for r in by_file for f in absent)
        assert [{k: v for k, v in r.items() if k not in absent} for r in by_file] == \
            [{k: v for k, v in r.items() if k not in absent} for r in by_rest], series


def test_files_import_once_and_report_their_days(catalogs, tmp_path: Path) -> None:
    _, files, imported = catalogs
    before = snapshot(imported)
    proc = run("ingest", "--from-files", str(files), "--catalog", str(imported), env=NO_NETWORK)  # instruments held
    assert proc.returncode == 0, proc.stderr
    assert snapshot(imported) == before
    assert "futures BTCUSDT open_interest 5m" in proc.stdout and "no file for" not in proc.stdout
    # a day no file covers, between the first file and the last, is listed
    gap = tmp_path / "gap"
    for day in ("2024-08-06", "2024-08-08"):
        site_file(gap, "daily", "metrics", f"BTCUSDT-metrics-{day}", metrics_at(f"{day} 00:05:00"))
    proc = run("ingest", "--from-files", str(gap), "--catalog", str(tmp_path / "cat"), "--offline", env=NO_NETWORK)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("no file for 2024-08-07\n") == len(STATISTICS)


def metrics_at(when: str) -> list[str]:
    """A one-row metrics file's lines."""
    return [METRICS_HEADER, f"{when},BTCUSDT,10.5,100.25,1.1,1.2,1.3,0.9"]


# -- bad input: one line, exit 1 or 2, no row of the file ------------------------------------------------------


def _metrics(tmp: Path, body: str, symbol_dir: str = "BTCUSDT", name: str = f"BTCUSDT-metrics-{DAY}") -> None:
    folder = tmp / "files/data/futures/um/daily/metrics" / symbol_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text(METRICS_HEADER + "\n" + body)


def _kline(tmp: Path, market_dir: str, lines: list[str]) -> None:
    folder = tmp / "files/data" / market_dir / "daily/klines/BTCUSDT/1m"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"BTCUSDT-1m-{DAY}.csv").write_text("\n".join(lines) + "\n")


_KLINE = f"{LO},60000.1,60010.0,59990.0,60005.5,1.5,{LO + 59_999},90000.0,10,0.7,42000.0,0"
_SPOT_KLINE = _KLINE.replace(str(LO), str(LO * 1000), 1).replace(str(LO + 59_999), str((LO + 59_999) * 1000 + 999))
BAD = {
    "corrupt-zip": (lambda t: site_file(t / "files", "daily", "metrics", f"BTCUSDT-metrics-{DAY}", ["x"])
                    .with_suffix(".zip").write_bytes(b"PK\x03\x04 cut short"), "not a readable zip"),
    "checksum": (lambda t: site_file(t / "files", "daily", "metrics", f"BTCUSDT-metrics-{DAY}",
                                     metrics_at(f"{DAY} 00:05:00"), zipped=True).with_name(
        f"BTCUSDT-metrics-{DAY}.zip.CHECKSUM").write_text("0" * 64 + "\n"), "does not match"),
    "wrong-columns": (lambda t: _metrics(t, f"{DAY} 00:05:00,BTCUSDT,10.5,100.25,1.1,1.2,1.3\n"),
                      "7 fields, expected 8"),
    "other-symbol": (lambda t: _metrics(t, f"{DAY} 00:05:00,ETHUSDT,10.5,100.25,1.1,1.2,1.3,0.9\n"),
                     "its rows are ETHUSDT data but its path says BTCUSDT"),
    "other-day": (lambda t: _metrics(t, "2024-08-01 00:05:00,BTCUSDT,10.5,100.25,1.1,1.2,1.3,0.9\n"),
                  f"outside {DAY} its name says"),
    "not-a-number": (lambda t: _metrics(t, f"{DAY} 00:05:00,BTCUSDT,ten,100.25,1.1,1.2,1.3,0.9\n"),
                     "sum_open_interest is 'ten', not a decimal number"),
    "not-a-time": (lambda t: _metrics(t, "yesterday,BTCUSDT,10.5,100.25,1.1,1.2,1.3,0.9\n"),
                   "create_time 'yesterday' is not a time"),
    "spot-klines-in-usdm": (lambda t: _kline(t, "futures/um", [_SPOT_KLINE]),
                            "holds spot klines (microsecond times) but its path says USD-M"),
    "usdm-klines-in-spot": (lambda t: _kline(t, "spot", [*kline_lines([])[:1], _KLINE]),
                            "holds USD-M klines (the USD-M header) but its path says spot"),
    "spot-agg-in-usdm": (lambda t: (t / "files/data/futures/um/daily/aggTrades/BTCUSDT").mkdir(parents=True)
                         or (t / f"files/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{DAY}.csv")
                         .write_text(f"1,60000.1,0.5,1,1,{LO},true,true\n"), "is the market right?"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_file_at_odds_with_itself_is_one_line_and_leaves_no_row(tmp_path: Path, case: str) -> None:
    setup, message = BAD[case]
    setup(tmp_path)
    catalog = tmp_path / "catalog"
    proc = run("ingest", "--from-files", str(tmp_path / "files"), "--catalog", str(catalog), "--offline",
               env=NO_NETWORK)
    assert proc.returncode in (1, 2), proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "WARNING" not in line]
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert data_files(catalog) == [] if catalog.exists() else True


# -- instruments ---------------------------------------------------------------------------------------------


def test_instruments_come_from_the_catalog_a_saved_answer_or_offline(catalogs, tmp_path: Path) -> None:
    files = tmp_path / "files"
    site_file(files, "daily", "metrics", f"BTCUSDT-metrics-{DAY}", metrics_at(f"{DAY} 00:05:00"))
    # neither the catalog nor a saved answer nor --offline: one line naming the three, nothing written
    fresh = tmp_path / "fresh"
    proc = run("ingest", "--from-files", str(files), "--catalog", str(fresh), env=NO_NETWORK)
    assert proc.returncode == 2 and "the catalog holds no futures instrument for BTCUSDT" in proc.stderr
    assert "--exchange-info FILE" in proc.stderr and "--offline" in proc.stderr and not fresh.exists()
    # the catalog holds it (the REST catalog's instruments): Binance unreachable, and not needed
    _, _, imported = catalogs
    proc = run("ingest", "--from-files", str(files), "--catalog", str(imported), env=NO_NETWORK)
    assert proc.returncode == 0, proc.stderr


# -- names and converters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("market", ["spot", "futures/um"])
def test_every_kline_interval_is_named(tmp_path: Path, market: str) -> None:
    for interval in KLINE_INTERVALS:
        site = {"1M": "1mo"}.get(interval, interval)
        path = tmp_path / "data" / market / "monthly/klines/BTCUSDT" / site / f"BTCUSDT-{site}-2024-01.csv"
        found = bulk.classify(path)
        if interval in ("1M", "3d"):
            assert isinstance(found, bulk.Skipped) and "import the 1d files" in found.reason
        else:
            assert (found.kind, found.interval, found.market) == (
                "klines", interval, Market.SPOT if market == "spot" else Market.FUTURES)


def test_a_metrics_file_feeds_the_five_statistics(tmp_path: Path) -> None:
    path = site_file(tmp_path, "daily", "metrics", "BTCUSDT-metrics-2024-01-01", metrics_at("2024-01-01 00:05:00"))
    found = bulk.discover(tmp_path)
    assert sorted(f.kind for f in found.files) == sorted(STATISTICS)
    assert {(f.path, f.interval, f.market) for f in found.files} == {(path, "5m", Market.FUTURES)}
    assert set(CONVERTERS) == {"funding", *STATISTICS}
    assert {k.name for k in KINDS.values() if k.bulk is not None} >= {*KLINE_DIRS, "agg_trades", "funding",
                                                                      *STATISTICS}


def test_empty_metrics_cells_are_absent_values(tmp_path: Path) -> None:
    from framework.binance.schemas import MetricsRow
    from framework.data.instruments import futures_instrument_id

    class Perp:
        id = futures_instrument_id("BTCUSDT")

    lines = [MetricsRow("2024-01-01 00:05:00", "BTCUSDT", "10.5", "", "", "1.2", "1.3", "0.9"),
             MetricsRow("2024-01-01 00:10:00", "BTCUSDT", "", "", "1.1", "1.2", "1.3", "")]
    oi = CONVERTERS["open_interest"](lines, Perp, "5m").to_pylist()
    assert [(r["open_interest_str"], r["open_interest_value_str"]) for r in oi] == [("10.5", None)]
    account = CONVERTERS["top_account_ratio"](lines, Perp, "5m").to_pylist()
    ten_past = ms("2024-01-01T00:10:00Z") * 10**6
    assert [(r["long_short_ratio_str"], r["ts_event"]) for r in account] == [("1.1", ten_past)]
    assert CONVERTERS["taker_volume"](lines, Perp, "5m").num_rows == 1
    assert list(create_time_ms(pa.array(["2024-02-29 23:55:00"]))) == [ms("2024-02-29T23:55:00Z")]
    with pytest.raises(ValueError, match="2024-02-30"):
        create_time_ms(["2024-02-30 00:00:00"])


def test_weekly_periods_are_gridded_on_mondays() -> None:
    week = 7 * 86_400_000
    mondays = np.array([ms("2024-01-01T00:00:00Z") + i * week for i in (0, 1, 3)])
    assert missing_periods(mondays, week, int(mondays[0]), int(mondays[-1])) == [(int(mondays[0]) + 2 * week,) * 2]
    assert missing_periods(np.array([], np.int64), 60_000, 90_000, 200_000) == [(120_000, 180_000)]


def test_the_30_day_note_names_the_metrics_files() -> None:
    note = retention_note(KINDS["top_account_ratio"])
    assert "older top_account_ratio" in note and "data/futures/um/daily/metrics/<SYMBOL>/" in note
    assert "--from-files" in note
    assert "publishes no older history" in retention_note(KINDS["basis"])


def test_days_without_a_file() -> None:
    assert missing_file_days(["2024-01-01", "2024-01-02"]) == []
    assert missing_file_days(["2024-01-01", "2024-01-04", "2024-01-02"]) == [("2024-01-03", "2024-01-03")]
    assert missing_file_days(["2024-01", "2024-02-03", "2024-03"]) == [("2024-02-01", "2024-02-02"),
                                                                         ("2024-02-04", "2024-02-29")]
    assert missing_file_days(["2024-01", "2024-01-15"]) == []


def test_agg_trade_files_from_the_exchange_read_back_exactly(exchange, tmp_path: Path) -> None:
    got = agg_rows(exchange, ms("2024-08-08T23:59:00Z"), ms("2024-08-08T23:59:59.999Z"))
    path = site_file(tmp_path, "daily", "aggTrades", f"BTCUSDT-aggTrades-{DAY}", agg_lines(got))
    back = bulk.read_rows(path)
    assert [(r.a, r.p, r.q, r.T, r.m) for r in back] == [(r["a"], r["p"], r["q"], r["T"], r["m"]) for r in got]
