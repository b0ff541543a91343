"""``SignalStrategy``: the plumbing every strategy here shares, with the alpha left to typed hooks.

A subclass picks its inputs in its config (bars at an interval, trade ticks, and one switch per custom input of
the kinds registry, ``framework.data.kinds``: funding, open interest, long/short ratios, taker volume...) and fills
in hooks; the base class subscribes, warms indicators up from the catalog, filters custom data to its
instrument, sizes positions and places the orders.

Hooks (override what your config subscribes to):

* ``on_signal_bar(bar)``: required when ``bar_interval`` is set (the default).
* ``on_signal_trade(tick)``: required when ``trades`` is on.
* ``on_funding(rate)``, ``on_open_interest(oi)``, ``on_ratio(ratio)``, ``on_taker_volume(volume)`` (each
  registry row names its hook and its ``last_*`` attribute): optional context; the default keeps nothing
  (``last_funding`` etc. always hold the latest value; ``last_ratios`` by type).
* ``on_warmup_bar(bar)``: a bar from before the start; the default feeds every indicator registered for bars.

Order helpers: ``go_long()``, ``go_short()``, ``go_flat()``, ``target_position(qty)``; sizing by a fixed quote
notional (``trade_notional``) or a fraction of account equity (``equity_fraction``).
"""

from __future__ import annotations

from decimal import ROUND_DOWN
from decimal import Decimal

import msgspec
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.strategy import Strategy

from framework.catalog.location import nautilus_catalog
from framework.data.kinds import STRATEGY_KINDS
from framework.data.kinds import DataKind
from framework.data.parsing import kline_bar_type
from framework.data.types import FundingRate
from framework.data.types import GlobalAccountRatio
from framework.data.types import OpenInterest
from framework.data.types import TakerBuySellVolume
from framework.data.types import TopTraderAccountRatio
from framework.data.types import TopTraderPositionRatio
from framework.values import BadValue
from framework.values import parse_interval

#: The client id the backtest runner gives custom data configs (Nautilus needs one to load them).
CUSTOM_DATA_CLIENT = ClientId("BINANCE")
#: The custom kinds a strategy can take, by type.
_INPUTS: dict[type, DataKind] = {k.data_type: k for k in STRATEGY_KINDS}

#: One ``bool`` switch per custom input of the kinds registry (``funding``, ``open_interest``, ``ratios``,
#: ``taker_volume``...), off by default; :class:`SignalStrategyConfig` adds the rest.
SignalStrategyInputs = msgspec.defstruct(
    "SignalStrategyInputs",
    [(flag, bool, False) for flag in dict.fromkeys(k.strategy.flag for k in STRATEGY_KINDS)],
    bases=(StrategyConfig,),
    module=__name__,
    frozen=True,
    kw_only=True,
    namespace={"__doc__": "The custom-data switches of a SignalStrategyConfig, one per registry input."},
)


class SignalStrategyConfig(SignalStrategyInputs, frozen=True):
    """Inputs, sizing and warm-up of a :class:`SignalStrategy`.

    Inputs: ``bar_interval``, ``trades`` and the custom-data switches of :data:`SignalStrategyInputs`.
    ``catalog_path`` is filled in by the backtest runner (warm-up reads bars before the start from it).
    """

    instrument_id: InstrumentId
    bar_interval: str | None = "1m"
    trades: bool = False
    trade_notional: Decimal = Decimal(1000)
    equity_fraction: Decimal | None = None
    allow_short: bool = True
    warmup_bars: int = 0
    catalog_path: str | None = None
    close_on_stop: bool = True

    def validate(self) -> None:
        """Check the values, not only the keys (a negative notional would silently never trade).

        Raises ``framework.values.BadValue`` (a ``ValueError`` and a ``UsageError``) naming the key and the fix.
        The backtest calls it when it reads a config; ``live`` and a notebook can call ``config.validate()`` too.
        Subclasses extend it: ``super().validate()`` then their own checks with :func:`require`.
        """
        if self.bar_interval is not None:
            parse_interval(self.bar_interval, "bar_interval", fixed=True)
        elif not self.trades:
            raise BadValue("bar_interval: null and trades: false: the strategy would receive no prices; "
                           "set bar_interval (e.g. 1m) or trades: true")
        require(self.trade_notional > 0, "trade_notional", self.trade_notional,
                "must be more than zero (the quote amount of an entry, e.g. 1000)")
        if self.equity_fraction is not None:
            require(self.equity_fraction > 0, "equity_fraction", self.equity_fraction,
                    "must be more than zero (e.g. 0.1 for a tenth of equity), or leave it out")
        require(self.warmup_bars >= 0, "warmup_bars", self.warmup_bars, "must be 0 or more")


