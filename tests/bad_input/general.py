"""Mistakes any command can meet: unknown commands and flags, missing or broken config files."""

from __future__ import annotations

import dataclasses

from tests.bad_input import Case
from tests.bad_input import yaml_case
from tests.bad_input.backtest import bt

CASES = [
    Case("unknown-command", ["nope"], 2, "invalid choice: 'nope'"),
    Case("unknown-flag", ["collect", "--no-such-flag"], 2, "unrecognized arguments: --no-such-flag"),
    Case("missing-config", ["collect", "missing.yaml"], 2, "config file missing.yaml does not exist"),
    yaml_case("yaml-not-yaml", "collect", "a: [1, 2\n", 2, "not valid YAML at line"),
    yaml_case("yaml-not-mapping", "collect", "- a\n- b\n", 2, "expected a mapping of settings"),
    Case("bad-log-level", ["collect", "--offline", "--log-level", "LOUD"], 2, "unknown log level 'LOUD'"),
    Case("offline-with-url", ["collect", "--offline", "--base-path-spot", "http://x"], 2,
         "--offline serves its own URLs"),
    # epoch SECONDS where epoch ms are read (1723075200 s = 2024-08-08; as ms it is 1970-01-20: 0 rows, exit 0)
    Case("time-epoch-seconds-ingest", ["ingest", "--market", "futures", "--symbols", "BTCUSDT", "--kinds", "klines",
                                       "--start", "1723075200", "--offline"], 2,
         "start: 1723075200 looks like epoch seconds; multiply by 1000 (1723075200000) or write an ISO time "
         "(2024-08-08T00:00:00Z)"),
    Case("time-epoch-seconds-record-clock", ["record", "{repo}/configs/record/btc_futures.yaml", "--offline",
                                             "--start", "1723075200", "--duration", "1"], 2,
         "--start: 1723075200 looks like epoch seconds"),
    Case("time-epoch-seconds-local-exchange", ["local-exchange", "--start", "1723075200"], 2,
         "--start: 1723075200 looks like epoch seconds"),
    dataclasses.replace(bt("start-epoch-seconds", "start: 1723075200 looks like epoch seconds; multiply by 1000",
                           {"start": 1723075200}), id="time-epoch-seconds-backtest-yaml"),
]
