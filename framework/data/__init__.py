"""Binance history as Nautilus data.

* :mod:`framework.data.instruments`: ``exchangeInfo`` -> ``CurrencyPair`` / ``CryptoPerpetual`` /
  ``CryptoFuture`` (adapter ids, exact filters, fees and margins from ``FeeConfig``).
* :mod:`framework.data.types`: our custom data types (funding rates, open interest, long/short ratios,
  taker buy/sell volume, kline statistics), catalog- and streaming-ready, exact decimal fields.
* :mod:`framework.data.parsing`: REST rows -> ``TradeTick`` / ``Bar`` / custom types, exact and vectorised.

Submodules are not imported here: importing Nautilus costs about a second, and the CLI should not pay it.
Importing :mod:`framework.data.types` registers the custom types with Nautilus's Rust catalog.
"""
