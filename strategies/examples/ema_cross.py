"""Trend on bars: an EMA cross, filtered by RSI so it does not buy into overbought or sell into oversold."""

from __future__ import annotations

from nautilus_trader.indicators.averages import ExponentialMovingAverage
from nautilus_trader.indicators.momentum import RelativeStrengthIndex
from nautilus_trader.model.data import Bar

from strategies.base import SignalStrategy
from strategies.base import SignalStrategyConfig
from strategies.base import require


class EmaCrossRsiConfig(SignalStrategyConfig, frozen=True):
    """EMA periods in bars; RSI period and the levels (0-1) beyond which an entry is skipped."""

    fast_period: int = 20
    slow_period: int = 60
    rsi_period: int = 14
    rsi_overbought: float = 0.7
    rsi_oversold: float = 0.3

    def validate(self) -> None:
        """Periods of at least one bar, fast below slow, RSI levels within 0-1 (oversold below overbought)."""
        super().validate()
        for key in ("fast_period", "slow_period", "rsi_period"):
            require(getattr(self, key) >= 1, key, getattr(self, key), "must be 1 or more (bars)")
        require(self.fast_period < self.slow_period, "fast_period", self.fast_period,
                f"must be below slow_period ({self.slow_period})")
        for key in ("rsi_overbought", "rsi_oversold"):
            require(0 <= getattr(self, key) <= 1, key, getattr(self, key),
                    "must be between 0 and 1 (Nautilus's RSI is 0-1: 0.7 means 70)")
        require(self.rsi_oversold < self.rsi_overbought, "rsi_oversold", self.rsi_oversold,
                f"must be below rsi_overbought ({self.rsi_overbought})")


class EmaCrossRsi(SignalStrategy):
    """Long when the fast EMA crosses above the slow one and RSI is not overbought; short (or flat, when
    shorting is off) on the opposite cross unless RSI is oversold."""

    def __init__(self, config: EmaCrossRsiConfig) -> None:
        super().__init__(config)
        self.fast = ExponentialMovingAverage(config.fast_period)
        self.slow = ExponentialMovingAverage(config.slow_period)
        self.rsi = RelativeStrengthIndex(config.rsi_period)
        self._was_above: bool | None = None

    def on_start(self) -> None:
        for indicator in (self.fast, self.slow, self.rsi):
            self.register_indicator_for_bars(self.bar_type, indicator)
        super().on_start()

    def on_signal_bar(self, bar: Bar) -> None:
        if not (self.fast.initialized and self.slow.initialized and self.rsi.initialized):
            return
        above = self.fast.value > self.slow.value
        crossed = self._was_above is not None and above != self._was_above
        self._was_above = above
        if not crossed:
            return
        if above and self.rsi.value < self.config.rsi_overbought:
            self.go_long()
        elif not above and self.rsi.value > self.config.rsi_oversold:
            self.go_short()
        else:
            self.go_flat()
