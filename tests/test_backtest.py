"""``backtest``: example configs end to end from the offline example ingest, validation, spot + perp in one venue,
funding settlement against a hand computation, daily Sharpe/Sortino, sweeps (process pool and a one-CPU local Ray:
Ray 2.60 has no local mode), reproducibility."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot
import msgspec
import numpy as np
import pandas as pd
import pytest
import yaml
from nautilus_trader.common.config import msgspec_decoding_hook
from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.persistence.catalog.parquet import ParquetDataCatalog

from framework.backtest.config import parse_spec
from framework.backtest.config import resolve
from framework.backtest.reports import daily_ratios
from framework.backtest.runner import run
from framework.backtest.sweep import run_sweep
from framework.backtest.synthetic import SyntheticMarket
from framework.backtest.synthetic import write_synthetic
from framework.data.types import FundingRate
from framework.errors import UsageError
from framework.main import main
from framework.values import BadValue
from strategies.base import SignalStrategy
from strategies.base import SignalStrategyConfig
from strategies.examples.ema_cross import EmaCrossRsi
from strategies.examples.ema_cross import EmaCrossRsiConfig
from strategies.examples.funding_oi import FundingOiConfig
from strategies.examples.order_flow import TakerImbalanceConfig
from strategies.examples.order_flow_follower import OrderFlowFollowerConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "configs" / "backtest").glob("*.yaml"))
INGEST_EXAMPLES = [ROOT / "configs/ingest/backtest_examples.yaml", ROOT / "configs/ingest/backtest_examples_trades.yaml"]
REAL_MONTH_EXAMPLES = {"ema_cross", "ema_cross_spot"}  # read examples/data (a real month each), the rest the tape
SYNTHETIC_SPAN = {"start": "2024-08-01T06:00:00Z", "end": "2024-08-03T00:00:00Z"}
DAY0 = pd.Timestamp("2024-08-01", tz="UTC").value
EMA = "strategies.examples.ema_cross:EmaCrossRsi"
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
    # values, and the strategies against the run (each was a traceback or silence)
    ({"instruments": [{"symbol": "BTCUSD", "market": "coinm"}]}, "instruments[0].market: 'coinm' is not a market"),
    ({"instruments": [{"symbol": "btc/usdt"}]}, "instruments[0].symbol: 'btc/usdt' is not a Binance symbol"),
    ({"strategies": [{"class": EMA, "config": {"instrument_id": "ETHUSDT-PERP.BINANCE"}}]},
     "strategies[0].config.instrument_id: ETHUSDT-PERP.BINANCE is not among the run's instruments "
     "(BTCUSDT-PERP.BINANCE); add - {symbol: ETHUSDT, market: futures} to instruments"),
    ({"venue": {"starting_balances": ["ten thousand USDT"]}}, "'ten thousand USDT' is not a balance"),
    ({"venue": {"starting_balances": "10000 USDT"}}, "is not a list of balances"),
    ({"instruments": [{"symbol": "BTCUSDT", "market": "spot"}], "data": {"bars": ["1m"], "open_interest": True},
      "strategies": [{"class": EMA, "config": {"instrument_id": "BTCUSDT.BINANCE"}}]},
     "data: open_interest: custom kinds apply to perpetuals only"),
    ({"strategies": [{"class": EMA, "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "trade_notional": -2000}}]},
     "strategies[0].config.trade_notional: -2000 must be more than zero"),
    ({"strategies": [{"class": EMA, "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "bar_interval": "5m"}}]},
     "strategies[0].config.bar_interval: 5m bars are not loaded (data.bars: ['1m'])"),
    ({"strategies": [{"class": "strategies.examples.funding_oi:FundingOi",
                      "config": {"instrument_id": "BTCUSDT-PERP.BINANCE"}}]},
     "strategies[0].config.funding: true, but data: does not load it"),
    ({"data": {"bars": ["7m"]}}, "data.bars: '7m' is not a Binance kline interval"),
    ({"log_level": "LOUD"}, "log_level: 'LOUD' is not a log level"),  # Nautilus panics on it
    ({"start": "09/08/2024"}, "start: '09/08/2024' is not a time"),
    ({"catalog": "gs://bucket/prefix"}, "catalog: 'gs://bucket/prefix' is a gs:// URL"),
    ({"venue": {"oms_type": "NET"}}, "venue.oms_type: 'NET' is not one of NETTING, HEDGING"),
    ({"venue": {"default_leverage": 0}}, "venue.default_leverage: 0 must be a number above 0"),
    ({"chunk_size": -5}, "chunk_size: -5 must be 1 or more"),
    ({"actors": [{"class": "strategies.actors.recorder:DataRecorder", "config": {"kinds": ["fundin"]}}]},
     "actors[0].config.kinds: unknown fundin; use some of funding"),
    ({"actors": [{"class": "strategies.actors.order_flow:OrderFlowActor",
                  "config": {"instrument_ids": ["BTCUSDT-PERP.BINANCE"], "bucket": "5 minutes"}}]},
     "actors[0].config.bucket: '5 minutes' is not a duration"),
    ({"actors": [{"class": "strategies.actors.order_flow:OrderFlowActor",
                  "config": {"instrument_ids": ["ETHUSDT-PERP.BINANCE"]}}]},
     "actors[0].config.instrument_ids: ETHUSDT-PERP.BINANCE is not among the run's instruments"),
])
def test_validation_names_the_key_and_the_fix(catalog, change, expected) -> None:
    with pytest.raises(UsageError) as e:
        resolve({**_base(catalog), **change}, "cfg.yaml")
    assert expected in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("cls", "values", "expected"), [
    (SignalStrategyConfig, {"bar_interval": None}, "would receive no prices"),
    (SignalStrategyConfig, {"equity_fraction": "0"}, "equity_fraction: 0 must be more than zero"),
    (SignalStrategyConfig, {"warmup_bars": -1}, "warmup_bars: -1 must be 0 or more"),
    (EmaCrossRsiConfig, {"trade_notional": "-2000"}, "trade_notional: -2000 must be more than zero"),
    (EmaCrossRsiConfig, {"fast_period": 60, "slow_period": 20}, "fast_period: 60 must be below slow_period (20)"),
    (EmaCrossRsiConfig, {"rsi_oversold": 0.8}, "rsi_oversold: 0.8 must be below rsi_overbought (0.7)"),
    (FundingOiConfig, {"exit_rate": "0.001"}, "exit_rate: 0.001 must be from 0 up to below entry_rate (0.0002)"),
    (FundingOiConfig, {"oi_lookback": 0}, "oi_lookback: 0 must be 1 or more"),
    (TakerImbalanceConfig, {"window_seconds": 30}, "window_seconds: 30 must be at least bucket_seconds (60)"),
    (TakerImbalanceConfig, {"entry_imbalance": 1.5}, "entry_imbalance: 1.5 must be above 0 and at most 1"),
    (OrderFlowFollowerConfig, {"min_delta": "-1"}, "min_delta: -1 must be 0 or more"),
])
def test_strategy_configs_validate_their_values(cls, values, expected) -> None:
    """``validate()`` checks values (a negative notional used to never trade, silently); the defaults pass; and
    building the strategy validates (so ``live`` and notebooks get the same line)."""
    bad = msgspec.convert({"instrument_id": "BTCUSDT-PERP.BINANCE", **values}, cls, dec_hook=msgspec_decoding_hook)
    with pytest.raises(BadValue) as e:
        bad.validate()
    assert expected in str(e.value)
    cls(instrument_id=InstrumentId.from_str("BTCUSDT-PERP.BINANCE")).validate()
    with pytest.raises(BadValue, match="trade_notional"):
        SignalStrategy(cls(instrument_id=InstrumentId.from_str("BTCUSDT-PERP.BINANCE"), trade_notional=Decimal(-1)))


def test_a_span_past_the_catalogs_data_is_a_warning_naming_what_it_holds(catalog) -> None:
    raw = {**_base(catalog), "data": {"bars": ["1m"], "funding": True}, "start": "2024-07-30", "end": "2024-08-06"}
    warnings = resolve(raw, "cfg.yaml").warnings
    assert warnings == tuple(
        f"cfg.yaml: the catalog holds {what} of BTCUSDT-PERP.BINANCE from {first} to 2024-08-04T00:00:00Z; the run's "
        "start 2024-07-30T00:00:00Z is 2.0 days before it and end 2024-08-06T00:00:00Z is 2.0 days past it "
        "(no data there: ingest it or move start/end)"
        for what, first in (("1m bars", "2024-08-01T00:01:00Z"), ("funding", "2024-08-01T00:00:00Z")))
    assert resolve({**raw, "start": "2024-08-01", "end": "2024-08-04"}, "cfg.yaml").warnings == ()


def test_start_and_end_read_unquoted_yaml_dates_and_epoch_ms(catalog) -> None:
    raw = yaml.safe_load("start: 2024-08-01 06:00:00\nend: 1722513600000\n")  # a datetime, an int
    resolved = resolve({**_base(catalog), **raw}, "cfg.yaml")
    assert (resolved.run_config.start, resolved.run_config.end) == ("2024-08-01T06:00:00+00:00",
                                                                    "2024-08-01T12:00:00+00:00")


def test_catalog_resolves_against_the_current_directory(catalog, tmp_path, monkeypatch) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "cat").symlink_to(catalog)
    monkeypatch.chdir(tmp_path / "work")
    resolved = resolve({**_base(catalog), "catalog": "cat"}, str(tmp_path / "configs" / "x.yaml"))
    assert resolved.catalog == str((tmp_path / "work" / "cat").resolve())


def test_console_shows_short_lines_and_nautilus_logs_to_the_run_folder(catalog, tmp_path) -> None:
    """No findfont warning, no Nautilus lines or ANSI colours on the console, floats rounded for people;
    Nautilus's log in <run>/nautilus.log; summary.json keeps full precision."""
    cfg = tmp_path / "quiet.yaml"
    cfg.write_text(yaml.safe_dump({**_base(catalog), "log_level": "INFO", "strategies": [
        {"class": EMA, "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "fast_period": 5, "slow_period": 20}}]}))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "framework.main", "backtest", str(cfg), "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console
    assert "findfont" not in console and "\x1b[" not in console and "BACKTESTER" not in console, console
    assert not re.search(r"\d\.\d{7,}", console), console  # no float printed to 16 digits
    assert len(console.splitlines()) < 20, console
    log = (out / "nautilus.log").read_text()
    assert "BACKTESTER-001" in log and "\x1b[" not in log
    summary = json.loads((out / "summary.json").read_text())
    total = summary["total_pnl"]
    assert total != round(total, 2)  # the JSON keeps every digit; the console shows it rounded
    shown = dict(line.split(None, 1) for line in proc.stdout.splitlines() if line.startswith("  "))
    assert float(shown["total_pnl"]) == round(total, 2)


def test_candle_markers_sit_at_fill_prices_with_a_legend() -> None:
    from matplotlib.collections import PathCollection

    from framework.backtest.charts import candle_figure
    from framework.backtest.reports import Fill

    index = pd.date_range("2024-08-01 00:01", periods=60, freq="1min", tz="UTC")
    close = 60_000 + np.arange(60) * 2.0
    ohlc = pd.DataFrame({"Open": close - 1, "High": close + 5, "Low": close - 5, "Close": close,
                         "Volume": 1.0}, index=index)
    at = [index[m].value - 30_000_000_000 for m in (10, 20, 30, 40)]  # mid-minute fills
    fills = [Fill(at[0], "X", 1.0, 60_019.5, 0.1), Fill(at[1], "X", -1.0, 60_040.25, 0.1),   # long, closed
             Fill(at[2], "X", -0.5, 60_058.0, 0.1), Fill(at[3], "X", 0.5, 60_079.75, 0.1)]  # short, closed
    fig, axes = candle_figure(ohlc, fills, "t")
    ys = sorted(float(y) for c in axes[0].collections if isinstance(c, PathCollection)
                for _, y in np.ma.filled(c.get_offsets(), np.nan) if np.isfinite(y))
    assert ys == sorted(f.price for f in fills)
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "buy (entry)", "buy (exit)", "sell (entry)", "sell (exit)"]
    lo, hi = axes[0].get_ylim()
    assert hi - lo < 200  # no marker 300 below the price stretching the axis
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("engine", ["process", pytest.param("ray", marks=pytest.mark.slow)])
def test_a_strategy_module_beside_the_yaml_imports_in_runs_and_sweeps(catalog, tmp_path, engine) -> None:
    """The YAML's folder is on the import path of the run and of every sweep worker (each a fresh process with
    its own nautilus.log), wherever the command is started from."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "h4_beside_strategy.py").write_text(
        "from strategies.examples.ema_cross import EmaCrossRsi\n\n\nclass Beside(EmaCrossRsi):\n    pass\n")
    raw = {**_base(catalog), "charts": False, "log_level": "INFO", "strategies": [
        {"class": "h4_beside_strategy:Beside", "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "slow_period": 30}}]}
    (mine / "one.yaml").write_text(yaml.safe_dump(raw))
    (mine / "many.yaml").write_text(yaml.safe_dump(
        {**raw, "sweep": {"grid": {"strategies.0.config.fast_period": [5, 10]}, "workers": 2}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("one", "many"):
        proc = subprocess.run([sys.executable, "-m", "framework.main", "backtest", str(mine / f"{name}.yaml"),
                               "--out", f"runs/{name}", "--engine", engine], cwd=elsewhere, capture_output=True,
                              text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (elsewhere / "runs/one/nautilus.log").is_file()
    for i in (0, 1):
        assert "Beside" in (elsewhere / f"runs/many/runs/{i}/nautilus.log").read_text()


def test_the_strategies_readme_example_runs(catalog, tmp_path, monkeypatch) -> None:
    """strategies/README.md's module and YAML, as written, beside each other (only catalog and span changed to
    the synthetic market's): the module imports from the YAML's folder and the breakout trades."""
    text = (ROOT / "strategies" / "README.md").read_text()
    python, = re.findall(r"```python\n(.*?)```", text, re.S)
    config, = re.findall(r"```yaml\n(.*?)```", text, re.S)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "my_breakout.py").write_text(python)
    raw = yaml.safe_load(config)
    raw.update(catalog=str(catalog), charts=False, **SYNTHETIC_SPAN)
    (folder / "my_breakout.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.syspath_prepend(str(tmp_path))  # undone after the test (make_importable's entry too)
    monkeypatch.chdir(tmp_path)
    assert main(["backtest", str(folder / "my_breakout.yaml"), "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["trades"] > 0
    assert (tmp_path / "run" / "data").is_dir()  # the recorder actor ran too


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
