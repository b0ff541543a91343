"""The market tape (``framework/exchange/tape.py``) against brute force over its own trades.

``SymbolTape.window`` answers any time window from prefix sums and range-extreme tables; these tests check it
against a plain walk over ``tape.trade(id)`` for many seeded random windows (inside one millisecond, empty,
before listing, across cycles), check klines of every interval (including 1s, Monday weeks and calendar
months) against the merge of their sub-intervals, and check the aggTrade rules and the unit formatting.
"""

from __future__ import annotations

import functools
import random
from dataclasses import astuple
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from decimal import Decimal

import pytest

from framework.binance.endpoints import Market
from framework.binance.intervals import INTERVAL_MS
from framework.binance.intervals import bucket_close
from framework.binance.intervals import bucket_open
from framework.exchange.data import load_data
from framework.exchange.formats import Formats
from framework.exchange.formats import rescale_units
from framework.exchange.market import LocalMarket
from framework.exchange.market_state import MarketClock
from framework.exchange.tape import Kline
from framework.exchange.tape import SymbolTape
from framework.exchange.tape import fmt_units
from framework.exchange.tape import parse_units
from framework.timeunits import MINUTE_MS

MARKETS = [Market.SPOT, Market.FUTURES]
from framework.timeunits import DAY_MS


@functools.cache
def tape_of(market: Market) -> SymbolTape:
    tape = load_data().market(market).tapes["BTCUSDT"]
    assert tape.n_trades > 1_000 and tape.cycle_ms % MINUTE_MS == 0
    return tape


def listing(tape: SymbolTape) -> int:
    """A listing time a day before the end of cycle 5 (like the exchange's default one day of history)."""
    return tape.origin_ms + 5 * tape.cycle_ms - DAY_MS


def brute_window(tape: SymbolTape, lo: int, hi: int, listed_ms: int) -> Kline:
    """``window`` the slow way: walk the trades of [lo, hi] one by one."""
    first = tape.first_trade_at(lo)
    assert tape.trade(first - 1).time < lo <= tape.trade(first).time  # the walk's start is right
    # quiet windows show the previous close; at or before listing there is none, so the next trade's price
    price = tape.trade(first - 1 if lo > listed_ms else first).price
    out = Kline(lo, lo + max(hi - lo + 1, 1) - 1, price, price, price, price, 0, 0, 0, 0, 0)
    if lo > hi:
        return out
    trades = []
    tid = first
    while (t := tape.trade(tid)).time <= hi:
        trades.append(t)
        tid += 1
    if not trades:
        return out
    prices = [t.price for t in trades]
    takers = [t for t in trades if not t.is_buyer_maker]
    out.open, out.high, out.low, out.close = prices[0], max(prices), min(prices), prices[-1]
    out.volume = sum(t.qty for t in trades)
    out.quote_volume = sum(t.price * t.qty for t in trades)
    out.trades = len(trades)
    out.taker_buy_volume = sum(t.qty for t in takers)
    out.taker_buy_quote_volume = sum(t.price * t.qty for t in takers)
    out.first_trade_id, out.last_trade_id = trades[0].id, trades[-1].id
    return out


def merged(parts: list[Kline], open_ms: int, close_ms: int) -> Kline:
    """Consecutive klines merged into one spanning [open_ms, close_ms]."""
    out = replace(parts[0], open_time=open_ms, close_time=close_ms)
    for k in parts[1:]:
        out.merge(k)
    return out


