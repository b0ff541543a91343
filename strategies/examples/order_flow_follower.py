"""Follow the taker flow: long after a bucket in which takers bought more than they sold, short after the opposite.

Reads the ``OrderFlowUpdate`` buckets that ``strategies.actors.order_flow.OrderFlowActor`` publishes (run the actor
beside it, with the same instrument and a bucket span). Bars only price the entries (and, in paper trading, move
the simulated market). A demo of the actor-to-strategy path that trades often, not an edge.
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.data import Bar

from framework.orderflow.types import BUCKET
from framework.orderflow.types import OrderFlowUpdate
from framework.orderflow.types import subscribe_order_flow
from strategies.base import SignalStrategy
from strategies.base import SignalStrategyConfig
from strategies.base import require


class OrderFlowFollowerConfig(SignalStrategyConfig, frozen=True):
    """``min_quote``: which threshold's buckets to follow (the actor's ``thresholds``); ``min_delta``: the |delta|
    in quote currency a bucket needs before the strategy acts on it."""

    min_quote: Decimal = Decimal(0)
    min_delta: Decimal = Decimal(0)

    def validate(self) -> None:
        """Both thresholds zero or more."""
        super().validate()
        require(self.min_quote >= 0, "min_quote", self.min_quote, "must be 0 or more (quote currency)")
        require(self.min_delta >= 0, "min_delta", self.min_delta, "must be 0 or more (quote currency)")


class OrderFlowFollower(SignalStrategy):
    """Long when a closed bucket's delta > ``min_delta``, short (or flat) when it is < -``min_delta``."""

    def on_start(self) -> None:
        super().on_start()
        subscribe_order_flow(self)

    def on_signal_bar(self, bar: Bar) -> None:
        pass  # bars only keep last_price current

    def on_data(self, data) -> None:  # noqa: ANN001
        if isinstance(data, OrderFlowUpdate):
            if data.instrument_id == self.instrument_id and data.kind == BUCKET and data.min_quote == self.config.min_quote:
                self.on_order_flow(data)
            return
        super().on_data(data)

    def on_order_flow(self, update: OrderFlowUpdate) -> None:
        if self.last_price is None:  # no bar yet: nothing to size the entry (or fill it) at
            return
        if update.delta > self.config.min_delta:
            self.go_long()
        elif update.delta < -self.config.min_delta:
            self.go_short()
