"""The data catalog: period-chunked, deduplicating, crash-safe writes into a Nautilus ParquetDataCatalog.

``CatalogStore`` (store.py) writes and answers "what do I hold"; the Arrow tables it writes for TradeTick and
Bar straight from decoded columns (the fast path) come from ``framework.data.arrow_tables``.
"""

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
]
