"""What a finished run leaves behind: Nautilus's reports as CSV + JSON, the funding ledger, a mark-to-market
equity curve and the summary statistics.

Equity is computed after the run from the fills, the funding ledger and the bar closes (nothing is sampled
while the engine runs, so reports cost the backtest nothing): for linear contracts and spot pairs in a margin
account, ``equity(t) = start + sum over fills (-signed qty x price - fee) + sum of positions x close + funding``.
Statistics use returns of that curve resampled hourly (daily for runs of 30 days or more), annualised over a
365-day crypto year.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.enums import OrderSide

from framework.backtest.funding import FundingPayment

REPORTS = ("fills", "orders", "positions", "account")


@dataclass
class Fill:
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
    records = json.loads(df.reset_index().to_json(orient="records", date_format="iso", default_handler=str))
    (out / f"{name}.json").write_text(json.dumps(records, indent=1))


def write_reports(trader, venue, out: Path) -> dict[str, pd.DataFrame]:  # noqa: ANN001 - Nautilus Trader, Venue
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
    columns = list(FundingPayment.__dataclass_fields__)
    df = pd.DataFrame([p.row() for p in payments], columns=columns)
    df.insert(0, "time", pd.to_datetime(df["ts"].astype("int64"), utc=True))
    write_frame(df.set_index("time"), out, "funding")
    return df


def equity_curve(start_balance: float, fills: list[Fill], closes: dict[str, pd.Series],
                 payments: list[FundingPayment], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Mark-to-market equity on the union of bar close times (see the module docstring).

    ``closes``: instrument id -> close prices indexed by UTC time. Columns: equity, drawdown, gross exposure.
    """
    times = sorted({t for s in closes.values() for t in s.index} | {pd.Timestamp(f.ts, tz="UTC") for f in fills}
                   | {start})
    index = pd.DatetimeIndex(times)
    index = index[(index >= start) & (index <= end)]
    cash = pd.Series(0.0, index=index)
    exposure = pd.Series(0.0, index=index)
    value = pd.Series(0.0, index=index)
    for iid in sorted({f.instrument_id for f in fills}):
        own = [f for f in fills if f.instrument_id == iid]
        ts = pd.DatetimeIndex([pd.Timestamp(f.ts, tz="UTC") for f in own])
        flows = pd.Series([-f.signed_qty * f.price - f.fee for f in own], index=ts).groupby(level=0).sum()
        qty = pd.Series([f.signed_qty for f in own], index=ts).groupby(level=0).sum().cumsum()
        last_px = pd.Series([f.price for f in own], index=ts).groupby(level=0).last()
        px = closes.get(iid, last_px).reindex(index.union(last_px.index)).combine_first(last_px).ffill().reindex(index)
        pos = qty.reindex(index.union(qty.index)).ffill().reindex(index).fillna(0.0)
        cash += flows.reindex(index.union(flows.index)).fillna(0.0).cumsum().reindex(index).fillna(0.0)
        value += (pos * px).fillna(0.0)
        exposure += (pos * px).abs().fillna(0.0)
    funding = pd.Series(0.0, index=index)
    if payments:
        paid = pd.Series([float(p.amount) for p in payments],
                         index=pd.DatetimeIndex([pd.Timestamp(p.ts, tz="UTC") for p in payments]))
        paid = paid.groupby(level=0).sum()
        funding = paid.reindex(index.union(paid.index)).fillna(0.0).cumsum().reindex(index).ffill().fillna(0.0)
    equity = start_balance + cash + value + funding
    drawdown = equity / equity.cummax() - 1.0
    return pd.DataFrame({"equity": equity, "drawdown": drawdown, "gross_exposure": exposure, "funding": funding})


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 or not math.isfinite(den) or not math.isfinite(num) else num / den


def summarize(curve: pd.DataFrame, start_balance: float, fills: list[Fill], payments: list[FundingPayment],
              positions: pd.DataFrame, orders: int, final_balance: float | None) -> dict[str, Any]:
    """Summary statistics of a run (PnL split into trading, fees and funding; risk; activity)."""
    equity = curve["equity"]
    span = equity.index[-1] - equity.index[0] if len(equity) else pd.Timedelta(0)
    period = "1D" if span >= pd.Timedelta(days=30) else "1h"
    per_year = 365 if period == "1D" else 365 * 24
    returns = equity.resample(period).last().ffill().pct_change().dropna()
    mean, std = returns.mean(), returns.std(ddof=1)
    downside = returns[returns < 0]
    downside_dev = math.sqrt((downside**2).sum() / len(returns)) if len(returns) else 0.0
    total = float(equity.iloc[-1] - start_balance) if len(equity) else 0.0
    fees = sum(f.fee for f in fills)
    funding = float(sum((p.amount for p in payments), Decimal(0)))
    closed = positions[positions["side"] == "FLAT"] if "side" in positions else positions
    pnl = closed["realized_pnl"].map(lambda m: float(str(m).split()[0])) if len(closed) else pd.Series([], dtype=float)
    notional = equity.replace(0, np.nan)
    sharpe, sortino = _ratio(mean, std), _ratio(mean, downside_dev)
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
        "sharpe": None if sharpe is None else sharpe * math.sqrt(per_year),
        "sortino": None if sortino is None else sortino * math.sqrt(per_year),
        "returns_period": period,
        "max_drawdown": float(curve["drawdown"].min()) if len(curve) else 0.0,
        "win_rate": float((pnl > 0).mean()) if len(pnl) else None,
        "trades": int(len(pnl)),
        "fills": len(fills),
        "orders": orders,
        "exposure_time": float((curve["gross_exposure"] > 0).mean()) if len(curve) else 0.0,
        "avg_gross_exposure": float((curve["gross_exposure"] / notional).mean()) if len(curve) else 0.0,
    }
