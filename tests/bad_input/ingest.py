"""``ingest``: flags, YAML, spans, catalogs and bulk files."""

from __future__ import annotations

from pathlib import Path

from tests.bad_input import AWS_NOWHERE
from tests.bad_input import NO_AWS
from tests.bad_input import NO_CREDENTIALS
from tests.bad_input import UNREACHABLE
from tests.bad_input import Case
from tests.bad_input import config
from tests.bad_input import yaml_case

ONE_OFF = ["ingest", "--market", "futures", "--symbols", "BTCUSDT"]
AGG_DIR = "files/data/futures/um/daily/aggTrades/BTCUSDT"
AGG_NAME = "BTCUSDT-aggTrades-2024-08-07"
GOOD_MARKETS = "markets:\n  futures:\n    symbols: [BTCUSDT]\n    kinds: [klines]\n"
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"


def _file(tmp: Path, name: str, data: bytes) -> None:
    path = tmp / AGG_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _zip_with_checksum(tmp: Path) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"{AGG_NAME}.csv", AGG_HEADER + "1,60000.10,0.003,1,1,1723000000000,true\n")
    _file(tmp, f"{AGG_NAME}.zip", buffer.getvalue())
    _file(tmp, f"{AGG_NAME}.zip.CHECKSUM", f"{'0' * 64}  {AGG_NAME}.zip\n".encode())


METRICS_HEADER = ("create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
                  "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n")


def _metrics(tmp: Path, row: str) -> None:
    path = tmp / "files/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-08-07.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(METRICS_HEADER + row + "\n")


def _spot_klines_in_usdm(tmp: Path) -> None:
    path = tmp / "files/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-08-07.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("1722988800000000,60000.1,60010.0,59990.0,60005.5,1.5,1722988859999999,90000.0,10,0.7,42000.0,0\n")


def _no_rows(tmp: Path) -> None:
    """The default catalog holds no data file (its instruments may be there)."""
    held = [p for p in (tmp / "catalog").rglob("*.parquet")
            if not any(part in ("crypto_perpetual", "currency_pair") for part in p.parts)]
    assert not held, held


