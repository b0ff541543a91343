"""Alerts: rules kept beside the catalog, evaluated on closed bars in live mode, each firing once per crossing.

==================================  =================================================================================
``GET /api/alerts``                 ``{"live", "rules": [...], "events": [the newest fired], "indicators",
                                    "comparisons", "actions"}``; each rule with ``id``, ``text`` and its last state
``POST /api/alerts``                body: a rule (``framework.web.alerts_rules.RuleSpec``) -> ``201 {"rule"}``
``PUT /api/alerts/{id}``            body: the whole rule -> ``{"rule"}`` (its state starts afresh)
``DELETE /api/alerts/{id}``         -> ``{"deleted": id}``
``GET /api/alerts/events``          ``after`` (event id), ``limit`` -> ``{"events": [...]}`` oldest first
==================================  =================================================================================

What a rule is and how it fires: ``framework.web.alerts_rules``. Rules are evaluated on **closed** bars only (the
live feed's gap-free klines folded to the rule's interval): a forming bar's indicator moves with every trade, and a
rule evaluated on it would fire on a wick the bar does not close on. A fired rule is stored as an event and handed to
every listener (``AlertEngine.listeners``): the live feed pushes it to every open page, the paper broker turns a
``buy``/``sell`` into a paper order. Without ``--live`` rules can be edited but nothing evaluates them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from aiohttp import web

from framework.web.alerts_rules import ACTIONS
from framework.web.alerts_rules import COMPARISONS
from framework.web.alerts_rules import PRICE
from framework.web.alerts_rules import RuleSpec
from framework.web.alerts_rules import RuleStore
from framework.web.alerts_rules import check_rule
from framework.web.alerts_rules import condition
from framework.web.alerts_rules import describe
from framework.web.alerts_rules import indicator_values
from framework.web.alerts_rules import warmup_bars
from framework.web.api import ApiError
from framework.web.api import json_body
from framework.web.api import json_response
from framework.web.api import query_int
from framework.web.context import WebContext
from framework.web.studies import STUDIES

log = logging.getLogger("framework.web.alerts")


class AlertEngine:
    """The rules of one server: kept in ``RuleStore``, evaluated by ``evaluate`` on each closed bar.

    ``listeners`` get every fired event (a dict: ``id``, ``rule_id``, ``text``, ``instrument``, ``interval``,
    ``time`` (the bar's open, ms), ``value``, ``threshold``, ``action``, ``notional``, ``fired_ms``);
    ``on_change`` callbacks run after a rule is added, changed or deleted (the live feed then follows new series).
    """

    def __init__(self, store: RuleStore) -> None:
        self.store = store
        self.rules: dict[int, dict[str, Any]] = store.rules()
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.on_change: list[Callable[[], None]] = []

    def changed(self) -> None:
        """Re-read the rules after a change and tell the ``on_change`` callbacks."""
        self.rules = self.store.rules()
        for callback in self.on_change:
            callback()

    def series(self) -> dict[tuple[str, str], int]:
        """(instrument, interval) -> bars of warm-up the enabled rules need."""
        out: dict[tuple[str, str], int] = {}
        for rule in self.rules.values():
            if rule["enabled"]:
                key = (rule["instrument"], rule["interval"])
                out[key] = max(out.get(key, 0), warmup_bars(rule))
        return out

    def evaluate(self, instrument: str, interval: str, bars: pd.DataFrame) -> list[dict[str, Any]]:
        """Evaluate the enabled rules of ``instrument``/``interval`` on ``bars`` (closed bars, oldest first, the
        newest just closed; a float frame indexed by open time as ``framework.analysis.indicators`` takes);
        returns the events fired."""
        if len(bars) == 0:
            return []
        time_ms = int(bars.index[-1].value // 1_000_000)
        fired = []
        for rule in list(self.rules.values()):
            if not rule["enabled"] or rule["instrument"] != instrument or rule["interval"] != interval:
                continue
            if rule["last_time_ms"] is not None and time_ms <= rule["last_time_ms"]:
                continue  # evaluated already (a bar delivered again after a restart)
            try:
                previous, value = indicator_values(rule, bars.tail(warmup_bars(rule)))
            except Exception:  # noqa: BLE001 - one rule's failure must not stop the others
                log.exception("alert rule %s could not be evaluated", rule["id"])
                continue
            state = condition(rule, previous, value)
            if state is None:  # not enough bars yet: nothing known, nothing changes
                continue
            fires = state and rule["last_state"] is not True
            self.store.save_state(rule["id"], state, value, time_ms)
            rule.update(last_state=state, last_value=value, last_time_ms=time_ms)
            if fires:
                fired.append(self._fire(rule, time_ms, value))
        return fired

    def _fire(self, rule: dict[str, Any], time_ms: int, value: float) -> dict[str, Any]:
        event = {"type": "alert", "rule_id": rule["id"], "text": rule["text"], "instrument": rule["instrument"],
                 "interval": rule["interval"], "time": time_ms, "value": value, "threshold": rule["threshold"],
                 "comparison": rule["comparison"], "action": rule["action"], "notional": rule["notional"],
                 "fired_ms": int(time.time() * 1000)}
        event["id"] = self.store.add_event(rule["id"], event)
        log.info("alert %s fired: %s (value %g at %s)", rule["id"], rule["text"], value,
                 pd.Timestamp(time_ms, unit="ms", tz="UTC"))
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener's failure must not stop the others
                log.exception("alert listener %r failed", listener)
        return event


ALERTS_KEY = web.AppKey("alerts", AlertEngine)


def _known_instruments(app: web.Application, ctx: WebContext) -> list[str] | None:
    """The instruments a rule may name: any in live mode, else those the catalog holds."""
    if ctx.live:
        return None
    from framework.web.market import VIEW_KEY

    view = app.get(VIEW_KEY)
    return None if view is None else [h.instrument for h in view.holdings()]


def _rule_id(request: web.Request, engine: AlertEngine) -> int:
    rule_id = int(request.match_info["id"])
    if rule_id not in engine.rules:
        raise ApiError(f"no alert rule {rule_id}; GET /api/alerts lists them", 404)
    return rule_id


def add_routes(app: web.Application, ctx: WebContext) -> None:
    """Register the alerts API on ``app`` (rules and events in ``ctx.state_db``)."""
    engine = AlertEngine(RuleStore(ctx.state_db))
    app[ALERTS_KEY] = engine

    def public(rule: dict[str, Any]) -> dict[str, Any]:
        return {**rule, "text": describe(rule)}

    async def listing(request: web.Request) -> web.Response:
        return json_response({"live": ctx.live, "evaluated_on": "closed bars",
                              "rules": [public(r) for r in engine.rules.values()],
                              "events": engine.store.events(limit=50),
                              "indicators": [PRICE.describe(), *(s.describe() for s in STUDIES.values())],
                              "comparisons": list(COMPARISONS), "actions": list(ACTIONS)})

    async def create(request: web.Request) -> web.Response:
        rule = check_rule(await json_body(request, RuleSpec), _known_instruments(request.app, ctx))
        rule_id = engine.store.add(rule)
        engine.changed()
        return json_response({"rule": public(engine.rules[rule_id])}, status=201)

    async def replace(request: web.Request) -> web.Response:
        rule_id = _rule_id(request, engine)
        rule = check_rule(await json_body(request, RuleSpec), _known_instruments(request.app, ctx))
        engine.store.replace(rule_id, rule)
        engine.changed()
        return json_response({"rule": public(engine.rules[rule_id])})

    async def delete(request: web.Request) -> web.Response:
        rule_id = _rule_id(request, engine)
        engine.store.delete(rule_id)
        engine.changed()
        return json_response({"deleted": rule_id})

    async def events(request: web.Request) -> web.Response:
        after = query_int(request, "after", default=0, minimum=0)
        limit = query_int(request, "limit", default=100, minimum=1, maximum=1000)
        return json_response({"events": engine.store.events(after or 0, limit or 100)})

    app.router.add_get("/api/alerts", listing)
    app.router.add_post("/api/alerts", create)
    app.router.add_get("/api/alerts/events", events)
    app.router.add_put(r"/api/alerts/{id:\d+}", replace)
    app.router.add_delete(r"/api/alerts/{id:\d+}", delete)
