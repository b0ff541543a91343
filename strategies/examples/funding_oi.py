"""Perpetual positioning: fade crowded funding when open interest confirms the crowd is still building.

A high positive funding rate means longs pay to stay long; if open interest rose over the lookback as well, the
long side is crowded and this goes short (the reverse for negative funding). It goes flat once funding is back
inside ``exit_rate``. Decisions are taken on bars; funding and open interest arrive as context.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from nautilus_trader.model.data import Bar

from framework.data.types import OpenInterest
from strategies.base import SignalStrategy
from strategies.base import SignalStrategyConfig
from strategies.base import require


class FundingOiConfig(SignalStrategyConfig, frozen=True):
    """Funding rates are fractions per interval (0.0001 = 0.01 %); ``oi_lookback`` in open interest rows."""

    funding: bool = True
    open_interest: bool = True
    entry_rate: Decimal = Decimal("0.0002")
    exit_rate: Decimal = Decimal("0.00005")
    oi_lookback: int = 12
    oi_min_change: float = 0.0

    def validate(self) -> None:
        """Rates: entry above zero, exit from zero up to below entry; a lookback of at least one row."""
        super().validate()
        require(self.entry_rate > 0, "entry_rate", self.entry_rate,
                "must be more than zero (a funding rate per interval, e.g. 0.0002)")
        require(0 <= self.exit_rate < self.entry_rate, "exit_rate", self.exit_rate,
                f"must be from 0 up to below entry_rate ({self.entry_rate})")
        require(self.oi_lookback >= 1, "oi_lookback", self.oi_lookback, "must be 1 or more (open interest rows)")
        require(self.oi_min_change > -1, "oi_min_change", self.oi_min_change,
                "must be above -1 (a relative change: 0.01 = +1 %)")


class FundingOi(SignalStrategy):
    """Short crowded longs, long crowded shorts (see the module docstring)."""

    def __init__(self, config: FundingOiConfig) -> None:
        super().__init__(config)
        self._oi: deque[float] = deque(maxlen=config.oi_lookback + 1)

    def on_open_interest(self, oi: OpenInterest) -> None:
        self._oi.append(oi.open_interest_float)

    def oi_change(self) -> float | None:
        """Relative change of open interest over the lookback (None until it is full)."""
        if len(self._oi) < self._oi.maxlen:
            return None
        return self._oi[-1] / self._oi[0] - 1.0

    def on_signal_bar(self, bar: Bar) -> None:
        if self.last_funding is None:
            return
        rate = self.last_funding.rate
        change = self.oi_change()
        building = change is not None and change > self.config.oi_min_change
        if abs(rate) <= self.config.exit_rate:
            self.go_flat()
        elif building and rate >= self.config.entry_rate:
            self.go_short()
        elif building and rate <= -self.config.entry_rate:
            self.go_long()
