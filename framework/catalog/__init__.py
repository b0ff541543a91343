"""The data catalog: period-chunked, deduplicating, crash-safe writes into a Nautilus ParquetDataCatalog.

``CatalogStore`` (``store.py``) writes and answers "what do I hold"; ``SeriesAppender`` (``appender.py``) feeds
it a stream of pages; ``health.py`` finds and repairs damaged files. The store's jobs, lowest first:
``nautilus_paths`` (Nautilus's file names: the only Nautilus private names used), ``series`` (series, periods,
file spans, write reports), ``layout`` (folders, lock files, temporaries' names), ``locks``, ``dedupe`` (row
order and dedupe), ``holdings`` (what a series holds, from names and footers), ``durable`` (publish, trash,
recovery, fsync), ``merge`` (a period's piece merged into its files). The Arrow tables written come from
``framework.data.arrow_tables``.
"""

from framework.catalog.holdings import Holdings
from framework.catalog.series import CatalogStoreError
from framework.catalog.series import FileSpan
from framework.catalog.series import Period
from framework.catalog.series import Series
from framework.catalog.series import WriteReport
from framework.catalog.store import CatalogStore

__all__ = [
    "CatalogStore",
    "CatalogStoreError",
    "FileSpan",
    "Holdings",
    "Period",
    "Series",
    "WriteReport",
]
