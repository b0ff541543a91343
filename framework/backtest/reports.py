"""What a finished run leaves behind: Nautilus's reports as CSV + JSON, the funding ledger, a mark-to-market
equity curve and the summary statistics.

Equity is computed after the run from the fills, the funding ledger and the bar closes (nothing is sampled
while the engine runs, so reports cost the backtest nothing): for linear contracts and spot pairs in a margin
account, ``equity(t) = start + sum over fills (-signed qty x price - fee) + sum of positions x close + funding``.
Sharpe and Sortino use daily returns: equity sampled every 24 h from the start (each return a full day, no
partial first or last day), annualised by sqrt(365) (crypto trades every day). Below ``MIN_RATIO_DAYS`` days
there are too few returns to mean anything, so they are ``None`` and ``ratio_basis`` says "n/a (span < 2 days)";
intraday returns annualised would give the extreme figures short runs are prone to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderFilled

from framework.backtest.funding import FundingPayment
from framework.timeunits import NS_PER_DAY

MIN_RATIO_DAYS = 2
DAYS_PER_YEAR = 365


@dataclass
class Fill:
    """One fill, as floats, for the equity curve and candle chart: signed quantity (buy > 0), price, fee."""

    ts: int
    instrument_id: str
    signed_qty: float
    price: float
    fee: float


def fills_of(cache) -> list[Fill]:  # noqa: ANN001 - Nautilus Cache
    """Every fill of the run, in time order."""
    out = []
    for order in cache.orders():
        for event in order.events:
            if isinstance(event, OrderFilled):
                sign = 1 if event.order_side == OrderSide.BUY else -1
                out.append(Fill(event.ts_event, event.instrument_id.value, sign * event.last_qty.as_double(),
                                event.last_px.as_double(), event.commission.as_double()))
    return sorted(out, key=lambda f: f.ts)


def write_frame(df: pd.DataFrame, out: Path, name: str) -> None:
    """``<name>.csv`` and ``<name>.json`` (records, ISO times)."""
    df.to_csv(out / f"{name}.csv")
    df.reset_index().to_json(out / f"{name}.json", orient="records", date_format="iso", default_handler=str,
                             indent=1)


def write_reports(trader, venue, out: Path) -> dict[str, pd.DataFrame]:  # noqa: ANN001 - Nautilus Trader, Venue
    """Nautilus's fills, orders, positions and account reports as CSV + JSON in ``out``; returns them."""
    frames = {
        "fills": trader.generate_order_fills_report(),
        "orders": trader.generate_orders_report(),
        "positions": trader.generate_positions_report(),
        "account": trader.generate_account_report(venue),
    }
    for name, df in frames.items():
        write_frame(df, out, name)
    return frames


def write_funding(payments: list[FundingPayment], out: Path) -> pd.DataFrame:
    """The funding ledger (one row per payment, with a UTC ``time``) as ``funding.csv`` + ``.json``; returns
    it."""
    columns = list(FundingPayment.__dataclass_fields__)
    df = pd.DataFrame([p.row() for p in payments], columns=columns)
    df.insert(0, "time", pd.to_datetime(df["ts"].astype("int64"), unit="ns", utc=True))
    write_frame(df.set_index("time"), out, "funding")
    return df


