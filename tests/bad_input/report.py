"""``report reconcile``: mistakes in its values, sources and stream captures that are not there or not right."""

from __future__ import annotations

from pathlib import Path

from tests.bad_input import AWS_NOWHERE
from tests.bad_input import NO_AWS
from tests.bad_input import NO_CREDENTIALS
from tests.bad_input import UNREACHABLE
from tests.bad_input import Case
from tests.bad_input import config
from tests.bad_input.plot import collect_folder
from tests.bad_input.plot import empty_catalog
from tests.bad_input.plot import no_url_folder

RECONCILE = ["report", "reconcile"]
CATALOG = ["--catalog", "{tmp}/cat"]
FRAME = ('{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1723075200100,"s":"BTCUSDT","a":1,'
         '"p":"61000.10","q":"0.010","f":1,"l":1,"T":1723075200000,"m":false}}')


def frames(tmp: Path) -> None:
    """A catalog with nothing in it and a capture whose second line is cut short."""
    empty_catalog(tmp)
    config(tmp, "frames.jsonl", '{"result":null,"id":1}\n' + FRAME[:60] + "\n" + FRAME + "\n")


def with_catalog(id: str, text: str, exit_code: int, message: str, **kw) -> Case:
    """A YAML case (``report reconcile {tmp}/bad.yaml``) next to an empty catalog ``cat``."""

    def setup(tmp: Path) -> None:
        empty_catalog(tmp)
        config(tmp, "bad.yaml", text)

    return Case(id, [*RECONCILE, "{tmp}/bad.yaml"], exit_code, message, setup=setup, **kw)


CASES = [
    Case("report-no-report", ["report"], 2, "the following arguments are required: <report>"),
    Case("report-unknown-report", ["report", "gaps"], 2, "invalid choice: 'gaps'"),
    Case("report-catalog-s3-no-credentials", [*RECONCILE, "--catalog", "s3://bucket/prefix"], 1, NO_CREDENTIALS,
         env=NO_AWS, check=no_url_folder),
    with_catalog("report-yaml-catalog-s3-unreachable", "catalog: s3://bucket/prefix\n", 1, UNREACHABLE,
                 env=AWS_NOWHERE, check=no_url_folder),
    with_catalog("report-yaml-catalog-gs-url", "catalog: gs://bucket/prefix\n", 2, "is a gs:// URL",
                 check=no_url_folder),
    Case("report-no-data", [*RECONCILE, *CATALOG], 1,
         "holds no BTCUSDT futures aggTrades; fill it: python -m framework.main ingest --market futures "
         "--symbols BTCUSDT --kinds agg_trades,klines", setup=empty_catalog),
    Case("report-stream-frames-missing", [*RECONCILE, *CATALOG, "--stream-frames", "{tmp}/frames.jsonl"], 2,
         "--stream-frames {tmp}/frames.jsonl: no such file", setup=empty_catalog),
    Case("report-stream-frames-malformed", [*RECONCILE, *CATALOG, "--stream-frames", "{tmp}/frames.jsonl"], 2,
         "--stream-frames {tmp}/frames.jsonl line 2: not a futures stream frame", setup=frames),
    Case("report-stream-frames-other-symbol", [*RECONCILE, *CATALOG, "--stream-frames", "{tmp}/frames.jsonl",
                                               "--symbol", "ETHUSDT"], 2,
         "no futures ETHUSDT aggTrade frame inside",
         setup=lambda tmp: (empty_catalog(tmp), config(tmp, "frames.jsonl", FRAME + "\n"))),
    with_catalog("report-yaml-market-coinm", "catalog: cat\nmarket: coinm\n", 2, "COIN-M futures are not supported"),
    Case("report-market-coinm", [*RECONCILE, *CATALOG, "--market", "coinm"], 2, "invalid choice: 'coinm'"),
    Case("report-interval-7m", [*RECONCILE, *CATALOG, "--interval", "7m"], 2, "'7m' is not a Binance kline interval",
         setup=empty_catalog),
    with_catalog("report-yaml-interval-month", "catalog: cat\ninterval: 1M\n", 2,
                 "'1M' is not a Binance kline interval"),
    Case("report-start-after-end", [*RECONCILE, *CATALOG, "--start", "2024-08-09", "--end", "2024-08-08"], 2,
         "is not before --end", setup=empty_catalog),
    Case("report-ambiguous-date", [*RECONCILE, *CATALOG, "--end", "20240808"], 2, "'20240808' is ambiguous",
         setup=empty_catalog),
    with_catalog("report-yaml-unknown-key", "catalog: cat\nstream_frame: f.jsonl\n", 2,
                 "unknown key 'stream_frame'; did you mean 'stream_frames'?"),
    Case("report-collect-missing", [*RECONCILE, "--from-collect", "{tmp}/outputs"], 2, "no such folder"),
    Case("report-collect-other-symbol", [*RECONCILE, "--from-collect", "{tmp}/out", "--symbol", "ETHUSDT"], 1,
         "not ETHUSDT; collect it", setup=collect_folder),
    Case("report-out-is-a-file", [*RECONCILE, *CATALOG, "--out", "{tmp}/cat/data/x"], 1, "is a file, not a folder",
         setup=lambda tmp: (empty_catalog(tmp), (tmp / "cat" / "data" / "x").write_text(""))),
    # /sys refuses new folders even to root; refused before the (empty) catalog is read, which would say "no data"
    Case("report-out-unwritable", [*RECONCILE, *CATALOG, "--out", "/sys/x"], 1,
         "output folder /sys/x cannot be written: Operation not permitted (it cannot be created in /sys)",
         setup=empty_catalog),
]
