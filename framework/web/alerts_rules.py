"""Alert rules: what a rule says, how it is checked, where it is kept, and how it is evaluated on a bar.

A rule: ``instrument`` and ``interval``, an ``indicator`` (a ``framework.web.studies`` indicator computed by
``framework.analysis.indicators``, or ``price``: the bar's close) with its ``params`` and ``line`` (MACD has three),
a ``comparison`` (``<``, ``>``, ``crosses_above``, ``crosses_below``), a ``threshold``, and an ``action``: ``notify``,
or ``buy``/``sell`` a ``notional`` in the quote currency (a paper order). "RSI(14) on 1m < 30 -> buy 100 USDT" is
``{"instrument": "BTCUSDT-PERP.BINANCE", "interval": "1m", "indicator": "rsi", "params": {"n": 14},
"comparison": "<", "threshold": 30, "action": "buy", "notional": 100}``.

Evaluation is edge-triggered: a rule fires when its condition becomes true after being false, once, and again only
after it has been false in between. A new rule counts as false before its first evaluation, so a rule whose
condition already holds fires once at its first bar. ``crosses_above``/``crosses_below`` hold on the bar whose value
crossed the threshold (from the bar before). The last state is kept with the rule, so a restart neither repeats a
firing nor misses one. Rules and fired events live in the SQLite file beside the catalog (``WebContext.state_db``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from framework.binance.intervals import INTERVAL_MS
from framework.data.instruments import instrument_id_for
from framework.web.api import ApiError
from framework.web.catalog_view import WEB_INTERVALS
from framework.web.state import connect
from framework.web.studies import STUDIES
from framework.web.studies import Study

COMPARISONS = ("<", ">", "crosses_above", "crosses_below")
ACTIONS = ("notify", "buy", "sell")
#: ``price``: the bar's close, beside the indicators of ``framework.web.studies``.
PRICE = Study("price", "Price (close)", "price", (), ("close",), lambda b: pd.DataFrame({"close": b["close"]}))
#: Bars of warm-up an evaluation reads at most (Binance serves up to 1000 klines per request; RSI(14) settles to
#: e^-70 within them).
MAX_WARMUP = 1000
MAX_NOTIONAL = 1e9
MAX_RULES = 500
SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS alert_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_state INTEGER,
    last_value REAL,
    last_time_ms INTEGER
);
CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id INTEGER NOT NULL,
    fired_ms INTEGER NOT NULL,
    event TEXT NOT NULL
);
"""


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A rule as the page (or a script) sends it; ``check_rule`` validates it."""

    instrument: str
    interval: str
    indicator: str
    comparison: str
    threshold: float
    params: dict[str, int | float] = {}
    line: str | None = None
    action: str = "notify"
    notional: float | None = None
    enabled: bool = True


def study_of(name: str) -> Study:
    """The indicator ``name`` (``price`` or one of ``framework.web.studies``), else 400 listing them."""
    if name == PRICE.name:
        return PRICE
    if name not in STUDIES:
        raise ApiError(f"indicator: unknown {name!r}; use one of price, {', '.join(STUDIES)}")
    return STUDIES[name]


def market_symbol(instrument: str) -> tuple[str, str] | None:
    """(market, symbol) of a Nautilus spot or USD-M perpetual id (``BTCUSDT-PERP.BINANCE``), else None."""
    name, _, venue = instrument.rpartition(".")
    if venue != "BINANCE" or not name:
        return None
    for market, symbol in (("futures", name.removesuffix("-PERP")), ("spot", name)):
        try:
            if symbol and str(instrument_id_for(market, symbol)) == instrument:
                return market, symbol
        except ValueError:
            continue
    return None


def check_rule(spec: RuleSpec, known: list[str] | None) -> dict[str, Any]:
    """The rule as stored (defaults filled in), or 400 naming the first mistake. ``known``: the instruments the
    rule may name (None: any Binance spot or USD-M id, as in live mode)."""
    if market_symbol(spec.instrument) is None:
        raise ApiError(f"instrument: {spec.instrument!r} is not a Binance instrument id; e.g. BTCUSDT-PERP.BINANCE "
                       "(USD-M) or BTCUSDT.BINANCE (spot)")
    if known is not None and spec.instrument not in known:
        held = ", ".join(known[:10]) if known else "none"
        raise ApiError(f"instrument: {spec.instrument} is not in the catalog (it holds {held}); pick one of "
                       "those, or run serve --live for any listed instrument")
    if spec.interval not in WEB_INTERVALS:
        raise ApiError(f"interval: {spec.interval!r} is not one of {', '.join(WEB_INTERVALS)}")
    study = study_of(spec.indicator)
    params = study.read_params({k: repr(v) for k, v in spec.params.items()})
    if spec.indicator == "macd" and params["fast"] >= params["slow"]:
        raise ApiError(f"params: macd fast={params['fast']} must be below slow={params['slow']}")
    line = spec.line or study.lines[0]
    if line not in study.lines:
        raise ApiError(f"line: {spec.indicator} has no line {line!r}; use one of {', '.join(study.lines)}")
    if spec.comparison not in COMPARISONS:
        raise ApiError(f"comparison: {spec.comparison!r} is not one of {', '.join(COMPARISONS)}")
    if not math.isfinite(spec.threshold):
        raise ApiError("threshold: give a finite number")
    if spec.action not in ACTIONS:
        raise ApiError(f"action: {spec.action!r} is not one of {', '.join(ACTIONS)}")
    notional = spec.notional
    if spec.action == "notify":
        notional = None
    elif notional is None or not math.isfinite(notional) or not 0 < notional <= MAX_NOTIONAL:
        raise ApiError(f"notional: {spec.action} needs the amount to trade in quote currency, more than 0 (e.g. "
                       "100 for 100 USDT)")
    return {"instrument": spec.instrument, "interval": spec.interval, "indicator": spec.indicator,
            "params": params, "line": line, "comparison": spec.comparison, "threshold": spec.threshold,
            "action": spec.action, "notional": notional, "enabled": spec.enabled}


def describe(rule: dict[str, Any]) -> str:
    """The rule in words: ``RSI(14) on BTCUSDT-PERP.BINANCE 1m < 30 -> buy 100 USDT``."""
    study = study_of(rule["indicator"])
    args = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in rule["params"].values())
    name = f"{study.title.split(' ')[0]}({args})" if args else study.title.split(" ")[0]
    if len(study.lines) > 1:
        name += f".{rule['line']}"
    comparison = rule["comparison"].replace("_", " ")
    action = "notify" if rule["action"] == "notify" else f"{rule['action']} {rule['notional']:g} quote"
    return f"{name} on {rule['instrument']} {rule['interval']} {comparison} {rule['threshold']:g} -> {action}"


def warmup_bars(rule: dict[str, Any]) -> int:
    """Bars of the rule's interval an evaluation reads (the indicator's warm-up, at most ``MAX_WARMUP``)."""
    study = study_of(rule["indicator"])
    return min(MAX_WARMUP, study.warmup(rule["params"], INTERVAL_MS[rule["interval"]]) + 2)


def indicator_values(rule: dict[str, Any], bars: pd.DataFrame) -> tuple[float, float]:
    """The rule's line at the last two bars of ``bars`` (NaN where not defined yet)."""
    if len(bars) == 0:
        return math.nan, math.nan
    out = study_of(rule["indicator"]).compute(bars, **rule["params"])[rule["line"]].to_numpy(dtype=np.float64)
    return (float(out[-2]) if len(out) > 1 else math.nan), float(out[-1])