def _at(ts: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The last of ``values`` (stamped ``ts``, ascending) at or before each grid time (NaN before the first)."""
    j = np.searchsorted(ts, grid, side="right") - 1
    return np.where(j >= 0, values[np.maximum(j, 0)], np.nan)


def _sum_on(grid: np.ndarray, ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` over the grid (each value counted from the first grid time >= its ts)."""
    idx = np.minimum(np.searchsorted(grid, ts, side="left"), len(grid) - 1)
    return np.cumsum(np.bincount(idx, weights=values, minlength=len(grid)))


def equity_curve(start_balance: float, fills: list[Fill], closes: dict[str, pd.Series],
                 payments: list[FundingPayment], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Mark-to-market equity on the union of bar close times and fill times (see the module docstring).

    ``closes``: instrument id -> close prices indexed by UTC time. Columns: equity, drawdown, gross exposure,
    cumulative funding.
    """
    fill_ts = np.array([f.ts for f in fills], dtype=np.int64)
    parts = [s.index.asi8 for s in closes.values()] + [fill_ts, np.array([start.value], dtype=np.int64)]
    grid = np.unique(np.concatenate(parts))
    grid = grid[(grid >= start.value) & (grid <= end.value)]
    cash = np.zeros(len(grid))
    value = np.zeros(len(grid))
    exposure = np.zeros(len(grid))
    for iid in sorted({f.instrument_id for f in fills}):
        own = [f for f in fills if f.instrument_id == iid]
        ts = np.array([f.ts for f in own], dtype=np.int64)
        qty = np.array([f.signed_qty for f in own])
        px = np.array([f.price for f in own])
        cash += _sum_on(grid, ts, -qty * px - np.array([f.fee for f in own]))
        position = _sum_on(grid, ts, qty)
        bars = closes.get(iid)
        # marks: bar closes and fill prices, a fill after a bar at the same instant
        mark_ts = np.concatenate([bars.index.asi8 if bars is not None else np.array([], np.int64), ts])
        mark_px = np.concatenate([bars.to_numpy(dtype=float) if bars is not None else np.array([]), px])
        order = np.argsort(mark_ts, kind="stable")
        mark = _at(mark_ts[order], mark_px[order], grid)
        held = np.where(position != 0, position * np.nan_to_num(mark), 0.0)
        value += held
        exposure += np.abs(held)
    funding = np.zeros(len(grid))
    if payments:
        pay_ts = np.array([p.ts for p in payments], dtype=np.int64)
        funding = _sum_on(grid, pay_ts, np.array([float(p.amount) for p in payments]))
    equity = start_balance + cash + value + funding
    drawdown = equity / np.maximum.accumulate(equity) - 1.0
    index = pd.DatetimeIndex(pd.to_datetime(grid, unit="ns", utc=True), name="time")  # unit: no object path
    return pd.DataFrame({"equity": equity, "drawdown": drawdown, "gross_exposure": exposure, "funding": funding},
                        index=index)


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 or not math.isfinite(den) or not math.isfinite(num) else num / den


def daily_ratios(curve: pd.DataFrame) -> tuple[float | None, float | None, str]:
    """Annualised Sharpe and Sortino of daily returns, and what they rest on (see the module docstring)."""
    if len(curve) == 0:
        return None, None, f"n/a (span < {MIN_RATIO_DAYS} days)"
    ts = curve.index.asi8
    days = (ts[-1] - ts[0]) // NS_PER_DAY
    if days < MIN_RATIO_DAYS:
        return None, None, f"n/a (span < {MIN_RATIO_DAYS} days)"
    daily = _at(ts, curve["equity"].to_numpy(), ts[0] + np.arange(days + 1, dtype=np.int64) * NS_PER_DAY)
    returns = np.diff(daily) / daily[:-1]
    mean, std = returns.mean(), returns.std(ddof=1)
    downside_dev = math.sqrt(float((np.minimum(returns, 0.0) ** 2).mean()))
    scale = math.sqrt(DAYS_PER_YEAR)
    sharpe, sortino = _ratio(mean, std), _ratio(mean, downside_dev)
    return (None if sharpe is None else sharpe * scale, None if sortino is None else sortino * scale,
            f"{len(returns)} daily returns, annualised x sqrt({DAYS_PER_YEAR})")


def summarize(curve: pd.DataFrame, start_balance: float, fills: list[Fill], payments: list[FundingPayment],
              positions: pd.DataFrame, orders: int, final_balance: float | None) -> dict[str, Any]:
    """Summary statistics of a run (PnL split into trading, fees and funding; risk; activity)."""
    equity = curve["equity"]
    sharpe, sortino, basis = daily_ratios(curve)
    total = float(equity.iloc[-1] - start_balance) if len(equity) else 0.0
    fees = sum(f.fee for f in fills)
    funding = float(sum((p.amount for p in payments), Decimal(0)))
    closed = positions[positions["side"] == "FLAT"] if "side" in positions else positions
    pnl = closed["realized_pnl"].map(lambda m: float(str(m).split()[0])) if len(closed) else pd.Series([], dtype=float)
    notional = equity.replace(0, np.nan)
    return {
        "start": equity.index[0].isoformat() if len(equity) else None,
        "end": equity.index[-1].isoformat() if len(equity) else None,
        "starting_balance": start_balance,
        "final_equity": float(equity.iloc[-1]) if len(equity) else start_balance,
        "final_balance": final_balance,
        "total_pnl": total,
        "total_return": total / start_balance if start_balance else None,
        "trading_pnl": total - funding,
        "gross_trading_pnl": total - funding + fees,
        "fees": fees,
        "funding_received": funding,
        "funding_paid": 0.0 - funding,
        "funding_payments": len(payments),
        "sharpe": sharpe,
        "sortino": sortino,
        "ratio_basis": basis,
        "max_drawdown": float(curve["drawdown"].min()) if len(curve) else 0.0,
        "win_rate": float((pnl > 0).mean()) if len(pnl) else None,
        "trades": int(len(pnl)),
        "fills": len(fills),
        "orders": orders,
        "exposure_time": float((curve["gross_exposure"] > 0).mean()) if len(curve) else 0.0,
        "avg_gross_exposure": float((curve["gross_exposure"] / notional).mean()) if len(curve) else 0.0,
    }
