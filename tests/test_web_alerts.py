"""Alert rules over the real HTTP API (the workstation's app on a loopback port): create, change, delete, one-line
400s for bad rules, rules kept in SQLite across a restart; and the evaluation rule: each rule fires once per crossing
(edge-triggered), including across a restart, with its value computed by ``framework.analysis.indicators``."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.analysis import indicators as ind
from framework.web.alerts import AlertEngine
from framework.web.alerts_rules import RuleSpec
from framework.web.alerts_rules import RuleStore
from framework.web.alerts_rules import check_rule
from tests.web_live_support import app_server
from tests.web_live_support import web_context

PERP = "BTCUSDT-PERP.BINANCE"
RSI_BUY = {"instrument": PERP, "interval": "1m", "indicator": "rsi", "params": {"n": 14}, "comparison": "<",
           "threshold": 30, "action": "buy", "notional": 100}


def _bars(closes: list[float], start: str = "2024-08-08") -> pd.DataFrame:
    index = pd.date_range(start, periods=len(closes), freq="1min", tz="UTC", name="time")
    c = np.asarray(closes, dtype=float)
    return pd.DataFrame({"open": c, "high": c + 1, "low": c - 1, "close": c, "volume": np.ones(len(c))}, index=index)


async def test_rules_are_created_changed_deleted_and_kept_across_a_restart(tmp_path: Path) -> None:
    ctx = web_context(tmp_path / "catalog", tmp_path / "state.sqlite", live=True)
    async with app_server(ctx) as s:
        status, made = await s.request("POST", "/api/alerts", RSI_BUY)
        assert status == 201
        rule = made["rule"]
        assert rule["text"] == f"RSI(14) on {PERP} 1m < 30 -> buy 100 quote"
        assert rule["line"] == "rsi" and rule["last_state"] is None
        status, _ = await s.request("POST", "/api/alerts", {**RSI_BUY, "indicator": "price", "params": {},
                                                            "comparison": "crosses_above", "threshold": 70000,
                                                            "action": "notify"})
        assert status == 201
        status, changed = await s.request("PUT", f"/api/alerts/{rule['id']}", {**RSI_BUY, "threshold": 25})
        assert status == 200 and changed["rule"]["threshold"] == 25
    async with app_server(ctx) as s:  # a new server on the same state file
        listing = await s.get("/api/alerts")
        assert [r["threshold"] for r in listing["rules"]] == [25, 70000]
        assert listing["evaluated_on"] == "closed bars"
        status, gone = await s.request("DELETE", f"/api/alerts/{rule['id']}")
        assert status == 200 and gone == {"deleted": rule["id"]}
        assert [r["indicator"] for r in (await s.get("/api/alerts"))["rules"]] == ["price"]
        status, body = await s.request("DELETE", f"/api/alerts/{rule['id']}")
        assert status == 404 and "no alert rule" in body["error"]
    with sqlite3.connect(ctx.state_db) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(("change", "message"), [
    ({"instrument": "BTC/USDT"}, "instrument: 'BTC/USDT' is not a Binance instrument id"),
    ({"interval": "7m"}, "interval: '7m' is not one of 1m, 5m, 15m, 1h, 4h, 1d"),
    ({"indicator": "rsx"}, "indicator: unknown 'rsx'; use one of price, sma"),
    ({"params": {"n": 0}}, "rsi n=0 is out of range"),
    ({"params": {"period": 14}}, "rsi: unknown parameter 'period'; it takes n"),
    ({"indicator": "macd", "params": {"fast": 30, "slow": 20}}, "macd fast=30 must be below slow=20"),
    ({"line": "signal"}, "line: rsi has no line 'signal'; use one of rsi"),
    ({"comparison": "<="}, "comparison: '<=' is not one of <, >, crosses_above, crosses_below"),
    ({"action": "short"}, "action: 'short' is not one of notify, buy, sell"),
    ({"notional": None}, "notional: buy needs the amount to trade"),
    ({"notional": -5}, "notional: buy needs the amount to trade"),
    ({"threshold": "low"}, "request body: Expected `float`, got `str` - at `$.threshold`"),
    ({"colour": "red"}, "request body: Object contains unknown field `colour`"),
])
async def test_a_bad_rule_is_a_one_line_400(tmp_path: Path, change: dict, message: str) -> None:
    ctx = web_context(tmp_path / "catalog", tmp_path / "state.sqlite", live=True)
    async with app_server(ctx) as s:
        status, body = await s.request("POST", "/api/alerts", {**RSI_BUY, **change})
        assert status == 400 and set(body) == {"error"} and "\n" not in body["error"]
        assert message in body["error"]
        assert (await s.get("/api/alerts"))["rules"] == []


async def test_without_live_mode_a_rule_names_an_instrument_of_the_catalog(tmp_path: Path) -> None:
    ctx = web_context(tmp_path / "missing", tmp_path / "state.sqlite", live=False)
    async with app_server(ctx) as s:
        status, body = await s.request("POST", "/api/alerts", RSI_BUY)
        assert status == 400 and "is not in the catalog (it holds none)" in body["error"]


def test_each_rule_fires_once_per_crossing_and_not_again_after_a_restart(tmp_path: Path) -> None:
    store = RuleStore(tmp_path / "state.sqlite")
    below = store.add(check_rule(RuleSpec(PERP, "1m", "price", "<", 100.0), None))
    crosses = store.add(check_rule(RuleSpec(PERP, "1m", "price", "crosses_above", 100.0), None))
    engine = AlertEngine(store)
    fired: list[dict] = []
    engine.listeners.append(fired.append)
    closes = [95, 96, 97, 101, 102, 99, 98, 103, 104]
    for n in range(1, len(closes) + 1):
        engine.evaluate(PERP, "1m", _bars(closes[:n]))
        engine.evaluate(PERP, "1m", _bars(closes[:n]))  # the same bar again: evaluated once
    # "< 100": true from the first bar (fires), false at 101, true again at 99 (fires); "crosses above" at 101, 103
    assert [(e["rule_id"], e["value"]) for e in fired] == [(below, 95), (crosses, 101), (below, 99), (crosses, 103)]
    assert [e["id"] for e in store.events()] == [e["id"] for e in fired]
    restarted = AlertEngine(RuleStore(tmp_path / "state.sqlite"))
    again: list[dict] = []
    restarted.listeners.append(again.append)
    restarted.evaluate(PERP, "1m", _bars([*closes, 99]))  # "< 100" held before the restart: no new firing
    assert [e["rule_id"] for e in again] == [below]  # 104 -> 99 is a new crossing into "< 100"
    restarted.evaluate(PERP, "1m", _bars([*closes, 99, 98]))
    assert len(again) == 1
    assert restarted.rules[below]["last_state"] is True and restarted.rules[below]["last_value"] == 98


def test_an_indicator_rule_uses_the_dashboards_values_and_waits_for_its_warm_up(tmp_path: Path) -> None:
    store = RuleStore(tmp_path / "state.sqlite")
    rule_id = store.add(check_rule(RuleSpec(PERP, "1m", "rsi", "<", 30.0, params={"n": 14}), None))
    engine = AlertEngine(store)
    rng = np.random.default_rng(3)
    closes = list(60_000 + np.cumsum(rng.normal(0, 30, 400)))
    closes[-20:] = [closes[-21] - 40 * (i + 1) for i in range(20)]  # a slide: RSI far below 30
    assert engine.evaluate(PERP, "1m", _bars(closes[:10])) == []  # RSI(14) undefined yet: nothing known
    assert engine.rules[rule_id]["last_state"] is None
    fired = engine.evaluate(PERP, "1m", _bars(closes))
    want = ind.rsi(_bars(closes)["close"], 14).iloc[-1]
    assert len(fired) == 1 and want < 30
    assert math.isclose(fired[0]["value"], want, rel_tol=1e-9)


@pytest.mark.timeout(180)
async def test_a_rule_survives_a_restart_and_fires_once_when_its_condition_holds(tmp_path: Path) -> None:
    from framework.exchange.server import ExchangeConfig
    from framework.exchange.server import LocalExchange
    from tests.test_web_live import SPEED
    from tests.test_web_live import messages
    from tests.test_web_live import subscribe

    rule = {**RSI_BUY, "indicator": "price", "params": {}, "comparison": ">", "threshold": 0, "action": "notify"}
    state = tmp_path / "state.sqlite"

    def closed_bars(n: int):  # noqa: ANN202
        return lambda seen: sum(m["type"] == "bar" and m["closed"] for m in seen) >= n

    async with LocalExchange(ExchangeConfig(speed=0, start="now")) as frozen:  # no bar closes: nothing can fire
        async with app_server(web_context(tmp_path / "catalog", state, live=True, urls=frozen.urls)) as s:
            status, made = await s.request("POST", "/api/alerts", rule)
            assert status == 201
    rule_id = made["rule"]["id"]
    async with LocalExchange(ExchangeConfig(speed=SPEED, start="now")) as exchange:
        ctx = web_context(tmp_path / "catalog", state, live=True, urls=exchange.urls)
        async with app_server(ctx) as s:  # restarted: the rule is there and fires once, at its first closed bar
            assert [(r["id"], r["last_state"]) for r in (await s.get("/api/alerts"))["rules"]] == [(rule_id, None)]
            async with s.ws() as page:
                await page.receive_json()
                await page.send_json(subscribe())
                seen = await messages(page, closed_bars(3))
            alerts = [m for m in seen if m["type"] == "alert"]
            assert [a["rule_id"] for a in alerts] == [rule_id]
            bar = next(m for m in seen if m["type"] == "bar" and m["closed"] and m["time"] == alerts[0]["time"])
            assert alerts[0]["value"] == bar["close"] and alerts[0]["text"] == made["rule"]["text"]
            events = (await s.get("/api/alerts/events"))["events"]
            assert [(e["id"], e["rule_id"]) for e in events] == [(alerts[0]["id"], rule_id)]
        async with app_server(ctx) as s:  # and again: the condition still holds, so nothing fires
            async with s.ws() as page:
                await page.receive_json()
                await page.send_json(subscribe())
                seen = await messages(page, closed_bars(2))
            assert not [m for m in seen if m["type"] == "alert"]
            assert len((await s.get("/api/alerts/events"))["events"]) == 1
            assert (await s.get("/api/alerts"))["rules"][0]["last_state"] is True