def condition(rule: dict[str, Any], previous: float, value: float) -> bool | None:
    """Whether the rule's condition holds at ``value`` (None: the value is not defined yet)."""
    threshold, comparison = rule["threshold"], rule["comparison"]
    if math.isnan(value):
        return None
    if comparison == "<":
        return value < threshold
    if comparison == ">":
        return value > threshold
    if math.isnan(previous):
        return False
    if comparison == "crosses_above":
        return previous <= threshold < value
    return previous >= threshold > value


class RuleStore:
    """Rules and fired events in the state file (every statement short, on the caller's thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _db(self):  # noqa: ANN202 - a context manager of sqlite3.Connection
        return connect(self.path, SCHEMA)

    def rules(self) -> dict[int, dict[str, Any]]:
        """Every rule by id: its fields and ``id``, ``created_ms``, ``last_state``, ``last_value``,
        ``last_time_ms``, ``text``."""
        with self._db() as db:
            rows = db.execute("SELECT id, rule, created_ms, last_state, last_value, last_time_ms FROM alert_rules "
                              "ORDER BY id").fetchall()
        out = {}
        for rule_id, text, created, state, value, last_time in rows:
            rule = json.loads(text)
            rule.update(id=rule_id, created_ms=created, last_state=None if state is None else bool(state),
                        last_value=value, last_time_ms=last_time, text=describe(rule))
            out[rule_id] = rule
        return out

    def add(self, rule: dict[str, Any]) -> int:
        """A new rule (checked by ``check_rule``); returns its id."""
        with self._db() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM alert_rules").fetchone()
            if count >= MAX_RULES:
                raise ApiError(f"there are {count} rules, the most kept; delete some first")
            cursor = db.execute("INSERT INTO alert_rules (rule, created_ms) VALUES (?, ?)",
                                (json.dumps(rule), int(time.time() * 1000)))
            return int(cursor.lastrowid)

    def replace(self, rule_id: int, rule: dict[str, Any]) -> bool:
        """Change a rule (its state starts afresh); False when there is no such rule."""
        with self._db() as db:
            cursor = db.execute("UPDATE alert_rules SET rule = ?, last_state = NULL, last_value = NULL, "
                                "last_time_ms = NULL WHERE id = ?", (json.dumps(rule), rule_id))
            return cursor.rowcount == 1

    def delete(self, rule_id: int) -> bool:
        """Remove a rule; False when there is no such rule."""
        with self._db() as db:
            return db.execute("DELETE FROM alert_rules WHERE id = ?", (rule_id,)).rowcount == 1

    def save_state(self, rule_id: int, state: bool | None, value: float | None, time_ms: int) -> None:
        """Keep the rule's last evaluation: whether it held, its value, the bar's open time."""
        with self._db() as db:
            db.execute("UPDATE alert_rules SET last_state = ?, last_value = ?, last_time_ms = ? WHERE id = ?",
                       (None if state is None else int(state), value, time_ms, rule_id))

    def add_event(self, rule_id: int, event: dict[str, Any]) -> int:
        """Keep a fired event; returns its id."""
        with self._db() as db:
            cursor = db.execute("INSERT INTO alert_events (rule_id, fired_ms, event) VALUES (?, ?, ?)",
                                (rule_id, event["fired_ms"], json.dumps(event)))
            return int(cursor.lastrowid)

    def events(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Fired events with an id above ``after``, the newest ``limit``, oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT id, event FROM alert_events WHERE id > ? ORDER BY id DESC LIMIT ?",
                              (after, limit)).fetchall()
        return [{**json.loads(text), "id": event_id} for event_id, text in reversed(rows)]
