"""Checks of a backtest YAML that need more than its shape: values (markets, balances), the strategies against
the run (their instrument is in it, the data they subscribe to is loaded), and how far the run's span reaches
past what the catalog holds (a warning: the run is still useful).

Each check raises one ``UsageError`` line naming the key and the fix, or returns warning lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from framework.binance.intervals import INTERVAL_MS
from framework.catalog.series import Series
from framework.catalog.store import CatalogStore
from framework.data.kinds import STRATEGY_FLAGS
from framework.errors import UsageError
from framework.timeunits import DAY_MS
from framework.timeunits import HOUR_MS
from framework.timeunits import NS_PER_MS
from framework.values import BadValue
from framework.values import format_time_ms
from framework.values import parse_symbol

MARKETS = ("spot", "futures")
PERP_SUFFIX = "-PERP.BINANCE"
#: Strategy config inputs (``SignalStrategyConfig`` fields) -> the ``data:`` kinds that feed them.
INPUT_KINDS = {"trades": ("trades",), **STRATEGY_FLAGS}


def check_instrument(symbol: Any, market: Any, where: str) -> None:
    """A symbol Binance could list on a market this framework trades (spot, USD-M futures)."""
    if market not in MARKETS:
        extra = " (COIN-M futures are not supported)" if str(market).lower() in ("coinm", "coin-m", "delivery") else ""
        raise UsageError(f"{where}.market: {market!r} is not a market this framework backtests{extra}; "
                         "use spot or futures (USD-M)")
    try:
        parse_symbol(symbol, f"{where}.symbol")
    except BadValue as e:
        raise UsageError(str(e)) from None


NAUTILUS_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "OFF")


def check_log_level(level: str, source: str) -> None:
    """A level Nautilus's logger knows (an unknown one is a Rust panic, not an error)."""
    if level.upper() not in NAUTILUS_LOG_LEVELS:
        raise UsageError(f"{source}: log_level: {level!r} is not a log level; use DEBUG, INFO, WARNING, ERROR or OFF "
                         "(Nautilus's level in <run folder>/nautilus.log)")


def check_custom_kinds(asked: list[str], ids: list[str], source: str) -> None:
    """Custom kinds (funding, open interest, ratios, taker volume) exist for perpetuals only: refuse a run that
    asks for them without one, rather than loading nothing."""
    if asked and not any(i.endswith(PERP_SUFFIX) for i in ids):
        raise UsageError(f"{source}: data: {', '.join(asked)}: custom kinds apply to perpetuals only and the run has "
                         f"none ({', '.join(ids)}); add an instrument with market: futures or drop {asked[0]}")


OMS_TYPES = ("NETTING", "HEDGING")
ACCOUNT_TYPES = ("MARGIN", "CASH")


def check_venues(venues: list[dict[str, Any]], source: str) -> None:
    """Venue values Nautilus would only refuse while building the engine (or read wrongly): ``starting_balances``
    as a list of ``"<positive amount> <CURRENCY>"``, ``oms_type``, ``account_type``, a positive leverage."""
    for i, venue in enumerate(venues):
        where = f"{source}: venues[{i}]" if len(venues) > 1 else f"{source}: venue"
        balances = venue.get("starting_balances")
        if not isinstance(balances, list) or not balances:
            raise UsageError(f"{where}.starting_balances: {balances!r} is not a list of balances; write e.g. "
                             "[\"10000 USDT\"]")
        for text in balances:
            amount, _, currency = str(text).strip().partition(" ")
            try:
                value = Decimal(amount)
            except InvalidOperation:
                value = None
            currency = currency.strip()
            if value is None or not value.is_finite() or value <= 0 or not currency.isalnum() or not currency.isupper():
                raise UsageError(f"{where}.starting_balances: {text!r} is not a balance; write a positive amount and "
                                 "an upper-case currency code, e.g. \"10000 USDT\"")
        for key, valid in (("oms_type", OMS_TYPES), ("account_type", ACCOUNT_TYPES)):
            if key in venue and str(venue[key]).upper() not in valid:
                raise UsageError(f"{where}.{key}: {venue[key]!r} is not one of {', '.join(valid)}")
        leverage = venue.get("default_leverage", 1)
        if isinstance(leverage, bool) or not isinstance(leverage, (int, float)) or not leverage > 0:
            raise UsageError(f"{where}.default_leverage: {leverage!r} must be a number above 0, e.g. 2")


