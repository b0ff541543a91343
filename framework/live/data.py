"""``BinanceFrameworkDataClient``: a Nautilus live data client over the gap-free ``MarketFeed``.

What subscribers get (venue BINANCE; one client per market):

* trade ticks: every aggTrade once, in id order, across reconnects (``TradeTick``, id = ``a``, SELLER
  aggressor when the buyer was the maker);
* bars: ``<id>-<n>-<UNIT>-LAST-EXTERNAL`` from closed klines, missed bars fetched, stamped at the close, each
  followed by its ``KlineStats`` (custom data, ``DataType(KlineStats)``);
* USD-M ``markPrice@1s``: ``MarkPriceUpdate``, ``IndexPriceUpdate``, Nautilus ``FundingRateUpdate`` and our
  ``FundingRate`` (custom data; the rate that settles at the next funding time ``funding_time``, with the
  symbol's interval from ``fundingInfo``; published when rate or time changes);
* ``@ticker`` 24 h statistics as the Binance adapter's ``BinanceTicker`` (so strategies written for the built-in
  client work unchanged);
* REST-polled custom data every ``poll_interval_secs``: the period statistics of the kinds registry
  (``framework.data.kinds``, ``POLLED``): ``OpenInterest``, the three long/short ratios, ``TakerBuySellVolume``...

Custom data is subscribed per instrument, either ``subscribe_data(DataType(Cls), instrument_id=iid)`` or, as
with the built-in adapter, ``subscribe_data(DataType(Cls, metadata={"instrument_id": iid}),
client_id=ClientId("BINANCE-FUTURES"))``; rows come out with the subscribed data type. ``KlineStats`` needs
no subscription command (``subscribe_data(DataType(KlineStats), client_id=...)`` is harmless).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from nautilus_trader.adapters.binance.common.types import BinanceTicker
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.component import MessageBus
from nautilus_trader.data.messages import SubscribeBars
from nautilus_trader.data.messages import SubscribeData
from nautilus_trader.data.messages import SubscribeFundingRates
from nautilus_trader.data.messages import SubscribeIndexPrices
from nautilus_trader.data.messages import SubscribeMarkPrices
from nautilus_trader.data.messages import SubscribeTradeTicks
from nautilus_trader.data.messages import UnsubscribeBars
from nautilus_trader.data.messages import UnsubscribeData
from nautilus_trader.data.messages import UnsubscribeTradeTicks
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.model.data import BarType
from nautilus_trader.model.data import CustomData
from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import IndexPriceUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggregationSource
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import PriceType
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price

from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.binance.intervals import interval_of
from framework.data import parsing
from framework.data import types
from framework.data.instruments import BINANCE_VENUE
from framework.data.kinds import KINDS
from framework.data.kinds import DataKind
from framework.data.kinds import Live
from framework.data.kinds import Step
from framework.data.types import fixed_raw
from framework.live.config import BinanceFrameworkDataClientConfig
from framework.live.feed import MarketFeed
from framework.live.providers import BinanceFrameworkInstrumentProvider
from framework.timeunits import NS_PER_MS

#: The REST-only series a client polls (the period statistics of the kinds registry), by type.
POLLED: dict[type, DataKind] = {k.data_type: k for k in KINDS.values() if k.live is Live.POLL and k.step is Step.PERIOD}
_SELLER, _BUYER = AggressorSide.SELLER, AggressorSide.BUYER
#: The clients of one node (keyed by its message bus). Nautilus routes a subscription by venue, and spot and
#: USD-M share BINANCE: the client that gets it hands it to the one whose provider holds the instrument.
_PEERS: dict[int, weakref.WeakSet[BinanceFrameworkDataClient]] = {}


def node_feeds(msgbus: MessageBus) -> list[MarketFeed]:
    """The market feeds of the data clients built for the node whose message bus is ``msgbus`` (the run watches
    their ``failed``: a stream the exchange refuses ends the run instead of leaving it without data)."""
    return [client.feed for client in _PEERS.get(id(msgbus), ())]


def _routed(instrument_of: Callable[[Any], InstrumentId | None]) -> Callable:
    """Run a subscription handler on the client of the command's instrument (see ``_PEERS``)."""

    def wrap(handler: Callable[[Any, Any], Awaitable[None]]) -> Callable[[Any, Any], Awaitable[None]]:
        async def run(self: BinanceFrameworkDataClient, command: Any) -> None:
            await handler(self._owner(instrument_of(command)), command)

        run.__name__ = handler.__name__
        return run

    return wrap


