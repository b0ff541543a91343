"""Our custom Nautilus data types for Binance market statistics, and exact value conversions.

Every type here is a ``@customdataclass_pyo3()`` registered with the Rust catalog
(``register_custom_data_class``) at import, so it round-trips through a ``ParquetDataCatalog`` and
streams in a chunked ``BacktestNode`` run. Subscribe with ``DataType(Cls)``.

Exact decimals
--------------
Binance sends decimals as strings with at most 8 decimals but up to ~22 significant digits
(``sumOpenInterestValue`` "150570784.07809979", a spot SHIB/PEPE daily kline volume ~1e13-1e14 base
units). Neither a float (15-17 digits) nor an int64 at 1e-8 (max 92,233,720,368.54775807) holds all
of them, and Nautilus custom-data fields allow no Decimal or int128 column. So each decimal field is
stored as Binance's own decimal text (a ``*_str`` field, a parquet string column) and read through
two typed views:

* ``obj.rate`` -> ``Decimal`` (exact, compare/compute without drift);
* ``obj.rate_float`` -> ``float`` (correctly rounded, for signals and numpy).

``None`` marks a value Binance did not send (e.g. ``mark_price`` on old funding rows).

Timestamps
----------
``ts_event`` is Binance's event/period time in ns (the row's ``fundingTime``/``timestamp``/``time``);
for kline-derived data it is the bar close (period end = ``close_time + 1 ms``), the same instant as
the matching Nautilus ``Bar``. ``ts_init`` equals ``ts_event`` for history.

This module deliberately does not use ``from __future__ import annotations``: Nautilus builds the
Arrow schema from the real annotation objects (string annotations raise ``TypeError``).
"""

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from nautilus_trader.core.data import Data
from nautilus_trader.core.nautilus_pyo3.model import register_custom_data_class
from nautilus_trader.model.custom import customdataclass_pyo3
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import FIXED_PRECISION
from nautilus_trader.model.objects import Currency
from nautilus_trader.model.objects import Money
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from framework.timeunits import NS_PER_HOUR

#: A plain decimal as Binance writes it: optional sign, digits, optional fraction. No exponent.
DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


# --------------------------------------------------------------------------------------------------
# Exact conversions: Binance decimal text -> Nautilus fixed-point values
# --------------------------------------------------------------------------------------------------


def fixed_raw(text: str, precision: int) -> int:
    """Return Nautilus's raw fixed-point integer (scale ``10**FIXED_PRECISION``) for ``text``.

    Exact integer arithmetic, no float. Raises ``ValueError`` if ``text`` is not a plain decimal
    or has non-zero digits beyond ``precision`` (the value is not representable at it).
    """
    if DECIMAL_TEXT.fullmatch(text) is None:
        raise ValueError(f"not a plain decimal: {text!r}")
    whole, _, fraction = text.partition(".")
    kept = fraction[:precision]
    if fraction[precision:].strip("0"):
        raise ValueError(f"{text!r} has more than {precision} decimals")
    units = int(whole + kept.ljust(precision, "0"))
    return units * 10 ** (FIXED_PRECISION - precision)


def price_of(text: str, precision: int) -> Price:
    """Exact ``Price`` for Binance decimal text at ``precision`` (see :func:`fixed_raw`)."""
    return Price.from_raw(fixed_raw(text, precision), precision)


def quantity_of(text: str, precision: int) -> Quantity:
    """Exact ``Quantity`` for Binance decimal text at ``precision`` (see :func:`fixed_raw`)."""
    return Quantity.from_raw(fixed_raw(text, precision), precision)


def money_of(text: str, currency: Currency) -> Money:
    """Exact ``Money`` for Binance decimal text in ``currency`` (at the currency's precision)."""
    return Money.from_raw(fixed_raw(text, currency.precision), currency)


