"""The market tape: recorded trades, their aggTrades and klines, repeated into an endless market.

A tape holds the trades of one symbol recorded from a Binance stream (the *base cycle*). The base cycle
spans whole minutes (``cycle_ms``); cycle ``k`` is the same trades shifted by ``k * cycle_ms`` in time and
``k * len(trades)`` in trade ids (likewise for aggTrade ids). Cycle 0 sits at the recording's real
timestamps. This makes an unbounded, deterministic market whose every trade, aggTrade and kline can be
looked up in O(1) / O(log n) without materialising history, so REST pages and stream frames always agree.

Quantities are kept as integers in the symbol's smallest units, so sums (volumes, quote volumes) are exact.

A *derived* tape (``SymbolTape.derived``) is another symbol's market made from a recorded one: the same trades at
the same times, every price and quantity multiplied by an exact factor (so each stays a whole number of the new
symbol's ticks and steps), trade and aggTrade ids shifted. Scaling is linear, so the base's prefix sums and
tables serve it through the factors: deriving a symbol costs nothing, however many there are.

Any time window (a kline, a 24h ticker, a taker-volume period) is a contiguous range of trade ids, which is
at most a tail of one cycle, some whole cycles and a head of another. Prefix sums over the base cycle give the
volumes and counts of a range, and sparse tables give its high and low, so a window costs a few bisections
whatever its length or position; nothing walks trades or minutes at request time.
"""

from __future__ import annotations

import bisect
import copy
import csv
import io
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate
from pathlib import Path

from framework.binance.intervals import bucket_close
from framework.binance.recorded import DataError
from framework.binance.recorded import read_maybe_gzip
from framework.timeunits import MINUTE_MS


def fmt_units(units: int, decimals: int) -> str:
    """Format an integer amount of 10**-decimals units as Binance does (fixed decimals)."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    if decimals == 0:
        return f"{sign}{units}"
    whole, frac = divmod(units, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def parse_units(text: str, decimals: int) -> int:
    """Parse a decimal string into integer units of 10**-decimals (exact)."""
    whole, _, frac = text.partition(".")
    frac = frac.ljust(decimals, "0")
    if len(frac) > decimals and frac[decimals:].strip("0"):
        raise ValueError(f"{text!r} has more than {decimals} decimals")
    negative = whole.startswith("-")
    value = int(whole.lstrip("-") or 0) * 10**decimals + int(frac[:decimals] or 0)
    return -value if negative else value


@dataclass(frozen=True, slots=True)
class Trade:
    """One taped trade, in integer units."""

    id: int
    price: int  # price units
    qty: int  # qty units
    time: int  # trade time T (ms)
    event_time: int  # stream event time E (ms)
    is_buyer_maker: bool


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One aggregate trade: a maximal run of trades of one taker order at one price."""

    id: int
    price: int
    qty: int
    first_id: int
    last_id: int
    time: int
    event_time: int
    is_buyer_maker: bool


@dataclass(slots=True)
class Kline:
    """A kline (or any window's statistics) in integer units; merged window by window."""

    open_time: int
    close_time: int  # open time of the next kline - 1 ms, as Binance reports it
    open: int
    high: int
    low: int
    close: int
    volume: int  # base qty units
    quote_volume: int  # price*qty units (price_decimals + qty_decimals)
    trades: int
    taker_buy_volume: int
    taker_buy_quote_volume: int
    first_trade_id: int = -1
    last_trade_id: int = -1

    def merge(self, other: Kline) -> None:
        """Extend this kline with a later one of the same bucket."""
        if other.trades == 0:
            return
        if self.trades == 0:
            self.open = other.open
            self.high, self.low = other.high, other.low
            self.first_trade_id = other.first_trade_id
        else:
            self.high = max(self.high, other.high)
            self.low = min(self.low, other.low)
        self.close = other.close
        self.volume += other.volume
        self.quote_volume += other.quote_volume
        self.trades += other.trades
        self.taker_buy_volume += other.taker_buy_volume
        self.taker_buy_quote_volume += other.taker_buy_quote_volume
        self.last_trade_id = other.last_trade_id


