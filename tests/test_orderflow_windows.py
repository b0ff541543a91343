"""TakerFlow against a brute-force recomputation over random trade streams."""

import random
from decimal import Decimal

import pytest

from framework.orderflow import TakerFlow
from framework.orderflow import to_amount

MINUTE = 60_000_000_000


def random_trades(seed: int, n: int) -> list[tuple[int, int, int, bool]]:
    rnd = random.Random(seed)
    ts, trades = 1_723_075_200_000_000_000, []
    for trade_id in range(1000, 1000 + n):
        ts += rnd.choice((0, 0, 1, 5_000_000, 900_000_000, 7 * MINUTE))  # bursts, same-ms trades, quiet spells
        trades.append((trade_id, ts, rnd.randrange(1, 10**6) * 10**26, rnd.random() < 0.5))
    return trades


def brute(trades, lo_excl, hi_incl, min_amount=0):
    picked = [t for t in trades if lo_excl < t[1] <= hi_incl and t[2] >= min_amount]
    return sum(t[2] for t in picked if t[3]), sum(t[2] for t in picked if not t[3])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sliding_windows_and_buckets_equal_recomputation(seed):
    trades = random_trades(seed, 3000)
    threshold = 400_000 * 10**26
    flow = TakerFlow(bucket_ns=15 * MINUTE, windows_ns=[15 * MINUTE, MINUTE], min_amount=threshold)
    closed = []
    for i, trade in enumerate(trades):
        bucket = flow.on_trade(*trade)
        if bucket is not None:
            closed.append(bucket)
        if i % 97 == 0:
            for index, span in enumerate((15 * MINUTE, MINUTE)):
                got = flow.window(index)
                assert (got.buy_amount, got.sell_amount) == brute(trades[: i + 1], trade[1] - span, trade[1], threshold)
    for bucket in closed:
        assert (bucket.buy_amount, bucket.sell_amount) == brute(trades, bucket.start_ns - 1, bucket.end_ns - 1, threshold)
    assert len({b.start_ns for b in closed}) == len(closed)
    buy, sell = brute(trades, 0, trades[-1][1], threshold)
    assert flow.cumulative_delta == buy - sell


def test_duplicates_dropped_and_gaps_counted():
    trades = random_trades(7, 50)
    flow = TakerFlow(windows_ns=[10**18])
    flow.on_trades(trades[:30])
    flow.on_trades(trades[20:40])  # a reconnect that replays ten trades
    flow.on_trades(trades[45:])  # five trades lost
    assert flow.duplicates == 10
    assert flow.id_gaps == 1
    kept = trades[:40] + trades[45:]
    assert (flow.window().buy_amount, flow.window().sell_amount) == brute(kept, 0, kept[-1][1])


def test_advance_closes_bucket_and_expires_without_trades():
    flow = TakerFlow(bucket_ns=MINUTE, windows_ns=[MINUTE])
    assert flow.on_trade(1, 10, 5 * 10**32, True) is None
    assert flow.advance(MINUTE - 1) is None
    closed = flow.advance(MINUTE)
    assert closed is not None and closed.buy == Decimal(5) and closed.trades == 1
    assert flow.window(0, now_ns=MINUTE + 10).buy_amount == 0
    assert flow.bucket().trades == 0


def test_decimal_views_exact():
    assert to_amount("100000", 10**8) == 10**13
    with pytest.raises(ValueError):
        to_amount("0.000000001", 10**8)
    t = TakerFlow(bucket_ns=MINUTE, scale=10**10)
    t.on_trade(1, 0, to_amount("0.1", 10**10), True)
    t.on_trade(2, 1, to_amount("0.2", 10**10), True)
    assert t.bucket().buy == Decimal("0.3")
