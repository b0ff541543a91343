"""Instruments for the live clients: exchangeInfo through the framework's REST client and parser."""

from __future__ import annotations

from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import InstrumentProviderConfig

from framework.binance.endpoints import Market
from framework.binance.http import BinanceRestClient
from framework.data.instruments import FeeConfig
from framework.data.instruments import parse_instruments


class BinanceFrameworkInstrumentProvider(InstrumentProvider):
    """Spot ``CurrencyPair`` or USD-M ``CryptoPerpetual``/``CryptoFuture`` from one market's exchangeInfo."""

    def __init__(self, client: BinanceRestClient, market: Market | str, config: InstrumentProviderConfig | None = None,
                 fees: FeeConfig | None = None):
        super().__init__(config=config)
        self.client = client
        self.market = Market(market)
        self.fees = fees

    async def load_all_async(self, filters: dict | None = None) -> None:
        """Nautilus hook: every instrument of the market's exchangeInfo, with its currencies (the
        announced weight limit is adopted on the way)."""
        info = await self.client.get(self.market, "exchange_info")
        self.client.apply_rate_limits(self.market, info)
        for inst in parse_instruments(self.market, info, self.fees):
            for currency in (inst.get_base_currency(), inst.quote_currency):
                if currency is not None:
                    self.add_currency(currency)
            self.add(inst)
