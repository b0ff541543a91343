"""``backtest``: example configs end to end from the offline example ingest, validation, spot + perp in one venue,
funding settlement against a hand computation, daily Sharpe/Sortino, sweeps (process pool and a one-CPU local Ray:
Ray 2.60 has no local mode), reproducibility."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from nautilus_trader.model.data import Bar
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

from framework.backtest.config import resolve
from framework.backtest.reports import daily_ratios
from framework.backtest.runner import run
from framework.backtest.sweep import run_sweep
from framework.backtest.config import parse_spec
from framework.backtest.synthetic import SyntheticMarket
from framework.backtest.synthetic import write_synthetic
from framework.data.types import FundingRate
from framework.errors import UsageError
from framework.main import main
from strategies.base import SignalStrategy
from strategies.examples.ema_cross import EmaCrossRsi
from strategies.base import SignalStrategyConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "configs" / "backtest").glob("*.yaml"))
INGEST_EXAMPLES = [ROOT / "configs/ingest/backtest_examples.yaml", ROOT / "configs/ingest/backtest_examples_trades.yaml"]
REAL_MONTH_EXAMPLES = {"ema_cross", "ema_cross_spot"}  # read examples/data (a real month each), the rest the tape
SYNTHETIC_SPAN = {"start": "2024-08-01T06:00:00Z", "end": "2024-08-03T00:00:00Z"}
DAY0 = pd.Timestamp("2024-08-01", tz="UTC").value
RUN_FILES = ["config.yaml", "run_config.json", "summary.json", "equity.parquet", "equity.png",
             *[f"{n}.{ext}" for n in ("fills", "orders", "positions", "account", "funding") for ext in ("csv", "json")]]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """Three days of 1m bars (spot + perp), 8h funding, 5m OI/ratios/taker volume, 4 h of perp trades."""
    return write_synthetic(tmp_path_factory.mktemp("catalog"),
                           SyntheticMarket(start_ns=DAY0, minutes=3 * 1440, trades_minutes=240))


def example(path: Path, catalog: Path, tmp: Path, **changes) -> Path:
    raw = yaml.safe_load(path.read_text())
    raw.update(catalog=str(catalog), **changes)
    out = tmp / path.name
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


# -- examples --------------------------------------------------------------------------------------------


def test_example_configs_run_offline_from_the_documented_ingest(tmp_path, monkeypatch, capsys) -> None:
    """The README path on a fresh machine: both example ingest configs offline, then every example backtest
    config as written (``catalog: catalog`` relative to the working folder); each trades and fills its folder."""
    monkeypatch.chdir(tmp_path)
    for ingest in INGEST_EXAMPLES:
        assert main(["ingest", str(ingest), "--offline", "--log-level", "WARNING"]) == 0
    assert main(["ingest", "--from-files", str(ROOT / "examples/data"), "--offline", "--log-level", "WARNING"]) == 0
    for config in EXAMPLES:
        out = tmp_path / "runs" / config.stem
        assert main(["backtest", str(config), "--out", str(out)]) == 0, config.name
        for name in RUN_FILES:
            assert (out / name).is_file(), f"{config.name}: {name}"
        summary = json.loads((out / "summary.json").read_text())
        assert summary["fills"] > 0 and summary["trades"] > 0, config.name
        fills = pd.read_csv(out / "fills.csv")
        assert summary["fills"] >= len(fills) > 0  # one row per filled order; partial fills count apart
        for iid in fills["instrument_id"].unique():
            assert (out / f"candles_{iid}.png").stat().st_size > 10_000
        # reports split the PnL: trading + funding = total; equity ends where the account balance ends (flat)
        assert summary["trading_pnl"] + summary["funding_received"] == pytest.approx(summary["total_pnl"], abs=1e-6)
        assert summary["final_equity"] == pytest.approx(summary["final_balance"], abs=1e-4)
        if config.stem in REAL_MONTH_EXAMPLES:  # a month of daily returns: the ratios are numbers
            assert summary["sharpe"] is not None and summary["sortino"] is not None, config.name
        else:
            assert summary["sharpe"] is None and summary["ratio_basis"] == "n/a (span < 2 days)"  # 2 days of tape
    assert capsys.readouterr().out.count("run folder") == len(EXAMPLES)


def test_spot_and_perpetual_trade_in_one_margin_venue(catalog, tmp_path) -> None:
    ema = {"class": "strategies.examples.ema_cross:EmaCrossRsi", "config": {"trade_notional": 2000}}
    two_legs = {"instruments": [{"symbol": "BTCUSDT", "market": m} for m in ("futures", "spot")],
                "data": {"bars": ["1m"], "funding": True}, "strategies": [
                    {**ema, "config": {**ema["config"], "instrument_id": "BTCUSDT-PERP.BINANCE"}},
                    {**ema, "config": {**ema["config"], "instrument_id": "BTCUSDT.BINANCE", "allow_short": False,
                                       "order_id_tag": "002"}}]}
    cfg = example(ROOT / "configs/backtest/ema_cross.yaml", catalog, tmp_path, **SYNTHETIC_SPAN, **two_legs)
    resolved = resolve(yaml.safe_load(cfg.read_text()), str(cfg))
    assert [v.name for v in resolved.run_config.venues] == ["BINANCE"]
    summary = run(resolved, tmp_path / "run")
    fills = pd.read_csv(tmp_path / "run" / "fills.csv")
    assert set(fills["instrument_id"]) == {"BTCUSDT.BINANCE", "BTCUSDT-PERP.BINANCE"}
    assert summary["funding_payments"] > 0  # the perpetual leg held positions over funding times


def test_the_data_recorder_writes_what_the_run_received(catalog, tmp_path) -> None:
    cfg = example(ROOT / "configs/backtest/funding_oi.yaml", catalog, tmp_path, **SYNTHETIC_SPAN)
    resolved = resolve(yaml.safe_load(cfg.read_text()), str(cfg), run_dir=str(tmp_path / "run"))
    run(resolved, tmp_path / "run")
    recorded = pd.read_parquet(tmp_path / "run" / "data" / "custom_funding_rate.parquet")
    start, end = pd.Timestamp("2024-08-01T06:00:00Z").value, pd.Timestamp("2024-08-03T00:00:00Z").value
    held = [c.data for c in ParquetDataCatalog(str(catalog)).query(FundingRate)]
    assert list(recorded["rate_str"]) == [r.rate_str for r in held if start <= r.ts_init <= end]
    assert (tmp_path / "run" / "data" / "custom_open_interest.csv").is_file()


def test_sharpe_and_sortino_come_from_full_day_returns_and_need_two_days() -> None:
    minutes = pd.date_range("2024-08-01", periods=3 * 1440 + 1, freq="1min", tz="UTC")
    day_values = np.array([100.0, 110.0, 99.0, 108.9])  # returns +10 %, -10 %, +10 %
    equity = np.interp(np.arange(len(minutes)) / 1440, np.arange(4), day_values)
    equity[700] = 500.0  # an intraday spike: not a day boundary, so it must not count
    curve = pd.DataFrame({"equity": equity}, index=minutes)
    sharpe, sortino, basis = daily_ratios(curve)
    r = np.array([0.1, -0.1, 0.1])
    assert sharpe == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(365))
    assert sortino == pytest.approx(r.mean() / np.sqrt((np.minimum(r, 0) ** 2).mean()) * np.sqrt(365))
    assert basis == "3 daily returns, annualised x sqrt(365)"
    assert daily_ratios(curve.iloc[: 2 * 1440 - 1]) == (None, None, "n/a (span < 2 days)")


# -- validation ------------------------------------------------------------------------------------------


def _base(catalog: Path) -> dict:
    return {
        "catalog": str(catalog), "start": "2024-08-01T06:00:00Z", "end": "2024-08-01T12:00:00Z",
        "instruments": [{"symbol": "BTCUSDT", "market": "futures"}], "data": {"bars": ["1m"]},
        "strategies": [{"class": "strategies.examples.ema_cross:EmaCrossRsi",
                        "config": {"instrument_id": "BTCUSDT-PERP.BINANCE"}}],
    }


@pytest.mark.parametrize(("change", "expected"), [
    ({"strategy": []}, "unknown key 'strategy'; did you mean 'strategies'?"),
    ({"data": {"bar": ["1m"]}}, "unknown key 'data.bar'; did you mean 'bars'?"),
    ({"venue": {"starting_balance": ["1 USDT"]}}, "unknown key 'venues.0.starting_balance'"),
    ({"instruments": [{"symbol": "ETHUSDT", "market": "futures"}]}, "ETHUSDT-PERP.BINANCE is not in the catalog"),
    ({"strategies": [{"class": "strategies.nope:X"}]}, "strategies[0].class: cannot import strategies.nope"),
    ({"strategies": [{"class": "strategies.examples.ema_cross:EmaCross"}]}, "did you mean 'EmaCrossRsi'?"),
    ({"strategies": [{"class": "strategies.examples.ema_cross:EmaCrossRsi",
                      "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "fast": 3}}]},
     "strategies[0].config: unknown key 'fast'; did you mean 'fast_period'?"),
    ({"end": "2024-08-01T06:00:00Z"}, "the date range is empty"),
    ({"start": "2025-01-01", "end": "2025-01-02"}, "the catalog has no 1m bars of BTCUSDT-PERP.BINANCE"),
    ({"data": {"bars": ["1m"], "trades": True}, "start": "2024-08-02", "end": "2024-08-03"},
     "no trades of BTCUSDT-PERP.BINANCE"),
    ({"catalog": "/nonexistent"}, "catalog: /nonexistent holds no data"),
])
def test_validation_names_the_key_and_the_fix(catalog, change, expected) -> None:
    with pytest.raises(UsageError) as e:
        resolve({**_base(catalog), **change}, "cfg.yaml")
    assert expected in str(e.value)
    assert "\n" not in str(e.value)


def test_cli_bad_config_is_one_line_and_exit_2(catalog, tmp_path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({**_base(catalog), "strat": []}))
    proc = subprocess.run([sys.executable, "-m", "framework.main", "backtest", str(cfg)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {cfg}: unknown key 'strat'; did you mean 'start'?"]


def test_a_strategy_without_its_hook_fails_with_a_clear_message(catalog, tmp_path) -> None:
    raw = {**_base(catalog), "strategies": [{"class": "tests.test_backtest:NoHook",
                                             "config": {"instrument_id": "BTCUSDT-PERP.BINANCE"}}]}
    with pytest.raises(NotImplementedError, match="implement on_signal_bar"):
        run(resolve(raw, "cfg.yaml"), tmp_path / "run")


class NoHook(SignalStrategy):
    def __init__(self, config: SignalStrategyConfig) -> None:
        super().__init__(config)


def test_cli_run_failure_is_one_line_and_exit_1(catalog, tmp_path, capsys) -> None:
    cfg = tmp_path / "nohook.yaml"
    cfg.write_text(yaml.safe_dump({**_base(catalog), "strategies": [
        {"class": "tests.test_backtest:NoHook", "config": {"instrument_id": "BTCUSDT-PERP.BINANCE"}}]}))
    assert main(["backtest", str(cfg), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: backtest nohook failed: NotImplementedError: NoHook subscribes to")


class WarmupProbe(EmaCrossRsi):
    """Notes whether its indicators were ready on the first live bar."""

    ready_on_first_bar: list[bool] = []

    def on_signal_bar(self, bar: Bar) -> None:
        if not self._seen:
            self._seen = True
            WarmupProbe.ready_on_first_bar.append(self.slow.initialized and self.rsi.initialized)
        super().on_signal_bar(bar)

    def on_start(self) -> None:
        self._seen = False
        super().on_start()


@pytest.mark.parametrize("warmup", [0, 60])
def test_warm_up_from_the_catalog_readies_indicators_before_the_first_bar(catalog, tmp_path, warmup) -> None:
    WarmupProbe.ready_on_first_bar.clear()
    raw = {**_base(catalog), "charts": False, "end": "2024-08-01T07:00:00Z", "strategies": [
        {"class": "tests.test_backtest:WarmupProbe", "config": {
            "instrument_id": "BTCUSDT-PERP.BINANCE", "slow_period": 60, "warmup_bars": warmup}}]}
    run(resolve(raw, "w.yaml"), tmp_path / "run")
    assert WarmupProbe.ready_on_first_bar == [warmup > 0]


# -- funding ---------------------------------------------------------------------------------------------


class ScriptedConfig(SignalStrategyConfig, frozen=True):
    schedule: list[tuple[str, str]] = []  # (ISO time, signed target quantity)


class Scripted(SignalStrategy):
    """Holds the scheduled target positions (for checking funding by hand)."""

    def __init__(self, config: ScriptedConfig) -> None:
        super().__init__(config)
        self.plan = [(pd.Timestamp(t).value, Decimal(q)) for t, q in config.schedule]

    def on_signal_bar(self, bar: Bar) -> None:
        while self.plan and bar.ts_event >= self.plan[0][0]:
            self.target_position(self.plan.pop(0)[1])


def test_funding_ledger_and_account_match_a_hand_computation(tmp_path) -> None:
    catalog = write_synthetic(tmp_path / "cat", SyntheticMarket(start_ns=DAY0, minutes=1440, spot=False,
                                                                funding_hours=4, seed=11))
    schedule = [("2024-08-01T02:00Z", "0.5"), ("2024-08-01T10:30Z", "-0.3"), ("2024-08-01T17:00Z", "0")]
    raw = {**_base(catalog), "start": "2024-08-01T00:00:00Z", "end": "2024-08-01T23:59:00Z",
           "data": {"bars": ["1m"], "funding": True}, "venue": {"default_leverage": 5}, "charts": False,
           "strategies": [{"class": "tests.test_backtest:Scripted",
                           "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "schedule": schedule}}]}
    out = tmp_path / "run"
    summary = run(resolve(raw, "funding.yaml"), out)

    rows = {r.data.funding_time: r.data for r in ParquetDataCatalog(str(catalog)).query(FundingRate)}
    assert sorted(rows)[:3] == [DAY0 + h * 3_600_000_000_000 for h in (0, 4, 8)]  # the symbol's own 4 h grid

    def pays(hour: int, qty: str) -> Decimal:  # what the account receives: longs pay a positive rate
        r = rows[DAY0 + hour * 3_600_000_000_000]
        return (-Decimal(qty) * r.mark_price * r.rate).quantize(Decimal("1e-8"), ROUND_HALF_EVEN)

    expected = [pays(4, "0.5"), pays(8, "0.5"), pays(12, "-0.3"), pays(16, "-0.3")]
    ledger = pd.read_csv(out / "funding.csv", dtype=str)
    assert [Decimal(a) for a in ledger["amount"]] == expected
    assert list(ledger["side"]) == ["LONG", "LONG", "SHORT", "SHORT"]
    assert summary["funding_received"] == pytest.approx(float(sum(expected)), abs=1e-9)
    assert summary["funding_paid"] == pytest.approx(-float(sum(expected)), abs=1e-9)

    # the account really moved: final balance = start + fills' cash flows - fees + funding (flat at the end)
    fills = pd.read_csv(out / "fills.csv")
    sign = fills["side"].map({"BUY": -1, "SELL": 1})
    fees = fills["commissions"].map(lambda c: Decimal(c.strip("[]'").split()[0]))
    cash = sum(Decimal(str(s)) * Decimal(str(q)) * Decimal(str(p))
               for s, q, p in zip(sign, fills["filled_qty"], fills["avg_px"], strict=True))
    balance = Decimal(str(pd.read_csv(out / "account.csv")["total"].iloc[-1]))
    assert balance == Decimal(10000) + cash - sum(fees) + sum(expected)
    assert summary["trading_pnl"] == pytest.approx(summary["total_pnl"] - float(sum(expected)), abs=1e-6)


# -- sweeps and reproducibility --------------------------------------------------------------------------


def _sweep_raw(catalog: Path) -> dict:
    raw = {**_base(catalog), "charts": False,
           "sweep": {"grid": {"strategies.0.config.fast_period": [5, 10]}, "rank_by": "total_return"}}
    raw["strategies"][0]["config"].update(slow_period=30)
    return raw


def test_sweep_in_a_process_pool_writes_a_ranked_table(catalog, tmp_path) -> None:
    raw = _sweep_raw(catalog)
    table = run_sweep(raw, parse_spec(raw, "s.yaml").sweep, "s.yaml", "s", tmp_path, engine="process")
    assert list(table["rank"]) == [1, 2] and sorted(table["strategies.0.config.fast_period"]) == [5, 10]
    assert list(table["total_return"]) == sorted(table["total_return"], reverse=True)
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    assert len(ranking) == 2
    for i in (0, 1):
        summary = json.loads((tmp_path / "runs" / str(i) / "summary.json").read_text())
        assert summary["total_return"] == pytest.approx(table.set_index("run").loc[i, "total_return"])


def test_sweep_on_ray_gives_the_process_pool_results(catalog, tmp_path) -> None:
    raw = _sweep_raw(catalog)
    sweep = parse_spec(raw, "s.yaml").sweep
    # Ray 2.60 removed local_mode (ray.init(local_mode=True) raises): a real local Ray with one CPU
    on_ray = run_sweep(raw, sweep, "s.yaml", "s", tmp_path / "ray", engine="ray", workers=1)
    local = run_sweep(raw, sweep, "s.yaml", "s", tmp_path / "proc", engine="process")
    assert on_ray.to_dict("records") == local.to_dict("records")


@pytest.mark.parametrize("engine", ["process", "ray"])
def test_cli_sweep_run_failure_is_one_line_and_exit_1(catalog, tmp_path, capsys, engine) -> None:
    cfg = tmp_path / "nohook_sweep.yaml"
    cfg.write_text(yaml.safe_dump({**_base(catalog), "charts": False, "strategies": [
        {"class": "tests.test_backtest:NoHook", "config": {"instrument_id": "BTCUSDT-PERP.BINANCE"}}],
        "sweep": {"grid": {"strategies.0.config.warmup_bars": [0]}, "workers": 1}}))
    assert main(["backtest", str(cfg), "--out", str(tmp_path / "run"), "--engine", engine]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    err = errors[0]
    assert err.startswith("error: sweep nohook_sweep failed: NotImplementedError: NoHook subscribes to")


def test_a_bad_sweep_key_fails_before_any_run(catalog, tmp_path) -> None:
    raw = {**_base(catalog), "sweep": {"grid": {"strategies.3.config.fast_period": [5]}}}
    with pytest.raises(UsageError, match="'strategies.3' does not exist"):
        run_sweep(raw, parse_spec(raw, "s.yaml").sweep, "s.yaml", "s", tmp_path)
    assert not (tmp_path / "runs").exists()


def test_same_config_same_results(catalog, tmp_path) -> None:
    cfg = example(ROOT / "configs/backtest/funding_oi.yaml", catalog, tmp_path, charts=False, **SYNTHETIC_SPAN)
    raw = yaml.safe_load(cfg.read_text())
    first = run(resolve(raw, "a"), tmp_path / "a")
    second = run(resolve(raw, "b"), tmp_path / "b")
    timing = ("elapsed_s", "events_per_s")
    assert {k: v for k, v in first.items() if k not in timing} == {k: v for k, v in second.items() if k not in timing}
    columns = ["instrument_id", "side", "filled_qty", "avg_px", "commissions", "ts_last"]
    a, b = (pd.read_csv(tmp_path / x / "fills.csv")[columns] for x in "ab")
    assert len(a) > 0 and a.equals(b)
    assert (tmp_path / "a" / "funding.csv").read_text() == (tmp_path / "b" / "funding.csv").read_text()
