"""Order flow: follow the taker buy/sell imbalance of recent trades.

Every trade tick feeds ``framework.orderflow.TakerFlow`` (exact rolling taker buy and sell quote volume). When a
bucket closes, the imbalance over the sliding window, ``(buy - sell) / (buy + sell)``, decides: above
``entry_imbalance`` long, below its negative short, back inside ``exit_imbalance`` flat.
"""

from __future__ import annotations

from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide

from framework.orderflow import TakerFlow
from framework.orderflow import quote_amount
from framework.timeunits import NS_PER_MS
from framework.timeunits import SECOND_MS
from strategies.base import SignalStrategy
from strategies.base import SignalStrategyConfig
from strategies.base import require


class TakerImbalanceConfig(SignalStrategyConfig, frozen=True):
    """Decide every ``bucket_seconds`` on the imbalance of the last ``window_seconds``."""

    bar_interval: str | None = None
    trades: bool = True
    bucket_seconds: int = 60
    window_seconds: int = 300
    entry_imbalance: float = 0.3
    exit_imbalance: float = 0.05

    def validate(self) -> None:
        """Spans of a second or more (the window at least a bucket); imbalances within 0-1, exit below entry."""
        super().validate()
        require(self.bucket_seconds >= 1, "bucket_seconds", self.bucket_seconds, "must be 1 or more")
        require(self.window_seconds >= self.bucket_seconds, "window_seconds", self.window_seconds,
                f"must be at least bucket_seconds ({self.bucket_seconds})")
        require(0 < self.entry_imbalance <= 1, "entry_imbalance", self.entry_imbalance,
                "must be above 0 and at most 1 ((buy - sell) / (buy + sell))")
        require(0 <= self.exit_imbalance < self.entry_imbalance, "exit_imbalance", self.exit_imbalance,
                f"must be from 0 up to below entry_imbalance ({self.entry_imbalance})")


class TakerImbalance(SignalStrategy):
    """Long on taker buying, short on taker selling (see the module docstring)."""

    def __init__(self, config: TakerImbalanceConfig) -> None:
        super().__init__(config)
        self.flow = TakerFlow(bucket_ns=config.bucket_seconds * SECOND_MS * NS_PER_MS,
                              windows_ns=(config.window_seconds * SECOND_MS * NS_PER_MS,))

    def imbalance(self) -> float | None:
        """(buy - sell) / (buy + sell) over the window (None without trades)."""
        w = self.flow.window(0)
        total = w.buy_amount + w.sell_amount
        return None if total == 0 else (w.buy_amount - w.sell_amount) / total

    def on_signal_trade(self, tick: TradeTick) -> None:
        closed = self.flow.on_trade(int(tick.trade_id.value), tick.ts_event, quote_amount(tick),
                                    tick.aggressor_side == AggressorSide.BUYER)
        if closed is None:
            return
        imbalance = self.imbalance()
        if imbalance is None:
            return
        if imbalance >= self.config.entry_imbalance:
            self.go_long()
        elif imbalance <= -self.config.entry_imbalance:
            self.go_short()
        elif abs(imbalance) <= self.config.exit_imbalance:
            self.go_flat()
