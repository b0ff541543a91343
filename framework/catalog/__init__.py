"""The data catalog: period-chunked, deduplicating, crash-safe writes into a Nautilus ParquetDataCatalog.

``CatalogStore`` (store.py) writes and answers "what do I hold"; ``framework.catalog.arrow`` builds the Arrow
tables Nautilus writes for TradeTick and Bar straight from decoded columns (the fast path).
"""

from framework.catalog.arrow import aggressor_from_buyer_maker
from framework.catalog.arrow import bars_table
from framework.catalog.arrow import decoded_frame
from framework.catalog.arrow import ms_to_ns
from framework.catalog.arrow import raw_column
from framework.catalog.arrow import raw_to_float
from framework.catalog.arrow import trade_ticks_table
from framework.catalog.store import CatalogStore
from framework.catalog.store import CatalogStoreError
from framework.catalog.store import FileSpan
from framework.catalog.store import Holdings
from framework.catalog.store import Period
from framework.catalog.store import Series
from framework.catalog.store import WriteReport

__all__ = [
    "CatalogStore",
    "CatalogStoreError",
    "FileSpan",
    "Holdings",
    "Period",
    "Series",
    "WriteReport",
    "aggressor_from_buyer_maker",
    "bars_table",
    "decoded_frame",
    "ms_to_ns",
    "raw_column",
    "raw_to_float",
    "trade_ticks_table",
]
