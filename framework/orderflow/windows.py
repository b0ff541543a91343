"""Exact taker buy/sell quote volume per clock-aligned bucket and over sliding windows.

Amounts are integers (quote volume × ``scale``), so totals are exact at any length: a trade adds its amount once on
entry and subtracts the same integer on expiry, with no recomputation and no float drift. ``TakerFlow`` knows
nothing about Nautilus; ``quote_amount`` turns a ``TradeTick`` into its amount.

Window semantics, stated once:
- a bucket of length ``B`` opening at ``s`` (a multiple of ``B`` since the epoch) holds trades with ``s <= ts < s + B``;
- a sliding window of span ``S`` read at time ``t`` holds trades with ``t - S < ts <= t``.
Trades arrive in trade-id order; an id at or below the last one seen is a duplicate and is dropped (counted).
A trade stamped before the open bucket (it arrived after a timer closed its bucket) counts in the open bucket and
in ``late``; it never reopens a closed bucket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

# Nautilus fixed-point raw values carry 10**16 per unit (high-precision build); price.raw * size.raw is then
# quote volume at 10**32 per USDT.
NAUTILUS_QUOTE_SCALE = 10**32


def quote_amount(tick) -> int:  # noqa: ANN001 - TradeTick, kept import-free
    """Quote volume of a Nautilus ``TradeTick`` as an integer at ``NAUTILUS_QUOTE_SCALE``."""
    return tick.price.raw * tick.size.raw


def to_amount(quote: Decimal | str | int, scale: int = NAUTILUS_QUOTE_SCALE) -> int:
    """A quote volume (e.g. a threshold of ``100000`` USDT) as an integer amount at ``scale``; exact."""
    value = Decimal(quote) * scale
    if value != value.to_integral_value():
        raise ValueError(f"{quote} is finer than 1/{scale}")
    return int(value)


@dataclass(frozen=True, slots=True)
class FlowTotals:
    """Taker flow over one span: amounts at ``scale`` (see ``buy``/``sell`` for decimals)."""

    start_ns: int
    end_ns: int  # exclusive for buckets; the read time (inclusive) for sliding windows
    buy_amount: int
    sell_amount: int
    buy_count: int
    sell_count: int
    scale: int
    cumulative_delta: int = 0  # buy - sell amount over everything counted up to the span's end

    @property
    def cumulative(self) -> Decimal:
        """Cumulative delta at the span's end, exact."""
        return Decimal(self.cumulative_delta) / self.scale

    @property
    def buy(self) -> Decimal:
        """Taker-buy quote volume (USDT for USDT pairs), exact."""
        return Decimal(self.buy_amount) / self.scale

    @property
    def sell(self) -> Decimal:
        """Taker-sell quote volume, exact."""
        return Decimal(self.sell_amount) / self.scale

    @property
    def delta(self) -> Decimal:
        """Taker buy minus sell quote volume over the span, exact."""
        return Decimal(self.buy_amount - self.sell_amount) / self.scale

    @property
    def trades(self) -> int:
        """Taker trades in the span (buys and sells)."""
        return self.buy_count + self.sell_count


class SlidingWindow:
    """Flow over the last ``span_ns``: O(1) amortised per trade (add on entry, subtract on expiry)."""

    __slots__ = ("span_ns", "_entries", "buy", "sell", "buy_count", "sell_count")

    def __init__(self, span_ns: int) -> None:
        if span_ns <= 0:
            raise ValueError("a sliding window needs a positive span")
        self.span_ns = span_ns
        self._entries: deque[tuple[int, int, bool]] = deque()
        self.buy = self.sell = self.buy_count = self.sell_count = 0

    def add(self, ts_ns: int, amount: int, buyer_aggressor: bool) -> None:
        """Count a trade at ``ts_ns`` (expiring what it pushes out first)."""
        if self._entries and self._entries[0][0] <= ts_ns - self.span_ns:
            self.expire(ts_ns)
        self._entries.append((ts_ns, amount, buyer_aggressor))
        if buyer_aggressor:
            self.buy += amount
            self.buy_count += 1
        else:
            self.sell += amount
            self.sell_count += 1

    def expire(self, now_ns: int) -> None:
        """Drop the trades at or before ``now_ns - span_ns``."""
        horizon = now_ns - self.span_ns
        entries = self._entries
        while entries and entries[0][0] <= horizon:
            _, amount, buyer = entries.popleft()
            if buyer:
                self.buy -= amount
                self.buy_count -= 1
            else:
                self.sell -= amount
                self.sell_count -= 1


