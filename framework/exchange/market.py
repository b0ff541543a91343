"""The local exchange's market: what each public endpoint answers, given the tape and the clock.

Views take validated parameters and return the JSON body (a Python object, or recorded bytes served
unchanged). History comes from the tape up to the clock's *now*; snapshots without a market meaning of
their own (exchangeInfo, depth, index composition, ...) are the recorded fixtures; tickers, average price,
mark price and open interest of taped symbols are computed from the tape so that they agree with it.

``LocalMarket.at(t)`` is the same market with its clock stopped at market time ``t``: the stream server asks
it what REST would answer at an event's time, so frames and REST rows agree.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from typing import Any

import msgspec

from framework.binance.endpoints import Market
from framework.binance.intervals import INTERVAL_MS
from framework.binance.intervals import bucket_close
from framework.binance.intervals import bucket_open
from framework.binance.limits import FUTURES_DATA_RETENTION_MS
from framework.exchange import series
from framework.exchange.data import ExchangeData
from framework.exchange.data import MarketData
from framework.exchange.tape import Kline
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import fmt_units
from framework.exchange.tape import parse_units
from framework.timeunits import DAY_MS
from framework.timeunits import MINUTE_MS

PERIOD_MS = {p: INTERVAL_MS[p] for p in ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")}


class ApiError(Exception):
    """A Binance error answer: HTTP status, code and message."""

    def __init__(self, status: int, code: int, msg: str, retry_after: int | None = None):
        super().__init__(msg)
        self.status, self.code, self.msg, self.retry_after = status, code, msg, retry_after

    def body(self) -> bytes:
        return msgspec.json.encode({"code": self.code, "msg": self.msg})


class MarketClock:
    """The exchange's time: starts at ``origin_ms`` and runs at ``speed`` x wall time (0 = frozen)."""

    def __init__(self, origin_ms: int, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        self.origin_ms = origin_ms
        self.speed = speed
        self._monotonic = monotonic
        self._start = monotonic()

    def now_ms(self) -> int:
        return self.origin_ms + int((self._monotonic() - self._start) * 1000 * self.speed)


def rescale_units(units: int, decimals: int, to_decimals: int, half_even: bool = True) -> int:
    """``units`` of 10**-decimals as units of 10**-to_decimals: exact, else rounded half to even (or floored).

    Integer arithmetic only, for any pair of decimals (a power of ten with a negative exponent is a float).
    """
    if to_decimals >= decimals:
        return units * 10 ** (to_decimals - decimals)
    step = 10 ** (decimals - to_decimals)
    whole, rest = divmod(units, step)  # floor division: 0 <= rest < step, also for negative units
    if half_even and (2 * rest > step or (2 * rest == step and whole % 2)):
        whole += 1
    return whole


def fmt_decimal(value: Decimal | float, decimals: int) -> str:
    # format "f": str() would print small amounts in exponent form ("0E-8", "1.2E-7")
    return format(Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN), "f")


@dataclass(frozen=True)
class Formats:
    """How one taped symbol prints prices, quantities and quote amounts."""

    price: int
    qty: int
    quote: int  # spot prints quote amounts with 8 decimals; USD-M with price + qty decimals

    def p(self, units: int) -> str:
        return fmt_units(units, self.price)

    def q(self, units: int) -> str:
        return fmt_units(units, self.qty)

    def quote_amount(self, units: int) -> str:
        """Format price x qty units (price + qty decimals) with the quote decimals, exact where it can be."""
        exact = self.price + self.qty
        if exact <= self.quote:
            return fmt_units(units * 10 ** (self.quote - exact), self.quote)
        return fmt_decimal(Decimal(units).scaleb(-exact), self.quote)