def _published_type(command: SubscribeData | UnsubscribeData) -> DataType:
    """The data type to publish a subscription's rows with: subscribed with ``instrument_id=``, the engine put
    it in the metadata but the subscriber's topic is the plain type's."""
    return DataType(command.data_type.type) if command.instrument_id is not None else command.data_type


def _custom_instrument(command: SubscribeData | UnsubscribeData) -> InstrumentId | None:
    raw_id = (command.data_type.metadata or {}).get("instrument_id") or command.instrument_id
    return None if raw_id is None else InstrumentId.from_str(str(raw_id))


class BinanceFrameworkDataClient(LiveMarketDataClient):
    """Spot or USD-M market data for a TradingNode (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: BinanceRestClient, msgbus: MessageBus, cache: Cache,
                 clock: LiveClock, instrument_provider: BinanceFrameworkInstrumentProvider,
                 config: BinanceFrameworkDataClientConfig, name: str | None = None):
        super().__init__(loop=loop, client_id=ClientId(name or f"BINANCE-{config.market.upper()}"),
                         venue=BINANCE_VENUE, msgbus=msgbus, cache=cache, clock=clock,
                         instrument_provider=instrument_provider, config=config)
        self.market = config.binance_market
        self.rest = client
        self.config_ = config
        self.feed = MarketFeed(self.market, client, config.ws_url(), config.streams_per_connection,
                               config.latency_warn_ms, config.heartbeat_secs)
        self._mark_subs: dict[str, set[str]] = {}  # symbol -> {"mark", "index", "funding", "funding_custom"}
        self._polls: dict[DataType, asyncio.Task] = {}
        self._funding_intervals: dict[str, int] | None = None
        self._funding_last: dict[str, tuple[str, int] | None] = {}  # symbol -> (rate, next time) published
        # (custom class, symbol) -> the data types its subscribers listen on (their topics differ by style)
        self._published_as: dict[tuple[type, str], list[DataType]] = {}
        _PEERS.setdefault(id(msgbus), weakref.WeakSet()).add(self)
        self._peers = _PEERS[id(msgbus)]

    # -- lifecycle ----------------------------------------------------------------------------------

    async def _connect(self) -> None:
        await self._instrument_provider.initialize()
        for instrument in self._instrument_provider.get_all().values():
            self._handle_data(instrument)
        await self.feed.start()

    async def _disconnect(self) -> None:
        for task in self._polls.values():
            task.cancel()
        await asyncio.gather(*self._polls.values(), return_exceptions=True)
        self._polls.clear()
        await self.feed.stop()
        await self.rest.close()

    def _owner(self, instrument_id: InstrumentId | None) -> BinanceFrameworkDataClient:
        """The client of this node whose market holds ``instrument_id`` (self when none or unknown)."""
        if instrument_id is None or self._instrument_provider.find(instrument_id) is not None:
            return self
        return next((c for c in self._peers if c._instrument_provider.find(instrument_id) is not None), self)

    def _instrument(self, instrument_id: InstrumentId) -> Instrument:
        inst = self._instrument_provider.find(instrument_id)
        if inst is None:
            raise ValueError(f"{instrument_id} is not a loaded {self.market.value} instrument; add it to the "
                             "instrument provider's load_ids (or load_all)")
        return inst

    # -- trades -------------------------------------------------------------------------------------

    @_routed(lambda command: command.instrument_id)
    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        inst = self._instrument(command.instrument_id)
        self.feed.agg_trades(inst.raw_symbol.value, self._trade_handler(inst))

    def _trade_handler(self, inst: Instrument) -> Callable[[Any, bool], None]:
        iid, pp, sp = inst.id, inst.price_precision, inst.size_precision
        from_raw, now, publish = TradeTick.from_raw, self._clock.timestamp_ns, self._handle_data
        price_raw, size_raw = raw_converter(pp), raw_converter(sp)

        def on_trade(row: Any, filled: bool) -> None:
            publish(from_raw(iid, price_raw(row.p), pp, size_raw(row.q), sp,
                             _SELLER if row.m else _BUYER, TradeId(str(row.a)), row.T * NS_PER_MS, now()))

        return on_trade

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        pass  # the stream keeps its gap-free position; the data engine stops routing

    # -- bars ---------------------------------------------------------------------------------------

    @_routed(lambda command: command.bar_type.instrument_id)
    async def _subscribe_bars(self, command: SubscribeBars) -> None:
        bar_type = command.bar_type
        inst = self._instrument(bar_type.instrument_id)
        interval = binance_interval(bar_type)
        stats_type = DataType(types.KlineStats)
        publish = self._handle_data

        def on_bar(row: Any, filled: bool) -> None:
            for bar in parsing.parse_kline_bars([row], bar_type, inst):
                publish(bar)
            for stats in parsing.parse_kline_stats([row], bar_type):
                publish(CustomData(stats_type, stats))

        self.feed.klines(inst.raw_symbol.value, interval, on_bar)

    async def _unsubscribe_bars(self, command: UnsubscribeBars) -> None:
        pass

    # -- mark price, index price, funding -----------------------------------------------------------

    @_routed(lambda command: command.instrument_id)
    async def _subscribe_mark_prices(self, command: SubscribeMarkPrices) -> None:
        await self._mark_stream(command.instrument_id, "mark")

    @_routed(lambda command: command.instrument_id)
    async def _subscribe_index_prices(self, command: SubscribeIndexPrices) -> None:
        await self._mark_stream(command.instrument_id, "index")

    @_routed(lambda command: command.instrument_id)
    async def _subscribe_funding_rates(self, command: SubscribeFundingRates) -> None:
        await self._mark_stream(command.instrument_id, "funding")

    async def _funding_hours(self, symbol: str) -> int:
        """The symbol's funding interval (``fundingInfo`` lists only the non-default ones; 8 h otherwise)."""
        if self._funding_intervals is None:
            try:
                rows = await self.rest.get(Market.FUTURES, "funding_rate_info")
                self._funding_intervals = parsing.funding_intervals(rows)
            except Exception as e:  # noqa: BLE001 (funding still flows, with the default interval)
                self._log.warning(f"fundingInfo unavailable ({e}); assuming 8 h funding intervals")
                return 8
        return self._funding_intervals.get(symbol, 8)

    async def _mark_stream(self, instrument_id: InstrumentId, what: str) -> None:
        if self.market is not Market.FUTURES:
            self._log.error(f"{what} prices exist only on USD-M; {instrument_id} is spot")
            return
        symbol = self._instrument(instrument_id).raw_symbol.value
        if what.startswith("funding"):
            self._funding_last[symbol] = None  # a new subscriber gets the current rate with the next event
        subs = self._mark_subs.get(symbol)
        if subs is not None:
            subs.add(what)
            return
        subs = self._mark_subs[symbol] = {what}
        hours = await self._funding_hours(symbol)
        publish, now = self._handle_data, self._clock.timestamp_ns
        funding_types = self._published_as.setdefault((types.FundingRate, symbol), [])
        last = self._funding_last

        def on_mark(ev: Any) -> None:
            ts_event, ts_init = ev.E * NS_PER_MS, now()
            if "mark" in subs:
                publish(MarkPriceUpdate(instrument_id, Price.from_str(ev.p), ts_event, ts_init))
            if "index" in subs:
                publish(IndexPriceUpdate(instrument_id, Price.from_str(ev.i), ts_event, ts_init))
            if subs & {"funding", "funding_custom"} and last.get(symbol) != (ev.r, ev.T):
                last[symbol] = (ev.r, ev.T)
                next_ns = ev.T * NS_PER_MS
                if "funding" in subs:
                    publish(FundingRateUpdate(instrument_id, Decimal(ev.r), ts_event, ts_init,
                                              interval=hours * 60, next_funding_ns=next_ns))
                if funding_types:
                    rate = types.FundingRate(instrument_id=instrument_id, rate_str=ev.r, mark_price_str=ev.p,
                                             funding_time=next_ns, interval_hours=hours, ts_event=ts_event,
                                             ts_init=ts_init)
                    for data_type in funding_types:
                        publish(CustomData(data_type, rate))

        self.feed.stream(f"{symbol.lower()}@markPrice@1s", on_mark)

    # -- custom data --------------------------------------------------------------------------------

    @_routed(_custom_instrument)
    async def _subscribe(self, command: SubscribeData) -> None:
        data_type = _published_type(command)
        cls = data_type.type
        if cls is types.KlineStats:
            return  # published with every subscribed bar
        iid = _custom_instrument(command)
        if iid is None:
            self._log.error(f"subscribe {cls.__name__}: name the instrument, e.g. subscribe_data(DataType(Cls), "
                            "instrument_id=InstrumentId.from_str('BTCUSDT-PERP.BINANCE'))")
            return
        if cls in (types.FundingRate, BinanceTicker):
            symbol = self._instrument(iid).raw_symbol.value
            published = self._published_as.setdefault((cls, symbol), [])
            if data_type not in published:
                published.append(data_type)
            if cls is types.FundingRate:
                await self._mark_stream(iid, "funding_custom")
            elif len(published) == 1:
                self._ticker_stream(published, self._instrument(iid))
        elif cls in POLLED and self.market is Market.FUTURES:
            if data_type not in self._polls:
                self._polls[data_type] = self.create_task(self._poll(data_type, self._instrument(iid)))
        else:
            self._log.error(f"{cls.__name__} is not served by the {self.market.value} data client")

    def _ticker_stream(self, data_types: list[DataType], inst: Instrument) -> None:
        iid, publish, now = inst.id, self._handle_data, self._clock.timestamp_ns

        def on_ticker(ev: Any) -> None:
            ticker = binance_ticker(ev, iid, now())
            for data_type in data_types:
                publish(CustomData(data_type, ticker))

        self.feed.stream(f"{inst.raw_symbol.value.lower()}@ticker", on_ticker)

    @_routed(_custom_instrument)
    async def _unsubscribe(self, command: UnsubscribeData) -> None:
        task = self._polls.pop(_published_type(command), None)
        if task is not None:
            task.cancel()

    async def _poll(self, data_type: DataType, inst: Instrument) -> None:
        """Publish each new row of a REST-only series (no stream exists for them)."""
        kind = POLLED[data_type.type]
        period = self.config_.poll_period
        symbol = inst.raw_symbol.value
        newest = 0
        while True:
            try:
                rows = await self.rest.get(self.market, kind.endpoint, **kind.params(symbol, period, limit=2))
                for obj in kind.parse(rows, inst.id, period):
                    if obj.ts_event > newest:
                        newest = obj.ts_event
                        self._handle_data(CustomData(data_type, obj))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (keep polling through outages)
                self._log.warning(f"poll {data_type.type.__name__} {symbol}: {e}")
            await asyncio.sleep(self.config_.poll_interval_secs)

    def stats(self) -> dict[str, Any]:
        """The feed's counters (frames, malformed, reconnects, sequences, latency)."""
        return self.feed.stats()


