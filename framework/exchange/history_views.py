"""The local market's history views: trades, aggTrades and klines (last, mark, index, premium) from the tape.

History comes from the tape up to the clock's *now*, starting at the listing time (``history`` before the
clock's origin).
"""

from __future__ import annotations

from typing import Any

from framework.binance.endpoints import Market
from framework.binance.intervals import bucket_open
from framework.exchange import series
from framework.exchange.formats import Formats
from framework.exchange.market_state import ApiError
from framework.exchange.market_state import MarketState
from framework.exchange.tape import Kline
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import fmt_units
from framework.timeunits import MINUTE_MS


class HistoryViews(MarketState):
    """``trades``, ``historicalTrades``, ``aggTrades`` and every kline endpoint."""

    def _first_trade_id(self, tape: SymbolTape) -> int:
        return tape.first_trade_at(self.listed_ms)

    def trade_rows(self, market: Market, symbol: str, from_id: int | None, limit: int) -> list[dict]:
        """``trades`` (recent, from_id None) and ``historicalTrades`` (from ``fromId``)."""
        tape = self.tape(market, symbol)
        if tape is None:
            return []
        first, last = self._first_trade_id(tape), tape.last_trade_at(self.now())
        lo = max(first, from_id) if from_id is not None else max(first, last - limit + 1)
        return [self.trade_json(market, symbol, tape.trade(i)) for i in range(lo, min(last, lo + limit - 1) + 1)]

    def trade_json(self, market: Market, symbol: str, t: Any) -> dict:
        """One trade as REST prints it."""
        f = self.formats[(market, symbol)]
        row = {
            "id": t.id,
            "price": f.p(t.price),
            "qty": f.q(t.qty),
            "quoteQty": f.quote_amount(t.price * t.qty),
            "time": t.time,
            "isBuyerMaker": t.is_buyer_maker,
        }
        if market is Market.SPOT:
            row["isBestMatch"] = True
        return row

    def agg_trade_rows(
        self,
        market: Market,
        symbol: str,
        from_id: int | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[dict]:
        """``aggTrades``: from ``fromId``, from ``startTime``, or the latest ``limit``."""
        tape = self.tape(market, symbol)
        if market is Market.FUTURES and from_id is not None and (start is not None or end is not None):
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None:
            if end < start:
                raise ApiError(400, -1128, "Combination of optional parameters invalid.")
            if market is Market.FUTURES and end - start >= 3_600_000:
                raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
        if tape is None:
            return []
        now = self.now()
        first = tape.first_agg_at(self.listed_ms)
        last = tape.last_agg_at(min(now, end) if end is not None else now)
        if from_id is not None:
            lo = max(first, from_id)
        elif start is not None:
            lo = max(first, tape.first_agg_at(start))
        elif end is not None:
            lo = max(first, last - limit + 1)
        else:
            lo = max(first, last - limit + 1)
        return [self.agg_trade_json(market, symbol, tape.agg_trade(i)) for i in range(lo, min(last, lo + limit - 1) + 1)]

    def agg_trade_json(self, market: Market, symbol: str, a: Any) -> dict:
        """One aggTrade as REST prints it."""
        f = self.formats[(market, symbol)]
        row = {"a": a.id, "p": f.p(a.price), "q": f.q(a.qty), "f": a.first_id, "l": a.last_id, "T": a.time,
               "m": a.is_buyer_maker}
        if market is Market.SPOT:
            row["M"] = True
        return row

    def kline_rows(self, market: Market, symbol: str, interval: str, start: int | None, end: int | None,
                   limit: int, price: str = "last") -> list[list]:
        """Klines of the last price (``price='last'``) or of the mark/index/premium series."""
        tape = self.tape(market, symbol)
        if tape is None:
            return []
        now = self.now()
        opens = self.select_opens(interval, bucket_open(interval, self.listed_ms), bucket_open(interval, now),
                                  start, end, limit)
        f = self.formats[(market, symbol)]
        rows = []
        for o in opens:
            k = tape.kline(interval, o, self.listed_ms, now)
            if price == "last":
                rows.append(self.kline_json(k, f))
            else:
                rows.append(self.derived_kline_json(tape, f, k, interval, o, min(now, k.close_time), price))
        return rows

    @staticmethod
    def kline_json(k: Kline, f: Formats) -> list:
        """One last-price kline as REST prints it."""
        return [k.open_time, f.p(k.open), f.p(k.high), f.p(k.low), f.p(k.close), f.q(k.volume), k.close_time,
                f.quote_amount(k.quote_volume), k.trades, f.q(k.taker_buy_volume),
                f.quote_amount(k.taker_buy_quote_volume), "0"]

    def derived_kline_json(self, tape: SymbolTape, f: Formats, k: Kline, interval: str, open_ms: int, end_ms: int,
                           kind: str) -> list:
        """One mark, index or premium kline (``kind``) over the last-price kline ``k``."""
        # Built per minute from the last-price klines so any interval aggregates the same numbers.
        values: list[int] = []
        t = open_ms
        while t <= end_ms:
            m = tape.kline("1m", t, self.listed_ms, end_ms)
            values += [self.derived_price(tape, f, p, t, kind) for p in (m.open, m.high, m.low, m.close)]
            t += MINUTE_MS
        if not values:
            values = [self.derived_price(tape, f, k.close, open_ms, kind)] * 4
        o, h, lo, c = values[0], max(values), min(values), values[-1]
        n = (min(end_ms, k.close_time) - open_ms + 1) // 1000
        p8 = lambda u: fmt_units(u, series.MARK_DECIMALS)  # noqa: E731
        return [open_ms, p8(o), p8(h), p8(lo), p8(c), "0", k.close_time, "0", n, "0", "0", "0"]