def require(ok: bool, key: str, value: object, rule: str) -> None:
    """Raise ``BadValue("<key>: <value> <rule>")`` unless ``ok`` (for config ``validate()`` methods)."""
    if not ok:
        raise BadValue(f"{key}: {value} {rule}")


class SignalStrategy(Strategy):
    """Base class: subscriptions, warm-up, sizing and order helpers (see the module docstring)."""

    def __init__(self, config: SignalStrategyConfig) -> None:
        config.validate()  # wherever the strategy is built (backtest, live, a notebook): bad values fail here
        super().__init__(config)
        self.instrument_id = config.instrument_id
        self.bar_type: BarType | None = (
            kline_bar_type(config.instrument_id, config.bar_interval) if config.bar_interval else None
        )
        self.instrument: Instrument | None = None
        self.last_price: Decimal | None = None
        # the latest row of each custom input (last_funding, last_open_interest, last_ratios by type, ...)
        for kind in STRATEGY_KINDS:
            setattr(self, kind.strategy.latest, {} if kind.strategy.by_type else None)

    # -- hooks (the alpha) -----------------------------------------------------------------------------

    def on_signal_bar(self, bar: Bar) -> None:
        """Decide on a closed bar of ``bar_type``. Required when ``bar_interval`` is set."""
        raise NotImplementedError(
            f"{type(self).__name__} subscribes to {self.bar_type} bars: implement on_signal_bar(self, bar) "
            "or set bar_interval: null in its config",
        )

    def on_signal_trade(self, tick: TradeTick) -> None:
        """Decide on a trade tick. Required when ``trades`` is on."""
        raise NotImplementedError(
            f"{type(self).__name__} subscribes to trades: implement on_signal_trade(self, tick) "
            "or set trades: false in its config",
        )

    def on_funding(self, rate: FundingRate) -> None:
        """A settled funding rate of the instrument (optional)."""

    def on_open_interest(self, oi: OpenInterest) -> None:
        """An open interest statistic of the instrument (optional)."""

    def on_ratio(self, ratio: TopTraderPositionRatio | TopTraderAccountRatio | GlobalAccountRatio) -> None:
        """A long/short ratio of the instrument (optional)."""

    def on_taker_volume(self, volume: TakerBuySellVolume) -> None:
        """A taker buy/sell volume statistic of the instrument (optional)."""

    def on_warmup_bar(self, bar: Bar) -> None:
        """A bar from before the start: feeds every indicator registered for bars (override to do more)."""
        for indicator in self.registered_indicators:
            indicator.handle_bar(bar)

    # -- plumbing ----------------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.instrument_id)
        if self.instrument is None:
            raise RuntimeError(f"instrument {self.instrument_id} is not in the cache; add it to the run's data")
        if self.bar_type is not None:
            self._warm_up()
            self.subscribe_bars(self.bar_type)
        if self.config.trades:
            self.subscribe_trade_ticks(self.instrument_id)
        for kind in STRATEGY_KINDS:
            if getattr(self.config, kind.strategy.flag):
                self.subscribe_data(DataType(kind.data_type), client_id=CUSTOM_DATA_CLIENT)

    def _warm_up(self) -> None:
        n, path = self.config.warmup_bars, self.config.catalog_path
        if n <= 0 or path is None:
            return
        before = self.clock.timestamp_ns()
        step = self.bar_type.spec.timedelta.value
        bars = nautilus_catalog(path).bars([str(self.bar_type)], start=before - (n + 1) * step, end=before - 1)
        for bar in bars[-n:]:
            self.on_warmup_bar(bar)
        self.log.info(f"Warmed up on {min(n, len(bars))} bars of {self.bar_type}")

    def on_bar(self, bar: Bar) -> None:
        if bar.bar_type == self.bar_type:
            self.last_price = bar.close.as_decimal()
            self.on_signal_bar(bar)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.last_price = tick.price.as_decimal()
        self.on_signal_trade(tick)

    def on_data(self, data) -> None:  # noqa: ANN001 - any of our custom types
        if getattr(data, "instrument_id", None) != self.instrument_id:
            return
        kind = _INPUTS.get(type(data))
        if kind is None:
            return
        given = kind.strategy
        if given.by_type:
            getattr(self, given.latest)[type(data)] = data
        else:
            setattr(self, given.latest, data)
        hook = getattr(self, given.hook, None)  # a kind's hook is optional (the base defines the first ones)
        if hook is not None:
            hook(data)

    def on_stop(self) -> None:
        if self.config.close_on_stop:
            self.cancel_all_orders(self.instrument_id)
            self.close_all_positions(self.instrument_id)

    # -- sizing and orders -------------------------------------------------------------------------------

    def position(self) -> Decimal:
        """Net position in the instrument (signed base quantity)."""
        return self.portfolio.net_position(self.instrument_id)

    def entry_quantity(self) -> Decimal:
        """Quantity for a new position at ``last_price``: ``trade_notional`` or ``equity_fraction`` of equity,
        rounded down to the lot step (0 when there is no price yet or it is below the minimum)."""
        if not self.last_price:
            return Decimal(0)
        notional = self.config.trade_notional
        if self.config.equity_fraction is not None:
            notional = self.equity() * self.config.equity_fraction
        step = self.instrument.size_increment.as_decimal()
        qty = (notional / self.last_price / step).to_integral_value(ROUND_DOWN) * step
        low = self.instrument.min_quantity
        return Decimal(0) if qty <= 0 or (low is not None and qty < low.as_decimal()) else qty

    def equity(self) -> Decimal:
        """Account balance in the instrument's settlement currency plus unrealized PnL at the venue."""
        account = self.portfolio.account(self.instrument_id.venue)
        currency = self.instrument.get_settlement_currency()
        balance = account.balance_total(currency)
        pnl = self.portfolio.unrealized_pnl(self.instrument_id)
        return (balance.as_decimal() if balance else Decimal(0)) + (pnl.as_decimal() if pnl else Decimal(0))

    def target_position(self, target: Decimal) -> None:
        """Trade the net position to ``target`` (signed) with one market order."""
        if target < 0 and not self.config.allow_short:
            target = Decimal(0)
        diff = target - self.position()
        if diff == 0:
            return
        side = OrderSide.BUY if diff > 0 else OrderSide.SELL
        order = self.order_factory.market(
            instrument_id=self.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(abs(diff)),
            time_in_force=TimeInForce.GTC,
            reduce_only=target == 0,
        )
        self.submit_order(order)

    def go_long(self) -> None:
        """Hold ``entry_quantity()`` long (no change if already long)."""
        if self.position() <= 0 and (qty := self.entry_quantity()):
            self.target_position(qty)

    def go_short(self) -> None:
        """Hold ``entry_quantity()`` short (flat instead when ``allow_short`` is off)."""
        if self.position() >= 0 and (qty := self.entry_quantity()):
            self.target_position(-qty)

    def go_flat(self) -> None:
        """Close the position."""
        if self.position() != 0:
            self.target_position(Decimal(0))
