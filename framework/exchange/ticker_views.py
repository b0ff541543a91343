"""The local market's ticker views: 24 h, rolling-window and trading-day tickers, prices, the book top."""

from __future__ import annotations

from decimal import Decimal

from framework.binance.endpoints import Market
from framework.binance.intervals import INTERVAL_MS
from framework.exchange import series
from framework.exchange.formats import fmt_decimal
from framework.exchange.market_state import MarketState
from framework.exchange.tape import parse_units
from framework.timeunits import DAY_MS
from framework.timeunits import MINUTE_MS


class TickerViews(MarketState):
    """``ticker/*``, ``avgPrice`` and ``bookTicker``; the ticker and bookTicker streams' sources too."""

    def ticker_window(self, market: Market, symbol: str, window_ms: int, now: int | None = None) -> dict:
        """Rolling-window statistics in Binance's ticker vocabulary (last ``window_ms`` up to now)."""
        now = self.now() if now is None else now
        tape = self.tape(market, symbol)
        lo = max(self.listed_ms, now - window_ms + 1)
        if tape is None:
            return {"symbol": symbol, "priceChange": "0", "priceChangePercent": "0.000", "weightedAvgPrice": "0",
                    "openPrice": "0", "highPrice": "0", "lowPrice": "0", "lastPrice": "0", "volume": "0",
                    "quoteVolume": "0", "openTime": lo, "closeTime": now, "firstId": -1, "lastId": -1, "count": 0}
        f = self.formats[(market, symbol)]
        k = tape.window(lo, now, self.listed_ms)
        change = k.close - k.open
        pct = Decimal(change * 100) / Decimal(k.open) if k.open else Decimal(0)
        # quote units carry price + qty decimals, so quote / volume is in price units
        wavg = Decimal(k.quote_volume) / Decimal(k.volume) if k.volume else Decimal(k.close)
        return {
            "symbol": symbol,
            "priceChange": f.p(change),
            "priceChangePercent": fmt_decimal(pct, 3),
            "weightedAvgPrice": fmt_decimal(wavg.scaleb(-f.price), f.price),
            "openPrice": f.p(k.open),
            "highPrice": f.p(k.high),
            "lowPrice": f.p(k.low),
            "lastPrice": f.p(k.close),
            "volume": f.q(k.volume),
            "quoteVolume": f.quote_amount(k.quote_volume),
            "openTime": lo,
            "closeTime": now,
            "firstId": k.first_trade_id,
            "lastId": k.last_trade_id,
            "count": k.trades,
        }

    def tick_units(self, market: Market, symbol: str) -> int:
        """The symbol's price tick (exchangeInfo PRICE_FILTER) in price units."""
        f = self.formats[(market, symbol)]
        for flt in self.data.market(market).symbols[symbol].get("filters", []):
            if flt.get("filterType") == "PRICE_FILTER":
                return max(1, parse_units(flt["tickSize"].rstrip("0") or "0", f.price))
        return 1

    def book_top(self, market: Market, symbol: str) -> tuple[str, str, str, str]:
        """Best bid/ask around the last trade: one tick apart, sizes from the seed."""
        tape = self.tape(market, symbol)
        f = self.formats[(market, symbol)]
        now = self.now()
        last = tape.trade(tape.last_trade_at(now))
        tick = self.tick_units(market, symbol)
        bid = last.price if last.is_buyer_maker else last.price - tick
        size = lambda tag: 1 + int(abs(series.noise(self.seed, tag, now // 1000)) * 5 * 10**f.qty)  # noqa: E731
        return f.p(bid), f.q(size("bid")), f.p(bid + tick), f.q(size("ask"))

    def ticker_24hr(self, market: Market, symbol: str) -> dict:
        """``ticker/24hr`` of one symbol, in the market's key order."""
        at = self.at(self.now())  # one reading of the clock for the window, last trade and book
        w = at.ticker_window(market, symbol, DAY_MS)
        if market is Market.FUTURES:
            last_qty = at._last_qty(market, symbol)
            keys = ("symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "lastPrice")
            out = {k: w[k] for k in keys}
            out["lastQty"] = last_qty
            out.update({k: w[k] for k in ("openPrice", "highPrice", "lowPrice", "volume", "quoteVolume",
                                          "openTime", "closeTime", "firstId", "lastId", "count")})
            return out
        bid, bid_qty, ask, ask_qty = at.book_top(market, symbol) if at.tape(market, symbol) else ("0",) * 4
        prev_close = w["openPrice"]
        out = {k: w[k] for k in ("symbol", "priceChange", "priceChangePercent", "weightedAvgPrice")}
        out.update({"prevClosePrice": prev_close, "lastPrice": w["lastPrice"],
                    "lastQty": at._last_qty(market, symbol), "bidPrice": bid, "bidQty": bid_qty,
                    "askPrice": ask, "askQty": ask_qty})
        out.update({k: w[k] for k in ("openPrice", "highPrice", "lowPrice", "volume", "quoteVolume", "openTime",
                                      "closeTime", "firstId", "lastId", "count")})
        return out

    def _last_qty(self, market: Market, symbol: str) -> str:
        tape = self.tape(market, symbol)
        if tape is None:
            return "0"
        return self.formats[(market, symbol)].q(tape.trade(tape.last_trade_at(self.now())).qty)

    def ticker_price(self, market: Market, symbol: str) -> dict:
        """``ticker/price`` of one symbol."""
        tape = self.tape(market, symbol)
        now = self.now()
        price = self.formats[(market, symbol)].p(tape.price_at(now)) if tape else "0"
        row = {"symbol": symbol, "price": price}
        if market is Market.FUTURES:
            row["time"] = now
        return row

    def book_ticker(self, market: Market, symbol: str) -> dict:
        """``ticker/bookTicker`` of one symbol."""
        now = self.now()
        at = self.at(now)  # the book and its time from one reading of the clock
        bid, bq, ask, aq = at.book_top(market, symbol) if at.tape(market, symbol) else ("0",) * 4
        row = {"symbol": symbol, "bidPrice": bid, "bidQty": bq, "askPrice": ask, "askQty": aq}
        if market is Market.FUTURES:
            row["time"] = now
        return row

    def avg_price(self, symbol: str) -> dict:
        """Spot ``avgPrice``: the 5-minute weighted average."""
        now = self.now()
        w = self.ticker_window(Market.SPOT, symbol, 5 * MINUTE_MS, now)
        tape = self.tape(Market.SPOT, symbol)
        close_time = tape.trade(tape.last_trade_at(now)).time if tape else now
        return {"mins": 5, "price": w["weightedAvgPrice"], "closeTime": close_time}

    def trading_day(self, symbol: str, mini: bool) -> dict:
        """Spot ``ticker/tradingDay`` (UTC day so far), full or MINI."""
        now = self.now()
        day_open = now // DAY_MS * DAY_MS
        return self._mini(self.ticker_window(Market.SPOT, symbol, now - day_open + 1, now), mini)

    def rolling(self, symbol: str, window: str, mini: bool) -> dict:
        """Spot ``ticker`` (rolling window ``window``), full or MINI; the ``@ticker_<window>`` streams too."""
        return self._mini(self.ticker_window(Market.SPOT, symbol, INTERVAL_MS[window] or DAY_MS), mini)

    @staticmethod
    def _mini(row: dict, mini: bool) -> dict:
        if not mini:
            return row
        return {k: v for k, v in row.items() if k not in ("priceChange", "priceChangePercent", "weightedAvgPrice")}