CASES = [
    # what to fetch
    Case("ingest-kinds-without-market", ["ingest", "--kinds", "klines", "--start", "2024-08-08"], 2,
         "--kinds need --market"),
    Case("ingest-misspelt-kind", [*ONE_OFF, "--kinds", "agg_trade", "--start", "2024-08-08"], 2,
         "did you mean 'agg_trades'?"),
    Case("ingest-spot-only-kind", [*ONE_OFF, "--kinds", "trades", "--start", "2024-08-08"], 2, "(it is spot only)"),
    Case("ingest-bad-interval", [*ONE_OFF, "--kinds", "klines", "--intervals", "7m", "--start", "2024-08-08"], 2,
         "'7m' is not a Binance kline interval"),
    Case("ingest-interval-not-on-futures", [*ONE_OFF, "--kinds", "klines", "--intervals", "1s", "--start",
                                            "2024-08-08"], 2, "Binance does not offer '1s' for klines"),
    Case("ingest-bad-period", [*ONE_OFF, "--kinds", "open_interest", "--periods", "3m", "--start", "2024-08-08"], 2,
         "Binance does not offer '3m' for open_interest"),
    Case("ingest-bad-symbol", ["ingest", "--market", "futures", "--symbols", "BTC/USDT", "--kinds", "klines",
                               "--start", "2024-08-08"], 2, "'BTC/USDT' is not a Binance symbol"),
    Case("ingest-unlisted-symbol", ["ingest", "--market", "futures", "--symbols", "NOPEUSDT", "--kinds", "klines",
                                    "--start", "2024-08-08", "--offline"], 2, "NOPEUSDT not listed on Binance futures"),
    Case("ingest-symbols-unlisted-among-many", ["ingest", "--market", "futures", "--symbols",
                                                "ETHUSDT,BTCUSTD,XRPUSDT,NOPEUSDT", "--kinds", "klines", "--start",
                                                "2024-08-08", "--offline"], 2,
         "BTCUSTD, NOPEUSDT not listed on Binance futures (did you mean BTCUSDT for BTCUSTD"),
    Case("ingest-symbols-selector-of-other-market", ["ingest", "--market", "spot", "--symbols", "all-usdt-perp",
                                                     "--kinds", "klines", "--start", "2024-08-08"], 2,
         "--symbols: all-usdt-perp selects futures symbols but this is spot; use all-usdt-spot"),
    Case("ingest-symbols-selector-selects-nothing", [*ONE_OFF[:4], "all-eur-perp", "--kinds", "klines", "--start",
                                                     "2024-08-08", "--offline"], 2,
         "all-eur-perp selects no symbol on Binance futures (no EUR perpetual is trading); quote assets there"),
    Case("ingest-symbols-only-commas", [*ONE_OFF[:4], ",,", "--kinds", "klines", "--start", "2024-08-08"], 2,
         "--symbols: empty; list at least one symbol"),
    yaml_case("ingest-symbols-selector-in-yaml-of-other-market", "ingest", 'start: "2024-08-08"\nmarkets:\n  '
              "futures:\n    symbols: [BTCUSDT, all-usdt-spot]\n    kinds: [klines]\n", 2,
              "markets.futures.symbols: all-usdt-spot selects spot symbols but this is futures; use all-usdt-perp"),
    Case("ingest-agg-and-trades", ["ingest", "--market", "spot", "--symbols", "BTCUSDT", "--kinds",
                                   "agg_trades,trades", "--start", "2024-08-08"], 2, "pick one per catalog"),
    # when
    Case("ingest-no-start", [*ONE_OFF, "--kinds", "klines", "--offline"], 2, "start: missing"),
    Case("ingest-start-after-end", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-09", "--end", "2024-08-08"],
         2, "is not before end"),
    Case("ingest-ambiguous-date", [*ONE_OFF, "--kinds", "klines", "--start", "09/08/2024"], 2,
         "start: '09/08/2024' is not a time"),
    Case("ingest-date-as-number", [*ONE_OFF, "--kinds", "klines", "--start", "20240808"], 2, "is ambiguous"),
    Case("ingest-future-range", [*ONE_OFF, "--kinds", "klines", "--start", "2030-01-01", "--end", "2030-02-01",
                                 "--offline"], 2, "after the exchange's time now"),
    Case("ingest-end-past-now", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-08T23:58:00Z", "--end",
                                 "2030-01-01", "--offline"], 0, "fetching up to now"),
    # YAML
    yaml_case("ingest-unknown-key", "ingest", 'catalg: c\nstart: "2024-08-08"\n' + GOOD_MARKETS, 2,
              "unknown key 'catalg'; did you mean 'catalog'?"),
    yaml_case("ingest-unknown-market-key", "ingest", 'start: "2024-08-08"\nmarkets:\n  futures:\n    symbols: '
              "[BTCUSDT]\n    kind: [klines]\n", 2, "markets.futures: unknown key 'kind'; did you mean 'kinds'?"),
    yaml_case("ingest-unknown-market", "ingest", 'start: "2024-08-08"\nmarkets:\n  coinm:\n    symbols: [BTCUSD]\n'
              "    kinds: [klines]\n", 2, "unknown market 'coinm'"),
    yaml_case("ingest-no-markets", "ingest", 'start: "2024-08-08"\n', 2, "markets: empty"),
    yaml_case("ingest-concurrency-zero", "ingest", 'start: "2024-08-08"\nconcurrency: 0\n' + GOOD_MARKETS, 2,
              "concurrency: 0 must be a whole number"),
    yaml_case("ingest-symbols-not-a-list", "ingest", 'start: "2024-08-08"\nmarkets:\n  futures:\n    symbols: 5\n'
              "    kinds: [klines]\n", 2, "Expected `array`, got `int`"),
    # the catalog
    Case("ingest-catalog-s3-no-credentials", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-08", "--offline",
                                              "--catalog", "s3://bucket/prefix"], 1, NO_CREDENTIALS, env=NO_AWS),
    yaml_case("ingest-catalog-s3-unreachable", "ingest", 'catalog: s3://bucket/prefix\nstart: "2024-08-08"\n' +
              GOOD_MARKETS, 1, UNREACHABLE, "--offline", env=AWS_NOWHERE),
    Case("ingest-catalog-s3-no-bucket", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-08", "--catalog",
                                         "s3:///prefix"], 2, "'' is not a bucket name"),
    Case("ingest-catalog-is-a-file", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-08", "--catalog",
                                      "{tmp}/afile"], 2, "is a file; point catalog at a folder",
         setup=lambda tmp: config(tmp, "afile", "x")),
    Case("ingest-catalog-under-a-file", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-08T23:00:00Z",
                                         "--offline", "--catalog", "{tmp}/afile/catalog"], 1,
         "catalog folder {tmp}/afile/catalog cannot be written: Not a directory",
         setup=lambda tmp: config(tmp, "afile", "x")),
    Case("ingest-catalog-not-permitted", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-08T23:00:00Z",
                                          "--offline", "--catalog", "/sys/catalog"], 1,
         "catalog folder /sys/catalog cannot be written"),
    # online (the runner points Binance at a closed port): the catalog is checked before any request
    Case("ingest-catalog-unwritable-before-requests", ["ingest", "--market", "futures", "--symbols", "BTCUSDT",
         "--kinds", "agg_trades", "--start", "2024-08-08", "--end", "2024-08-09", "--catalog", "/sys/catalog"], 1,
         "catalog folder /sys/catalog cannot be written", timeout=60),
    # bulk files
    Case("ingest-files-missing", ["ingest", "--from-files", "{tmp}/nope", "--offline"], 2,
         "--from-files: {tmp}/nope does not exist"),
    Case("ingest-files-market-coinm", ["ingest", "--from-files", "{tmp}", "--files-market", "coinm", "--offline"], 2,
         "argument --files-market: invalid choice: 'coinm' (choose from 'spot', 'futures')"),
    Case("ingest-files-none-found", ["ingest", "--from-files", "{tmp}", "--offline"], 2, "no Binance bulk file found"),
    Case("ingest-files-no-instruments", ["ingest", "--from-files", "{tmp}/files"], 2,
         "pass --exchange-info FILE", setup=lambda tmp: _file(tmp, f"{AGG_NAME}.csv", AGG_HEADER.encode()),
         env={"BASE_PATH_FUTURES": "http://127.0.0.1:9", "BASE_PATH_SPOT": "http://127.0.0.1:9"},
         check=lambda tmp: None if not (tmp / "catalog").exists() else (_ for _ in ()).throw(AssertionError())),
    Case("ingest-files-exchange-info-garbage", ["ingest", "--from-files", "{tmp}/files", "--exchange-info",
                                                "{tmp}/info.json"], 2, "is not a Binance exchangeInfo answer",
         setup=lambda tmp: (_file(tmp, f"{AGG_NAME}.csv", AGG_HEADER.encode()), config(tmp, "info.json", "{]"))),
    Case("ingest-exchange-info-without-files", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-08",
                                                "--exchange-info", "x.json"], 2, "--exchange-info is for --from-files"),
    Case("ingest-files-corrupt-zip", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "not a readable zip", setup=lambda tmp: _file(tmp, f"{AGG_NAME}.zip", b"PK\x03\x04 cut short")),
    Case("ingest-files-checksum", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "does not match", setup=_zip_with_checksum),
    Case("ingest-files-wrong-columns", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "line 2: 5 fields, expected 7 for USD-M agg_trades",
         setup=lambda tmp: _file(tmp, f"{AGG_NAME}.csv", (AGG_HEADER + "1,60000.10,0.003,1723000000000,true\n")
                                 .encode())),
    Case("ingest-files-not-a-number", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "line 2: price (column 2) is 'sixty'",
         setup=lambda tmp: _file(tmp, f"{AGG_NAME}.csv", (AGG_HEADER + "1,sixty,0.003,1,1,1723000000000,true\n")
                                 .encode())),
    Case("ingest-files-size-zero", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "line 2: quantity (column 3) = 0 is not positive", check=_no_rows,
         setup=lambda tmp: _file(tmp, f"{AGG_NAME}.csv", (AGG_HEADER + "1,60000.10,0.000,1,1,1723000000000,true\n")
                                 .encode())),
    # --workers, --engine, --ray-address
    Case("ingest-files-workers-zero", ["ingest", "--from-files", "{tmp}/files", "--offline", "--workers", "0"], 2,
         "--workers: 0 must be a whole number of at least 1",
         setup=lambda tmp: _file(tmp, f"{AGG_NAME}.csv", AGG_HEADER.encode())),
    Case("ingest-files-workers-word", ["ingest", "--from-files", "{tmp}/files", "--offline", "--workers", "many"], 2,
         "--workers", setup=lambda tmp: _file(tmp, f"{AGG_NAME}.csv", AGG_HEADER.encode())),
    Case("ingest-files-ray-elsewhere-local-catalog", ["ingest", "--from-files", "{tmp}/files", "--offline", "--engine",
                                                      "ray", "--ray-address", "10.1.2.3:6379"], 2,
         "cannot write the local catalog", setup=lambda tmp: _file(tmp, f"{AGG_NAME}.csv", AGG_HEADER.encode())),
    Case("ingest-files-ray-address-without-ray", ["ingest", "--from-files", "{tmp}/files", "--offline",
                                                  "--ray-address", "127.0.0.1:6379"], 2,
         "--ray-address is for --engine ray", setup=lambda tmp: _file(tmp, f"{AGG_NAME}.csv", AGG_HEADER.encode())),
    Case("ingest-workers-without-files", [*ONE_OFF, "--kinds", "klines", "--start", "2024-08-08", "--workers", "2"], 2,
         "--workers are for --from-files"),
    # files whose content contradicts their path: one line, no row of them in the catalog
    Case("ingest-files-other-symbol", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "its rows are ETHUSDT data but its path says BTCUSDT",
         setup=lambda tmp: _metrics(tmp, "2024-08-07 00:05:00,ETHUSDT,10.5,100.25,1.1,1.2,1.3,0.9"), check=_no_rows),
    Case("ingest-files-other-market", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "holds spot klines (microsecond times) but its path says USD-M", setup=_spot_klines_in_usdm,
         check=_no_rows),
    Case("ingest-files-other-day", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "outside 2024-08-07 its name says", check=_no_rows,
         setup=lambda tmp: _metrics(tmp, "2024-07-07 00:05:00,BTCUSDT,10.5,100.25,1.1,1.2,1.3,0.9")),
    Case("ingest-files-metrics-not-a-number", ["ingest", "--from-files", "{tmp}/files", "--offline"], 1,
         "sum_open_interest_value is '1e9', not a decimal number", check=_no_rows,
         setup=lambda tmp: _metrics(tmp, "2024-08-07 00:05:00,BTCUSDT,10.5,1e9,1.1,1.2,1.3,0.9")),
    # --fill-gaps
    Case("ingest-fill-gaps-no-report", ["ingest", "--fill-gaps", "--offline"], 2,
         "--fill-gaps: no gap report at catalog/ingest_report.json to take the series from"),
    Case("ingest-fill-gaps-nothing-held", ["ingest", "--fill-gaps", "--offline", *ONE_OFF[1:], "--kinds",
                                           "klines"], 2, "holds none of the series asked for"),
]