def checked_decimal_text(text: str | None) -> str | None:
    """Return ``text`` unchanged if it is a plain decimal (or None); raise ``ValueError`` otherwise."""
    if text is not None and DECIMAL_TEXT.fullmatch(text) is None:
        raise ValueError(f"not a plain decimal: {text!r}")
    return text


# --------------------------------------------------------------------------------------------------
# Typed views over decimal-text fields
# --------------------------------------------------------------------------------------------------


class _TextView:
    """Read-only attribute converting a decimal-text field (``None`` stays ``None``)."""

    convert: Callable[[str], Any]
    meaning = ""

    def __init__(self, field: str) -> None:
        self._field = field

    def __set_name__(self, owner: type, name: str) -> None:
        self.__doc__ = f"``{self._field}`` as {self.meaning} (None if absent)."

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        text = getattr(obj, self._field)
        return None if text is None else self.convert(text)


class DecimalView(_TextView):
    """Read-only attribute: the exact ``Decimal`` of a decimal-text field (``None`` stays ``None``)."""

    convert = staticmethod(Decimal)
    meaning = "an exact Decimal"


class FloatView(_TextView):
    """Read-only attribute: a decimal-text field as ``float`` (correctly rounded; ``None`` stays)."""

    convert = staticmethod(float)
    meaning = "float"


def text_views(*names: str) -> Callable[[type], type]:
    """Class decorator: for each ``name``, ``name`` (:class:`DecimalView`) and ``name_float``
    (:class:`FloatView`) over the field ``name_str``."""

    def add(cls: type) -> type:
        for name in names:
            for attr, view in ((name, DecimalView(f"{name}_str")), (f"{name}_float", FloatView(f"{name}_str"))):
                setattr(cls, attr, view)
                view.__set_name__(cls, attr)
        return cls

    return add


# --------------------------------------------------------------------------------------------------
# Custom data types
# --------------------------------------------------------------------------------------------------


@text_views("rate", "mark_price")
@customdataclass_pyo3()
class FundingRate(Data):
    """A settled USD-M funding rate (``/fapi/v1/fundingRate`` row).

    At ``funding_time`` every open position paid (rate > 0: longs pay shorts)
    ``position notional at mark_price * rate``. ``rate`` is a fraction per funding interval
    (0.0001 = 0.01 %); ``mark_price`` is in the quote asset (None on old rows);
    ``interval_hours`` is the symbol's funding interval (``fundingInfo``, default 8).
    ``funding_time`` and ``ts_event`` are the settlement time in ns.
    """

    instrument_id: InstrumentId
    rate_str: str
    mark_price_str: str
    funding_time: int
    interval_hours: int = 8

    @property
    def next_funding_time(self) -> int:
        """The following settlement time in ns (``funding_time + interval``)."""
        return self.funding_time + self.interval_hours * NS_PER_HOUR


@text_views("open_interest", "open_interest_value")
@customdataclass_pyo3()
class OpenInterest(Data):
    """USD-M open interest (``/futures/data/openInterestHist`` row or ``/fapi/v1/openInterest``).

    ``open_interest`` is in contracts (= base-asset units for USD-M); ``open_interest_value`` in
    the quote asset (None for the current-value endpoint). ``period`` is the statistics period
    ("5m" ... "1d"; "" for a point snapshot). ``ts_event``: Binance's ``timestamp``/``time``.
    """

    instrument_id: InstrumentId
    period: str
    open_interest_str: str
    open_interest_value_str: str


#: Views shared by the three long/short ratio types.
_long_short_views = text_views("long_short_ratio", "long_share", "short_share")


@_long_short_views
@customdataclass_pyo3()
class TopTraderPositionRatio(Data):
    """Top traders' long/short ratio by position size (``topLongShortPositionRatio``).

    ``long_share`` / ``short_share``: fractions of the top 20 % accounts' positions that are long /
    short; ``long_short_ratio`` = long_share / short_share. ``period`` e.g. "5m".
    ``ts_event``: Binance's ``timestamp``.
    """

    instrument_id: InstrumentId
    period: str
    long_short_ratio_str: str
    long_share_str: str
    short_share_str: str


