"""The runs page against a real ``serve`` process: a backtest and a sweep written by the framework's own runner on the
example catalog, read back through ``/api/runs`` (summary table, equity and drawdown, orders, positions, fills,
markers at the fill prices, the sweep's ranking), bad run ids as one-line 404s, nothing read outside the runs folder,
and the page in a real browser (Debian's Chromium via Playwright), saved under ``screenshots/``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from framework.backtest import runner
from framework.backtest.config import parse_spec
from framework.backtest.config import resolve
from framework.backtest.sweep import run_sweep
from tests.web_support import Server
from tests.web_support import browser  # noqa: F401
from tests.web_support import example_catalog  # noqa: F401
from tests.web_support import running_server
from tests.web_support import screenshot

LINK = "LINKUSDT-PERP.BINANCE"


def _raw(catalog: Path) -> dict[str, Any]:
    return {"catalog": str(catalog), "start": "2023-02-02T00:00:00Z", "end": "2023-02-03T00:00:00Z",
            "instruments": [{"symbol": "LINKUSDT", "market": "futures"}], "data": {"bars": ["1m"]},
            "venue": {"starting_balances": ["10000 USDT"], "default_leverage": 2},
            "strategies": [{"class": "strategies.examples.ema_cross:EmaCrossRsi",
                            "config": {"instrument_id": LINK, "fast_period": 10, "slow_period": 40,
                                       "trade_notional": 2000}}]}


@pytest.fixture(scope="module")
def runs(example_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A runs folder: one backtest (``ema``) and a sweep of two (``sweep``), written by the real runner."""
    folder = tmp_path_factory.mktemp("runs")
    raw = _raw(example_catalog)
    runner.run(resolve(raw, "ema.yaml", default_name="ema"), folder / "ema")
    sweep = {**raw, "charts": False, "sweep": {"grid": {"strategies.0.config.fast_period": [5, 20]},
                                               "rank_by": "total_return", "workers": 2}}
    run_sweep(sweep, parse_spec(sweep, "s.yaml").sweep, "s.yaml", "sweep", folder / "sweep")
    return folder


@pytest.fixture(scope="module")
def server(example_catalog: Path, runs: Path) -> Server:  # noqa: F811
    with running_server(example_catalog, "--runs", str(runs)) as s:
        yield s


def test_the_runs_table_lists_backtests_and_sweeps_with_their_summaries(server: Server, runs: Path) -> None:
    answer = server.get("/api/runs")
    rows = {r["id"]: r for r in answer["runs"]}
    assert set(rows) == {"ema", "sweep", "sweep/runs/0", "sweep/runs/1"}
    assert rows["sweep"]["kind"] == "sweep" and rows["sweep"]["runs"] == 2
    for run_id in ("ema", "sweep/runs/0", "sweep/runs/1"):
        summary = json.loads((runs / run_id / "summary.json").read_text())
        row = rows[run_id]
        assert row["kind"] == "backtest"
        assert [row[k] for k in ("total_return", "trades", "fees", "max_drawdown")] == \
            [summary[k] for k in ("total_return", "trades", "fees", "max_drawdown")]
    ranking = pd.read_csv(runs / "sweep" / "ranking.csv")
    assert rows["sweep"]["best"]["total_return"] == pytest.approx(ranking["total_return"].max())


def test_a_run_has_equity_orders_positions_and_markers_at_the_fill_prices(server: Server, runs: Path) -> None:
    run = server.get("/api/runs/ema")
    folder = runs / "ema"
    summary = json.loads((folder / "summary.json").read_text())
    assert run["summary"] == summary and summary["fills"] > 2
    assert run["instruments"] == [{"instrument": LINK, "interval": "1m"}]
    curve = pd.read_parquet(folder / "equity.parquet")
    assert run["equity"]["rows"] == len(curve) and len(run["equity"]["time"]) == len(curve)  # under MAX_POINTS
    assert run["equity"]["equity"] == curve["equity"].tolist()
    assert run["equity"]["drawdown"] == curve["drawdown"].tolist()
    assert run["equity"]["time"][0] == curve.index[0].value // 10**6
    fills = json.loads((folder / "fills.json").read_text())
    assert len(run["orders"]) == summary["orders"] and len(run["fills"]) == len(fills)
    assert len(run["positions"]) == len(json.loads((folder / "positions.json").read_text()))
    markers = run["markers"]
    assert [(m["price"], m["side"], m["quantity"]) for m in markers] == \
        [(f["avg_px"], f["side"], f["filled_qty"]) for f in sorted(fills, key=lambda f: f["ts_last"])]
    assert [m["time"] for m in markers] == [pd.Timestamp(f["ts_last"]).value // 10**6
                                            for f in sorted(fills, key=lambda f: f["ts_last"])]
    assert markers[0]["role"] == "entry"  # the first fill opens the first position
    positions = json.loads((folder / "positions.json").read_text())
    closing = {p["closing_order_id"] for p in positions if p.get("closing_order_id")}
    assert sum(m["role"] in ("exit", "exit+entry") for m in markers) == \
        sum(f["client_order_id"] in closing for f in fills)