_SPOT_TICKER_FIELDS = (("prev_close_price", "x"), ("bid_price", "b"), ("bid_qty", "B"), ("ask_price", "a"),
                       ("ask_qty", "A"))


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def binance_ticker(ev: Any, instrument_id: InstrumentId, ts_init: int) -> BinanceTicker:
    """A spot or USD-M ``@ticker`` event as the adapter's ``BinanceTicker`` (USD-M has no book and
    previous-close fields: None)."""
    return BinanceTicker(
        instrument_id=instrument_id, price_change=Decimal(ev.p), price_change_percent=Decimal(ev.P),
        weighted_avg_price=Decimal(ev.w), last_price=Decimal(ev.c), last_qty=Decimal(ev.Q),
        open_price=Decimal(ev.o), high_price=Decimal(ev.h), low_price=Decimal(ev.l), volume=Decimal(ev.v),
        quote_volume=Decimal(ev.q), open_time_ms=ev.O, close_time_ms=ev.C, first_id=ev.F, last_id=ev.L,
        count=ev.n, ts_event=ev.E * NS_PER_MS, ts_init=ts_init,
        **{name: _decimal(getattr(ev, field, None)) for name, field in _SPOT_TICKER_FIELDS},
    )


def raw_converter(precision: int, max_size: int = 65_536) -> Callable[[str], int]:
    """``fixed_raw`` at ``precision`` with a memo: trade prices and sizes repeat, and the exact text
    conversion is the dearest step of a trade's path (~1 us against ~0.05 us for a dict hit)."""
    memo: dict[str, int] = {}

    def convert(text: str) -> int:
        raw = memo.get(text)
        if raw is None:
            raw = fixed_raw(text, precision)
            if len(memo) >= max_size:
                memo.clear()
            memo[text] = raw
        return raw

    return convert


def binance_interval(bar_type: BarType) -> str:
    """The kline interval of an external LAST time bar type (``...-1-MINUTE-LAST-EXTERNAL`` -> ``1m``)."""
    if bar_type.aggregation_source != AggregationSource.EXTERNAL or bar_type.spec.price_type != PriceType.LAST:
        raise ValueError(f"{bar_type}: Binance streams LAST-EXTERNAL bars; aggregate others from trade ticks")
    try:
        return interval_of(bar_type.spec)
    except ValueError:
        raise ValueError(f"{bar_type}: no Binance kline interval has this step") from None
