"""msgspec Structs for Binance REST responses (public market data).

Row Structs skip the garbage collector (``gc=False``: they hold only strings, ints and bools, so no
cycles), which decodes pages about 15 % faster. Decimal values stay strings, exactly as Binance sends them; conversion to Nautilus types happens in
parsing, so nothing is rounded on the way in. Unknown fields are ignored, absent optional fields
default, so both older and current response shapes decode.
"""

from __future__ import annotations

import msgspec


class Empty(msgspec.Struct, frozen=True):
    """``{}`` (ping)."""


class ServerTime(msgspec.Struct, frozen=True):
    """``/time``: the exchange's clock in ms."""

    serverTime: int


class RateLimit(msgspec.Struct, frozen=True):
    """One entry of exchangeInfo's ``rateLimits`` (e.g. REQUEST_WEIGHT per minute)."""

    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int


class SymbolInfo(msgspec.Struct, frozen=True):
    """One symbol of exchangeInfo: assets, status, filters and (USD-M) contract fields."""

    symbol: str
    status: str
    baseAsset: str
    quoteAsset: str
    filters: list[dict] = []
    baseAssetPrecision: int | None = None
    quotePrecision: int | None = None
    pricePrecision: int | None = None
    quantityPrecision: int | None = None
    contractType: str | None = None
    pair: str | None = None
    deliveryDate: int | None = None
    onboardDate: int | None = None
    marginAsset: str | None = None


class SpotExchangeInfo(msgspec.Struct, frozen=True):
    """``/api/v3/exchangeInfo``: spot symbols and rate limits."""

    timezone: str
    serverTime: int
    rateLimits: list[RateLimit]
    symbols: list[SymbolInfo]


class FuturesExchangeInfo(msgspec.Struct, frozen=True):
    """``/fapi/v1/exchangeInfo``: USD-M symbols and rate limits."""

    timezone: str
    serverTime: int
    rateLimits: list[RateLimit]
    symbols: list[SymbolInfo]
    futuresType: str | None = None


class Depth(msgspec.Struct, frozen=True):
    """An order book snapshot: price/quantity levels per side."""

    lastUpdateId: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    E: int | None = None
    T: int | None = None


class SpotTrade(msgspec.Struct, frozen=True, gc=False):
    """A spot trade (``trades``, ``historicalTrades``)."""

    id: int
    price: str
    qty: str
    quoteQty: str
    time: int
    isBuyerMaker: bool
    isBestMatch: bool


class FuturesTrade(msgspec.Struct, frozen=True, gc=False):
    """A USD-M trade (``trades``)."""

    id: int
    price: str
    qty: str
    quoteQty: str
    time: int
    isBuyerMaker: bool