def test_a_sweep_shows_its_ranking_with_links_to_its_runs(server: Server, runs: Path) -> None:
    sweep = server.get("/api/runs/sweep")
    ranking = pd.read_csv(runs / "sweep" / "ranking.csv")
    assert [r["rank"] for r in sweep["ranking"]] == ranking["rank"].tolist() == [1, 2]
    assert [r["total_return"] for r in sweep["ranking"]] == pytest.approx(ranking["total_return"].tolist())
    for row in sweep["ranking"]:
        assert row["run_id"] == f"sweep/runs/{row['run']}"
        child = server.get(f"/api/runs/{row['run_id']}")
        assert child["summary"]["total_return"] == pytest.approx(row["total_return"])


@pytest.mark.parametrize("path", ["/api/runs/nope", "/api/runs/..%2F..%2Fetc%2Fpasswd", "/api/runs/ema%2F..%2F..",
                                  "/api/runs/%2Fetc", "/api/runs/outside", "/api/runs/sweep/runs/9"])
def test_an_unknown_run_is_a_one_line_404_and_nothing_outside_is_read(server: Server, runs: Path, tmp_path: Path,
                                                                      path: str) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "run").mkdir(parents=True, exist_ok=True)
    (outside / "run" / "summary.json").write_text('{"name": "secret"}')
    link = runs / "outside"
    if not link.exists():
        os.symlink(outside / "run", link)  # a link out of the runs folder is not a run
    status, body = server.request(path)
    assert status == 404 and set(body) == {"error"} and "\n" not in body["error"]
    assert "GET /api/runs lists them" in body["error"]
    assert "secret" not in json.dumps(server.get("/api/runs"))
    assert server.get("/api/runs/ema")["id"] == "ema"  # still serving


def test_a_damaged_run_is_a_row_saying_so_and_a_one_line_422(server: Server, runs: Path) -> None:
    broken = runs / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "summary.json").write_text('{"name": "broken", "total_ret')
    (broken / "equity.parquet").write_bytes(b"not parquet")
    try:
        time.sleep(1.1)  # the listing is cached for a second
        row = next(r for r in server.get("/api/runs")["runs"] if r["id"] == "broken")
        assert "summary.json cannot be read" in row["error"]
        status, body = server.request("/api/runs/broken")
        assert status == 422 and "broken: summary.json cannot be read" in body["error"]
        assert server.get("/api/runs/ema")["id"] == "ema"
    finally:
        for f in broken.iterdir():
            f.unlink()
        broken.rmdir()


def test_the_runs_page_shows_the_table_equity_candles_with_markers_and_the_ranking(
        browser: Any, server: Server, runs: Path) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url + "#runs")
        page.wait_for_selector("#runs-list tr[data-run='ema']", timeout=30_000)
        ids = page.eval_on_selector_all("#runs-list tr[data-run]", "rows => rows.map(r => r.dataset.run)")
        assert set(ids) == {"ema", "sweep", "sweep/runs/0", "sweep/runs/1"}
        page.click("#runs-list tr[data-run='ema']")
        page.wait_for_function("window.workstation.runs.candles().length > 0", timeout=30_000)
        summary = json.loads((runs / "ema" / "summary.json").read_text())
        assert page.inner_text("#runs-summary [data-key='trades'] span:last-child") == str(summary["trades"])
        candles = page.evaluate("window.workstation.runs.candles()")
        assert candles[0]["time"] == pd.Timestamp(summary["start"]).value // 10**9  # 1m bars from the start
        markers = page.evaluate("window.workstation.runs.markers()")
        fills = json.loads((runs / "ema" / "fills.json").read_text())
        assert len(markers) == len(fills)
        assert sorted(m["price"] for m in markers) == sorted(f["avg_px"] for f in fills)
        times = {c["time"] for c in candles}
        assert all(m["time"] in times for m in markers)  # each marker sits on a candle
        assert page.locator("#runs-equity canvas").count() > 0
        assert "?run=ema" in page.url or "run=ema" in page.url
        screenshot(page, "runs-backtest")
        page.click("#runs-list tr[data-run='sweep']")
        page.wait_for_selector("#runs-detail tr[data-run='sweep/runs/0']", timeout=30_000)
        assert page.locator("#runs-detail tbody tr").count() == 2
        screenshot(page, "runs-sweep")
        page.click("#runs-detail tr[data-run='sweep/runs/1']")
        page.wait_for_function("window.workstation.runs.detail().id === 'sweep/runs/1'", timeout=30_000)
    finally:
        context.close()
    assert not errors, errors
