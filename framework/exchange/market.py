"""The local exchange's market: what each public endpoint answers, given the tape and the clock.

Views take validated parameters and return the JSON body (a Python object, or recorded bytes served
unchanged). History comes from the tape up to the clock's *now*; snapshots without a market meaning of
their own (exchangeInfo, depth, index composition, ...) are the recorded fixtures; tickers, average price,
mark price and open interest of taped symbols are computed from the tape so that they agree with it.

The views live by family, as mixins on ``market_state.MarketState`` (data, clock, formats, ``at(t)``):
``history_views`` (trades, aggTrades, klines), ``futures_views`` (funding, mark price, open interest,
futures data), ``ticker_views`` (tickers, prices, book top). A new endpoint's view goes in its family's module.
"""

from __future__ import annotations

from framework.exchange.futures_views import FuturesViews
from framework.exchange.history_views import HistoryViews
from framework.exchange.ticker_views import TickerViews


class LocalMarket(HistoryViews, FuturesViews, TickerViews):
    """Answers every endpoint of the table for the taped (and recorded) symbols."""
