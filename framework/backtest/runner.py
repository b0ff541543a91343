"""Run one resolved backtest through Nautilus's ``BacktestNode`` and write its run folder.

    <out>/config.yaml         the run as given (after sweep overrides)
    <out>/run_config.json     the resolved Nautilus BacktestRunConfig
    <out>/{fills,orders,positions,account,funding}.{csv,json}
    <out>/equity.parquet      mark-to-market equity, drawdown, gross exposure, cumulative funding (per bar)
    <out>/summary.json        statistics (see framework.backtest.reports.summarize)
    <out>/candles_<instrument>.png, equity.png
    <out>/nautilus.log        Nautilus's own log at the YAML's ``log_level`` (the console gets none of it), unless
                              the YAML sets ``engine.logging`` itself; Nautilus sets its logger up once per
                              process, so in a process that already ran an engine it keeps that first setting
    <out>/stderr.log          whatever the engine wrote to stderr meanwhile (only when it wrote something)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
import yaml
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.config import BacktestRunConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.core import nautilus_pyo3
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Currency

from framework.backtest import reports
from framework.backtest.config import ResolvedRun
from framework.backtest.funding import FUNDING_TOPIC
from framework.backtest.funding import FundingPayment
from framework.catalog.series import Series
from framework.catalog.store import CatalogStore
from framework.data.arrow_tables import decoded_frame
from framework.errors import UsageError
from framework.output import require_writable_folder

log = logging.getLogger("framework.backtest")
OHLCV = ["open", "high", "low", "close", "volume"]


def run(resolved: ResolvedRun, out: Path) -> dict[str, Any]:
    """Run ``resolved``, write ``out`` (see the module docstring) and return the summary."""
    require_writable_folder(out, "run folder", option="--out", error=UsageError)
    (out / "config.yaml").write_text(yaml.safe_dump(resolved.raw, sort_keys=False))
    (out / "run_config.json").write_text(json.dumps(resolved.run_config_dict, indent=1, default=str))
    cfg = _log_to_file(resolved, out)
    quiet = "logging" not in resolved.spec.engine  # our log file: keep the engine off the console altogether
    with _stderr_into(out / "stderr.log") if quiet else contextlib.nullcontext():
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
            _drop_empty_log(out / "nautilus.log")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _log_to_file(resolved: ResolvedRun, out: Path) -> BacktestRunConfig:
    """The run config with Nautilus's log in ``<out>/nautilus.log`` and none on the console (no ANSI colours
    in a file); a YAML that sets ``engine.logging`` keeps its own (colours only on a terminal unless it says)."""
    cfg = resolved.run_config
    own = resolved.spec.engine.get("logging")
    if own is not None:  # the user's choice; colours only where a terminal shows them
        if isinstance(own, dict) and "log_colors" not in own and cfg.engine.logging is not None:
            logging_config = msgspec.structs.replace(cfg.engine.logging, log_colors=sys.stdout.isatty())
            cfg = msgspec.structs.replace(cfg, engine=msgspec.structs.replace(cfg.engine, logging=logging_config))
        return cfg
    logging_config = LoggingConfig(log_level="OFF", log_level_file=resolved.spec.log_level.upper(),
                                   log_directory=str(out.resolve()), log_file_name="nautilus", log_colors=False,
                                   clear_log_file=True)
    return msgspec.structs.replace(cfg, engine=msgspec.structs.replace(cfg.engine, logging=logging_config))


@contextlib.contextmanager
def _stderr_into(path: Path) -> Iterator[None]:
    """Send file descriptor 2 to ``path`` while the engine runs (written only when something came).

    Nautilus's logger writes ERROR lines (a failing strategy's traceback included) to stderr whatever the
    console level; they are in ``nautilus.log`` too, and the command prints its own one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            nautilus_pyo3.logger_flush()
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            data = captured.read()
            if data:
                path.write_bytes(data)


def _drop_empty_log(path: Path) -> None:
    """Remove a ``nautilus.log`` the run wrote nothing into (a quiet run at WARNING): no empty files."""
    nautilus_pyo3.logger_flush()
    if path.is_file() and path.stat().st_size == 0:
        path.unlink()


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
