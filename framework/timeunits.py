"""Time units shared by every module (milliseconds and nanoseconds), declared once."""

from __future__ import annotations

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
NS_PER_MS = 1_000_000  # Nautilus timestamps are ns, Binance's ms
NS_PER_MINUTE = MINUTE_MS * NS_PER_MS
NS_PER_HOUR = HOUR_MS * NS_PER_MS
NS_PER_DAY = DAY_MS * NS_PER_MS
