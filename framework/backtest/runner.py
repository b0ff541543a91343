"""Run one resolved backtest through Nautilus's ``BacktestNode`` and write its run folder.

    <out>/config.yaml         the run as given (after sweep overrides)
    <out>/run_config.json     the resolved Nautilus BacktestRunConfig
    <out>/{fills,orders,positions,account,funding}.{csv,json}
    <out>/equity.parquet      mark-to-market equity, drawdown, gross exposure, cumulative funding (per bar)
    <out>/summary.json        statistics (see framework.backtest.reports.summarize)
    <out>/candles_<instrument>.png, equity.png
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Currency

from framework.backtest import reports
from framework.backtest.config import ResolvedRun
from framework.backtest.funding import FUNDING_TOPIC
from framework.backtest.funding import FundingPayment
from framework.catalog.arrow import decoded_frame
from framework.catalog.store import CatalogStore
from framework.catalog.store import Series

log = logging.getLogger("framework.backtest")
OHLCV = ["open", "high", "low", "close", "volume"]


def run(resolved: ResolvedRun, out: Path) -> dict[str, Any]:
    """Run ``resolved``, write ``out`` (see the module docstring) and return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(resolved.raw, sort_keys=False))
    (out / "run_config.json").write_text(json.dumps(resolved.run_config_dict, indent=1, default=str))
    cfg = resolved.run_config
    node = BacktestNode([cfg])
    try:
        node.build()
        engine = node.get_engine(cfg.id)
        payments: list[FundingPayment] = []
        engine.kernel.msgbus.subscribe(FUNDING_TOPIC, payments.append)
        t0 = time.perf_counter()
        [result] = node.run()
        elapsed = time.perf_counter() - t0
        summary = _write(resolved, engine, payments, out)
        summary.update(events=result.total_events, iterations=result.iterations, elapsed_s=round(elapsed, 3),
                       events_per_s=round(result.iterations / elapsed) if elapsed else None)
    finally:
        node.dispose()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _venue(resolved: ResolvedRun) -> Venue:
    return Venue(resolved.run_config.venues[0].name)


def _start_balance(resolved: ResolvedRun) -> tuple[float, str]:
    first = resolved.run_config.venues[0].starting_balances[0]
    amount, currency = str(first).split()
    return float(amount), currency


def _closes(resolved: ResolvedRun, traded: set[str]) -> tuple[dict[str, pd.Series], dict[str, pd.DataFrame]]:
    """Close prices (for equity) and OHLCV frames (for charts, else empty) of the first bar type of each traded
    instrument, read as columns (no Bar objects)."""
    fields = OHLCV if resolved.spec.charts else ["close"]
    store = CatalogStore(resolved.catalog, recover=False)
    start, end = (pd.Timestamp(t).value for t in (resolved.run_config.start, resolved.run_config.end))
    closes, ohlc = {}, {}
    for iid in sorted(traded):
        bar_type = next((b for b in resolved.bar_types if b.startswith(f"{iid}-")), None)
        if bar_type is None:
            continue
        table = store.read_table(Series.bars(bar_type), start, end, columns=[*fields, "ts_event"])
        if table.num_rows == 0:
            continue
        frame = decoded_frame(table).set_index("ts_event")[fields].rename(columns=str.capitalize)
        closes[iid] = frame["Close"]
        if resolved.spec.charts:
            ohlc[iid] = frame
    return closes, ohlc


def _write(resolved: ResolvedRun, engine, payments: list[FundingPayment], out: Path) -> dict[str, Any]:  # noqa: ANN001
    venue = _venue(resolved)
    frames = reports.write_reports(engine.trader, venue, out)
    reports.write_funding(payments, out)
    fills = reports.fills_of(engine.cache)
    start_balance, currency = _start_balance(resolved)
    traded = {f.instrument_id for f in fills}
    closes, ohlc = _closes(resolved, traded | set(resolved.instrument_ids))
    start, end = pd.Timestamp(resolved.run_config.start), pd.Timestamp(resolved.run_config.end)
    curve = reports.equity_curve(start_balance, fills, closes, payments, start, end)
    # one row per bar: parquet (CSV formatting would cost seconds), no dictionary pages (floats never repeat)
    curve.to_parquet(out / "equity.parquet", use_dictionary=False)
    account = engine.cache.account_for_venue(venue)
    balance = account.balance_total(Currency.from_str(currency)) if account else None
    summary = reports.summarize(curve, start_balance, fills, payments, frames["positions"],
                                len(engine.cache.orders()), balance.as_double() if balance else None)
    summary = {"name": resolved.name, "currency": currency, **summary}
    if resolved.spec.charts:
        from framework.backtest import charts

        for iid, frame in ohlc.items():
            own = [f for f in fills if f.instrument_id == iid]
            charts.candles(frame, own, f"{resolved.name}: {iid}", out / f"candles_{iid}.png")
        if len(curve) > 1:
            charts.equity(curve, f"{resolved.name}: equity and drawdown ({currency})", out / "equity.png")
    return summary