def random_time(tape: SymbolTape, rng: random.Random) -> int:
    """A time anywhere from before cycle 0 to ~40 days on, often right at a cycle or minute boundary."""
    k = rng.randrange(-3, 10 * DAY_MS // tape.cycle_ms)
    cycle_start = tape.origin_ms + k * tape.cycle_ms
    match rng.randrange(4):
        case 0:
            return cycle_start + rng.randrange(-3, 4)
        case 1:
            return cycle_start + rng.randrange(tape.cycle_ms // MINUTE_MS) * MINUTE_MS + rng.randrange(-2, 3)
        case _:
            return cycle_start + rng.randrange(tape.cycle_ms)


def random_span(tape: SymbolTape, rng: random.Random) -> int:
    """hi - lo: mostly short (brute force walks every trade), up to a cycle, sometimes negative."""
    return rng.choice([-1, 0, 0, 1, 2, 7, 250, 999, 1_000, 5_000, 59_999, 60_000, 61_234,
                       rng.randrange(1_000), rng.randrange(MINUTE_MS), rng.randrange(tape.cycle_ms)])


def times_with_several_trades(tape: SymbolTape) -> list[int]:
    times = [tape.trade(tape.first_trade_id + i).time for i in range(tape.n_trades)]
    return sorted({a for a, b in zip(times, times[1:]) if a == b})


def quiet_gaps(tape: SymbolTape) -> list[tuple[int, int]]:
    """Inner ranges [a, b] of at least one ms without a trade, between two trades of the base cycle."""
    times = [tape.trade(tape.first_trade_id + i).time for i in range(tape.n_trades)]
    return [(a + 1, b - 1) for a, b in zip(times, times[1:]) if b - a >= 2]


# -- window ------------------------------------------------------------------------------------


@pytest.mark.parametrize("market", MARKETS)
def test_random_windows_match_brute_force(market: Market) -> None:
    tape, rng = tape_of(market), random.Random(f"windows|{market}")
    listed = listing(tape)
    for _ in range(400):
        lo = random_time(tape, rng)
        hi = lo + random_span(tape, rng)
        listed_ms = rng.choice([listed, lo - 1, lo, lo + 1, lo - DAY_MS])
        want = brute_window(tape, lo, hi, listed_ms)
        assert astuple(tape.window(lo, hi, listed_ms)) == astuple(want), (lo, hi, listed_ms)


@pytest.mark.parametrize("market", MARKETS)
def test_windows_spanning_several_cycles_match_brute_force(market: Market) -> None:
    tape, rng = tape_of(market), random.Random(f"cycles|{market}")
    listed = listing(tape)
    spans = [tape.cycle_ms, tape.cycle_ms + 1, 2 * tape.cycle_ms + rng.randrange(tape.cycle_ms)]
    for span in spans:
        lo = random_time(tape, rng)
        for lo_ in (lo, tape.origin_ms + 7 * tape.cycle_ms):  # any start, and exactly a cycle's start
            hi = lo_ + span - 1
            assert astuple(tape.window(lo_, hi, listed)) == astuple(brute_window(tape, lo_, hi, listed))
    whole = tape.window(tape.origin_ms, tape.origin_ms + tape.cycle_ms - 1, listed)
    assert whole.trades == tape.n_trades and whole.volume == tape.cycle_volume


@pytest.mark.parametrize("market", MARKETS)
def test_long_windows_are_the_merge_of_their_pieces(market: Market) -> None:
    tape, rng = tape_of(market), random.Random(f"pieces|{market}")
    listed = listing(tape)
    for _ in range(300):
        lo = random_time(tape, rng)
        hi = lo + rng.randrange(40 * DAY_MS)
        cuts = sorted({rng.randrange(lo, hi + 1) for _ in range(rng.randrange(1, 4))})
        bounds = [lo, *[c + 1 for c in cuts if c < hi], hi + 1]
        pieces = [tape.window(a, b - 1, listed) for a, b in zip(bounds, bounds[1:])]
        want = merged(pieces, lo, hi)
        assert astuple(tape.window(lo, hi, listed)) == astuple(want), (lo, hi, bounds)
        # whole cycles add up exactly, with ids shifted by the cycle's trade count
        k = rng.randrange(1, 50)
        shifted = tape.window(lo + k * tape.cycle_ms, hi + k * tape.cycle_ms, listed)
        got = tape.window(lo, hi, listed)
        assert (shifted.volume, shifted.quote_volume, shifted.trades, shifted.high, shifted.low) == (
            got.volume, got.quote_volume, got.trades, got.high, got.low)
        if got.trades:
            assert shifted.first_trade_id == got.first_trade_id + k * tape.n_trades


@pytest.mark.parametrize("market", MARKETS)
def test_windows_inside_one_millisecond(market: Market) -> None:
    tape, rng = tape_of(market), random.Random(f"ms|{market}")
    listed = listing(tape)
    busy = times_with_several_trades(tape)
    assert busy, "the tape has no millisecond with several trades"
    for t in rng.sample(busy, min(50, len(busy))):
        t += rng.randrange(-3, 30) * tape.cycle_ms
        got = tape.window(t, t, listed)
        assert got.trades >= 2 and got.open_time == got.close_time == t
        assert astuple(got) == astuple(brute_window(tape, t, t, listed))


@pytest.mark.parametrize("market", MARKETS)
def test_empty_windows_show_the_previous_close(market: Market) -> None:
    tape, rng = tape_of(market), random.Random(f"empty|{market}")
    listed = listing(tape)
    gaps = quiet_gaps(tape)
    for a, b in rng.sample(gaps, min(100, len(gaps))):
        shift = rng.randrange(-3, 30) * tape.cycle_ms
        lo = rng.randrange(a, b + 1) + shift
        hi = rng.randrange(lo, b + shift + 1)
        got = tape.window(lo, hi, listed)
        previous = tape.trade(tape.last_trade_at(lo - 1))
        assert (got.trades, got.volume, got.first_trade_id, got.last_trade_id) == (0, 0, -1, -1)
        assert got.open == got.high == got.low == got.close == previous.price
        assert astuple(got) == astuple(brute_window(tape, lo, hi, listed))
    # an inverted window is empty too (one ms long, at lo)
    t = random_time(tape, rng)
    got = tape.window(t, t - 1, listed)
    assert (got.trades, got.open_time, got.close_time) == (0, t, t)
    assert astuple(got) == astuple(brute_window(tape, t, t - 1, listed))


@pytest.mark.parametrize("market", MARKETS)
def test_windows_starting_before_listing(market: Market) -> None:
    tape, rng = tape_of(market), random.Random(f"listing|{market}")
    for _ in range(100):
        listed = random_time(tape, rng)
        lo = listed - rng.randrange(0, 2 * MINUTE_MS)
        hi = lo + random_span(tape, rng)
        got = tape.window(lo, hi, listed)
        assert astuple(got) == astuple(brute_window(tape, lo, hi, listed))
        if got.trades == 0:  # nothing before the listing to show: the first trade's price after lo
            assert got.close == tape.trade(tape.first_trade_at(lo)).price


# -- klines ------------------------------------------------------------------------------------

#: Each interval is the merge of consecutive klines of a shorter one.
SUB_INTERVAL = {"1m": "1s", "3m": "1m", "5m": "1m", "15m": "5m", "30m": "15m", "1h": "30m", "2h": "1h",
                "4h": "2h", "6h": "2h", "8h": "4h", "12h": "6h", "1d": "12h", "3d": "1d", "1w": "1d",
                "1M": "1d"}


def test_bucket_boundaries() -> None:
    rng = random.Random("buckets")
    for _ in range(300):
        t = rng.randrange(0, 4_000_000_000_000)
        for interval, length in INTERVAL_MS.items():
            o, c = bucket_open(interval, t), bucket_close(interval, bucket_open(interval, t))
            assert o <= t < c and bucket_open(interval, c) == c and bucket_open(interval, c - 1) == o
            opened = datetime.fromtimestamp(o / 1000, UTC)
            if interval == "1w":
                assert opened.weekday() == 0 and (opened.hour, opened.minute, opened.second) == (0, 0, 0)
            if interval == "1M":
                closed = datetime.fromtimestamp(c / 1000, UTC)
                assert opened.day == 1 and (opened.hour, opened.minute) == (0, 0)
                months = (closed.year * 12 + closed.month) - (opened.year * 12 + opened.month)
                assert closed.day == 1 and months == 1
            else:
                assert c - o == length
    assert bucket_open("1M", 1_735_689_600_000 - 1) == 1_733_011_200_000  # 2024-12 -> opens Dec 1
    assert bucket_close("1M", 1_733_011_200_000) == 1_735_689_600_000  # ... and closes Jan 1 2025


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("interval", list(INTERVAL_MS))
def test_klines_of_every_interval(market: Market, interval: str) -> None:
    tape, rng = tape_of(market), random.Random(f"klines|{market}|{interval}")
    listed = listing(tape)
    for _ in range(3):
        t = random_time(tape, rng)
        o = bucket_open(interval, t)
        c = bucket_close(interval, o)
        start = rng.choice([listed, o, o + rng.randrange(c - o)])  # listing before or inside the bucket
        end = rng.choice([c + DAY_MS, t])  # the clock after the bucket, or inside it
        got = tape.kline(interval, o, start, end)
        assert (got.open_time, got.close_time) == (o, c - 1)
        want = tape.window(max(o, start), min(c - 1, end), start)
        assert astuple(got) == astuple(replace(want, open_time=o, close_time=c - 1))
        if c - o <= 5 * MINUTE_MS:
            brute = brute_window(tape, max(o, start), min(c - 1, end), start)
            assert astuple(got) == astuple(replace(brute, open_time=o, close_time=c - 1))
        if interval in SUB_INTERVAL:
            sub = SUB_INTERVAL[interval]
            opens = [o]
            while (nxt := bucket_close(sub, opens[-1])) < c:
                opens.append(nxt)
            parts = [tape.kline(sub, s, start, end) for s in opens]
            assert astuple(got) == astuple(merged(parts, o, c - 1))


# -- trades and aggTrades ----------------------------------------------------------------------


@pytest.mark.parametrize("market", MARKETS)
def test_trade_lookups_by_time(market: Market) -> None:
    tape, rng = tape_of(market), random.Random(f"trades|{market}")
    for _ in range(500):
        t = random_time(tape, rng)
        first = tape.first_trade_at(t)
        assert tape.trade(first - 1).time < t <= tape.trade(first).time
        last = tape.last_trade_at(t)
        assert tape.trade(last).time <= t < tape.trade(last + 1).time
        assert tape.price_at(t) == tape.trade(last).price
        k = rng.randrange(-3, 100)
        a, b = tape.trade(first), tape.trade(first + k * tape.n_trades)
        assert (b.price, b.qty, b.is_buyer_maker) == (a.price, a.qty, a.is_buyer_maker)
        assert (b.time - a.time, b.event_time - a.event_time) == (k * tape.cycle_ms, k * tape.cycle_ms)


@pytest.mark.parametrize("market", MARKETS)
def test_agg_trades_follow_binance_rules(market: Market) -> None:
    tape = tape_of(market)
    key = lambda t: (t.time, t.price, t.is_buyer_maker)  # noqa: E731 (one taker order at one price)
    # the whole base cycle and the seams to its neighbours
    first_agg, last_agg = tape.first_agg_id - 5, tape.first_agg_id + tape.n_aggs + 5
    previous = None
    for agg_id in range(first_agg, last_agg + 1):
        a = tape.agg_trade(agg_id)
        trades = [tape.trade(i) for i in range(a.first_id, a.last_id + 1)]
        assert trades and a.id == agg_id
        assert {key(t) for t in trades} == {(a.time, a.price, a.is_buyer_maker)}
        assert a.qty == sum(t.qty for t in trades)
        assert a.event_time == trades[-1].event_time >= a.time
        if previous is not None:
            assert a.first_id == previous.last_id + 1  # contiguous, nothing skipped or shared
            assert key(tape.trade(a.first_id)) != key(tape.trade(previous.last_id))  # maximal runs
            assert a.time >= previous.time
        previous = a
    k = 7
    a, b = tape.agg_trade(first_agg), tape.agg_trade(first_agg + k * tape.n_aggs)
    assert (b.first_id - a.first_id, b.time - a.time) == (k * tape.n_trades, k * tape.cycle_ms)


@pytest.mark.parametrize("market", MARKETS)
def test_agg_lookups_by_time(market: Market) -> None:
    tape, rng = tape_of(market), random.Random(f"aggs|{market}")
    for _ in range(500):
        t = random_time(tape, rng)
        first = tape.first_agg_at(t)
        assert tape.agg_trade(first - 1).time < t <= tape.agg_trade(first).time
        last = tape.last_agg_at(t)
        assert tape.agg_trade(last).time <= t < tape.agg_trade(last + 1).time
        assert tape.agg_trade(first).first_id == tape.first_trade_at(t)  # an aggTrade's trades share its time


# -- units -------------------------------------------------------------------------------------


def test_units_round_trip() -> None:
    rng = random.Random("units")
    for _ in range(3_000):
        decimals = rng.randrange(0, 13)
        units = rng.choice([0, 1, -1, rng.randrange(-10**6, 10**6), rng.randrange(-10**20, 10**20)])
        text = fmt_units(units, decimals)
        assert parse_units(text, decimals) == units
        assert text == format(Decimal(units).scaleb(-decimals), "f")  # fixed decimals, never exponents
        assert Decimal(text) == Decimal(units).scaleb(-decimals)
        assert len(text.partition(".")[2]) == decimals
    assert fmt_units(-5, 2) == "-0.05" and parse_units("-0.05", 2) == -5
    assert fmt_units(-123456, 3) == "-123.456" and parse_units("-123.456", 3) == -123456
    assert fmt_units(7, 0) == "7" and parse_units("7", 0) == 7
    assert parse_units("1.5", 3) == 1500 and parse_units("1.500000", 3) == 1500
    assert parse_units("-2", 2) == -200
    assert parse_units(".5", 1) == 5 and parse_units("-0", 4) == 0
    with pytest.raises(ValueError):
        parse_units("1.2345", 3)


def test_rescale_units_rounds_half_even() -> None:
    rng = random.Random("rescale")
    for _ in range(3_000):
        units, src, dst = rng.randrange(-10**15, 10**15), rng.randrange(0, 13), rng.randrange(0, 13)
        want = Decimal(units).scaleb(dst - src).to_integral_value(rounding="ROUND_HALF_EVEN")
        assert rescale_units(units, src, dst) == int(want)
        floor = Decimal(units).scaleb(dst - src).to_integral_value(rounding="ROUND_FLOOR")
        assert rescale_units(units, src, dst, half_even=False) == int(floor)
    assert [rescale_units(u, 5, 4) for u in (5, 15, 25, -5, -15, 16, -16)] == [0, 2, 2, 0, -2, 2, -2]


def test_taker_volumes_print_four_decimals_whatever_the_qty_decimals() -> None:
    # buyVol/sellVol of takerlongshortRatio have 4 decimals; a tape with 8 qty decimals rounds half-even
    rows = [("1", "100.00", "0.00012350", "60000", "60001", "false"),
            ("2", "100.00", "0.00012250", "60001", "60002", "false"),
            ("3", "101.00", "1.23456789", "60002", "60003", "true")]
    tape = SymbolTape("TESTUSDT", rows)
    data = load_data()
    market = LocalMarket(data, MarketClock(0, speed=0.0), history_ms=0)
    f = Formats(tape.price_decimals, tape.qty_decimals, tape.price_decimals + tape.qty_decimals)
    # the period [1 min, 2 min) is exactly cycle 0 of this one-minute tape
    row = market._futures_data_row("taker_long_short_ratio", tape, f, "TESTUSDT", 2 * MINUTE_MS, MINUTE_MS,
                                   2 * MINUTE_MS)
    # buy 0.000246 -> 0.0002 ; sell 1.23456789 -> 1.2346
    assert (row["buyVol"], row["sellVol"]) == ("0.0002", "1.2346")
    assert row["buySellRatio"] == "0.0002"


# -- the market at a given time ----------------------------------------------------------------


def test_market_at_answers_as_a_frozen_twin() -> None:
    data = load_data()
    origin = LocalMarket.default_origin(data)
    live = LocalMarket(data, MarketClock(origin, speed=1.0))
    rng = random.Random("at")
    for _ in range(10):
        t = origin + rng.randrange(-DAY_MS // 2, 3 * DAY_MS)
        view = live.at(t)
        twin = LocalMarket(data, MarketClock(t, speed=0.0), live.seed, t - live.listed_ms)
        assert view.now() == t and view.listed_ms == live.listed_ms == twin.listed_ms
        assert view.data is live.data and view.formats is live.formats  # shared, not copied
        for m in MARKETS:
            assert view.ticker_24hr(m, "BTCUSDT") == twin.ticker_24hr(m, "BTCUSDT")
            assert view.book_top(m, "BTCUSDT") == twin.book_top(m, "BTCUSDT")
        assert view.premium_index("BTCUSDT") == twin.premium_index("BTCUSDT")
        assert view.rolling("BTCUSDT", "4h", mini=False) == twin.rolling("BTCUSDT", "4h", mini=False)
    assert live.clock.speed == 1.0 and abs(live.now() - origin) < 60_000  # the live market is untouched