def check_component(config: Any, where: str, ids: list[str], kinds: Any | None) -> None:
    """A strategy/actor config against the run: ``validate()`` when it has one (values, not only keys); its
    instruments among the run's; a ``SignalStrategyConfig``'s inputs among the loaded ``data`` kinds
    (``kinds``: the ``DataKinds`` shortcut, None for the Nautilus form, which names its own data)."""
    if callable(getattr(config, "validate", None)):
        try:
            config.validate()
        except ValueError as e:
            raise UsageError(f"{where}.config.{e}") from None
    if kinds is None:
        return
    own = getattr(config, "instrument_id", None)
    listed = [("instrument_id", own)] if own is not None else []
    listed += [("instrument_ids", i) for i in getattr(config, "instrument_ids", None) or ()]
    for key, iid in listed:
        if str(iid) not in ids:
            symbol = str(iid).split(".")[0]
            market = "futures" if symbol.endswith("-PERP") else "spot"
            entry = f"- {{symbol: {symbol.removesuffix('-PERP')}, market: {market}}}"
            raise UsageError(f"{where}.config.{key}: {iid} is not among the run's instruments ({', '.join(ids)}); "
                             f"add {entry} to instruments or use one of them")
    from strategies.base import SignalStrategyConfig

    if not isinstance(config, SignalStrategyConfig):
        return
    iid = str(config.instrument_id)
    if config.bar_interval is not None and config.bar_interval not in kinds.bars:
        raise UsageError(f"{where}.config.bar_interval: {config.bar_interval} bars are not loaded (data.bars: "
                         f"{list(kinds.bars)}); add {config.bar_interval} to data.bars or set bar_interval to one "
                         "of them")
    for field, names in INPUT_KINDS.items():
        if not getattr(config, field):
            continue
        if field != "trades" and not iid.endswith(PERP_SUFFIX):
            raise UsageError(f"{where}.config.{field}: true, but {iid} is not a perpetual (custom kinds apply to "
                             "perpetuals); set it false or trade the perpetual")
        if not any(getattr(kinds, n) for n in names):
            raise UsageError(f"{where}.config.{field}: true, but data: does not load it; add {names[0]}: true to "
                             f"data (or set {field}: false)")


@dataclass(frozen=True)
class Held:
    """One series the run loads, to compare with what the catalog holds."""

    what: str  # e.g. "1m bars of BTCUSDT-PERP.BINANCE"
    series: Series
    kind: str  # a data kind name (bars, trades, funding, ...)
    interval: str | None = None


def _tolerance_ms(held: Held) -> int:
    """How far the run may reach past the held rows before it is worth a warning: a row's natural spacing
    (bars: two intervals, at least an hour; funding up to 8 h; statistics periods up to a day)."""
    if held.kind == "bars":
        return max(2 * (INTERVAL_MS.get(held.interval or "") or 0), HOUR_MS)
    if held.kind in ("trades", "agg_trades"):
        return HOUR_MS
    if held.kind == "funding":
        return 9 * HOUR_MS
    return DAY_MS


def _span_text(ms: int) -> str:
    days, hours = ms / DAY_MS, ms / HOUR_MS
    return f"{days:.1f} days" if days >= 1 else f"{hours:.1f} h"


def coverage_warnings(catalog: str, loaded: list[Held], start_ms: int, end_ms: int) -> list[str]:
    """One line per loaded series whose held rows start after the run's start or end before its end by more
    than the series' spacing: the run has no data there (it still runs on what there is)."""
    store = CatalogStore(catalog, recover=False)
    lines = []
    for held in loaded:
        bounds = store.ts_bounds(held.series)
        if bounds is None:
            continue
        first, last = (b // NS_PER_MS for b in bounds)
        tolerance = _tolerance_ms(held)
        late = end_ms - last > tolerance
        early = first - start_ms > tolerance
        if not (late or early):
            continue
        parts = []
        if early:
            parts.append(f"start {format_time_ms(start_ms)} is {_span_text(first - start_ms)} before it")
        if late:
            parts.append(f"end {format_time_ms(end_ms)} is {_span_text(end_ms - last)} past it")
        lines.append(f"the catalog holds {held.what} from {format_time_ms(first)} to {format_time_ms(last)}; the "
                     f"run's {' and '.join(parts)} (no data there: ingest it or move start/end)")
    return lines
