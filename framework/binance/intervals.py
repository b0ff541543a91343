"""Binance kline intervals: their lengths and bucket arithmetic (one home for both)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from framework.timeunits import DAY_MS

#: Kline intervals Binance accepts, with their fixed length in ms (months are calendar months: None).
INTERVAL_MS: dict[str, int | None] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
    "1M": None,
}
# Weekly klines open on Monday 00:00 UTC; the epoch was a Thursday.
_WEEK_OFFSET_MS = 4 * DAY_MS


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
