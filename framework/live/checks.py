"""Checks of a paper-trading config that run before the Nautilus node is built.

Nautilus validates some identifiers in Rust and aborts the process on a bad one (``TraderId("PAPER001")``:
a panic, exit 134), and checks strategy configs and instruments only when the node builds or runs. Everything
here raises a one-line ``UsageError`` naming the key and the expected form before any Nautilus output.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

import msgspec
from nautilus_trader.common.config import msgspec_encoding_hook
from nautilus_trader.config import NautilusConfig
from nautilus_trader.model.identifiers import InstrumentId

from framework.data.instruments import BINANCE_VENUE
from framework.data.instruments import FeeConfig
from framework.errors import UsageError
from framework.userconfig import explain
from framework.userconfig import import_path
from framework.values import BadValue
from framework.values import parse_balance
from framework.values import parse_catalog
from framework.values import parse_symbol

MARKETS = ("spot", "futures")
ACCOUNT_TYPES = ("MARGIN", "CASH")
OMS_TYPES = ("NETTING", "HEDGING")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Nautilus wants "NAME-TAG" (ASCII, a hyphen, both sides non-empty); we ask for the plain form users recognise
_TRADER_ID = re.compile(r"^[A-Za-z0-9_]+-[A-Za-z0-9_]+$")
_TAG = re.compile(r"^[A-Za-z0-9_]+$")
# Binance's fees are fractions of notional well below 1 % (VIP 0 USD-M taker: 0.0005); more is a unit mistake
_FEE_RANGE = (Decimal("-0.001"), Decimal("0.01"))


def check_trader_id(value: str, where: str) -> None:
    """``NAME-TAG`` such as ``PAPER-001`` (Nautilus panics on anything else)."""
    if not isinstance(value, str) or not _TRADER_ID.match(value):
        raise UsageError(f"{where}: trader_id {value!r} is not a Nautilus trader id; use NAME-TAG (letters, digits "
                         "or _ on both sides of one hyphen), e.g. \"TRADER-001\"")


def check_venue(account_type: str, oms_type: str, balances: tuple[str, ...], leverage: Decimal, where: str) -> None:
    """The simulated venue's account type, OMS type, starting balances and leverage."""
    if account_type not in ACCOUNT_TYPES:
        raise UsageError(f"{where}: account_type {account_type!r} is not one of {', '.join(ACCOUNT_TYPES)}")
    if oms_type not in OMS_TYPES:
        raise UsageError(f"{where}: oms_type {oms_type!r} is not one of {', '.join(OMS_TYPES)}")
    if not balances:
        raise UsageError(f"{where}: starting_balances: empty; give at least one, e.g. [\"10000 USDT\"]")
    for i, text in enumerate(balances):
        try:
            parse_balance(text, f"starting_balances[{i}]")
        except UsageError as e:
            raise UsageError(f"{where}: {e}") from None
    if leverage <= 0:
        raise UsageError(f"{where}: default_leverage {leverage} must be more than zero, e.g. 1")


def check_fees(fees: FeeConfig, where: str) -> None:
    """Fees are small fractions of notional (a percentage given as a fraction is the usual mistake)."""
    low, high = _FEE_RANGE
    for name, value in msgspec.structs.asdict(fees).items():
        if name.endswith("_fee") and not low <= value <= high:
            raise UsageError(f"{where}: fees.{name} {value} is out of range; fees are fractions of notional "
                             f"between {low} and {high} (0.0005 is 0.05 %)")
        if name.endswith(("_init", "_maint")) and value <= 0:
            raise UsageError(f"{where}: fees.{name} {value} must be more than zero (1: margin = notional / leverage)")


