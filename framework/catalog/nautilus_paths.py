"""Where ``ParquetDataCatalog`` puts a series' files and how it names them: the catalog's one Nautilus adapter.

The store writes ``<root>/data/<class folder>/[<identifier folder>/]<start>_<end>.parquet`` exactly as
Nautilus's ``write_data`` does, so ``catalog.query``, ``get_intervals``, ``consolidate_data`` and a
``BacktestNode`` read what it writes. Every Nautilus name the catalog needs for that is used here and only
here; checked against nautilus_trader 1.231.0 (``nautilus_trader/persistence/catalog/parquet.py`` and
``nautilus_trader/persistence/funcs.py``).

Private names, and why:

* ``_timestamps_to_filename(start_ns, end_ns)``: the file name of a closed ns interval
  (``2024-03-18T00-00-00-000000000Z_2024-03-18T23-59-59-999999999Z.parquet``). Nautilus has no public
  function for it; ``write_data`` names its files with it. Calling it keeps our names Nautilus's names.
* ``_parse_filename_timestamps(name)``: its inverse (None for a name that is not an interval), the parser
  ``query`` and ``get_intervals`` select files with: what a name means to Nautilus is what it means to us.

Public names: ``class_to_filename`` (the class folder: ``trade_tick``, ``bar``, ``custom_funding_rate``...)
and ``urisafe_identifier`` (the identifier folder).

On a Nautilus upgrade: check that both private functions still exist with these signatures, and run
``tests/test_catalog_store.py`` (its first test compares our files' names and bytes with ``write_data``'s).
"""

from __future__ import annotations

from functools import lru_cache

from nautilus_trader.persistence.catalog.parquet import _parse_filename_timestamps
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename
from nautilus_trader.persistence.funcs import class_to_filename
from nautilus_trader.persistence.funcs import urisafe_identifier


def file_name(start_ns: int, end_ns: int) -> str:
    """The catalog file name of the closed ns interval [start_ns, end_ns] (Nautilus's naming)."""
    return _timestamps_to_filename(start_ns, end_ns)


@lru_cache(maxsize=1 << 16)
def file_interval(name: str) -> tuple[int, int] | None:
    """The closed ns interval a catalog file name declares (a name never changes meaning: cached, since
    listing a series parses every name on every write)."""
    return _parse_filename_timestamps(name)


def class_folder(data_cls: type) -> str:
    """The folder under ``<root>/data`` holding a data class's series (``trade_tick``, ``custom_funding_rate``)."""
    return class_to_filename(data_cls)


def identifier_folder(identifier: str) -> str:
    """The folder of one series (instrument id, bar type) inside its class folder."""
    return urisafe_identifier(identifier)
