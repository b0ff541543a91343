"""Nautilus instruments from a Binance ``exchangeInfo`` answer.

Spot symbols become ``CurrencyPair`` (``BTCUSDT.BINANCE``), USD-M perpetuals ``CryptoPerpetual``
(``BTCUSDT-PERP.BINANCE``) and delivery contracts ``CryptoFuture`` (``BTCUSDT_240927.BINANCE``): the
identifiers of Nautilus's own Binance adapter (``BinanceSymbol.parse_as_nautilus``), so data we write
and data the adapter streams line up.

Precision is the adapter's rule: the decimals of ``tickSize`` / ``stepSize`` as Binance writes them.
Spot writes every decimal with 8 places ("0.01000000"), so spot instruments get precision 8; USD-M
writes "0.01" / "0.001", so BTCUSDT-PERP gets 2 / 3. This keeps history exact: Binance coarsens tick
and step sizes over time (BTCUSDT spot quantities had 6 decimals in April 2021, the October 2021
exchangeInfo says step 0.00001), and every spot value Binance ever sent fits 8 decimals. The tick and
step sizes themselves stay in ``price_increment`` / ``size_increment``. ``min_precision`` raises the
floor (e.g. 8 for USD-M history older than a tick-size change).

Every value is converted exactly from Binance's decimal text (no float). Fees and margins do not come
from ``exchangeInfo``; they come from :class:`FeeConfig`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from decimal import ROUND_CEILING
from decimal import ROUND_FLOOR
from decimal import Decimal
from typing import Any

import msgspec
from nautilus_trader.common.config import NautilusConfig  # not .config: that imports every config (~20 MB)
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import Symbol
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.instruments import CryptoFuture
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import FIXED_PRECISION
from nautilus_trader.model.objects import MONEY_MAX
from nautilus_trader.model.objects import PRICE_MAX
from nautilus_trader.model.objects import QUANTITY_MAX
from nautilus_trader.model.objects import Currency
from nautilus_trader.model.objects import Money
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from framework.binance.endpoints import Market
from framework.binance.schemas import FuturesExchangeInfo
from framework.binance.schemas import SpotExchangeInfo
from framework.binance.schemas import SymbolInfo
from framework.data.types import money_of
from framework.data.types import price_of
from framework.data.types import quantity_of
from framework.timeunits import NS_PER_MS

log = logging.getLogger(__name__)

BINANCE_VENUE = Venue("BINANCE")

#: USD-M contract types that are perpetual swaps (as in Nautilus's futures adapter).
PERPETUAL_CONTRACT_TYPES = frozenset({"PERPETUAL", "PERPETUAL_DELIVERING", "TRADIFI_PERPETUAL"})
#: USD-M contract types that deliver at ``deliveryDate``.
DELIVERY_CONTRACT_TYPES = frozenset(
    {
        "CURRENT_MONTH",
        "NEXT_MONTH",
        "CURRENT_QUARTER",
        "NEXT_QUARTER",
        "CURRENT_QUARTER DELIVERING",  # Binance's spelling (no underscore)
    },
)

#: USD-M (maker, taker) fee rates by VIP tier, without the BNB discount. Copied from Nautilus's
#: ``BinanceFuturesInstrumentProvider`` (verified by Nautilus 2025-01-22,
#: https://www.binance.com/en/fee/futureFee).
FUTURES_FEE_TIERS: dict[int, tuple[Decimal, Decimal]] = {
    0: (Decimal("0.000200"), Decimal("0.000500")),
    1: (Decimal("0.000160"), Decimal("0.000400")),
    2: (Decimal("0.000140"), Decimal("0.000350")),
    3: (Decimal("0.000120"), Decimal("0.000320")),
    4: (Decimal("0.000100"), Decimal("0.000300")),
    5: (Decimal("0.000080"), Decimal("0.000270")),
    6: (Decimal("0.000060"), Decimal("0.000250")),
    7: (Decimal("0.000040"), Decimal("0.000220")),
    8: (Decimal("0.000020"), Decimal("0.000200")),
    9: (Decimal("0.000000"), Decimal("0.000170")),
}


class FeeConfig(NautilusConfig, frozen=True):
    """Fees and margins applied to parsed instruments (``exchangeInfo`` carries neither).

    Fees are fractions of notional. Defaults are Binance's documented base (VIP 0) rates without
    the BNB discount: spot 0.1 % maker and taker; USD-M 0.02 % maker, 0.05 % taker.

    Margins are Nautilus's ``margin_init`` / ``margin_maint`` fractions. With Nautilus's default
    ``LeveragedMarginModel`` the margin is ``notional / venue leverage * margin``, so 1 makes the
    initial margin notional / leverage as on Binance (Nautilus's adapter also uses 1 and ignores
    Binance's ``requiredMarginPercent``). Spot margins matter only when spot pairs trade in a MARGIN
    account (one BINANCE venue for spot and perps): 1 reserves the full notional there, where the
    adapter's 0 would make spot positions free of margin.
    """

    spot_maker_fee: Decimal = Decimal("0.001")
    spot_taker_fee: Decimal = Decimal("0.001")
    futures_maker_fee: Decimal = Decimal("0.0002")
    futures_taker_fee: Decimal = Decimal("0.0005")
    spot_margin_init: Decimal = Decimal(1)
    spot_margin_maint: Decimal = Decimal(1)
    futures_margin_init: Decimal = Decimal(1)
    futures_margin_maint: Decimal = Decimal(1)

    def terms(self, market: Market | str) -> dict[str, Decimal]:
        """``maker_fee``, ``taker_fee``, ``margin_init`` and ``margin_maint`` for ``market``'s instruments."""
        prefix = Market(market).value  # the fields are named spot_* / futures_*
        return {name: getattr(self, f"{prefix}_{name}") for name in ("maker_fee", "taker_fee", "margin_init",
                                                                     "margin_maint")}

    @classmethod
    def for_futures_tier(cls, tier: int, **overrides: Any) -> FeeConfig:
        """Config with the USD-M fees of VIP ``tier`` (0-9, see ``FUTURES_FEE_TIERS``)."""
        maker, taker = FUTURES_FEE_TIERS[tier]
        return cls(**{"futures_maker_fee": maker, "futures_taker_fee": taker, **overrides})


@dataclass(frozen=True, slots=True)
class SkippedSymbol:
    """A symbol that could not be represented as an instrument, and why."""

    symbol: str
    reason: str


@dataclass(slots=True)
class InstrumentParseResult:
    """Instruments parsed from one ``exchangeInfo``, plus the symbols skipped."""

    instruments: list[Instrument] = field(default_factory=list)
    skipped: list[SkippedSymbol] = field(default_factory=list)

    @property
    def skip_counts(self) -> Counter[str]:
        """How many symbols were skipped for each reason."""
        return Counter(s.reason for s in self.skipped)


class UnrepresentableSymbol(ValueError):
    """A symbol whose ``exchangeInfo`` entry cannot become a Nautilus instrument."""


# --------------------------------------------------------------------------------------------------
# Identifiers
# --------------------------------------------------------------------------------------------------


def spot_instrument_id(symbol: str) -> InstrumentId:
    """``BTCUSDT`` -> ``BTCUSDT.BINANCE``."""
    return InstrumentId(Symbol(symbol), BINANCE_VENUE)


def futures_instrument_id(symbol: str) -> InstrumentId:
    """USD-M symbol -> Nautilus id: ``BTCUSDT`` -> ``BTCUSDT-PERP.BINANCE``, ``BTCUSDT_240927`` kept.

    Binance names perpetuals by the pair alone; the suffix is Nautilus's adapter convention, restated here
    (``BinanceSymbol(symbol).parse_as_nautilus(USDT_FUTURES)``, pinned by a test over every listed symbol)
    because importing the adapter package costs ~30 MB of RSS in every command that names an instrument.
    """
    name = symbol.upper().replace(" ", "").replace("/", "").removesuffix("-PERP")
    if not name[-1:].isdigit():  # a delivery contract keeps its date
        name = name.replace("_", "-") if name.endswith("_PERP") else f"{name}-PERP"
    return InstrumentId(Symbol(name), BINANCE_VENUE)


def instrument_id_for(market: Market | str, symbol: str) -> InstrumentId:
    """The Nautilus id of ``symbol`` on ``market`` ("spot" or "futures")."""
    if Market(market) is Market.SPOT:
        return spot_instrument_id(symbol)
    return futures_instrument_id(symbol)


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


def parse_instruments(
    market: Market | str,
    exchange_info: SpotExchangeInfo | FuturesExchangeInfo,
    fees: FeeConfig | None = None,
    ts_ns: int | None = None,
    *,
    statuses: Iterable[str] | None = None,
    min_precision: int = 0,
) -> list[Instrument]:
    """Instruments for every representable symbol (see :func:`parse_instruments_detailed`)."""
    return parse_instruments_detailed(
        market,
        exchange_info,
        fees,
        ts_ns,
        statuses=statuses,
        min_precision=min_precision,
    ).instruments


def parse_instruments_detailed(
    market: Market | str,
    exchange_info: SpotExchangeInfo | FuturesExchangeInfo,
    fees: FeeConfig | None = None,
    ts_ns: int | None = None,
    *,
    statuses: Iterable[str] | None = None,
    min_precision: int = 0,
) -> InstrumentParseResult:
    """Parse every symbol of an ``exchangeInfo`` answer; skipped symbols are listed with a reason.

    ``ts_ns`` stamps ``ts_event``/``ts_init`` (default: the answer's ``serverTime``). ``statuses``
    keeps only symbols with one of those statuses (default: all, so halted or delisted symbols
    still get an instrument for their history). USD-M symbols without a contract type (announced,
    not yet listed) are always skipped. ``min_precision``: lowest price/size precision.
    """
    context = _Context(
        market=Market(market),
        fees=fees or FeeConfig(),
        ts=exchange_info.serverTime * NS_PER_MS if ts_ns is None else ts_ns,
        min_precision=min_precision,
    )
    wanted = None if statuses is None else frozenset(statuses)
    result = InstrumentParseResult()
    for info in exchange_info.symbols:
        if wanted is not None and info.status not in wanted:
            result.skipped.append(SkippedSymbol(info.symbol, f"status {info.status}"))
            continue
        try:
            result.instruments.append(_parse_symbol(info, context))
        except UnrepresentableSymbol as e:
            result.skipped.append(SkippedSymbol(info.symbol, str(e)))
    if result.skipped:
        log.info("%s exchangeInfo: skipped %s", context.market, dict(result.skip_counts))
    return result


@dataclass(frozen=True, slots=True)
class _Context:
    market: Market
    fees: FeeConfig
    ts: int
    min_precision: int


def _parse_symbol(info: SymbolInfo, context: _Context) -> Instrument:
    if context.market is Market.SPOT:
        return _currency_pair(info, context)
    contract_type = info.contractType or ""
    if contract_type in PERPETUAL_CONTRACT_TYPES:
        return _perpetual(info, context)
    if contract_type in DELIVERY_CONTRACT_TYPES:
        return _future(info, context)
    raise UnrepresentableSymbol(f"contract type {contract_type!r}" if contract_type else "no contract type")


@dataclass(frozen=True, slots=True)
class _Common:
    """Fields shared by all three instrument kinds, parsed from the symbol's filters."""

    base: Currency
    quote: Currency
    price_precision: int
    size_precision: int
    price_increment: Price
    size_increment: Quantity
    min_price: Price | None
    max_price: Price | None
    min_quantity: Quantity | None
    max_quantity: Quantity | None
    min_notional: Money | None
    max_notional: Money | None

    def kwargs(self) -> dict[str, Any]:
        return {
            "quote_currency": self.quote,
            "price_precision": self.price_precision,
            "size_precision": self.size_precision,
            "price_increment": self.price_increment,
            "size_increment": self.size_increment,
            "min_price": self.min_price,
            "max_price": self.max_price,
            "min_quantity": self.min_quantity,
            "max_quantity": self.max_quantity,
            "min_notional": self.min_notional,
            "max_notional": self.max_notional,
        }


def _currency(code: str) -> Currency:
    """Nautilus's currency for ``code``: its built-in one (AUD has 2 decimals, XRP 6) or a new crypto
    currency with 8 decimals. This is exactly what the catalog reconstructs when it reads an
    instrument back (``Currency.from_str``), so written and read instruments agree.
    """
    try:
        return Currency.from_str(code)
    except ValueError as e:
        raise UnrepresentableSymbol(f"asset {code!r}: {e}") from e


def _filters(info: SymbolInfo) -> dict[str, dict]:
    return {f.get("filterType", ""): f for f in info.filters}


def _required(filters: dict[str, dict], name: str) -> dict:
    try:
        return filters[name]
    except KeyError:
        raise UnrepresentableSymbol(f"no {name} filter") from None


def _precision(text: str, what: str, floor: int) -> int:
    """Decimals of a tick/step size as Binance writes it ("0.01000000" -> 8), at least ``floor``."""
    value = Decimal(text)
    if value <= 0:
        raise UnrepresentableSymbol(f"{what} {text}")
    precision = max(floor, -min(0, int(value.as_tuple().exponent)))
    if precision > FIXED_PRECISION:
        raise UnrepresentableSymbol(f"{what} {text}: more than {FIXED_PRECISION} decimals")
    return precision


def _on_grid(text: str, increment: str, rounding: str) -> str:
    """``text`` moved onto the ``increment`` grid (floor or ceiling), as decimal text.

    Binance sometimes gives limits off the tick/step grid (EURUSDT ``maxPrice`` 1.74330000 with tick
    0.001). Every valid price is on the grid, so the inward-rounded limit admits exactly the same
    prices.
    """
    step = Decimal(increment)
    steps = (Decimal(text) / step).to_integral_value(rounding=rounding)
    return f"{steps * step:f}"


def _limit(text: str | None, increment: str, rounding: str, maximum: float) -> str | None:
    """A limit on the increment grid, or None when Binance gives 0 (no limit) or one beyond ``maximum``."""
    if text is None or Decimal(text) <= 0 or Decimal(text) > Decimal(repr(maximum)):
        return None
    return _on_grid(text, increment, rounding)


def _price_limits(price_filter: dict, precision: int) -> tuple[Price | None, Price | None]:
    tick = price_filter["tickSize"]
    low = _limit(price_filter.get("minPrice"), tick, ROUND_CEILING, PRICE_MAX)
    high = _limit(price_filter.get("maxPrice"), tick, ROUND_FLOOR, PRICE_MAX)
    return (
        None if low is None else price_of(low, precision),
        None if high is None else price_of(high, precision),
    )


def _quantity_limits(lot_size: dict, precision: int) -> tuple[Quantity | None, Quantity | None]:
    step = lot_size["stepSize"]
    low = _limit(lot_size.get("minQty"), step, ROUND_CEILING, QUANTITY_MAX)
    high = _limit(lot_size.get("maxQty"), step, ROUND_FLOOR, QUANTITY_MAX)
    return (
        None if low is None else quantity_of(low, precision),
        None if high is None else quantity_of(high, precision),
    )


def _exact(convert: Any, text: str, precision: Any, what: str) -> Any:
    try:
        return convert(text, precision)
    except ValueError as e:
        raise UnrepresentableSymbol(f"{what}: {e}") from e


def _notional(filters: dict[str, dict], quote: Currency) -> tuple[Money | None, Money | None]:
    """(min, max) notional from MIN_NOTIONAL (spot ``minNotional``, USD-M ``notional``) or NOTIONAL."""
    legacy = filters.get("MIN_NOTIONAL")
    if legacy is not None:
        text = legacy.get("minNotional", legacy.get("notional"))
        return (_money(text, quote, ROUND_CEILING), None)
    current = filters.get("NOTIONAL")
    if current is not None:
        return (
            _money(current.get("minNotional"), quote, ROUND_CEILING),
            _money(current.get("maxNotional"), quote, ROUND_FLOOR),
        )
    return (None, None)


def _money(text: str | None, currency: Currency, rounding: str) -> Money | None:
    """A notional limit in ``currency``, moved inward onto its precision (a no-op for every
    recorded symbol); None for 0 (no limit) or a value beyond Nautilus's range."""
    unit = f"{Decimal(1).scaleb(-currency.precision):f}"
    limit = _limit(text, unit, rounding, MONEY_MAX)
    return None if limit is None else money_of(limit, currency)


def _common(info: SymbolInfo, min_precision: int) -> _Common:
    filters = _filters(info)
    price_filter = _required(filters, "PRICE_FILTER")
    lot_size = _required(filters, "LOT_SIZE")
    price_precision = _precision(price_filter["tickSize"], "tickSize", min_precision)
    size_precision = _precision(lot_size["stepSize"], "stepSize", min_precision)
    base = _currency(info.baseAsset)
    quote = _currency(info.quoteAsset)
    min_notional, max_notional = _notional(filters, quote)
    min_price, max_price = _price_limits(price_filter, price_precision)
    min_quantity, max_quantity = _quantity_limits(lot_size, size_precision)
    return _Common(
        base=base,
        quote=quote,
        price_precision=price_precision,
        size_precision=size_precision,
        price_increment=_exact(price_of, price_filter["tickSize"], price_precision, "tickSize"),
        size_increment=_exact(quantity_of, lot_size["stepSize"], size_precision, "stepSize"),
        min_price=min_price,
        max_price=max_price,
        min_quantity=min_quantity,
        max_quantity=max_quantity,
        min_notional=min_notional,
        max_notional=max_notional,
    )


def _info_dict(info: SymbolInfo) -> dict:
    return msgspec.to_builtins(info)


def _instrument_kwargs(info: SymbolInfo, context: _Context, market: Market) -> tuple[_Common, dict[str, Any]]:
    """What every instrument of ``market`` is built from: id, precisions and limits from the filters, fees and
    margins from the config, timestamps and the raw ``exchangeInfo`` entry."""
    common = _common(info, context.min_precision)
    return common, {
        "instrument_id": instrument_id_for(market, info.symbol),
        "raw_symbol": Symbol(info.symbol),
        "ts_event": context.ts,
        "ts_init": context.ts,
        "info": _info_dict(info),
        **context.fees.terms(market),
        **common.kwargs(),
    }


def _currency_pair(info: SymbolInfo, context: _Context) -> CurrencyPair:
    common, kwargs = _instrument_kwargs(info, context, Market.SPOT)
    return CurrencyPair(base_currency=common.base, lot_size=common.size_increment, **kwargs)


def _settlement(info: SymbolInfo, common: _Common) -> Currency:
    margin_asset = info.marginAsset or info.quoteAsset
    if margin_asset == info.quoteAsset:
        return common.quote
    if margin_asset == info.baseAsset:
        return common.base
    raise UnrepresentableSymbol(f"margin asset {margin_asset!r} is neither base nor quote")


def _perpetual(info: SymbolInfo, context: _Context) -> CryptoPerpetual:
    common, kwargs = _instrument_kwargs(info, context, Market.FUTURES)
    # USD-M contracts are linear
    return CryptoPerpetual(base_currency=common.base, settlement_currency=_settlement(info, common),
                           is_inverse=False, **kwargs)


def _future(info: SymbolInfo, context: _Context) -> CryptoFuture:
    if info.onboardDate is None or info.deliveryDate is None:
        raise UnrepresentableSymbol("delivery contract without onboardDate/deliveryDate")
    common, kwargs = _instrument_kwargs(info, context, Market.FUTURES)
    return CryptoFuture(
        underlying=common.base,
        settlement_currency=_settlement(info, common),
        is_inverse=False,
        activation_ns=info.onboardDate * NS_PER_MS,
        expiration_ns=info.deliveryDate * NS_PER_MS,
        **kwargs,
    )