def check_components(strategies: tuple[Any, ...], actors: tuple[Any, ...], markets: tuple[str, ...],
                     where: str) -> list[tuple[str, str, str]]:
    """Every strategy and actor imports, its config converts (keys and values, as the node will convert it),
    names instruments of the configured markets and catalog folders; strategy ids are valid and distinct.
    Returns (key, instrument id, market) of every instrument named, for :func:`check_listed`."""
    ids: dict[str, str] = {}
    named: list[tuple[str, str, str]] = []
    for kind, items, path_key in (("strategies", strategies, "strategy_path"), ("actors", actors, "actor_path")):
        for i, item in enumerate(items):
            at = f"{where}: {kind}[{i}]"
            cls = import_path(getattr(item, path_key), f"{at}.{path_key}")
            config_cls = import_path(item.config_path, f"{at}.config_path")
            if not (isinstance(config_cls, type) and issubclass(config_cls, NautilusConfig)):
                raise UsageError(f"{at}.config_path: {item.config_path} is not a Nautilus config class")
            config = _convert(config_cls, item.config, f"{at}.config")
            for key, value in _instrument_values(config):
                name = f"{at}.config.{key}"
                named.append((name, str(value), _check_instrument(value, markets, name)))
            if getattr(config, "catalog_path", None) is not None:
                parse_catalog(config.catalog_path, f"{at}.config.catalog_path")
            if kind == "strategies":
                sid = _strategy_id(cls, config, f"{at}.config")
                if sid in ids:
                    raise UsageError(f"{at}: strategy id {sid} is also {ids[sid]}'s; give each strategy its own "
                                     "order_id_tag, e.g. order_id_tag: \"002\"")
                ids[sid] = f"strategies[{i}]"
    return named


def check_listed(named: list[tuple[str, str, str]], listed: dict[str, set[str]]) -> None:
    """Each named instrument is one the market's exchangeInfo lists (``listed``: market -> instrument ids;
    a market missing there is not checked). Otherwise the strategy would fail at start, after the banner."""
    for where, iid, market in named:
        ids = listed.get(market)
        if ids is None or iid in ids:
            continue
        symbols = {i.split("-PERP")[0].split(".")[0]: i for i in ids}  # compare the symbols: the suffix is shared
        close = difflib.get_close_matches(iid.split("-PERP")[0].split(".")[0], sorted(symbols), n=1, cutoff=0.85)
        hint = f"did you mean {symbols[close[0]]}?" if close else "check the symbol (e.g. BTCUSDT)"
        raise UsageError(f"{where}: {iid} is not listed on Binance {'USD-M futures' if market == 'futures' else 'spot'}"
                         f" (exchangeInfo); {hint}")


def _convert(config_cls: type, config: dict[str, Any], where: str) -> Any:
    # the node decodes the config from JSON exactly like this (StrategyFactory / ActorFactory)
    try:
        raw = msgspec.json.encode(config, enc_hook=msgspec_encoding_hook)
        parsed = config_cls.parse(raw)
        validate = getattr(parsed, "validate", None)
        if callable(validate):
            validate()
        return parsed
    except msgspec.ValidationError as e:
        raise UsageError(f"{where}: {explain(e, config_cls)}") from None
    except BadValue as e:  # validate(): "<key>: <value> <rule>"
        raise UsageError(f"{where}.{e}") from None
    except (ValueError, TypeError, InvalidOperation) as e:
        raise UsageError(f"{where}: {e}") from None


def _instrument_values(config: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) of every instrument id a config names (``instrument_id`` fields and their lists)."""
    for field in msgspec.structs.fields(config):
        value = getattr(config, field.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for j, v in enumerate(values):
            key = field.name if values is not value else f"{field.name}[{j}]"
            if isinstance(v, InstrumentId) or (isinstance(v, str) and "instrument_id" in field.name):
                yield key, v


def _check_instrument(value: Any, markets: tuple[str, ...], where: str) -> str:
    text = str(value)
    symbol, _, venue = text.rpartition(".")
    if not symbol or venue != BINANCE_VENUE.value or not _is_symbol(symbol.removesuffix("-PERP")):
        raise UsageError(f"{where}: {text!r} is not a Binance instrument id; use BTCUSDT-PERP.BINANCE (USD-M) or "
                         "BTCUSDT.BINANCE (spot)")
    market = "futures" if symbol.endswith("-PERP") or symbol[-1].isdigit() else "spot"
    if market not in markets:
        raise UsageError(f"{where}: {text} is a {market} instrument but markets is {list(markets)}; add {market} "
                         f"to markets or use an instrument of {', '.join(markets)}")
    return market


def _is_symbol(text: str) -> bool:
    """A Binance symbol as ``parse_symbol`` reads it, written upper-case (instrument ids are case-sensitive)."""
    try:
        return parse_symbol(text) == text
    except BadValue:
        return False


def _strategy_id(cls: type, config: Any, where: str) -> str:
    tag = getattr(config, "order_id_tag", None)
    if tag is not None and not _TAG.match(str(tag)):
        raise UsageError(f"{where}.order_id_tag: {tag!r} is not a tag; use letters, digits or _, e.g. \"001\"")
    name = getattr(config, "strategy_id", None) or cls.__name__
    return f"{name}-{tag}"
