"""``OrderFlowActor``: exact taker buy/sell quote volume per instrument, published as ``OrderFlowUpdate``.

Per instrument and per large-trade threshold the actor keeps one ``TakerFlow`` (framework.orderflow.windows):
a clock-aligned bucket (``bucket``, e.g. 15m), sliding windows (``windows``, e.g. 15m), delta and cumulative
delta, O(1) per trade. A closed bucket is published (``DataType(OrderFlowUpdate)``) and logged when a trade of a
later bucket arrives or, failing that, at ``bucket end + close_grace`` (a bucket in which no trade reached the
threshold is published with zeros). Sliding windows are published every ``publish_interval``.

Restart: with ``restore: true`` (live), the actor rebuilds the trades of the current bucket and of the longest
sliding window from the catalog (``catalog_path``) and REST aggTrades (``urls``) in a worker thread, while the
live ticks that arrive meanwhile wait in a buffer; then it counts the restored trades, then the buffer (overlap
dropped by trade id). So the current window is exact after a restart, not restarted from zero. Restore assumes
trade ids are aggTrade ids (USD-M trade ticks, the spot aggTrade stream). In a backtest leave ``restore`` off:
the first, partial bucket (data starting mid-bucket) is then not published.

``cumulative_delta`` counts from the actor's origin: the start of what it restored, or its start time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from decimal import Decimal
from decimal import InvalidOperation

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CurrencyPair

from framework.binance.config import BinanceHttpConfig
from framework.binance.config import BinanceUrls
from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.orderflow.restore import Trade
from framework.orderflow.restore import restore_trades
from framework.orderflow.types import BUCKET
from framework.orderflow.types import WINDOW
from framework.orderflow.types import OrderFlowUpdate
from framework.orderflow.types import amount_text
from framework.orderflow.windows import NAUTILUS_QUOTE_SCALE
from framework.orderflow.windows import FlowTotals
from framework.orderflow.windows import TakerFlow
from framework.orderflow.windows import to_amount
from framework.timeunits import NS_PER_MS
from framework.values import BadValue
from framework.values import parse_duration_ms

ORDER_FLOW = DataType(OrderFlowUpdate)
_BUYER = AggressorSide.BUYER


class OrderFlowConfig(ActorConfig, frozen=True):
    """Settings of :class:`OrderFlowActor`. Spans are durations like ``30s``, ``15m``, ``1h``.

    ``thresholds``: one set of values per minimum trade quote volume ("0": every trade, "100000": only trades of
    at least 100,000 USDT). ``publish_interval``: how often sliding windows are published (None: never).
    """

    instrument_ids: tuple[str, ...]
    bucket: str | None = "15m"
    windows: tuple[str, ...] = ("15m",)
    thresholds: tuple[str, ...] = ("0",)
    publish_interval: str | None = "1s"
    close_grace: str = "2s"
    log_buckets: bool = True
    restore: bool = False
    catalog_path: str | None = None
    urls: BinanceUrls | None = None
    restore_timeout_s: float = 60.0

    def validate(self) -> None:
        """Spans as durations, thresholds of 0 or more, ``urls`` when restoring; raises ``BadValue`` naming the
        key (the backtest calls it before the run; ``live`` can too)."""
        for key in ("bucket", "publish_interval", "close_grace"):
            if getattr(self, key) is not None:
                parse_duration_ms(getattr(self, key), key, allow_zero=key == "close_grace")
        for window in self.windows:
            parse_duration_ms(window, "windows")
        for t in self.thresholds:
            try:
                ok = Decimal(t) >= 0
            except InvalidOperation:
                ok = False
            if not ok:
                raise BadValue(f"thresholds: {t!r} must be a quote amount of 0 or more (0: every trade)")
        if self.restore and self.urls is None:
            raise BadValue("restore: true needs urls (the REST base URLs) to fetch recent aggTrades; set urls or "
                           "restore: false")


class _Flow:
    """One ``TakerFlow`` with what the actor publishes about it."""

    __slots__ = ("flow", "min_quote")

    def __init__(self, flow: TakerFlow, min_quote: str) -> None:
        self.flow = flow
        self.min_quote = min_quote


class OrderFlowActor(Actor):
    """Exact taker flow per instrument (see the module docstring)."""

    def __init__(self, config: OrderFlowConfig) -> None:
        super().__init__(config)
        self.instrument_ids = [InstrumentId.from_str(i) for i in config.instrument_ids]
        self.bucket_ns = parse_duration_ms(config.bucket) * NS_PER_MS if config.bucket else None
        self.window_spans = tuple(config.windows)
        self.windows_ns = tuple(parse_duration_ms(w) * NS_PER_MS for w in config.windows)
        self.grace_ns = parse_duration_ms(config.close_grace) * NS_PER_MS
        self.publish_ns = parse_duration_ms(config.publish_interval) * NS_PER_MS if config.publish_interval else None
        for t in config.thresholds:
            if Decimal(t) < 0:
                raise ValueError(f"order-flow threshold {t} is negative; use 0 for every trade")
        if config.restore and config.urls is None:
            raise ValueError("order-flow restore needs urls (the REST base URLs) to fetch recent aggTrades")
        self.flows: dict[InstrumentId, list[_Flow]] = {}
        self.origin_ns = 0
        self.published = 0
        self._pending: dict[InstrumentId, list[TradeTick]] = {}
        self._first_live: dict[InstrumentId, int] = {}
        self._restores: dict[InstrumentId, concurrent.futures.Future[list[Trade]]] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def on_start(self) -> None:
        now = self.clock.timestamp_ns()
        self.flows = {iid: self.new_flows() for iid in self.instrument_ids}
        if self.config.restore:
            starts = [now - max(self.windows_ns, default=0)]
            if self.bucket_ns:
                starts.append(now - now % self.bucket_ns)
            self.origin_ns = min(starts)
            self._start_restores()
        else:
            self.origin_ns = now
        for iid in self.instrument_ids:
            self.subscribe_trade_ticks(iid)
        if self.bucket_ns:
            first = now - now % self.bucket_ns + self.bucket_ns + self.grace_ns
            self.clock.set_timer_ns("order-flow-buckets", self.bucket_ns, first, 0, self._on_bucket_timer)
        if self.publish_ns and self.windows_ns:
            self.clock.set_timer_ns("order-flow-windows", self.publish_ns, now, 0, self._on_window_timer)

    def on_stop(self) -> None:
        for iid in self.instrument_ids:
            self.unsubscribe_trade_ticks(iid)
        for name in ("order-flow-buckets", "order-flow-windows", "order-flow-restore"):
            if name in self.clock.timer_names:
                self.clock.cancel_timer(name)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def new_flows(self) -> list[_Flow]:
        """Fresh state for one instrument: one ``TakerFlow`` per threshold."""
        return [
            _Flow(TakerFlow(self.bucket_ns, self.windows_ns, to_amount(t)), amount_text(to_amount(t), NAUTILUS_QUOTE_SCALE))
            for t in self.config.thresholds
        ]

    # -- counting --------------------------------------------------------------------------------------

    def on_trade_tick(self, tick: TradeTick) -> None:
        iid = tick.instrument_id
        pending = self._pending.get(iid)
        if pending is not None:  # restoring: keep it for after the restored trades
            if not pending:
                self._first_live[iid] = int(tick.trade_id.value)
            pending.append(tick)
            return
        self._count(iid, int(tick.trade_id.value), tick.ts_event, tick.price.raw * tick.size.raw,
                    tick.aggressor_side == _BUYER)

    def _count(self, iid: InstrumentId, trade_id: int, ts_ns: int, amount: int, buyer: bool) -> None:
        for f in self.flows[iid]:
            closed = f.flow.on_trade(trade_id, ts_ns, amount, buyer)
            if closed is not None:
                self._publish_bucket(iid, f, closed)

    def ready(self, iid: InstrumentId) -> bool:
        """True once the instrument's state is restored (always, without restore)."""
        return iid not in self._pending

    # -- restore ---------------------------------------------------------------------------------------

    def _start_restores(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=len(self.instrument_ids),
                                                               thread_name_prefix="order-flow-restore")
        for iid in self.instrument_ids:
            instrument = self.cache.instrument(iid)
            if instrument is None:
                self.log.warning(f"{iid}: instrument not in the cache; order flow starts without restore")
                continue
            self._pending[iid] = []
            self._restores[iid] = self._executor.submit(asyncio.run, self._restore(instrument))
        self.clock.set_timer_ns("order-flow-restore", 100 * NS_PER_MS, self.clock.timestamp_ns(), 0,
                                self._on_restore_timer)

    async def _restore(self, instrument) -> list[Trade]:  # noqa: ANN001 - Instrument
        market = Market.SPOT if isinstance(instrument, CurrencyPair) else Market.FUTURES
        async with BinanceRestClient(BinanceHttpConfig(urls=self.config.urls)) as client:
            return await restore_trades(
                client, market, instrument, self.origin_ns // NS_PER_MS,
                catalog=self.config.catalog_path,
                meet_id=lambda: self._first_live.get(instrument.id),
                meet_timeout_s=self.config.restore_timeout_s,
            )

    def _on_restore_timer(self, event: TimeEvent) -> None:
        for iid, future in list(self._restores.items()):
            if not future.done():
                continue
            del self._restores[iid]
            try:
                trades = future.result()
            except Exception as e:  # noqa: BLE001 - a failed restore must not stop live counting
                self.log.error(f"{iid}: restore failed ({type(e).__name__}: {e}); counting live trades only")
                trades = []
            self._finish_restore(iid, trades)
        if not self._restores and "order-flow-restore" in self.clock.timer_names:
            self.clock.cancel_timer("order-flow-restore")

    def _finish_restore(self, iid: InstrumentId, trades: list[Trade]) -> None:
        for f in self.flows[iid]:
            for bucket in f.flow.on_trades(trades):
                self._publish_bucket(iid, f, bucket)
        pending = self._pending.pop(iid)
        for tick in pending:
            self.on_trade_tick(tick)
        self.log.info(f"{iid}: order flow restored from {len(trades)} trades, then {len(pending)} buffered live ones")

    # -- publishing ------------------------------------------------------------------------------------

    def _on_bucket_timer(self, event: TimeEvent) -> None:
        # Closes a bucket no later trade has closed (a quiet market). Only ever moves forward: when the feed runs
        # ahead of this clock (a sped-up local exchange) trades have closed it already and this does nothing.
        boundary = event.ts_event - self.grace_ns
        boundary -= boundary % self.bucket_ns
        for iid, flows in self.flows.items():
            if not self.ready(iid):
                continue
            for f in flows:
                closed = f.flow.advance(boundary)
                if closed is not None:
                    self._publish_bucket(iid, f, closed)

    def _on_window_timer(self, event: TimeEvent) -> None:
        for iid, flows in self.flows.items():
            if not self.ready(iid):
                continue
            for f in flows:
                # read at this clock's time, or at the last trade's when the feed runs ahead of it
                now = max(event.ts_event, f.flow.last_ts_ns)
                for index, span in enumerate(self.window_spans):
                    self._publish(iid, f, WINDOW, span, f.flow.window(index, now))

    def _publish_bucket(self, iid: InstrumentId, f: _Flow, totals: FlowTotals) -> None:
        if totals.start_ns < self.origin_ns:  # began before what the actor saw: partial, not published
            return
        update = self._publish(iid, f, BUCKET, self.config.bucket or "", totals)
        if self.config.log_buckets:
            self.log.info(
                f"{iid} {update.span} bucket {totals.start_ns}..{totals.end_ns} min {f.min_quote}: "
                f"buy {update.buy_quote_str} sell {update.sell_quote_str} delta {update.delta_str} "
                f"cum {update.cumulative_delta_str} trades {totals.trades}"
            )

    def _publish(self, iid: InstrumentId, f: _Flow, kind: str, span: str, totals: FlowTotals) -> OrderFlowUpdate:
        scale = totals.scale
        update = OrderFlowUpdate(
            instrument_id=iid,
            kind=kind,
            span=span,
            min_quote_str=f.min_quote,
            start_ns=totals.start_ns,
            end_ns=totals.end_ns,
            buy_quote_str=amount_text(totals.buy_amount, scale),
            sell_quote_str=amount_text(totals.sell_amount, scale),
            delta_str=amount_text(totals.buy_amount - totals.sell_amount, scale),
            cumulative_delta_str=amount_text(totals.cumulative_delta, scale),
            cumulative_since_ns=self.origin_ns,
            buy_count=totals.buy_count,
            sell_count=totals.sell_count,
            last_trade_id=f.flow.last_id,
            ts_event=totals.end_ns,
            ts_init=self.clock.timestamp_ns(),
        )
        self.publish_data(ORDER_FLOW, update)
        self.published += 1
        return update