class TakerFlow:
    """One instrument's taker flow: the open bucket, sliding windows, cumulative delta, dedupe by trade id.

    ``min_amount`` is the large-trade threshold (same scale as the amounts): smaller trades are not counted, though
    their ids and times still advance the state.
    """

    def __init__(
        self,
        bucket_ns: int | None = None,
        windows_ns: Sequence[int] = (),
        min_amount: int = 0,
        scale: int = NAUTILUS_QUOTE_SCALE,
    ) -> None:
        if bucket_ns is not None and bucket_ns <= 0:
            raise ValueError("a bucket needs a positive length")
        self.bucket_ns = bucket_ns
        self.windows = tuple(SlidingWindow(span) for span in windows_ns)
        self.min_amount = min_amount
        self.scale = scale
        self.last_id = -1
        self.last_ts_ns = 0
        self.duplicates = 0
        self.id_gaps = 0  # jumps in the id sequence: a sign that trades were lost upstream
        self.late = 0  # trades stamped before the open bucket (see the module docstring)
        self.cumulative_delta = 0  # buy - sell amount over everything counted since the start
        self._bucket_start = -1
        self._buy = self._sell = self._buy_count = self._sell_count = 0

    def on_trade(self, trade_id: int, ts_ns: int, amount: int, buyer_aggressor: bool) -> FlowTotals | None:
        """Count one trade; returns the bucket it closed, if its time falls in a later bucket (also when no trade
        was counted in it, e.g. none reached ``min_amount``: its totals are then zero)."""
        closed = self.on_trades(((trade_id, ts_ns, amount, buyer_aggressor),))
        return closed[0] if closed else None

    def on_trades(self, trades: Iterable[tuple[int, int, int, bool]]) -> list[FlowTotals]:
        """Count ``(trade_id, ts_ns, amount, buyer_aggressor)`` rows in order; returns the buckets they closed.

        The one implementation of counting: the state lives in locals for the loop (the hot path), and is written
        back at the end.
        """
        closed: list[FlowTotals] = []
        bucket_ns, windows, min_amount, scale = self.bucket_ns, self.windows, self.min_amount, self.scale
        last_id, last_ts, cumulative = self.last_id, self.last_ts_ns, self.cumulative_delta
        open_start, buy, sell, buys, sells = self._bucket_start, self._buy, self._sell, self._buy_count, self._sell_count
        duplicates = gaps = late = 0
        for trade_id, ts_ns, amount, buyer in trades:
            if trade_id <= last_id:
                duplicates += 1
                continue
            if trade_id != last_id + 1 and last_id >= 0:
                gaps += 1
            last_id, last_ts = trade_id, ts_ns
            if bucket_ns is not None:
                start = ts_ns - ts_ns % bucket_ns
                if start > open_start:
                    if open_start >= 0:
                        closed.append(FlowTotals(open_start, open_start + bucket_ns, buy, sell, buys, sells, scale,
                                                 cumulative))
                    open_start, buy, sell, buys, sells = start, 0, 0, 0, 0
                elif start < open_start:
                    late += 1
            if amount < min_amount:
                for window in windows:
                    window.expire(ts_ns)
                continue
            if buyer:
                buy += amount
                buys += 1
                cumulative += amount
            else:
                sell += amount
                sells += 1
                cumulative -= amount
            for window in windows:
                window.add(ts_ns, amount, buyer)
        self.last_id, self.last_ts_ns, self.cumulative_delta = last_id, last_ts, cumulative
        self._bucket_start, self._buy, self._sell, self._buy_count, self._sell_count = open_start, buy, sell, buys, sells
        self.duplicates += duplicates
        self.id_gaps += gaps
        self.late += late
        return closed

    def advance(self, now_ns: int) -> FlowTotals | None:
        """Move the clock without a trade (a timer): expires sliding windows, closes a bucket that has ended."""
        for window in self.windows:
            window.expire(now_ns)
        if self.bucket_ns is None or self._bucket_start < 0:
            return None
        if now_ns >= self._bucket_start + self.bucket_ns:
            return self._roll(now_ns - now_ns % self.bucket_ns)
        return None

    def bucket(self) -> FlowTotals | None:
        """The open bucket so far (None before the first trade or without buckets)."""
        if self.bucket_ns is None or self._bucket_start < 0:
            return None
        return FlowTotals(self._bucket_start, self._bucket_start + self.bucket_ns, self._buy, self._sell,
                          self._buy_count, self._sell_count, self.scale, self.cumulative_delta)

    def window(self, index: int = 0, now_ns: int | None = None) -> FlowTotals:
        """Sliding window ``index`` read at ``now_ns`` (default: the last trade's time)."""
        window = self.windows[index]
        now = self.last_ts_ns if now_ns is None else now_ns
        window.expire(now)
        return FlowTotals(now - window.span_ns, now, window.buy, window.sell, window.buy_count,
                          window.sell_count, self.scale, self.cumulative_delta)

    def _roll(self, new_start: int) -> FlowTotals | None:
        closed = self.bucket()  # None before the first trade; a bucket without counted trades closes with zeros
        self._bucket_start = new_start
        self._buy = self._sell = self._buy_count = self._sell_count = 0
        return closed
