"""The local exchange's stream payloads: each event in Binance's key order, built from the rows REST serves.

Payloads are built from the very views REST answers with, evaluated at the event's time, so a frame and the
REST row of the same id or bucket are identical. Event types (``e``) come from the stream table.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from framework.binance.endpoints import Market
from framework.binance.streams import STREAM_KINDS
from framework.exchange.market import LocalMarket
from framework.exchange.tape import AggTrade
from framework.exchange.tape import Kline
from framework.exchange.tape import Trade


def _event_type(kind: str) -> str:
    event_type = STREAM_KINDS[kind].event_type
    assert event_type is not None
    return event_type


E_TRADE, E_AGG_TRADE, E_BOOK_TICKER = _event_type("trade"), _event_type("aggTrade"), _event_type("bookTicker")
E_KLINE, E_CONTINUOUS_KLINE = _event_type("kline"), _event_type("continuousKline")
E_MARK_PRICE, E_TICKER, E_ROLLING_TICKER = _event_type("markPrice"), _event_type("ticker"), _event_type("rollingTicker")


def _pick(row: dict, keys: tuple[tuple[str, str], ...]) -> dict:
    return {short: row[long] for short, long in keys}


_TICKER_SPOT = (
    ("p", "priceChange"), ("P", "priceChangePercent"), ("w", "weightedAvgPrice"), ("x", "prevClosePrice"),
    ("c", "lastPrice"), ("Q", "lastQty"), ("b", "bidPrice"), ("B", "bidQty"), ("a", "askPrice"),
    ("A", "askQty"), ("o", "openPrice"), ("h", "highPrice"), ("l", "lowPrice"), ("v", "volume"),
    ("q", "quoteVolume"), ("O", "openTime"), ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"),
    ("n", "count"),
)
_TICKER_FUTURES = tuple(kv for kv in _TICKER_SPOT if kv[0] not in "xbBaA")
_ROLLING = (
    ("p", "priceChange"), ("P", "priceChangePercent"), ("o", "openPrice"), ("h", "highPrice"),
    ("l", "lowPrice"), ("c", "lastPrice"), ("w", "weightedAvgPrice"), ("v", "volume"), ("q", "quoteVolume"),
    ("O", "openTime"), ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"), ("n", "count"),
)


class Payloads:
    """Builds each event's payload, in Binance's key order, from the rows REST serves."""

    _MEMO_SIZE = 64

    def __init__(self, market: Market, local: LocalMarket):
        self.market = market
        self.local = local
        self.at = local.at  # the market as REST answers at an event's time
        self.spot = market is Market.SPOT
        self._memo: OrderedDict[tuple, dict] = OrderedDict()

    def _shared(self, key: tuple, build: Callable[[], dict]) -> dict:
        # Clock-driven payloads are the same for every connection at a given time: build each once.
        if key not in self._memo:
            self._memo[key] = build()
            if len(self._memo) > self._MEMO_SIZE:
                self._memo.popitem(last=False)
        return self._memo[key]

    def trade(self, symbol: str, t: Trade) -> dict:
        """``<symbol>@trade``."""
        row = self.local.trade_json(self.market, symbol, t)
        if self.spot:
            return {"e": E_TRADE, "E": t.event_time, "s": symbol, "t": row["id"], "p": row["price"],
                    "q": row["qty"], "T": row["time"], "m": row["isBuyerMaker"], "M": True}
        return {"e": E_TRADE, "E": t.event_time, "T": row["time"], "s": symbol, "t": row["id"],
                "p": row["price"], "q": row["qty"], "X": "MARKET", "m": row["isBuyerMaker"]}

    def agg_trade(self, symbol: str, a: AggTrade) -> dict:
        """``<symbol>@aggTrade``."""
        row = self.local.agg_trade_json(self.market, symbol, a)
        # Merging keeps the leading keys' order; the rest follow in REST's order (USD-M puts "a" before "s").
        if self.spot:
            return {"e": E_AGG_TRADE, "E": a.event_time, "s": symbol} | row
        return {"e": E_AGG_TRADE, "E": a.event_time, "a": row["a"], "s": symbol} | row

    def book_ticker(self, symbol: str, t: Trade) -> dict:
        """``<symbol>@bookTicker``, one update per trade (spot's carries no ``e`` nor times)."""
        bid, bid_qty, ask, ask_qty = self.at(t.event_time).book_top(self.market, symbol)
        book = {"u": t.id, "s": symbol, "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}
        if self.spot:
            return book
        return {"e": E_BOOK_TICKER} | book | {"T": t.time, "E": t.event_time}

    def kline(self, symbol: str, interval: str, k: Kline, closed: bool, event_ms: int) -> dict:
        """``<symbol>@kline_<interval>``."""
        row = LocalMarket.kline_json(k, self.local.formats[(self.market, symbol)])
        bar = {"t": row[0], "T": row[6], "s": symbol, "i": interval, "f": k.first_trade_id,
               "L": k.last_trade_id, "o": row[1], "c": row[4], "h": row[2], "l": row[3], "v": row[5],
               "n": row[8], "x": closed, "q": row[7], "V": row[9], "Q": row[10], "B": row[11]}
        return {"e": E_KLINE, "E": event_ms, "s": symbol, "k": bar}

    def continuous_kline(self, pair: str, interval: str, k: Kline, closed: bool, event_ms: int) -> dict:
        """``<pair>_perpetual@continuousKline_<interval>``."""
        bar = self.kline(pair, interval, k, closed, event_ms)["k"]
        del bar["s"]
        return {"e": E_CONTINUOUS_KLINE, "E": event_ms, "ps": pair, "ct": "PERPETUAL", "k": bar}

    def mark_price(self, symbol: str, t_ms: int) -> dict:
        """``<symbol>@markPrice[@1s]``."""
        def build() -> dict:
            row = self.at(t_ms).premium_index(symbol)
            return {"e": E_MARK_PRICE, "E": t_ms, "s": symbol, "p": row["markPrice"],
                    "P": row["estimatedSettlePrice"], "i": row["indexPrice"], "r": row["lastFundingRate"],
                    "T": row["nextFundingTime"]}

        return self._shared(("markPrice", symbol, t_ms), build)

    def ticker(self, symbol: str, t_ms: int) -> dict:
        """``<symbol>@ticker`` (24 h)."""
        def build() -> dict:
            row = self.at(t_ms).ticker_24hr(self.market, symbol)
            keys = _TICKER_SPOT if self.spot else _TICKER_FUTURES
            return {"e": E_TICKER, "E": t_ms, "s": symbol} | _pick(row, keys)

        return self._shared(("ticker", symbol, t_ms), build)

    def rolling_ticker(self, symbol: str, window: str, t_ms: int) -> dict:
        """Spot ``<symbol>@ticker_<window>``."""
        def build() -> dict:
            row = self.at(t_ms).rolling(symbol, window, mini=False)
            return {"e": E_ROLLING_TICKER.format(window), "E": t_ms, "s": symbol} | _pick(row, _ROLLING)

        return self._shared((window, symbol, t_ms), build)
