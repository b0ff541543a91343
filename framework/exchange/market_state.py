"""What every view of the local market shares: the data, the clock, the number formats and the seed.

``MarketState.at(t)`` is the same market with its clock stopped at market time ``t``: the stream server asks
it what REST would answer at an event's time, so frames and REST rows agree. The views are mixins on this
state (``history_views``, ``futures_views``, ``ticker_views``), gathered by ``market.LocalMarket``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Self

import msgspec

from framework.binance.endpoints import Market
from framework.binance.intervals import bucket_close
from framework.binance.intervals import bucket_open
from framework.exchange import series
from framework.exchange.data import ExchangeData
from framework.exchange.formats import Formats
from framework.exchange.tape import SymbolTape
from framework.timeunits import DAY_MS
from framework.timeunits import MINUTE_MS


class ApiError(Exception):
    """A Binance error answer: HTTP status, code and message."""

    def __init__(self, status: int, code: int, msg: str, retry_after: int | None = None):
        super().__init__(msg)
        self.status, self.code, self.msg, self.retry_after = status, code, msg, retry_after

    def body(self) -> bytes:
        """The JSON body Binance sends with the error."""
        return msgspec.json.encode({"code": self.code, "msg": self.msg})


class MarketClock:
    """The exchange's time: starts at ``origin_ms`` and runs at ``speed`` x wall time (0 = frozen)."""

    def __init__(self, origin_ms: int, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        self.origin_ms = origin_ms
        self.speed = speed
        self._monotonic = monotonic
        self._start = monotonic()

    def now_ms(self) -> int:
        """Market time now, in ms."""
        return self.origin_ms + int((self._monotonic() - self._start) * 1000 * self.speed)


class MarketState:
    """The taped (and recorded) market at the clock's time: what the views read."""

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
        """Market time now, in ms."""
        return self.clock.now_ms()

    def at(self, t_ms: int) -> Self:
        """This market with its clock stopped at market time ``t_ms``: every view answers as of ``t_ms``.

        A shallow copy sharing the data, formats, seed and listing time (nothing big is copied, a view costs
        microseconds), so it agrees with this market on everything but the time. Views also use it to read
        the clock once when they combine several answers.
        """
        view = copy.copy(self)
        view.clock = MarketClock(t_ms, speed=0.0)
        return view

    def tape(self, market: Market, symbol: str) -> SymbolTape | None:
        """The symbol's tape, or None for a symbol that is listed but not taped."""
        return self.data.market(market).tapes.get(symbol)

    def symbols_for(self, market: Market, symbol: str | None, symbols: list[str] | None) -> list[str] | None:
        """None for a single-symbol answer, else the symbols of a list answer (all taped ones by default)."""
        if symbol:
            return None
        if symbols:
            return symbols
        return sorted(self.data.market(market).tapes)

    def seed_of(self, tape: SymbolTape) -> int:
        """The seed of a symbol's seeded series: the exchange's, shifted for a derived symbol."""
        return self.seed + tape.seed_shift

    def derived_price(self, tape: SymbolTape, f: Formats, price_units: int, t_ms: int, kind: str) -> int:
        """Mark, index or premium (units of 1e-8) for a last price at ``t_ms``."""
        minute, seed = t_ms // MINUTE_MS, self.seed_of(tape)
        index = series.scaled(price_units, f.price) * series.index_factor(seed, minute) // series.SCALE
        if kind == "index":
            return index
        premium = series.premium_factor(seed, minute)
        if kind == "mark":
            return index * premium // series.SCALE
        return premium - series.SCALE  # premium index, 1e-8 units

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

    @staticmethod
    def select_opens_fixed(step: int, first: int, last: int, start: int | None, end: int | None,
                           limit: int) -> list[int]:
        """``select_opens`` for a fixed step in ms (funding times, futures-data periods)."""
        if end is not None:
            last = min(last, end // step * step)
        if start is not None:
            first = max(first, -(-start // step) * step)
        if first > last:
            return []
        if start is not None:
            return list(range(first, min(last, first + (limit - 1) * step) + 1, step))
        return list(range(max(first, last - (limit - 1) * step), last + 1, step))
