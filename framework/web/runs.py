"""The runs page's API: backtests, sweeps and paper runs found under the runs folder (``WebContext.runs``).

=============================  ======================================================================================
``GET /api/runs``              ``{"runs_folder", "message", "runs": [{id, kind, name, modified, start, end, <summary
                               metrics>}]}``, newest first; ``message`` says what to run when there are none
``GET /api/runs/{id}``         one run: ``summary``, ``instruments`` (id, interval) for its candles (``/api/bars``),
                               ``equity`` (time, equity, drawdown), ``orders``, ``positions``, ``fills``, ``markers``
                               (each fill at its price: entry/exit, side, quantity); a sweep: ``ranking`` with each
                               row's run id
=============================  ======================================================================================

What a folder is, from what it holds (``framework.backtest.runner`` and ``sweep`` write them): ``ranking.csv`` a
sweep (its runs are ``<id>/runs/<n>``), ``summary.json`` with ``equity.parquet`` a backtest, ``summary.json`` alone a
paper run (``live``). A run's id is its folder relative to the runs folder (``ema_cross``, ``sweep/runs/3``); a
request's id is looked up among the folders found, never joined to a path, and symbolic links are not followed, so
nothing outside the runs folder is read. An id that is not a run is 404, a damaged file 422, one line each.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from aiohttp import web

from framework.errors import FrameworkError
from framework.web.api import ApiError
from framework.web.api import json_response
from framework.web.context import WebContext

#: How deep below the runs folder runs are looked for (``live/<time>``, ``<sweep>/runs/<n>`` ...).
MAX_DEPTH = 4
#: Equity points sent at most (a month of 1m bars is 43,200 rows: thinned, the deepest drawdown kept).
MAX_POINTS = 5_000
#: Rows of one table (orders, positions, fills) sent at most.
MAX_ROWS = 5_000
#: Summary figures shown in the runs table (when the run has them).
TABLE_METRICS = ("total_return", "total_pnl", "sharpe", "max_drawdown", "win_rate", "trades", "fees", "orders",
                 "fills", "stopped_by")
ORDER_COLUMNS = ("ts_init", "client_order_id", "instrument_id", "side", "type", "quantity", "filled_qty", "avg_px",
                 "status", "commissions", "ts_last")
POSITION_COLUMNS = ("instrument_id", "entry", "side", "peak_qty", "ts_opened", "ts_closed", "avg_px_open",
                    "avg_px_close", "realized_pnl", "realized_return", "commissions")
BAR_UNITS = {"MINUTE": "m", "HOUR": "h", "DAY": "d", "WEEK": "w"}


@dataclass(frozen=True)
class RunFolder:
    """One run found under the runs folder."""

    id: str  # the folder relative to the runs folder, with "/"
    path: Path
    kind: str  # backtest | sweep | live

    def file(self, name: str) -> Path:
        """A file of the run (a symbolic link is refused: it could lead outside the runs folder)."""
        path = self.path / name
        if path.is_symlink():
            raise FrameworkError(f"run {self.id}: {name} is a symbolic link; the server reads real files only")
        return path


def _kind(names: set[str]) -> str | None:
    if "ranking.csv" in names:
        return "sweep"
    if "summary.json" in names:
        return "backtest" if "equity.parquet" in names else "live"
    return None


def find_runs(root: Path) -> dict[str, RunFolder]:
    """Every run under ``root`` (``MAX_DEPTH`` levels, hidden folders and symbolic links skipped), by id."""
    found: dict[str, RunFolder] = {}

    def walk(folder: Path, depth: int) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        files = {e.name for e in entries if e.is_file(follow_symlinks=False)}
        kind = _kind(files)
        if kind is not None and folder != root:
            run_id = folder.relative_to(root).as_posix()
            found[run_id] = RunFolder(run_id, folder, kind)
        if depth < MAX_DEPTH:
            for e in entries:
                if e.is_dir(follow_symlinks=False) and not e.name.startswith((".", "__")):
                    walk(Path(e.path), depth + 1)

    if root.is_dir():
        walk(root, 0)
    return found


def _read_json(run: RunFolder, name: str) -> Any:
    path = run.file(name)
    try:
        with path.open() as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise FrameworkError(f"run {run.id}: {name} cannot be read ({e}); run it again or remove the folder") \
            from None


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _ms(value: Any) -> int | None:
    """A report time (epoch ns as a number, or ISO text) in epoch ms."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float)):
        return int(value) // 1_000_000
    return int(pd.Timestamp(value).value // 1_000_000)


def table_row(run: RunFolder) -> dict[str, Any] | None:
    """The runs table's row of one run (a damaged summary is a row saying so; None: the folder is gone)."""
    try:
        modified = int(run.path.stat().st_mtime * 1000)
    except OSError:
        return None
    row: dict[str, Any] = {"id": run.id, "kind": run.kind, "name": run.id.rsplit("/", 1)[-1], "modified": modified}
    try:
        if run.kind == "sweep":
            ranking = pd.read_csv(run.file("ranking.csv"))
            row.update(runs=len(ranking), best=_sweep_best(ranking))
            return row
        summary = _read_json(run, "summary.json") or {}
    except (FrameworkError, OSError, ValueError) as e:
        row["error"] = str(e)
        return row
    row["name"] = summary.get("name", row["name"])
    row["start"], row["end"] = summary.get("start"), summary.get("end")
    row.update({k: _finite(summary[k]) for k in TABLE_METRICS if k in summary})
    return row


def _sweep_best(ranking: pd.DataFrame) -> dict[str, Any] | None:
    if ranking.empty:
        return None
    first = ranking.head(1).to_dict("records")[0]  # per-column types (a row Series would make ints floats)
    return {k: _finite(v.item() if hasattr(v, "item") else v) for k, v in first.items()}


def _interval(bar_spec: str) -> str | None:
    """``1-MINUTE-LAST`` -> ``1m`` (None for a spec that is no kline interval)."""
    parts = bar_spec.split("-")
    unit = BAR_UNITS.get(parts[1]) if len(parts) >= 2 else None
    return f"{parts[0]}{unit}" if unit else None


def _instruments(run: RunFolder) -> list[dict[str, Any]]:
    """The run's bar series (instrument, interval) from its resolved Nautilus config."""
    config = _read_json(run, "run_config.json") or {}
    out = []
    for data in config.get("data") or []:
        if "Bar" in str(data.get("data_cls", "")) and data.get("instrument_id") and data.get("bar_spec"):
            interval = _interval(data["bar_spec"])
            if interval and not any(o["instrument"] == data["instrument_id"] for o in out):
                out.append({"instrument": data["instrument_id"], "interval": interval})
    return out


def _equity(run: RunFolder) -> dict[str, Any]:
    path = run.file("equity.parquet")
    try:
        table = pq.read_table(path, columns=["time", "equity", "drawdown"])
    except FileNotFoundError:
        return {"time": [], "equity": [], "drawdown": []}
    except (OSError, ValueError) as e:
        raise FrameworkError(f"run {run.id}: equity.parquet cannot be read ({e}); run it again") from None
    times = table.column("time").cast("int64").to_numpy() // 1_000_000
    equity = table.column("equity").to_numpy(zero_copy_only=False)
    drawdown = table.column("drawdown").to_numpy(zero_copy_only=False)
    if len(times) > MAX_POINTS:  # evenly thinned; the deepest drawdown and the last point stay
        keep = np.unique(np.r_[np.linspace(0, len(times) - 1, MAX_POINTS).astype(int), np.nanargmin(drawdown)])
        times, equity, drawdown = times[keep], equity[keep], drawdown[keep]
    clean = lambda a: [None if v != v else v for v in a.tolist()]  # noqa: E731 - NaN -> null
    return {"time": times.tolist(), "equity": clean(equity), "drawdown": clean(drawdown), "rows": table.num_rows}


def _rows(records: list[dict[str, Any]] | None, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for record in (records or [])[:MAX_ROWS]:
        row = {}
        for c in columns:
            value = record.get(c)
            if c.startswith("ts_") and value is not None:
                value = _ms(value)
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            row[c] = _finite(value)
        out.append(row)
    return out


def _markers(fills: list[dict[str, Any]], positions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One marker per filled order at its (average) fill price: entry when it opened a position, exit when it
    closed one, both when it flipped one (a NETTING reversal)."""
    opened = {p.get("opening_order_id") for p in positions}
    closed = {p.get("closing_order_id") for p in positions}
    out = []
    for f in fills:
        order_id = f.get("client_order_id")
        role = ("exit+entry" if order_id in opened and order_id in closed else "entry" if order_id in opened
                else "exit" if order_id in closed else "fill")
        time_ms = _ms(f.get("ts_last") or f.get("ts_init"))
        if time_ms is None or f.get("avg_px") is None:
            continue
        out.append({"instrument": f.get("instrument_id"), "time": time_ms, "side": f.get("side"),
                    "price": _finite(f.get("avg_px")), "quantity": f.get("filled_qty"), "role": role})
    return sorted(out, key=lambda m: m["time"])


def _ranking(run: RunFolder, index: dict[str, RunFolder]) -> list[dict[str, Any]]:
    try:
        table = pd.read_csv(run.file("ranking.csv"))
    except (OSError, ValueError) as e:
        raise FrameworkError(f"sweep {run.id}: ranking.csv cannot be read ({e}); run the sweep again") from None
    rows = []
    for record in table.to_dict("records"):
        row = {k: _finite(v.item() if hasattr(v, "item") else v) for k, v in record.items()}
        child = f"{run.id}/runs/{row.get('run')}"
        row["run_id"] = child if child in index else None
        rows.append(row)
    return rows


def run_payload(run: RunFolder, index: dict[str, RunFolder]) -> dict[str, Any]:
    """The ``/api/runs/{id}`` answer (see the module docstring)."""
    payload: dict[str, Any] = {"id": run.id, "kind": run.kind, "name": run.id.rsplit("/", 1)[-1]}
    if run.kind == "sweep":
        payload["ranking"] = _ranking(run, index)
        return payload
    summary = _read_json(run, "summary.json") or {}
    payload["summary"] = {k: _finite(v) for k, v in summary.items()} if isinstance(summary, dict) else {}
    payload["name"] = payload["summary"].get("name", payload["name"])
    if run.kind == "live":
        return payload
    fills = _read_json(run, "fills.json") or []
    orders = _read_json(run, "orders.json") or []
    positions = _read_json(run, "positions.json") or []
    payload.update(
        instruments=_instruments(run), equity=_equity(run),
        orders=_rows(orders, ORDER_COLUMNS), positions=_rows(positions, POSITION_COLUMNS),
        fills=_rows(fills, ORDER_COLUMNS), markers=_markers(fills, positions),
        truncated={name: len(rows) for name, rows in (("orders", orders), ("positions", positions),
                                                      ("fills", fills)) if len(rows) > MAX_ROWS})
    return payload


class RunsIndex:
    """The runs found under one folder, listed again at most once a second."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._listing: tuple[float, dict[str, RunFolder]] | None = None

    def runs(self) -> dict[str, RunFolder]:
        """Every run by id (the folder listed again after a second)."""
        now = time.monotonic()
        if self._listing is None or now - self._listing[0] >= 1.0:
            self._listing = (now, find_runs(self.root))
        return self._listing[1]

    def get(self, run_id: str) -> RunFolder:
        """The run called ``run_id`` (404 when there is none)."""
        run = self.runs().get(run_id.strip("/"))
        if run is None:
            run = find_runs(self.root).get(run_id.strip("/"))  # written in the last second
        if run is None:
            raise ApiError(f"no run {run_id!r} in {self.root}; GET /api/runs lists them", 404)
        return run

    def table(self) -> dict[str, Any]:
        """The ``/api/runs`` answer."""
        runs = self.runs()
        rows = sorted(filter(None, map(table_row, runs.values())), key=lambda r: r["modified"], reverse=True)
        message = None if rows else (
            f"No runs in {self.root} yet: python -m framework.main backtest configs/backtest/ema_cross.yaml writes "
            "one (--out names its folder; sweeps and live runs appear here too)")
        return {"runs_folder": str(self.root), "message": message, "runs": rows}


def add_routes(app: web.Application, ctx: WebContext) -> None:
    """Register the runs API on ``app`` (reading ``ctx.runs`` only)."""
    index = RunsIndex(ctx.runs)

    async def runs(request: web.Request) -> web.Response:
        return json_response(await asyncio.to_thread(index.table))

    async def run(request: web.Request) -> web.Response:
        found = index.get(request.match_info["id"])
        return json_response(await asyncio.to_thread(run_payload, found, index.runs()))

    app.router.add_get("/api/runs", runs)
    app.router.add_get("/api/runs/{id:.+}", run)
