"""``plot``: mistakes in its values (flags and YAML alike), sources that are not there, and data that is not."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bad_input import AWS_NOWHERE
from tests.bad_input import NO_AWS
from tests.bad_input import NO_CREDENTIALS
from tests.bad_input import UNREACHABLE
from tests.bad_input import Case
from tests.bad_input import config
from tests.bad_input import yaml_case

CATALOG = ["--catalog", "{tmp}/cat"]


def empty_catalog(tmp: Path) -> None:
    """A catalog folder that holds nothing yet (what a first `ingest` of another symbol leaves behind)."""
    (tmp / "cat" / "data").mkdir(parents=True)


def collect_folder(tmp: Path, symbol: str = "BTCUSDT", klines: int = 0) -> None:
    """A collect output folder of ``symbol`` with ``klines`` futures 1m klines and nothing else."""
    for market in ("spot", "futures"):
        (tmp / "out" / market).mkdir(parents=True)
    calls = [{"market": m, "name": "klines", "params": {"symbol": symbol, "interval": "1m"}}
             for m in ("spot", "futures")]
    (tmp / "out" / "metrics.json").write_text(json.dumps({"calls": calls, "streams": []}))
    if klines:
        t0 = 1_723_075_200_000
        rows = [[t0 + i * 60_000, f"{61000 + i}.10", f"{61005 + i}.00", f"{60995 + i}.00", f"{61001 + i}.20",
                 "12.345", t0 + i * 60_000 + 59_999, "753000.12", 120, "6.000", "366000.00", "0"]
                for i in range(klines)]
        (tmp / "out" / "futures" / "klines.json").write_text(
            json.dumps({"retrieved_at": "2024-08-08T00:30:00Z", "payload": rows}))


def with_catalog(id: str, text: str, exit_code: int, message: str) -> Case:
    """A YAML case (``{tmp}/bad.yaml``) next to an empty catalog ``cat`` (relative: the current directory)."""

    def setup(tmp: Path) -> None:
        empty_catalog(tmp)
        config(tmp, "bad.yaml", text)

    return Case(id, ["plot", "{tmp}/bad.yaml"], exit_code, message, setup=setup)


def nothing_drawn(tmp: Path) -> None:
    assert not list(tmp.rglob("*.png")), "a refused run must not leave charts"


def no_url_folder(tmp: Path) -> None:
    assert not (tmp / "s3:").exists() and not (tmp / "file:").exists(), "a URL was taken for a local folder"


CASES = [
    Case("plot-no-source", ["plot"], 2, "name one source: --from-collect DIR"),
    Case("plot-two-sources", ["plot", "--from-collect", "{tmp}", "--catalog", "{tmp}"], 2, "name one source"),
    Case("plot-interval-7m", ["plot", *CATALOG, "--interval", "7m"], 2, "'7m' is not a Binance kline interval",
         setup=empty_catalog),
    Case("plot-interval-3d", ["plot", *CATALOG, "--interval", "3d"], 2, "no catalog holds 3d bars",
         setup=empty_catalog),
    with_catalog("plot-yaml-interval", "catalog: cat\ninterval: 1M\n", 2, "'1M' is not a Binance kline interval"),
    Case("plot-bucket-not-a-duration", ["plot", *CATALOG, "--bucket", "5x"], 2, "--bucket: '5x' is not a duration",
         setup=empty_catalog),
    Case("plot-bucket-negative", ["plot", *CATALOG, "--bucket=-1m"], 2, "durations cannot be negative",
         setup=empty_catalog),
    with_catalog("plot-yaml-bucket-pandas-offset", "catalog: cat\nbucket: 1min\n", 2,
                 "--bucket: '1min' is not a duration"),
    Case("plot-no-data", ["plot", *CATALOG], 1, "holds no BTCUSDT data for the charts asked",
         setup=empty_catalog, check=nothing_drawn),
    Case("plot-no-data-in-range", ["plot", *CATALOG, "--symbol", "ETHUSDT", "--start", "2025-01-01", "--end",
                                   "2025-01-02"], 1,
         "fill it: python -m framework.main ingest --market spot --symbols ETHUSDT --kinds klines --intervals 1m "
         "--start 2025-01-01 --end 2025-01-02", setup=empty_catalog, check=nothing_drawn),
    Case("plot-some-data", ["plot", "--from-collect", "{tmp}/out", "--chart", "futures", "--chart", "spot"], 0,
         "futures drawn, missing open_interest", setup=lambda tmp: collect_folder(tmp, klines=40)),
    Case("plot-catalog-s3-no-credentials", ["plot", "--catalog", "s3://bucket/prefix"], 1, NO_CREDENTIALS,
         env=NO_AWS, check=no_url_folder),
    yaml_case("plot-yaml-catalog-s3-unreachable", "plot", "catalog: s3://bucket/prefix\n", 1, UNREACHABLE,
              env=AWS_NOWHERE, check=no_url_folder),
    Case("plot-catalog-file-url", ["plot", "--catalog", "file:///tmp/cat"], 2, "is a file:// URL",
         check=no_url_folder),
    Case("plot-catalog-missing", ["plot", "--catalog", "{tmp}/nope"], 2, "--catalog {tmp}/nope: no such folder"),
    Case("plot-catalog-not-a-catalog", ["plot", "--catalog", "{tmp}"], 2, "not a catalog (no data/ folder)"),
    Case("plot-unknown-chart", ["plot", *CATALOG, "--chart", "candles"], 2, "invalid choice: 'candles'"),
    with_catalog("plot-yaml-unknown-chart", "catalog: cat\ncharts: spto\n", 2, "unknown chart 'spto'"),
    yaml_case("plot-yaml-unknown-key", "plot", "catalog: cat\nbuckets: 1m\n", 2,
              "unknown key 'buckets'; did you mean 'bucket'?"),
    with_catalog("plot-yaml-market-coinm", "catalog: cat\nmarket: coinm\n", 2, "COIN-M futures are not supported"),
    Case("plot-market-coinm", ["plot", *CATALOG, "--market", "coinm"], 2, "invalid choice: 'coinm'"),
    Case("plot-bad-symbol", ["plot", *CATALOG, "--symbol", "BTC-USDT"], 2, "'BTC-USDT' is not a Binance symbol",
         setup=empty_catalog),
    Case("plot-start-after-end", ["plot", *CATALOG, "--start", "2024-08-09", "--end", "2024-08-08"], 2,
         "--start 2024-08-09 is not before --end 2024-08-08", setup=empty_catalog),
    Case("plot-ambiguous-date", ["plot", *CATALOG, "--start", "09/08/2024"], 2,
         "'09/08/2024' is not a time this framework reads", setup=empty_catalog),
    Case("plot-collect-missing", ["plot", "--from-collect", "{tmp}/outputs"], 2,
         "--from-collect {tmp}/outputs: no such folder; run `python -m framework.main collect --offline"),
    Case("plot-collect-not-collect", ["plot", "--from-collect", "{tmp}"], 2, "not a collect output"),
    Case("plot-collect-with-span", ["plot", "--from-collect", "{tmp}/out", "--start", "2024-08-08"], 2,
         "a collect folder is drawn whole", setup=collect_folder),
    Case("plot-collect-other-symbol", ["plot", "--from-collect", "{tmp}/out", "--symbol", "ETHUSDT"], 1,
         "holds BTCUSDT (spot), BTCUSDT (futures), not ETHUSDT; collect it", setup=collect_folder),
    Case("plot-collect-empty", ["plot", "--from-collect", "{tmp}/out"], 1, "collect {tmp}/out holds no BTCUSDT data",
         setup=collect_folder, check=nothing_drawn),
    Case("plot-out-is-a-file", ["plot", *CATALOG, "--out", "{tmp}/cat/data/x"], 1, "is a file, not a folder",
         setup=lambda tmp: (empty_catalog(tmp), (tmp / "cat" / "data" / "x").write_text(""))),
    # /sys refuses new folders even to root; refused before the (empty) catalog is read, which would say "no data"
    Case("plot-out-unwritable", ["plot", *CATALOG, "--out", "/sys/x"], 1,
         "output folder /sys/x cannot be written: Operation not permitted (it cannot be created in /sys)",
         setup=empty_catalog),
]