class SpotAggTrade(msgspec.Struct, frozen=True, gc=False):
    """A spot aggregate trade: ``a`` id, ``p`` price, ``q`` quantity, ``f``/``l`` first/last trade ids, ``T`` time,
    ``m`` the buyer was the maker."""

    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 (Binance's field name)
    T: int
    m: bool
    M: bool


class FuturesAggTrade(msgspec.Struct, frozen=True, gc=False):
    """A USD-M aggregate trade (the spot fields without ``M``)."""

    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741
    T: int
    m: bool


class Kline(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A kline row (Binance's 12-element array), stamped at its open time."""

    open_time: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    close_time: int
    quote_volume: str
    trades: int
    taker_buy_volume: str
    taker_buy_quote_volume: str
    ignore: str = "0"


class AvgPrice(msgspec.Struct, frozen=True):
    """``avgPrice``: the average price over ``mins`` minutes."""

    mins: int
    price: str
    closeTime: int | None = None  # absent in responses before 2023


class TickerStats(msgspec.Struct, frozen=True):
    """Rolling-window statistics shared by every ticker answer."""

    symbol: str
    priceChange: str
    priceChangePercent: str
    weightedAvgPrice: str
    openPrice: str
    highPrice: str
    lowPrice: str
    lastPrice: str
    volume: str
    quoteVolume: str
    openTime: int
    closeTime: int
    firstId: int
    lastId: int
    count: int


class SpotTicker24hr(TickerStats, frozen=True):
    """The spot 24 h ticker (``FULL``; ``MINI`` lacks the optional fields)."""

    prevClosePrice: str | None = None
    lastQty: str | None = None
    bidPrice: str | None = None
    bidQty: str | None = None
    askPrice: str | None = None
    askQty: str | None = None


SpotTradingDayTicker = TickerStats
SpotRollingTicker = TickerStats


class SpotTickerPrice(msgspec.Struct, frozen=True):
    """The spot latest price of a symbol."""

    symbol: str
    price: str


class SpotBookTicker(msgspec.Struct, frozen=True):
    """The spot best bid and ask."""

    symbol: str
    bidPrice: str
    bidQty: str
    askPrice: str
    askQty: str


class FuturesTicker24hr(TickerStats, frozen=True):
    """The USD-M 24 h ticker."""

    lastQty: str


class FuturesTickerPrice(msgspec.Struct, frozen=True):
    """The USD-M latest price of a symbol."""

    symbol: str
    price: str
    time: int | None = None


class FuturesBookTicker(msgspec.Struct, frozen=True):
    """The USD-M best bid and ask."""

    symbol: str
    bidPrice: str
    bidQty: str
    askPrice: str
    askQty: str
    time: int | None = None


class PremiumIndex(msgspec.Struct, frozen=True):
    """``premiumIndex``: mark and index price, the last funding rate and the next funding time."""

    symbol: str
    markPrice: str
    indexPrice: str
    estimatedSettlePrice: str
    lastFundingRate: str
    interestRate: str
    nextFundingTime: int
    time: int


class FundingRate(msgspec.Struct, frozen=True):
    """A settled funding rate (``fundingRate`` history row)."""

    symbol: str
    fundingTime: int
    fundingRate: str
    markPrice: str | None = None  # older rows have none


class FundingInfo(msgspec.Struct, frozen=True):
    """A symbol whose funding interval or caps differ from the default (``fundingInfo``)."""

    symbol: str
    adjustedFundingRateCap: str
    adjustedFundingRateFloor: str
    fundingIntervalHours: int
    disclaimer: bool = False


class DeliveryPrice(msgspec.Struct, frozen=True):
    """A quarterly contract's settlement price (``delivery-price``)."""

    deliveryTime: int
    # An unquoted JSON number with trailing zeros; Raw keeps its exact text (see ``decimal_of``).
    deliveryPrice: msgspec.Raw


class OpenInterest(msgspec.Struct, frozen=True):
    """``/fapi/v1/openInterest``: the current open interest of a symbol."""

    openInterest: str
    symbol: str
    time: int


class OpenInterestHist(msgspec.Struct, frozen=True):
    """An ``openInterestHist`` row: open interest and its value over one period."""

    symbol: str
    sumOpenInterest: str
    sumOpenInterestValue: str
    timestamp: int | str
    CMCCirculatingSupply: str | None = None


class LongShortRatio(msgspec.Struct, frozen=True):
    """A long/short ratio row (top traders' positions or accounts, or all accounts)."""

    symbol: str
    longShortRatio: str
    longAccount: str
    shortAccount: str
    timestamp: int | str


class TakerBuySellVolume(msgspec.Struct, frozen=True):
    """A ``takerlongshortRatio`` row: taker buy and sell volume over one period (no symbol)."""

    buySellRatio: str
    buyVol: str
    sellVol: str
    timestamp: int | str


class Basis(msgspec.Struct, frozen=True):
    """A ``/futures/data/basis`` row: futures price against the index (``annualizedBasisRate`` is "" for
    perpetuals)."""

    indexPrice: str
    contractType: str
    basisRate: str
    futuresPrice: str
    basis: str
    pair: str
    timestamp: int | str
    annualizedBasisRate: str | None = None


class IndexAsset(msgspec.Struct, frozen=True):
    """One asset of a composite index (``indexInfo``)."""

    baseAsset: str
    quoteAsset: str
    weightInQuantity: str
    weightInPercentage: str


class IndexInfo(msgspec.Struct, frozen=True):
    """A composite index and its assets (``indexInfo``)."""

    symbol: str
    time: int
    component: str
    baseAssetList: list[IndexAsset]


class AssetIndex(msgspec.Struct, frozen=True):
    """A multi-assets-mode asset index (``assetIndex``)."""

    symbol: str
    time: int
    index: str
    bidBuffer: str
    askBuffer: str
    bidRate: str
    askRate: str
    autoExchangeBidBuffer: str
    autoExchangeAskBuffer: str
    autoExchangeBidRate: str
    autoExchangeAskRate: str


class Constituent(msgspec.Struct, frozen=True):
    """One exchange's price in an index (``constituents``)."""

    exchange: str
    symbol: str
    price: str | None = None
    weight: str | None = None


class Constituents(msgspec.Struct, frozen=True):
    """The exchanges an index price is made of (``constituents``)."""

    symbol: str
    time: int
    constituents: list[Constituent]


class ErrorBody(msgspec.Struct, frozen=True):
    """Binance's error answer: ``{"code": -1121, "msg": "Invalid symbol."}``."""

    code: int
    msg: str


# -- data.binance.vision file rows with no REST twin -------------------------------------------------------


class FundingRateFileRow(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A row of a USD-M ``fundingRate`` monthly file (``calc_time,funding_interval_hours,last_funding_rate``):
    one settlement, its interval and rate; no symbol (the file name gives it) and no mark price."""

    calc_time: int
    funding_interval_hours: int
    last_funding_rate: str


class MetricsRow(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A row of a USD-M ``metrics`` daily file: one 5-minute snapshot of open interest and the statistics ratios.

    ``create_time`` is UTC text (``2024-01-01 00:05:00``); the ratio columns are top traders' accounts
    (``count_toptrader``), top traders' positions (``sum_toptrader``), all accounts (``count_long_short``) and
    taker buy/sell volume (``sum_taker``); any value may be empty."""

    create_time: str
    symbol: str
    sum_open_interest: str
    sum_open_interest_value: str
    count_toptrader_long_short_ratio: str
    sum_toptrader_long_short_ratio: str
    count_long_short_ratio: str
    sum_taker_long_short_vol_ratio: str