@_long_short_views
@customdataclass_pyo3()
class TopTraderAccountRatio(Data):
    """Top traders' long/short ratio by account count (``topLongShortAccountRatio``).

    ``long_share`` / ``short_share``: fractions of the top 20 % accounts that are net long / short;
    ``long_short_ratio`` = long_share / short_share. ``ts_event``: Binance's ``timestamp``.
    """

    instrument_id: InstrumentId
    period: str
    long_short_ratio_str: str
    long_share_str: str
    short_share_str: str


@_long_short_views
@customdataclass_pyo3()
class GlobalAccountRatio(Data):
    """All accounts' long/short ratio by account count (``globalLongShortAccountRatio``).

    ``long_share`` / ``short_share``: fractions of all accounts with a position that are net long /
    short; ``long_short_ratio`` = long_share / short_share. ``ts_event``: Binance's ``timestamp``.
    """

    instrument_id: InstrumentId
    period: str
    long_short_ratio_str: str
    long_share_str: str
    short_share_str: str


@text_views("buy_volume", "sell_volume", "buy_sell_ratio")
@customdataclass_pyo3()
class TakerBuySellVolume(Data):
    """Taker buy and sell volume over one period (``/futures/data/takerlongshortRatio`` row).

    ``buy_volume`` / ``sell_volume`` in base-asset units bought / sold by takers in the period;
    ``buy_sell_ratio`` = buy / sell. ``period`` e.g. "5m". ``ts_event``: Binance's ``timestamp``.
    """

    instrument_id: InstrumentId
    period: str
    buy_volume_str: str
    sell_volume_str: str
    buy_sell_ratio_str: str


@text_views("basis", "basis_rate", "futures_price", "index_price", "annualized_basis_rate")
@customdataclass_pyo3()
class Basis(Data):
    """The futures-index basis over one period (``/futures/data/basis`` row).

    ``basis`` = ``futures_price`` - ``index_price`` in the quote asset, ``basis_rate`` = basis / index price;
    ``annualized_basis_rate`` only for delivery contracts (None for perpetuals). ``contract_type``: PERPETUAL,
    CURRENT_QUARTER or NEXT_QUARTER. ``period`` e.g. "5m". ``ts_event``: Binance's ``timestamp``.
    """

    instrument_id: InstrumentId
    period: str
    contract_type: str
    basis_str: str
    basis_rate_str: str
    futures_price_str: str
    index_price_str: str
    annualized_basis_rate_str: str


@text_views("quote_volume", "taker_buy_base_volume", "taker_buy_quote_volume")
@customdataclass_pyo3()
class KlineStats(Data):
    """The kline fields a Nautilus ``Bar`` has no room for, keyed to that bar's ``bar_type``.

    ``quote_volume`` and ``taker_buy_quote_volume`` in the quote asset, ``taker_buy_base_volume`` in
    the base asset, ``trade_count`` trades in the period. ``ts_event`` = the bar's ``ts_event`` (period
    end, ``close_time + 1 ms``), so a strategy receives it right after the bar. The catalog files it
    under ``custom_kline_stats/<bar_type>/`` (Nautilus groups data with a ``bar_type`` attribute by it).
    """

    instrument_id: InstrumentId
    bar_type: str
    quote_volume_str: str
    trade_count: int
    taker_buy_base_volume_str: str
    taker_buy_quote_volume_str: str


#: Every custom type defined here.
CUSTOM_DATA_TYPES: tuple[type[Data], ...] = (
    FundingRate,
    OpenInterest,
    TopTraderPositionRatio,
    TopTraderAccountRatio,
    GlobalAccountRatio,
    TakerBuySellVolume,
    Basis,
    KlineStats,
)


def register_custom_types() -> None:
    """Register every type with the Rust catalog (needed for streaming backtests; idempotent)."""
    for cls in CUSTOM_DATA_TYPES:
        register_custom_data_class(cls)


register_custom_types()
