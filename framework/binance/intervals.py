"""Binance kline intervals, declared once: name, length, Nautilus bar aggregation, bucket arithmetic.

Every other module reads this table: user values (``framework.values``), ingest's page windows, the live
feed's buckets, Nautilus bar types both ways (``bar_spec`` and its inverse ``interval_of``), the charts.
Nautilus is imported only by the two functions that build or read its bar specifications (this module is part
of the light base that parses command lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING

from framework.timeunits import DAY_MS
from framework.timeunits import HOUR_MS
from framework.timeunits import MINUTE_MS
from framework.timeunits import SECOND_MS

if TYPE_CHECKING:
    from nautilus_trader.model.data import BarSpecification


@dataclass(frozen=True, slots=True)
class Interval:
    """One kline interval: Binance's name, its fixed length, and the Nautilus time bar it is."""

    name: str  # "1m"
    ms: int | None  # fixed length (None: calendar months)
    step: int  # Nautilus BarSpecification step
    aggregation: str  # Nautilus BarAggregation name ("MINUTE")


def _interval(name: str, unit_ms: int | None, aggregation: str) -> Interval:
    step = int(name[:-1])
    return Interval(name, None if unit_ms is None else step * unit_ms, step, aggregation)


#: Every kline interval Binance accepts, in Binance's order.
INTERVALS: dict[str, Interval] = {
    i.name: i
    for i in (
        _interval("1s", SECOND_MS, "SECOND"),
        *(_interval(f"{n}m", MINUTE_MS, "MINUTE") for n in (1, 3, 5, 15, 30)),
        *(_interval(f"{n}h", HOUR_MS, "HOUR") for n in (1, 2, 4, 6, 8, 12)),
        *(_interval(f"{n}d", DAY_MS, "DAY") for n in (1, 3)),
        _interval("1w", 7 * DAY_MS, "WEEK"),
        _interval("1M", None, "MONTH"),
    )
}
KLINE_INTERVALS: tuple[str, ...] = tuple(INTERVALS)
#: Kline intervals with their fixed length in ms (months are calendar months: None).
INTERVAL_MS: dict[str, int | None] = {name: i.ms for name, i in INTERVALS.items()}
_BY_SPEC: dict[tuple[int, str], str] = {(i.step, i.aggregation): name for name, i in INTERVALS.items()}
# Weekly klines open on Monday 00:00 UTC; the epoch was a Thursday.
_WEEK_OFFSET_MS = 4 * DAY_MS


def fixed_ms(interval: str) -> int:
    """The length of a fixed interval (or ``/futures/data`` period) in ms; ``ValueError`` for 1M or an unknown
    name (calendar months have no fixed length)."""
    length = INTERVAL_MS.get(interval)
    if length is None:
        raise ValueError(f"{interval!r} has no fixed length (calendar months are not supported for ingest)")
    return length


def bar_spec(interval: str, price_type: str = "LAST") -> BarSpecification:
    """The Nautilus bar specification of a Binance interval: ``1m`` -> ``1-MINUTE-LAST``.

    Every Binance interval but ``3d`` maps: Nautilus 1.231 requires a time bar's step to divide the next unit
    (3 days do not divide a week), so ``3d`` raises ``ValueError``; so does a name that is not an interval.
    """
    from nautilus_trader.model.data import BarSpecification
    from nautilus_trader.model.enums import BarAggregation
    from nautilus_trader.model.enums import PriceType

    found = INTERVALS.get(interval)
    if found is None:
        raise ValueError(f"not a Binance kline interval: {interval!r}")
    try:
        return BarSpecification(found.step, BarAggregation[found.aggregation], PriceType[price_type])
    except ValueError as e:
        raise ValueError(f"Binance interval {interval!r} has no Nautilus bar type: {e}") from None


def interval_of(spec: BarSpecification) -> str:
    """The Binance interval of a Nautilus time bar specification (``1-MINUTE-...`` -> ``1m``); the inverse of
    :func:`bar_spec`. ``ValueError`` when no interval has this step and unit."""
    from nautilus_trader.model.enums import bar_aggregation_to_str

    name = _BY_SPEC.get((spec.step, bar_aggregation_to_str(spec.aggregation)))
    if name is None:
        raise ValueError(f"{spec}: no Binance kline interval has this step")
    return name


def bucket_open(interval: str, t_ms: int) -> int:
    """Open time of the ``interval`` kline containing ``t_ms``."""
    if interval == "1M":
        d = datetime.fromtimestamp(t_ms / 1000, UTC)
        return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)
    length = INTERVAL_MS[interval]
    assert length is not None
    if interval == "1w":
        return (t_ms - _WEEK_OFFSET_MS) // length * length + _WEEK_OFFSET_MS
    return t_ms // length * length


def bucket_close(interval: str, open_ms: int) -> int:
    """Open time of the kline after the one opening at ``open_ms`` (exclusive end)."""
    if interval == "1M":
        d = datetime.fromtimestamp(open_ms / 1000, UTC)
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)
    length = INTERVAL_MS[interval]
    assert length is not None
    return open_ms + length