class LocalMarket:
    """Answers every endpoint of the table for the taped (and recorded) symbols."""

    def __init__(self, data: ExchangeData, clock: MarketClock, seed: int = 0, history_ms: int = DAY_MS):
        self.data = data
        self.clock = clock
        self.seed = seed
        self.listed_ms = (clock.origin_ms - history_ms) // MINUTE_MS * MINUTE_MS
        self.formats: dict[tuple[Market, str], Formats] = {}
        for m in Market:
            for symbol, tape in data.market(m).tapes.items():
                quote = 8 if m is Market.SPOT else tape.price_decimals + tape.qty_decimals
                self.formats[(m, symbol)] = Formats(tape.price_decimals, tape.qty_decimals, quote)

    @staticmethod
    def default_origin(data: ExchangeData) -> int:
        """Where the clock starts: the end of the recordings (the latest end of cycle 0)."""
        ends = [t.origin_ms + t.cycle_ms for m in Market for t in data.market(m).tapes.values()]
        return max(ends) if ends else int(time.time() * 1000) // MINUTE_MS * MINUTE_MS

    def now(self) -> int:
        return self.clock.now_ms()

    def at(self, t_ms: int) -> LocalMarket:
        """This market with its clock stopped at market time ``t_ms``: every view answers as of ``t_ms``.

        A shallow copy sharing the data, formats, seed and listing time (nothing big is copied, a view costs
        microseconds), so it agrees with this market on everything but the time. Views also use it to read
        the clock once when they combine several answers.
        """
        view = copy.copy(self)
        view.clock = MarketClock(t_ms, speed=0.0)
        return view

    def tape(self, market: Market, symbol: str) -> SymbolTape | None:
        return self.data.market(market).tapes.get(symbol)

    # -- trades ---------------------------------------------------------------------------------

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
        f = self.formats[(market, symbol)]
        row = {"a": a.id, "p": f.p(a.price), "q": f.q(a.qty), "f": a.first_id, "l": a.last_id, "T": a.time,
               "m": a.is_buyer_maker}
        if market is Market.SPOT:
            row["M"] = True
        return row

    # -- periodic series ---------------------------------------------------------------------------

    @staticmethod
    def select_opens(
        interval: str,
        first_open: int,
        last_open: int,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[int]:
        """Open times of a periodic series, Binance's way: from ``start`` forward, else back from ``end``/now."""
        if end is not None:
            last_open = min(last_open, bucket_open(interval, end))
        if start is not None:
            lo = bucket_open(interval, start)
            lo = lo if lo >= start else bucket_close(interval, lo)
            first_open = max(first_open, lo)
        if first_open > last_open:
            return []
        opens: list[int] = []
        if start is not None:
            t = first_open
            while t <= last_open and len(opens) < limit:
                opens.append(t)
                t = bucket_close(interval, t)
            return opens
        t = last_open
        while t >= first_open and len(opens) < limit:
            opens.append(t)
            t = bucket_open(interval, t - 1)
        return opens[::-1]

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
        return [k.open_time, f.p(k.open), f.p(k.high), f.p(k.low), f.p(k.close), f.q(k.volume), k.close_time,
                f.quote_amount(k.quote_volume), k.trades, f.q(k.taker_buy_volume),
                f.quote_amount(k.taker_buy_quote_volume), "0"]

    def derived_price(self, tape: SymbolTape, f: Formats, price_units: int, t_ms: int, kind: str) -> int:
        """Mark, index or premium (units of 1e-8) for a last price at ``t_ms``."""
        minute = t_ms // MINUTE_MS
        index = series.scaled(price_units, f.price) * series.index_factor(self.seed, minute) // series.SCALE
        if kind == "index":
            return index
        premium = series.premium_factor(self.seed, minute)
        if kind == "mark":
            return index * premium // series.SCALE
        return premium - series.SCALE  # premium index, 1e-8 units

    def derived_kline_json(self, tape: SymbolTape, f: Formats, k: Kline, interval: str, open_ms: int, end_ms: int,
                           kind: str) -> list:
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

    # -- funding, open interest, ratios --------------------------------------------------------

    def funding_interval_ms(self, symbol: str) -> int:
        for row in self.data.futures.snapshot("fundingInfo") or []:
            if row.get("symbol") == symbol:
                return int(row["fundingIntervalHours"]) * 3_600_000
        return 8 * 3_600_000

    def mark_at(self, symbol: str, t_ms: int) -> int | None:
        tape = self.tape(Market.FUTURES, symbol)
        if tape is None:
            return None
        f = self.formats[(Market.FUTURES, symbol)]
        return self.derived_price(tape, f, tape.price_at(t_ms), t_ms, "mark")

    def funding_rows(self, symbol: str | None, start: int | None, end: int | None, limit: int) -> list[dict]:
        symbols = [symbol] if symbol else sorted(self.data.futures.tapes)
        rows = []
        for sym in symbols:
            if self.tape(Market.FUTURES, sym) is None:
                continue
            step = self.funding_interval_ms(sym)
            first = -(-self.listed_ms // step) * step
            last = self.now() // step * step
            opens = self.select_opens_fixed(step, first, last, start, end, limit)
            for t in opens:
                rows.append({"symbol": sym, "fundingTime": t,
                             "fundingRate": fmt_units(series.funding_rate(self.seed, t), 8),
                             "markPrice": fmt_units(self.mark_at(sym, t) or 0, 8)})
        return rows[:limit] if symbol is None else rows

    @staticmethod
    def select_opens_fixed(step: int, first: int, last: int, start: int | None, end: int | None,
                           limit: int) -> list[int]:
        if end is not None:
            last = min(last, end // step * step)
        if start is not None:
            first = max(first, -(-start // step) * step)
        if first > last:
            return []
        if start is not None:
            return list(range(first, min(last, first + (limit - 1) * step) + 1, step))
        return list(range(max(first, last - (limit - 1) * step), last + 1, step))

    def futures_data_rows(self, name: str, symbol: str, period: str, start: int | None, end: int | None,
                          limit: int) -> list[dict]:
        tape = self.tape(Market.FUTURES, symbol)
        if tape is None:
            return []
        step = PERIOD_MS[period]
        now = self.now()
        first = max(self.listed_ms, now - FUTURES_DATA_RETENTION_MS)
        first = -(-first // step) * step
        last = (now - step) // step * step + step  # rows are published when their period starts
        last = min(last, now // step * step)
        rows = []
        f = self.formats[(Market.FUTURES, symbol)]
        for t in self.select_opens_fixed(step, first, last, start, end, limit):
            rows.append(self._futures_data_row(name, tape, f, symbol, t, step, now))
        return rows

    def _futures_data_row(self, name: str, tape: SymbolTape, f: Formats, symbol: str, t: int, step: int,
                          now: int) -> dict:
        if name == "open_interest_hist":
            oi = series.open_interest(self.seed, symbol, t, self._oi_base(tape))
            value = oi * (self.mark_at(symbol, t) or 0) // series.SCALE
            return {"symbol": symbol, "sumOpenInterest": fmt_units(oi, 8),
                    "sumOpenInterestValue": fmt_units(value, 8), "timestamp": t}
        if name == "taker_long_short_ratio":
            k = tape.window(max(t - step, self.listed_ms), t - 1, self.listed_ms)
            buy, sell = k.taker_buy_volume, k.volume - k.taker_buy_volume
            ratio = Decimal(buy) / Decimal(sell) if sell else Decimal(0)
            vol = lambda units: fmt_units(rescale_units(units, f.qty, 4), 4)  # noqa: E731 (Binance prints 4)
            return {"buySellRatio": fmt_decimal(ratio, 4), "buyVol": vol(buy), "sellVol": vol(sell),
                    "timestamp": t}
        long = series.long_share(self.seed, f"{name}|{symbol}", t)
        short = 10_000 - long
        return {"symbol": symbol, "longShortRatio": fmt_decimal(Decimal(long) / Decimal(short), 4),
                "longAccount": fmt_units(long, 4), "shortAccount": fmt_units(short, 4), "timestamp": t}

    @staticmethod
    def _oi_base(tape: SymbolTape) -> int:
        # Open interest of the order of a few cycles of the tape's volume, in whole contracts.
        return max(1, tape.cycle_volume * 3 // 10**tape.qty_decimals)

    def open_interest(self, symbol: str) -> dict:
        tape = self.tape(Market.FUTURES, symbol)
        now = self.now()
        if tape is None:
            return {"openInterest": "0.000", "symbol": symbol, "time": now}
        f = self.formats[(Market.FUTURES, symbol)]
        oi = series.open_interest(self.seed, symbol, now, self._oi_base(tape))
        contracts = rescale_units(oi, series.MARK_DECIMALS, f.qty, half_even=False)  # truncated
        return {"openInterest": fmt_units(contracts, f.qty), "symbol": symbol, "time": now}

    def premium_index(self, symbol: str) -> dict:
        now = self.now()
        tape = self.tape(Market.FUTURES, symbol)
        step = self.funding_interval_ms(symbol)
        next_funding = (now // step + 1) * step
        if tape is None:
            for row in self.data.futures.snapshot("premiumIndex__all_symbols") or []:
                if row["symbol"] == symbol:
                    return row
            return {"symbol": symbol, "markPrice": "0.00000000", "indexPrice": "0.00000000",
                    "estimatedSettlePrice": "0.00000000", "lastFundingRate": "0.00000000",
                    "interestRate": "0.00010000", "nextFundingTime": next_funding, "time": now}
        f = self.formats[(Market.FUTURES, symbol)]
        last = tape.price_at(now)
        mark = self.derived_price(tape, f, last, now, "mark")
        index = self.derived_price(tape, f, last, now, "index")
        return {"symbol": symbol, "markPrice": fmt_units(mark, 8), "indexPrice": fmt_units(index, 8),
                "estimatedSettlePrice": fmt_units(index, 8),
                "lastFundingRate": fmt_units(series.funding_rate(self.seed, next_funding), 8),
                "interestRate": "0.00010000", "nextFundingTime": next_funding, "time": now}

    # -- tickers -------------------------------------------------------------------------------

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
        tape = self.tape(market, symbol)
        now = self.now()
        price = self.formats[(market, symbol)].p(tape.price_at(now)) if tape else "0"
        row = {"symbol": symbol, "price": price}
        if market is Market.FUTURES:
            row["time"] = now
        return row

    def book_ticker(self, market: Market, symbol: str) -> dict:
        now = self.now()
        at = self.at(now)  # the book and its time from one reading of the clock
        bid, bq, ask, aq = at.book_top(market, symbol) if at.tape(market, symbol) else ("0",) * 4
        row = {"symbol": symbol, "bidPrice": bid, "bidQty": bq, "askPrice": ask, "askQty": aq}
        if market is Market.FUTURES:
            row["time"] = now
        return row

    def avg_price(self, symbol: str) -> dict:
        now = self.now()
        w = self.ticker_window(Market.SPOT, symbol, 5 * MINUTE_MS, now)
        tape = self.tape(Market.SPOT, symbol)
        close_time = tape.trade(tape.last_trade_at(now)).time if tape else now
        return {"mins": 5, "price": w["weightedAvgPrice"], "closeTime": close_time}

    def trading_day(self, symbol: str, mini: bool) -> dict:
        now = self.now()
        day_open = now // DAY_MS * DAY_MS
        return self._mini(self.ticker_window(Market.SPOT, symbol, now - day_open + 1, now), mini)

    def rolling(self, symbol: str, window: str, mini: bool) -> dict:
        return self._mini(self.ticker_window(Market.SPOT, symbol, INTERVAL_MS[window] or DAY_MS), mini)

    @staticmethod
    def _mini(row: dict, mini: bool) -> dict:
        if not mini:
            return row
        return {k: v for k, v in row.items() if k not in ("priceChange", "priceChangePercent", "weightedAvgPrice")}

    def symbols_for(self, market: Market, symbol: str | None, symbols: list[str] | None) -> list[str] | None:
        """None for a single-symbol answer, else the symbols of a list answer (all taped ones by default)."""
        if symbol:
            return None
        if symbols:
            return symbols
        return sorted(self.data.market(market).tapes)


def recorded(data: MarketData, name: str) -> bytes:
    raw = data.snapshot_bytes(name)
    if raw is None:
        raise ApiError(404, -1000, f"No recorded data for {name} in {data.root}")
    return raw
