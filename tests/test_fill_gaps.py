"""``ingest --fill-gaps``: after importing files made from the local exchange's tape with rows removed (an id hole
inside a day of aggTrades, a day without kline and metrics files, a minute run of klines, one funding row), the
fill fetches exactly those holes over REST (the requests are counted) and the catalog then equals a REST ingest
of the same span, every aggTrade id once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.exchange.server import ExchangeConfig
from framework.exchange.server import LocalExchangeThread
from tests.bulk_support import NO_NETWORK
from tests.bulk_support import STATISTICS
from tests.bulk_support import agg_lines
from tests.bulk_support import agg_rows
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

NOW = ms("2024-08-09T00:01:00Z")  # the recordings' end: the clock of --offline and of the exchange here
AGG_FROM = ms("2024-08-08T23:40:00Z")
HOLE = 2500  # aggTrade ids removed inside the day: three fromId pages
DROPPED_MINUTES = (ms("2024-08-07T12:00:00Z"), ms("2024-08-07T12:09:00Z"))  # one time window
DROPPED_FUNDING = ms("2024-08-08T08:00:00Z")
#: Requests the holes need: aggTrades 3 pages; klines 3 windows of 499 for the day + 1 for the minutes;
#: one window per statistic for the day; one for the funding row.
EXPECTED_REQUESTS = {"agg_trades": 3, "klines 1m": 4, "funding": 1, **{f"{k} 5m": 1 for k in STATISTICS}}


@pytest.fixture(scope="module")
def exchange():
    with LocalExchangeThread(ExchangeConfig(speed=0, start="recorded", history="2d", weight_limit=1_000_000)) as ex:
        yield ex


@pytest.fixture(scope="module")
def filled(exchange, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("fill")
    files = tmp / "files"
    # aggTrades: the last 20 minutes of the 8th with an id hole, and the 9th (its first minute: the tape's end)
    day8 = agg_rows(exchange, AGG_FROM, ms("2024-08-09T00:00:00Z") - 1)
    hole_lo = day8[5000]["a"]
    kept = [r for r in day8 if not hole_lo <= r["a"] < hole_lo + HOLE]
    site_file(files, "daily", "aggTrades", "BTCUSDT-aggTrades-2024-08-08", agg_lines(kept), zipped=True)
    day9 = agg_rows(exchange, ms("2024-08-09T00:00:00Z"), NOW)
    site_file(files, "daily", "aggTrades", "BTCUSDT-aggTrades-2024-08-09", agg_lines(day9), zipped=True)
    # klines and metrics: the 7th (ten minutes of klines dropped) and the 9th; no file for the 8th
    for day, lo, hi in (("2024-08-07", ms("2024-08-07T00:00:00Z"), ms("2024-08-08T00:00:00Z") - 1),
                        ("2024-08-09", ms("2024-08-09T00:00:00Z"), ms("2024-08-09T00:00:00Z"))):
        klines = [k for k in time_rows(exchange, "klines", lo, hi, "1m")
                  if not DROPPED_MINUTES[0] <= k[0] <= DROPPED_MINUTES[1]]
        site_file(files, "daily", "klines", f"BTCUSDT-1m-{day}", kline_lines(klines), "1m")
        site_file(files, "daily", "metrics", f"BTCUSDT-metrics-{day}", metrics_lines(exchange, lo, min(hi, NOW)))
    funding = [r for r in time_rows(exchange, "funding", ms("2024-08-01T00:00:00Z"), NOW)
               if r["fundingTime"] != DROPPED_FUNDING]
    site_file(files, "monthly", "fundingRate", "BTCUSDT-fundingRate-2024-08",
              funding_lines(funding, funding_hours(exchange)))

    catalog = tmp / "catalog"
    imported = run("ingest", "--from-files", str(files), "--catalog", str(catalog), "--offline", env=NO_NETWORK)
    assert imported.returncode == 0, imported.stderr
    fill = run("ingest", "--fill-gaps", "--offline", "--catalog", str(catalog), env=NO_NETWORK)
    assert fill.returncode == 0, fill.stderr
    report = json.loads((catalog / "ingest_report.json").read_text())

    # the same span over REST alone
    full = tmp / "full"
    common = ["--catalog", str(full), "--market", "futures", "--symbols", "BTCUSDT"]
    for kinds, start in (("agg_trades", "2024-08-08T23:40:00Z"), (",".join(["klines", "funding", *STATISTICS]),
                                                                   "2024-08-07T00:00:00Z")):
        proc = run("ingest", *common, "--kinds", kinds, "--intervals", "1m", "--periods", "5m", "--start", start,
                   "--end", "2024-08-09T00:01:00Z", env=urls(exchange))
        assert proc.returncode == 0, proc.stderr
    return {"catalog": catalog, "full": full, "imported": imported, "fill": fill, "report": report,
            "hole": (hole_lo, hole_lo + HOLE - 1)}


def test_the_import_reports_the_holes(filled) -> None:
    out = filled["imported"].stdout
    lo, hi = filled["hole"]
    assert f"missing {lo}..{hi}" in out
    assert out.count("no file for 2024-08-08\n") == 1 + len(STATISTICS)  # klines and the five statistics


def test_exactly_the_holes_are_requested(filled) -> None:
    by_series = {s["series"].removeprefix("futures BTCUSDT "): s for s in filled["report"]["series"]}
    assert {name: s["requests"] for name, s in by_series.items()} == EXPECTED_REQUESTS
    assert all(s["missing_count"] == 0 for s in by_series.values()), filled["fill"].stdout
    assert by_series["agg_trades"]["fetched"] == HOLE
    assert by_series["klines 1m"]["fetched"] == 1440 + 10


def test_every_id_once_and_the_catalog_equals_a_rest_ingest(filled) -> None:
    catalog, full = filled["catalog"], filled["full"]
    (trades,) = series_of("agg_trades")
    ids = [int(r["trade_id"]) for r in rows(catalog, trades)]
    assert ids == list(range(ids[0], ids[-1] + 1))
    assert rows(catalog, trades) == rows(full, trades)
    for kind in ("klines", "funding", *STATISTICS):
        for series in series_of(kind, "1m"):
            got, want = rows(catalog, series), rows(full, series)
            assert len(got) == len(want) > 0, series
            for g, w in zip(got, want, strict=True):
                # fields the files do not carry are None where a file gave the row, REST's where the fill did
                assert g == {k: (w[k] if g[k] is not None else None) for k in w}, (series, g, w)
    filled_day = (ms("2024-08-08T00:00:00Z") * 10**6, ms("2024-08-09T00:00:00Z") * 10**6 - 1)
    for kind in STATISTICS:
        (series,) = series_of(kind)
        assert rows(catalog, series, *filled_day) == rows(full, series, *filled_day)


def test_a_second_fill_requests_nothing(filled, tmp_path: Path) -> None:
    catalog = filled["catalog"]
    before = snapshot(catalog)
    again = run("ingest", "--fill-gaps", "--offline", "--catalog", str(catalog), env=NO_NETWORK)
    assert again.returncode == 0, again.stderr
    assert snapshot(catalog) == before
    report = json.loads((catalog / "ingest_report.json").read_text())
    assert sum(s["requests"] for s in report["series"]) == 0


def test_fill_gaps_without_a_report_or_a_selection_is_one_line(tmp_path: Path) -> None:
    proc = run("ingest", "--fill-gaps", "--offline", "--catalog", str(tmp_path / "none"), env=NO_NETWORK)
    assert proc.returncode == 2 and "--fill-gaps: no gap report at" in proc.stderr
    assert "give the selection" in proc.stderr and not (tmp_path / "none").exists()


def test_ids_binance_does_not_serve_either_stay_missing_and_are_named(exchange, tmp_path: Path) -> None:
    last = agg_rows(exchange, NOW - 1000, NOW)[-1]
    made_up = [{**last, "a": last["a"] + n, "T": last["T"]} for n in (100, 101, 200)]  # ids after the tape's end
    files = tmp_path / "files"
    site_file(files, "daily", "aggTrades", "BTCUSDT-aggTrades-2024-08-09", agg_lines(made_up))
    catalog = tmp_path / "catalog"
    assert run("ingest", "--from-files", str(files), "--catalog", str(catalog), "--offline",
               env=NO_NETWORK).returncode == 0
    fill = run("ingest", "--fill-gaps", "--offline", "--catalog", str(catalog), env=NO_NETWORK)
    assert fill.returncode == 0, fill.stderr
    (series,) = json.loads((catalog / "ingest_report.json").read_text())["series"]
    assert (series["requests"], series["missing_count"], series["fetched"]) == (1, 98, 0)
    assert "98 ids were asked for and Binance does not serve them either" in series["note"]