class SymbolTape:
    """One symbol's endless tape built from a base cycle of recorded trades."""

    # A derived tape reads the base's integers through these exact factors (``derived``); the base's are 1.
    _price_mul = _price_div = _qty_mul = _qty_div = 1
    #: Added to the exchange's seed for this symbol's seeded series (mark, index, funding), 0 for a recorded tape.
    seed_shift = 0
    #: The recorded tape a derived one is made from (None for a recorded tape).
    source: str | None = None

    def __init__(self, symbol: str, rows: list[tuple[str, str, str, str, str, str]]):
        if not rows:
            raise ValueError(f"tape for {symbol} has no trades")
        self.symbol = symbol
        self.price_decimals = max(len(r[1].partition(".")[2]) for r in rows)
        self.qty_decimals = max(len(r[2].partition(".")[2]) for r in rows)
        pd, qd = self.price_decimals, self.qty_decimals
        self.first_trade_id = int(rows[0][0])
        self._price = [parse_units(r[1], pd) for r in rows]
        self._qty = [parse_units(r[2], qd) for r in rows]
        self._time = [int(r[3]) for r in rows]
        self._event = [int(r[4]) for r in rows]
        self._maker = [r[5] in ("1", "true", "True") for r in rows]
        ids = [int(r[0]) for r in rows]
        if ids != list(range(ids[0], ids[0] + len(ids))):
            raise ValueError(f"tape for {symbol}: trade ids must be contiguous")
        if any(a > b for a, b in zip(self._time, self._time[1:])):
            # time lookups bisect the trade times, and a time window must be a range of ids
            raise ValueError(f"tape for {symbol}: trade times must not decrease with the ids")
        self.n_trades = len(rows)
        # the recorded units' common divisors: a derived tape's factors must keep them whole
        self.price_gcd, self.qty_gcd = math.gcd(*self._price), math.gcd(*self._qty)
        self.origin_ms = self._time[0] // MINUTE_MS * MINUTE_MS
        self.cycle_ms = (self._time[-1] // MINUTE_MS + 1) * MINUTE_MS - self.origin_ms
        self._build_sums()
        self._build_aggregates()

    # -- construction ----------------------------------------------------------------------------

    def _build_sums(self) -> None:
        # Prefix sums over the base cycle: the totals of trades [i, j) are cum[j] - cum[i], exact integers.
        price, qty = self._price, self._qty
        buy = [0 if maker else q for q, maker in zip(qty, self._maker)]
        self._cum_volume = list(accumulate(qty, initial=0))
        self._cum_quote = list(accumulate(map(int.__mul__, price, qty), initial=0))
        self._cum_buy = list(accumulate(buy, initial=0))
        self._cum_buy_quote = list(accumulate(map(int.__mul__, price, buy), initial=0))
        self._high = SparseTable(price, highest=True)
        self._low = SparseTable(price, highest=False)

    def _build_aggregates(self) -> None:
        # Binance aggregates fills of one taker order at one price; in a trade stream those are the
        # consecutive trades sharing time, price and side.
        starts = [0]
        for i in range(1, self.n_trades):
            if (self._time[i], self._price[i], self._maker[i]) != (
                self._time[i - 1],
                self._price[i - 1],
                self._maker[i - 1],
            ):
                starts.append(i)
        self._agg_first = starts
        self._agg_last = starts[1:] + [self.n_trades]
        cum = self._cum_volume
        self._agg_qty = [cum[b] - cum[a] for a, b in zip(self._agg_first, self._agg_last)]
        self._agg_time = [self._time[a] for a in starts]
        self.n_aggs = len(starts)
        # Aggregate ids are not in a trade recording; derive a stable base from the first trade id.
        self.first_agg_id = self.first_trade_id * 7 // 10

    # -- derived symbols -------------------------------------------------------------------------------

    def derived(self, symbol: str, price_decimals: int, qty_decimals: int, price_factor: Fraction,
                qty_factor: Fraction, id_shift: int, seed_shift: int, price_tick: int = 1,
                qty_step: int = 1) -> SymbolTape:
        """Symbol ``symbol``'s tape made from this one: values times ``price_factor`` / ``qty_factor`` (exact
        decimals) written with ``price_decimals`` / ``qty_decimals``, ids shifted by ``id_shift`` (aggTrade ids
        follow), ``seed_shift`` added to the seed of its seeded series. A factor that would put a value between
        two ticks (``price_tick``) or steps (``qty_step``, in units of the new decimals) is a ValueError."""
        # value = units * 10**-decimals: the units factor carries the change of decimals too
        price = Fraction(self._price_mul, self._price_div) * price_factor * Fraction(10) ** (price_decimals
                                                                                             - self.price_decimals)
        qty = Fraction(self._qty_mul, self._qty_div) * qty_factor * Fraction(10) ** (qty_decimals - self.qty_decimals)
        for what, factor, gcd, tick in (("price", price, self.price_gcd, price_tick),
                                        ("quantity", qty, self.qty_gcd, qty_step)):
            whole = gcd * factor  # every value is a multiple of it
            if factor <= 0 or whole.denominator != 1 or whole.numerator % tick:
                raise ValueError(f"{symbol}: its {what} factor leaves {what}s of {self.symbol} between two of "
                                 f"{symbol}'s {'ticks' if what == 'price' else 'steps'} ({tick} units of "
                                 f"10**-{price_decimals if what == 'price' else qty_decimals})")
        tape = copy.copy(self)
        tape.symbol, tape.source = symbol, self.source or self.symbol
        tape.price_decimals, tape.qty_decimals = price_decimals, qty_decimals
        tape._price_mul, tape._price_div = price.numerator, price.denominator
        tape._qty_mul, tape._qty_div = qty.numerator, qty.denominator
        tape.first_trade_id = self.first_trade_id + id_shift
        tape.first_agg_id = tape.first_trade_id * 7 // 10
        tape.seed_shift = self.seed_shift + seed_shift
        return tape

    def _p(self, units: int) -> int:
        return units * self._price_mul // self._price_div

    def _q(self, units: int) -> int:
        return units * self._qty_mul // self._qty_div

    def _pq(self, units: int) -> int:  # a sum of price x qty units
        return units * self._price_mul * self._qty_mul // (self._price_div * self._qty_div)

    @property
    def cycle_volume(self) -> int:
        """The base cycle's volume in quantity units."""
        return self._q(self._cum_volume[-1])

    @staticmethod
    def empty_kline(open_ms: int, length: int, price: int) -> Kline:
        """A kline without trades, every price at ``price`` (Binance repeats the last close)."""
        return Kline(open_ms, open_ms + length - 1, price, price, price, price, 0, 0, 0, 0, 0)

    # -- addressing --------------------------------------------------------------------------------

    def _split_trade(self, trade_id: int) -> tuple[int, int]:
        return divmod(trade_id - self.first_trade_id, self.n_trades)

    def _split_agg(self, agg_id: int) -> tuple[int, int]:
        return divmod(agg_id - self.first_agg_id, self.n_aggs)

    def trade(self, trade_id: int) -> Trade:
        """The trade of id ``trade_id`` (any id: the tape repeats its cycle, shifted in time)."""
        k, i = self._split_trade(trade_id)
        shift = k * self.cycle_ms
        return Trade(trade_id, self._p(self._price[i]), self._q(self._qty[i]), self._time[i] + shift,
                     self._event[i] + shift, self._maker[i])

    def agg_trade(self, agg_id: int) -> AggTrade:
        """The aggTrade of id ``agg_id`` (any id, as for ``trade``)."""
        k, j = self._split_agg(agg_id)
        a, b = self._agg_first[j], self._agg_last[j]
        shift = k * self.cycle_ms
        first_tid = self.first_trade_id + k * self.n_trades + a
        return AggTrade(
            agg_id,
            self._p(self._price[a]),
            self._q(self._agg_qty[j]),
            first_tid,
            first_tid + (b - a) - 1,
            self._agg_time[j] + shift,
            self._event[b - 1] + shift,
            self._maker[a],
        )

    def first_trade_at(self, t_ms: int) -> int:
        """Id of the first trade with time >= t_ms."""
        k, r = divmod(t_ms - self.origin_ms, self.cycle_ms)
        i = bisect.bisect_left(self._time, self.origin_ms + r)
        if i == self.n_trades:
            k, i = k + 1, 0
        return self.first_trade_id + k * self.n_trades + i

    def last_trade_at(self, t_ms: int) -> int:
        """Id of the last trade with time <= t_ms."""
        return self.first_trade_at(t_ms + 1) - 1

    def first_agg_at(self, t_ms: int) -> int:
        """Id of the first aggTrade with time >= t_ms."""
        k, r = divmod(t_ms - self.origin_ms, self.cycle_ms)
        j = bisect.bisect_left(self._agg_time, self.origin_ms + r)
        if j == self.n_aggs:
            k, j = k + 1, 0
        return self.first_agg_id + k * self.n_aggs + j

    def last_agg_at(self, t_ms: int) -> int:
        """Id of the last aggTrade with time <= t_ms."""
        return self.first_agg_at(t_ms + 1) - 1

    def price_at(self, t_ms: int) -> int:
        """Last traded price at or before ``t_ms`` (price units)."""
        return self._p(self._price[self._split_trade(self.last_trade_at(t_ms))[1]])

    # -- klines --------------------------------------------------------------------------------

    def kline(self, interval: str, open_ms: int, start_ms: int, end_ms: int) -> Kline:
        """The ``interval`` kline opening at ``open_ms``, counting only trades in [start_ms, end_ms].

        ``start_ms``/``end_ms`` clip the market's life (listing time, the exchange clock's now).
        """
        close_ms = bucket_close(interval, open_ms)
        out = self.window(max(open_ms, start_ms), min(close_ms - 1, end_ms), start_ms)
        out.open_time, out.close_time = open_ms, close_ms - 1
        return out

    def window(self, lo: int, hi: int, listed_ms: int) -> Kline:
        """Aggregate of the trades with time in [lo, hi] (open/close times set to lo/hi).

        A window with no trade has the previous close as open/high/low/close, as Binance reports quiet
        periods (at or before ``listed_ms`` there is none to show: the price of the next trade instead).
        Costs O(log n) for any window: see the module docstring.
        """
        first = self.first_trade_at(lo)
        last = self.last_trade_at(hi) if lo <= hi else first - 1
        if first > last:
            reference = first - 1 if lo > listed_ms else first  # first - 1: the last trade before lo
            return self.empty_kline(lo, max(hi - lo + 1, 1), self._p(self._price[self._split_trade(reference)[1]]))
        return self._trades_kline(lo, hi, first, last)

    def _trades_kline(self, open_ms: int, close_ms: int, first_id: int, last_id: int) -> Kline:
        """The kline of trades ``first_id``..``last_id`` (at least one), from the prefix sums and tables."""
        k_first, i = self._split_trade(first_id)
        k_last, j = self._split_trade(last_id)
        # Index i of cycle k_first to index j of cycle k_last: counted from the start of cycle k_first that is
        # `seams` whole cycles plus trades [0, j] of the last one, less trades [0, i) of the first one.
        seams, n = k_last - k_first, self.n_trades

        def total(cum: list[int]) -> int:
            return seams * cum[n] + cum[j + 1] - cum[i]

        if seams == 0:
            high, low = self._high.query(i, j + 1), self._low.query(i, j + 1)
        elif seams == 1:  # the tail of one cycle and the head of the next
            high = max(self._high.query(i, n), self._high.query(0, j + 1))
            low = min(self._low.query(i, n), self._low.query(0, j + 1))
        else:  # a whole cycle lies in between: its extremes are the cycle's, which bound every part
            high, low = self._high.query(0, n), self._low.query(0, n)
        return Kline(
            open_ms,
            close_ms,
            self._p(self._price[i]),
            self._p(high),
            self._p(low),
            self._p(self._price[j]),
            self._q(total(self._cum_volume)),
            self._pq(total(self._cum_quote)),
            last_id - first_id + 1,
            self._q(total(self._cum_buy)),
            self._pq(total(self._cum_buy_quote)),
            first_id,
            last_id,
        )


class SparseTable:
    """Range maximum (``highest``) or minimum of a fixed list in O(1) per query, after O(n log n) preparation.

    Level ``e`` holds the extreme of every run of ``2**e`` values; any range is covered by two overlapping
    runs of the largest power of two that fits in it. Levels hold references to the values (no new ints).
    """

    def __init__(self, values: list[int], highest: bool):
        self._pick = max if highest else min
        self._levels = [values]
        span = 1
        while 2 * span <= len(values):
            prev = self._levels[-1]
            # a comprehension is ~3x faster than map(max, ...) here, which matters at load time
            if highest:
                level = [x if x >= y else y for x, y in zip(prev[:-span], prev[span:])]
            else:
                level = [x if x <= y else y for x, y in zip(prev[:-span], prev[span:])]
            self._levels.append(level)
            span *= 2

    def query(self, lo: int, hi: int) -> int:
        """The extreme of values[lo:hi] (a non-empty range)."""
        e = (hi - lo).bit_length() - 1
        level = self._levels[e]
        return self._pick(level[lo], level[hi - (1 << e)])


TAPE_HEADER = ["id", "price", "qty", "time", "event_time", "is_buyer_maker"]
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
_BOOLEAN = ("true", "false", "True", "False", "1", "0")


def load_tape(path: Path) -> SymbolTape:
    """Load ``<SYMBOL>.csv[.gz]`` (columns id, price, qty, time, event_time, is_buyer_maker).

    Every row is checked first, so a damaged tape is one DataError naming the file, the line and the fault.
    """
    try:
        text = read_maybe_gzip(path).decode()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); a tape is a CSV file") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != TAPE_HEADER:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise DataError(f"{path}, line 1: the header must be {','.join(TAPE_HEADER)} (got {got!r})")
    checked: list[tuple[str, ...]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:  # a blank line
            continue
        _check_row(path, line, row, checked[-1] if checked else None)
        checked.append(tuple(row))
    if not checked:
        raise DataError(f"{path}: no trades after the header; a tape needs at least one row")
    return SymbolTape(path.name.split(".")[0].upper(), checked)  # type: ignore[arg-type]


def _check_row(path: Path, line: int, row: list[str], previous: tuple[str, ...] | None) -> None:
    where = f"{path}, line {line}"
    if len(row) != len(TAPE_HEADER):
        raise DataError(f"{where}: {len(row)} fields, expected {len(TAPE_HEADER)} ({','.join(TAPE_HEADER)})")
    values = dict(zip(TAPE_HEADER, row))
    for name in ("id", "time", "event_time"):
        if not values[name].isdigit():
            raise DataError(f"{where}: {name} {values[name]!r} is not a whole number")
    for name in ("price", "qty"):
        if not _DECIMAL.match(values[name]):
            raise DataError(f"{where}: {name} {values[name]!r} is not a decimal number such as 61850.10")
    if values["is_buyer_maker"] not in _BOOLEAN:
        raise DataError(f"{where}: is_buyer_maker {values['is_buyer_maker']!r} is not true or false")
    if previous is not None:
        if int(values["id"]) != int(previous[0]) + 1:
            raise DataError(f"{where}: id {values['id']} follows {previous[0]}; trade ids must be contiguous "
                            "(no gaps, no repeats, ascending)")
        if int(values["time"]) < int(previous[3]):
            raise DataError(f"{where}: time {values['time']} is before the previous row's {previous[3]}; "
                            "trade times must not decrease")
