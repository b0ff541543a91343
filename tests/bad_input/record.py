"""``record``: flags, the record YAML, the offline clock, and a symbol the exchange does not stream. Every usage
mistake is refused before anything connects; rows that run use ``--offline`` (never real Binance) and stop
within seconds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from tests.bad_input import AWS_NOWHERE
from tests.bad_input import NO_AWS
from tests.bad_input import NO_CREDENTIALS
from tests.bad_input import REPO
from tests.bad_input import UNREACHABLE
from tests.bad_input import Case
from tests.bad_input import config
from tests.bad_input import yaml_case

EXAMPLE = str(REPO / "configs" / "record" / "btc_futures.yaml")
TRADES = {"futures": {"symbols": ["BTCUSDT"], "kinds": ["agg_trades"]}}


def flags(id: str, argv: list[str], message: str, exit_code: int = 2) -> Case:
    return Case(f"record-{id}", ["record", EXAMPLE, *argv], exit_code, message)


def record_yaml(id: str, settings: dict, message: str, *extra: str, exit_code: int = 2, **kw) -> Case:
    """A case whose mistake is in a record YAML (``markets`` defaults to BTCUSDT aggTrades)."""
    return yaml_case(f"record-{id}", "record", yaml.safe_dump({"markets": TRADES, **settings}), exit_code, message,
                     *(extra or ("--offline", "--duration", "3")), **kw)


def _no_s3_folder(tmp: Path) -> None:
    assert not (tmp / "s3:").exists(), "a folder named s3: was created"


def _ingested(tmp: Path) -> None:
    """The README's first step: an offline ingest (the recordings' time, 2024) into {tmp}/catalog."""
    from framework.main import main

    config(tmp, "bad.yaml", yaml.safe_dump({"catalog": str(tmp / "catalog"), "markets": TRADES}))
    assert main(["ingest", str(REPO / "configs" / "ingest" / "backtest_examples_trades.yaml"), "--offline",
                 "--catalog", str(tmp / "catalog")]) == 0


CASES = [
    # durations, speeds, rates and counts: the shared parsers (as live and local-exchange read them)
    flags("duration-zero", ["--offline", "--duration", "0"], "--duration: 0 must be more than zero"),
    flags("duration-negative", ["--offline", "--duration", "-3"], "--duration: '-3' is not a duration (durations "
          "cannot be negative)"),
    flags("duration-words", ["--offline", "--duration", "a while"], "--duration: 'a while' is not a duration"),
    flags("speed-negative", ["--offline", "--speed", "-1"], "--speed: -1 must be more than zero"),
    flags("malformed-rate-above-one", ["--offline", "--malformed-frame-rate", "1.5"],
          "--malformed-frame-rate: 1.5 must be between 0 and 1"),
    flags("drop-ws-every-negative", ["--offline", "--drop-ws-every", "-1"],
          "--drop-ws-every: -1 must be a whole number of at least 0"),
    flags("flush-secs-zero", ["--offline", "--flush-secs", "0"], "--flush-secs: 0 must be more than zero"),
    flags("flush-rows-fraction", ["--offline", "--flush-rows", "2.5"], "--flush-rows: 2.5 must be a whole number"),
    flags("backfill-words", ["--offline", "--backfill", "everything"], "--backfill: 'everything' is not a duration; "
          "use a number of seconds or a number with ms/s/m/h/d/w, e.g. 30, 90s, 15m, 6h, 1d, or all"),
    flags("drill-without-offline", ["--speed", "5"], "--speed set the local exchange; add --offline or drop them"),
    # the offline clock: one choice for every --offline command
    flags("start-without-offline", ["--start", "recorded"], "--start sets the local exchange's clock; add --offline "
          "or drop it"),
    flags("start-us-date", ["--offline", "--start", "09/08/2024"], "--start: '09/08/2024' is not a clock start; use "
          "recorded"),
    Case("record-ingest-offline-start-without-offline", ["ingest", str(REPO / "configs" / "ingest" /
         "backtest_examples_trades.yaml"), "--catalog", "{tmp}/c", "--offline-start", "now"], 2,
         "--offline-start sets the local exchange's clock; add --offline"),
    # catalog locations
    replace(flags("catalog-s3-no-credentials", ["--offline", "--catalog", "s3://bucket/prefix"], NO_CREDENTIALS,
                  exit_code=1), env=NO_AWS, check=_no_s3_folder),
    record_yaml("catalog-s3-unreachable", {"catalog": "s3://bucket/prefix"}, UNREACHABLE, exit_code=1,
                env=AWS_NOWHERE, check=_no_s3_folder),
    record_yaml("catalog-s3-bad-bucket", {"catalog": "s3://Bucket_1/prefix"}, "'Bucket_1' is not a bucket name",
                check=_no_s3_folder),
    Case("record-catalog-is-a-file", ["record", EXAMPLE, "--offline", "--catalog", "{tmp}/file"], 2,
         "catalog: {tmp}/file is a file", setup=lambda tmp: config(tmp, "file", "not a folder\n")),
    # a catalog that cannot be written: one line before the local exchange starts (not at the first flush)
    Case("record-catalog-unwritable", ["record", EXAMPLE, "--offline", "--catalog", "/sys/rcat", "--duration", "3"], 1,
         "catalog folder /sys/rcat cannot be written", timeout=30),
    Case("record-catalog-under-a-file", ["record", EXAMPLE, "--offline", "--catalog", "{tmp}/file/sub", "--duration",
         "3"], 1, "catalog folder {tmp}/file/sub cannot be written", setup=lambda tmp: config(tmp, "file", "x\n"),
         timeout=30),
    # the YAML: keys, kinds, intervals, symbols, values
    Case("record-missing-config", ["record", "missing.yaml"], 2, "config file missing.yaml does not exist"),
    record_yaml("key-misspelt", {"flush_sec": 5}, "unknown key 'flush_sec'; did you mean 'flush_secs'?"),
    record_yaml("kind-misspelt", {"markets": {"futures": {"symbols": ["BTCUSDT"], "kinds": ["agg_trade"]}}},
                "unknown data kind 'agg_trade' for futures"),
    record_yaml("kind-trades", {"markets": {"spot": {"symbols": ["BTCUSDT"], "kinds": ["trades"]}}},
                "'trades' cannot be recorded; use agg_trades"),
    record_yaml("interval-7m", {"markets": {"futures": {"symbols": ["BTCUSDT"], "kinds": ["klines"],
                                                        "intervals": ["7m"]}}}, "'7m' is not a Binance kline interval"),
    record_yaml("symbol-malformed", {"markets": {"futures": {"symbols": ["BTC-USDT"], "kinds": ["agg_trades"]}}},
                "'BTC-USDT' is not a Binance symbol"),
    record_yaml("markets-empty", {"markets": {}}, "markets: empty"),
    record_yaml("flush-rows-zero", {"flush_rows": 0}, "flush_rows: 0 must be a whole number of at least 1"),
    record_yaml("flush-secs-negative", {"flush_secs": -1}, "flush_secs: -1 must be more than zero"),
    record_yaml("duration-zero-yaml", {"duration": 0}, "duration: 0 must be more than zero", "--offline", timeout=30),
    record_yaml("max-backfill-words", {"max_backfill": "forever"}, "max_backfill: 'forever' is not a duration"),
    record_yaml("streams-per-connection", {"streams_per_connection": 2000}, "streams_per_connection: 2000 must be "
                "1 to 1024"),
    record_yaml("offline-key-unknown", {"offline": {"spead": 2}}, "offline: unknown key(s) spead"),
    record_yaml("offline-speed-negative", {"offline": {"speed": -2}}, "offline.speed: -2 must be more than zero"),
    record_yaml("offline-start-bad", {"offline": {"start": "yesterday"}}, "offline.start: 'yesterday' is not a "
                "clock start"),
    record_yaml("offline-not-mapping", {"offline": 5}, "offline: expected a mapping"),
    # a listed symbol the exchange does not stream (offline: no tape): one line, not an endless reconnect loop
    record_yaml("symbol-without-tape", {"markets": {"futures": {"symbols": ["ETHBUSD"], "kinds": ["agg_trades"]}}},
                "futures ETHBUSD: the exchange refused the streams ethbusd@aggTrade 5 times in a row (HTTP 400)",
                "--offline", exit_code=1, timeout=60),
    record_yaml("symbol-unlisted", {"markets": {"futures": {"symbols": ["FOOUSDT"], "kinds": ["agg_trades"]}}},
                "FOOUSDT", "--offline", "--duration", "5", exit_code=2, timeout=60),
    # the README's order: ingest (2024) then record (now) on one catalog: the gap is said, not fetched for minutes
    Case("record-gap-past-max-backfill", ["record", "{tmp}/bad.yaml", "--offline", "--duration", "2"], 0,
         "futures BTCUSDT agg_trades: the catalog ends 2024-08-08T23:59:59.643Z", setup=_ingested, timeout=60),
]
