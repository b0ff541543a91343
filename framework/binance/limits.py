"""Binance's published limits and retention windows, declared once.

The client (``binance/http.py``, ``live/feed.py``) paces itself by these numbers and the local exchange enforces
the same ones, so a test against the local exchange exercises the limits Binance applies.
"""

from __future__ import annotations

from framework.binance.endpoints import Market
from framework.timeunits import DAY_MS

#: REQUEST_WEIGHT budget per minute per IP (exchangeInfo ``rateLimits`` may announce another; the client adopts it).
WEIGHT_LIMITS: dict[Market, int] = {Market.SPOT: 6000, Market.FUTURES: 2400}

#: Incoming websocket messages per second per connection (pings, pongs and subscribe requests all count).
MESSAGE_LIMIT: dict[Market, int] = {Market.SPOT: 5, Market.FUTURES: 10}

#: How far back the USD-M ``/futures/data/*`` statistics (open interest history, ratios, taker volume) reach.
FUTURES_DATA_RETENTION_MS = 30 * DAY_MS
