"""REST vs stream reconciliation: bars rebuilt from aggTrades against Binance's klines, exactly.

For every bar of the span fully covered by the trades: open/high/low/close/volume of the bar built from the
aggTrades against the kline's, and the taker-buy quote volume ``sum(price * qty)`` of the buyer-taker aggTrades
against the kline's ``Q``. Every comparison is on ``decimal128`` values (never floats): a clean span reports
100 % and no difference at all; anything else is a finding.

Outputs: a per-bar frame (for the table and the chart of differences) and a JSON-ready summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.patches import Patch

from framework.analysis.charts import Chart
from framework.analysis.sources import KLINE_FIELDS
from framework.analysis.sources import ExactKlines
from framework.analysis.sources import ExactTrades
from framework.errors import FrameworkError
from framework.timeunits import DAY_MS

COMPARED = (*KLINE_FIELDS, "taker_buy_quote")
MISSING_COLOR = "#ffb300"  # amber: apart from the red of "differs" and the green of "match"


def stream_bars(trades: ExactTrades, interval_ms: int) -> pa.Table:
    """OHLCV, taker-buy quote volume, trade count and aggTrade id range per bar (``open_ms``), exact."""
    t = trades.table
    quote = pc.multiply(t["price"], t["qty"])
    taker_quote = pc.if_else(t["buyer_taker"], quote, pa.scalar(0, quote.type))
    bucket = pc.multiply(pc.divide(t["time_ms"], interval_ms), interval_ms)
    row = pa.array(np.arange(t.num_rows, dtype=np.int64))
    work = pa.table({"open_ms": bucket, "price": t["price"], "qty": t["qty"], "taker_quote": taker_quote,
                     "trade_id": t["trade_id"], "row": row})
    out = work.group_by("open_ms").aggregate([
        ("row", "min"), ("price", "max"), ("price", "min"), ("row", "max"), ("qty", "sum"),
        ("taker_quote", "sum"), ("trade_id", "count"), ("trade_id", "min"), ("trade_id", "max"),
    ])
    # trades are in time order: the first and last row of a bar are its open and close
    return pa.table({
        "open_ms": out["open_ms"], "open": t["price"].take(out["row_min"]), "high": out["price_max"],
        "low": out["price_min"], "close": t["price"].take(out["row_max"]), "volume": out["qty_sum"],
        "taker_buy_quote": out["taker_quote_sum"], "aggtrades": out["trade_id_count"],
        "first_id": out["trade_id_min"], "last_id": out["trade_id_max"],
    }).sort_by("open_ms")


@dataclass
class Reconciliation:
    """The outcome: ``bars`` one row per compared bar, ``summary`` JSON-ready."""

    bars: pd.DataFrame
    summary: dict[str, Any]

    @property
    def clean(self) -> bool:
        """Every compared bar matches and no bar or aggTrade id is missing (the command then exits 0)."""
        return self.summary["match_rate"] == 1.0 and not self.summary["missing_in_stream"] \
            and not self.summary["missing_in_rest"] and not self.summary["aggtrade_id_gaps"]


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat().replace("+00:00", "Z")


def _span(trades: ExactTrades, interval_ms: int, start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
    """First and last bar open time whose whole period the trades cover."""
    covered = trades.span_ms()
    if covered is None:
        raise FrameworkError(f"{trades.source}: no trades to rebuild bars from; pick a span with trades")
    lo, hi = covered
    if trades.covered is None:
        # trades listed from the first to the last seen: the edge bars may lack trades before / after them
        lo, hi = lo + 1, hi - 1
    if start_ms is not None:
        lo = max(lo, start_ms)
    if end_ms is not None:
        hi = min(hi, end_ms)
    first = -(-lo // interval_ms) * interval_ms
    last = (hi + 1) // interval_ms * interval_ms - interval_ms
    if first > last:
        raise FrameworkError(f"{trades.source}: the trades cover {_iso(covered[0])} .. {_iso(covered[1])}, "
                             f"not one whole bar of {interval_ms // 1000}s in the span; widen the span")
    return first, last


def _bar_opens(trades: ExactTrades, step: int, first: int, last: int) -> np.ndarray:
    """Open times of the bars in [first, last] whose whole period lies in a span the trades cover: a catalog
    holding two recordings far apart compares the bars of each, not the years between them."""
    if trades.spans is None:
        return np.arange(first, last + step, step, dtype=np.int64)
    parts = [np.arange(max(first, -(-lo // step) * step), min(last, (hi + 1) // step * step - step) + step, step,
                       dtype=np.int64) for lo, hi in trades.spans]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)


def _id_gaps(trades: ExactTrades, times: np.ndarray, step: int) -> list[tuple[int, int]]:
    """aggTrade id holes inside the compared bars (each run of consecutive bars on its own)."""
    gaps: list[tuple[int, int]] = []
    if not len(times):
        return gaps
    breaks = np.flatnonzero(np.diff(times) > step) + 1
    t = trades.table
    for run in np.split(times, breaks):
        mask = pc.and_(pc.greater_equal(t["time_ms"], int(run[0])), pc.less(t["time_ms"], int(run[-1]) + step))
        ids = np.sort(t.filter(mask)["trade_id"].to_numpy())
        steps = np.flatnonzero(np.diff(ids) > 1)
        gaps += [(int(ids[i] + 1), int(ids[i + 1] - 1)) for i in steps]
    return gaps


def reconcile(trades: ExactTrades, klines: ExactKlines, symbol: str, market: str,
              start_ms: int | None = None, end_ms: int | None = None) -> Reconciliation:
    """Compare the bars rebuilt from ``trades`` with ``klines`` over the span both cover."""
    step = klines.interval_ms
    first, last = _span(trades, step, start_ms, end_ms)
    opens = _bar_opens(trades, step, first, last)
    wanted = pa.array(opens, pa.int64())
    built = stream_bars(trades, step)
    built = built.filter(pc.is_in(built["open_ms"], value_set=wanted))
    rest = klines.table.filter(pc.is_in(klines.table["open_ms"], value_set=wanted))
    s = built.to_pandas().set_index("open_ms")
    r = rest.to_pandas().set_index("open_ms")
    frame = pd.DataFrame(index=pd.Index(opens, name="open_ms"))
    frame["in_rest"] = frame.index.isin(r.index)
    frame["in_stream"] = frame.index.isin(s.index)
    for name in COMPARED:
        frame[f"rest_{name}"] = r[name].reindex(frame.index)
        frame[f"stream_{name}"] = s[name].reindex(frame.index)
    frame["aggtrades"] = s["aggtrades"].reindex(frame.index).fillna(0).astype(int)
    in_rest, in_stream = frame["in_rest"].to_numpy(), frame["in_stream"].to_numpy()
    both = in_rest & in_stream
    for name in COMPARED:
        frame[f"diff_{name}"] = [a - b if ok and _known(a) and _known(b) else None
                                 for a, b, ok in zip(frame[f"stream_{name}"], frame[f"rest_{name}"], both)]
    # a kline without trades (volume 0) has no stream bar: it matches an empty period
    empty = in_rest & ~in_stream & np.array([_known(v) and v == 0 for v in frame["rest_volume"]], dtype=bool)
    q_known = both & np.array([_known(v) for v in frame["rest_taker_buy_quote"]], dtype=bool)
    equal = {n: np.array([d is not None and d == 0 for d in frame[f"diff_{n}"]], dtype=bool) for n in COMPARED}
    ohlcv_equal = np.logical_and.reduce([equal[n] for n in KLINE_FIELDS])
    q_equal = equal["taker_buy_quote"]
    frame["match"] = (both & ohlcv_equal & (q_equal | ~q_known)) | empty
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index, unit="ms", utc=True), name="time")
    times = frame.index

    compared = int((in_rest | in_stream).sum())
    matched = int(frame["match"].sum())
    max_diff = {}
    for name in COMPARED:
        diffs = [abs(d) for d in frame[f"diff_{name}"] if d is not None]
        max_diff[name] = str(max(diffs)) if diffs else None
    q_bad = times[q_known & ~q_equal]
    gaps = _id_gaps(trades, opens, step)
    summary = {
        "symbol": symbol, "market": market, "interval_ms": step,
        "span": {"first_bar": _iso(first), "last_bar": _iso(last)},
        "stream_source": trades.source, "rest_source": klines.source,
        "bars": len(frame), "bars_compared": compared, "bars_matched": matched,
        "match_rate": round(matched / compared, 6) if compared else 0.0,
        "max_abs_diff": max_diff,
        "missing_in_stream": [_iso_ts(t) for t in times[in_rest & ~in_stream & ~empty]],
        "missing_in_rest": [_iso_ts(t) for t in times[~in_rest & in_stream]],
        "mismatched_bars": [_iso_ts(t) for t in times[both & ~frame["match"].to_numpy()]],
        "taker_buy_quote_check": {
            "bars_checked": int(q_known.sum()), "bars_equal": int((q_known & q_equal).sum()),
            "exact": bool(q_known.any() and (q_equal | ~q_known).all()),
            "mismatches": [{"bar": _iso_ts(t), "kline_Q": str(frame.at[t, "rest_taker_buy_quote"]),
                            "aggtrades_sum": str(frame.at[t, "stream_taker_buy_quote"])} for t in q_bad],
        },
        "aggtrade_id_gaps": [list(g) for g in gaps],
    }
    return Reconciliation(frame, summary)


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _iso_ts(ts: pd.Timestamp) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def table_text(rec: Reconciliation, only_differences: bool = True, limit: int = 50) -> str:
    """The per-bar table as text (by default only bars that differ or are missing) and a summary line."""
    f = rec.bars
    rows = f if not only_differences else f[~f["match"]]
    head = f"{'bar (UTC)':<22}{'status':<16}" + "".join(f"{'Δ' + n:>18}" for n in COMPARED)
    lines = [head, "-" * len(head)]
    for ts, row in rows.head(limit).iterrows():
        status = "ok" if row["match"] else ("missing stream" if not row["in_stream"] else
                                            "missing rest" if not row["in_rest"] else "DIFFERS")
        cells = "".join(f"{'' if row[f'diff_{n}'] is None else str(row[f'diff_{n}']):>18}" for n in COMPARED)
        lines.append(f"{ts.strftime('%Y-%m-%d %H:%M:%S'):<22}{status:<16}{cells}")
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more (see the JSON summary)")
    s = rec.summary
    q = s["taker_buy_quote_check"]
    lines.append(f"{s['symbol']} {s['market']}: {s['bars_matched']}/{s['bars_compared']} bars match "
                 f"({s['match_rate']:.2%}), {len(s['missing_in_stream'])} missing in stream, "
                 f"{len(s['missing_in_rest'])} missing in REST; taker-buy quote == Q on "
                 f"{q['bars_equal']}/{q['bars_checked']} bars; {len(s['aggtrade_id_gaps'])} aggTrade id gaps")
    return "\n".join(lines)


def difference_chart(rec: Reconciliation) -> Chart:
    """Stream minus REST per bar: prices, volume, taker-buy quote volume, and which bars match or are missing."""
    from framework.analysis.charts import DOWN
    from framework.analysis.charts import UP
    from framework.analysis.charts import figure
    from framework.analysis.charts import time_axis

    s = rec.summary
    chart = figure("reconcile", f"{s['symbol']} {s['market']}: bars from aggTrades - REST klines "
                                f"({s['bars_matched']}/{s['bars_compared']} match, {s['match_rate']:.2%})",
                   {"price_diff": 1.2, "volume_diff": 1.0, "taker_buy_quote_diff": 1.0, "status": 0.6})
    f = rec.bars
    width = s["interval_ms"] / DAY_MS * 0.8

    def floats(name: str) -> pd.Series:
        return pd.Series([np.nan if d is None else float(d) for d in f[f"diff_{name}"]], index=f.index)

    ax = chart.axes["price_diff"]
    for name in ("open", "high", "low", "close"):
        ax.plot(f.index, floats(name), marker=".", linewidth=0.8, label=name)
    ax.legend(loc="upper left", fontsize=7)
    for panel, name in (("volume_diff", "volume"), ("taker_buy_quote_diff", "taker_buy_quote")):
        diff = floats(name)
        chart.axes[panel].bar(f.index, diff.fillna(0), width=width, color=np.where(diff.fillna(0) == 0, UP, DOWN))
    for ax in chart.axes.values():
        ax.axhline(0, color="grey", linewidth=0.6)
    status = chart.axes["status"]
    missing = ~(f["in_rest"] & f["in_stream"]) & ~f["match"]
    handles = []
    for mask, color, label in ((f["match"], UP, "match"), (~f["match"] & ~missing, DOWN, "differs"),
                               (missing, MISSING_COLOR, "missing")):
        status.bar(f.index[mask], np.ones(int(mask.sum())), width=width, color=color)
        # the legend's own patches: a status no bar has would otherwise show in matplotlib's default blue
        handles.append(Patch(color=color, label=f"{label} ({int(mask.sum())})"))
    status.set_yticks([])
    status.set_ylim(0, 1.8)  # room above the bars for the legend, which would hide the first bars
    status.legend(handles=handles, loc="upper left", fontsize=7, ncol=3)
    time_axis(status)
    return chart


def bars_csv(rec: Reconciliation, path: str | Path) -> Path:
    """The per-bar table as CSV (decimals written as their exact text)."""
    path = Path(path)
    rec.bars.to_csv(path, date_format="%Y-%m-%dT%H:%M:%SZ")
    return path
