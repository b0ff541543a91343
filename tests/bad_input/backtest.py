"""``backtest``: the YAML's keys and values, the strategies against the run, the catalog, sweeps.

Each case gets a small synthetic catalog in ``{tmp}/catalog`` (a day of 1m bars of BTCUSDT spot and perpetual,
funding and statistics, from 2024-08-01) and a YAML naming it relatively (``catalog: catalog``, read against
the current directory, ``{tmp}``). Validation refuses before any run, so the rows stay quick; the one row that
runs (the span past the data, a warning) runs six hours without charts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from tests.bad_input import AWS_NOWHERE
from tests.bad_input import NO_AWS
from tests.bad_input import NO_CREDENTIALS
from tests.bad_input import UNREACHABLE
from tests.bad_input import Case
from tests.bad_input import config

EMA = "strategies.examples.ema_cross:EmaCrossRsi"
PERP = "BTCUSDT-PERP.BINANCE"
BASE: dict[str, Any] = {
    "catalog": "catalog",
    "start": "2024-08-01T02:00:00Z",
    "end": "2024-08-01T08:00:00Z",
    "instruments": [{"symbol": "BTCUSDT", "market": "futures"}],
    "data": {"bars": ["1m"], "funding": True},
    "charts": False,
    "strategies": [{"class": EMA, "config": {"instrument_id": PERP, "fast_period": 5, "slow_period": 20}}],
}


def _catalog(tmp: Path) -> None:
    from framework.backtest.synthetic import SyntheticMarket
    from framework.backtest.synthetic import write_synthetic

    write_synthetic(tmp / "catalog", SyntheticMarket(start_ns=1_722_470_400_000_000_000, minutes=1440))


def _yaml(changes: dict[str, Any], strategy: dict[str, Any] | None, drop: tuple[str, ...]) -> str:
    raw = copy.deepcopy(BASE)
    raw.update(copy.deepcopy(changes))
    if strategy is not None:
        raw["strategies"][0]["config"].update(strategy)
    for key in drop:
        raw.pop(key)
    return yaml.safe_dump(raw, sort_keys=False)


def _empty_catalog(tmp: Path) -> None:
    (tmp / "empty" / "data").mkdir(parents=True)


def bt(id: str, message: str, changes: dict[str, Any] | None = None, strategy: dict[str, Any] | None = None,
       *extra: str, exit_code: int = 2, drop: tuple[str, ...] = (),
       catalog: Callable[[Path], None] = _catalog) -> Case:
    """A backtest of ``BASE`` with ``changes`` (top-level keys) and ``strategy`` (keys of the first strategy's
    config), over the synthetic catalog (or what ``catalog`` makes)."""
    text = _yaml(changes or {}, strategy, drop)

    def setup(tmp: Path) -> None:
        catalog(tmp)
        config(tmp, "bad.yaml", text)

    return Case(f"backtest-{id}", ["backtest", "{tmp}/bad.yaml", *extra], exit_code, message, setup=setup)


SWEEP = {"grid": {"strategies.0.config.fast_period": [5, 10]}}

CASES = [
    # the cases
    bt("coinm", "instruments[0].market: 'coinm' is not a market this framework backtests (COIN-M",
       {"instruments": [{"symbol": "BTCUSD", "market": "coinm"}]}),
    bt("strategy-instrument-not-in-run", "strategies[0].config.instrument_id: ETHUSDT-PERP.BINANCE is not among "
       "the run's instruments", strategy={"instrument_id": "ETHUSDT-PERP.BINANCE"}),
    bt("balance-in-words", "venue.starting_balances: 'ten thousand USDT' is not a balance",
       {"venue": {"starting_balances": ["ten thousand USDT"]}}),
    bt("balance-negative", "venue.starting_balances: '-5 USDT' is not a balance",
       {"venue": {"starting_balances": ["-5 USDT"]}}),
    bt("funding-spot-only", "data: funding: custom kinds apply to perpetuals only",
       {"instruments": [{"symbol": "BTCUSDT", "market": "spot"}]}, {"instrument_id": "BTCUSDT.BINANCE"}),
    bt("negative-notional", "strategies[0].config.trade_notional: -2000 must be more than zero",
       strategy={"trade_notional": -2000}),
    bt("fast-not-below-slow", "strategies[0].config.fast_period: 60 must be below slow_period (20)",
       strategy={"fast_period": 60}),
    bt("zero-period", "strategies[0].config.rsi_period: 0 must be 1 or more", strategy={"rsi_period": 0}),
    bt("rsi-in-percent", "strategies[0].config.rsi_overbought: 70.0 must be between 0 and 1",
       strategy={"rsi_overbought": 70}),
    bt("ambiguous-date", "start: '09/08/2024' is not a time", {"start": "09/08/2024"}),
    bt("end-past-the-data", "is 3.0 days past it", {"end": "2024-08-05T00:00:00Z", "start": "2024-08-01T20:00:00Z"},
       exit_code=0),
    bt("log-level", "log_level: 'LOUD' is not a log level", {"log_level": "LOUD"}),
    bt("bar-interval-not-loaded", "strategies[0].config.bar_interval: 5m bars are not loaded",
       strategy={"bar_interval": "5m"}),
    bt("funding-not-loaded", "strategies[0].config.funding: true, but data: does not load it",
       {"data": {"bars": ["1m"]}, "strategies": [{"class": "strategies.examples.funding_oi:FundingOi",
                                                  "config": {"instrument_id": PERP}}]}),
    replace(bt("s3-catalog-no-credentials", NO_CREDENTIALS, {"catalog": "s3://bucket/prefix"}, exit_code=1),
            env=NO_AWS),
    replace(bt("s3-catalog-unreachable", UNREACHABLE, {"catalog": "s3://bucket/prefix"}, exit_code=1),
            env=AWS_NOWHERE),
    bt("gs-catalog", "catalog: 'gs://bucket/prefix' is a gs:// URL", {"catalog": "gs://bucket/prefix"}),
    bt("oms-type", "venue.oms_type: 'NET' is not one of NETTING, HEDGING", {"venue": {"oms_type": "NET"}}),
    bt("recorder-kind", "actors[0].config.kinds: unknown fundin",
       {"actors": [{"class": "strategies.actors.recorder:DataRecorder", "config": {"kinds": ["fundin"]}}]}),
    # ordinary mistakes
    bt("unknown-key", "unknown key 'strat'; did you mean 'start'?", {"strat": "2024-08-01"}),
    bt("strategy-config-unknown-key", "strategies[0].config: unknown key 'fast'; did you mean 'fast_period'?",
       strategy={"fast": 3}),
    bt("class-not-importable", "strategies[0].class: cannot import strategies.nope",
       {"strategies": [{"class": "strategies.nope:X", "config": {"instrument_id": PERP}}]}),
    bt("class-misspelt", "did you mean 'EmaCrossRsi'?",
       {"strategies": [{"class": "strategies.examples.ema_cross:EmaCross", "config": {"instrument_id": PERP}}]}),
    bt("no-strategies", "strategies: empty", {"strategies": []}),
    bt("empty-range", "the date range is empty", {"end": "2024-08-01T02:00:00Z"}),
    bt("start-after-end", "is not before end", {"start": "2024-08-01T09:00:00Z"}),
    bt("missing-catalog", "holds no data", {"catalog": "nowhere"}),
    bt("empty-catalog", "is not in the catalog", {"catalog": "empty"}, catalog=_empty_catalog),
    bt("no-data-in-range", "the catalog has no 1m bars of BTCUSDT-PERP.BINANCE",
       {"start": "2025-01-01", "end": "2025-01-02"}),
    bt("instrument-not-in-catalog", "ETHUSDT-PERP.BINANCE is not in the catalog",
       {"instruments": [{"symbol": "ETHUSDT", "market": "futures"}]}),
    bt("bad-symbol", "instruments[0].symbol: 'btc-usdt' is not a Binance symbol",
       {"instruments": [{"symbol": "btc-usdt", "market": "futures"}]}),
    bt("unknown-data-kind", "unknown key 'data.candles'", {"data": {"candles": ["1m"]}}),
    bt("bad-bar-interval", "data.bars: '7m' is not a Binance kline interval", {"data": {"bars": ["7m"]}}),
    bt("venue-and-venues", "venue and venues both set", {"venue": {}, "venues": [{"name": "BINANCE"}]}),
    bt("sweep-key-missing", "sweep key 'strategies.3.config.fast_period': 'strategies.3' does not exist",
       {"sweep": {"grid": {"strategies.3.config.fast_period": [5]}}}),
    bt("sweep-bad-rank-by", "sweep.rank_by: unknown metric 'profit'", {"sweep": {**SWEEP, "rank_by": "profit"}}),
    bt("sweep-workers-0", "sweep.workers: 0 must be a whole number of at least 1", {"sweep": {**SWEEP, "workers": 0}}),
    bt("workers-flag-0", "--workers: 0 must be a whole number of at least 1", {"sweep": SWEEP}, None,
       "--workers", "0"),
    bt("sweep-empty-values", "sweep.grid.strategies.0.config.fast_period: empty list",
       {"sweep": {"grid": {"strategies.0.config.fast_period": []}}}),
    bt("out-is-a-file", "run folder {tmp}/bad.yaml is a file, not a folder", None, None, "--out", "{tmp}/bad.yaml"),
    bt("sweep-out-is-a-file", "run folder {tmp}/bad.yaml is a file, not a folder", {"sweep": SWEEP}, None, "--out",
       "{tmp}/bad.yaml"),
    # /sys refuses new folders even to root
    bt("out-unwritable", "run folder /sys/x cannot be written: Operation not permitted", None, None, "--out", "/sys/x"),
    Case("backtest-missing-config", ["backtest", "missing.yaml"], 2, "pass a YAML file, e.g. configs/backtest/"),
]

