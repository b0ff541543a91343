"""Table normalisation and dedupe: rows in ``(ts_init, key)`` order, each key once, new rows told apart.

A series names the columns that identify a row (``Series.dedupe_key``: ``trade_id`` for trades, ``ts_init``
for bars, the whole row otherwise). Rows are stored sorted by ``(ts_init, key)`` (numeric strings such as
``trade_id`` compared as numbers), first occurrence kept, so a file's bytes depend only on the rows it holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import TradeTick

from framework.catalog.series import CatalogStoreError
from framework.catalog.series import Series


def ts_init_array(table: pa.Table) -> np.ndarray:
    """A table's ``ts_init`` column as an int64 numpy array (no copy when it is one chunk)."""
    col = table.column("ts_init")
    if col.num_chunks != 1:
        col = col.combine_chunks()
    else:
        col = col.chunk(0)
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def numeric_array(col: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """A column as an int64/float numpy array if it is numeric or a numeric string, else None."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_integer(t):
        return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if pa.types.is_floating(t) or pa.types.is_boolean(t):
        return col.to_numpy(zero_copy_only=False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            return pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return None


def key_columns(table: pa.Table, key: tuple[str, ...] | None) -> list[str]:
    """The dedupe key's columns of ``table`` (None: all of them); a missing one is a ``CatalogStoreError``."""
    if key is None:
        return list(table.column_names)
    missing = [c for c in key if c not in table.column_names]
    if missing:
        raise CatalogStoreError(f"dedupe key columns {missing} not in table columns {table.column_names}")
    return list(key)


def _sorted_unique(ts: np.ndarray, k: np.ndarray | None, key_is_ts: bool) -> bool:
    """True when rows are strictly increasing in (ts, key) and the key has no repeats."""
    if len(ts) <= 1:
        return True
    dts = np.diff(ts)
    if key_is_ts:
        return bool((dts > 0).all())
    if k is None or (dts < 0).any():
        return False
    dk = np.diff(k)
    if not ((dts > 0) | (dk > 0)).all():
        return False
    return bool((dk > 0).all()) or np.unique(k).size == len(k)


def sort_indices(table: pa.Table, cols: list[str]) -> pa.Array:
    """Stable order by ts_init then the key columns (numeric strings compared as numbers)."""
    arrays: list[pa.Array] = [table.column("ts_init").combine_chunks()]
    names = ["ts_init"]
    for i, c in enumerate(cols):
        if c == "ts_init":
            continue
        col = table.column(c).combine_chunks()
        text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        num = numeric_array(col) if text else None
        if num is not None:
            col = pa.array(num)
        t = col.type
        if not (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_binary(t)
            or pa.types.is_fixed_size_binary(t)
            or pa.types.is_temporal(t)
            or pa.types.is_decimal(t)
        ):
            continue  # not orderable (lists, structs): keep input order among equals
        arrays.append(col)
        names.append(f"k{i}")
    helper = pa.Table.from_arrays(arrays, names=names)
    return pc.sort_indices(helper, sort_keys=[(n, "ascending") for n in names])


def _key_frame(table: pa.Table, cols: list[str]) -> pd.DataFrame:
    data = {}
    for c in cols:
        col = table.column(c).combine_chunks()
        if pa.types.is_fixed_size_binary(col.type) or pa.types.is_binary(col.type):
            data[c] = col.to_pylist()
        else:
            data[c] = col.to_pandas()
    return pd.DataFrame(data)


def _not_in(new: pa.Table, held: pa.Table, cols: list[str]) -> np.ndarray:
    """Mask of ``new`` rows whose key is not in ``held``."""
    if held.num_rows == 0 or new.num_rows == 0:
        return np.ones(new.num_rows, dtype=bool)
    if len(cols) == 1:
        value_set = held.column(cols[0]).combine_chunks()
        return ~pc.is_in(new.column(cols[0]).combine_chunks(), value_set=value_set).to_numpy(
            zero_copy_only=False
        )
    idx_new = pd.MultiIndex.from_frame(_key_frame(new, cols))
    idx_held = pd.MultiIndex.from_frame(_key_frame(held, cols))
    return ~np.asarray(idx_new.isin(idx_held))


def rows_not_held(rows: pa.Table, held_keys: pa.Table, cols: list[str]) -> pa.Table:
    """The rows of ``rows`` whose key (``cols``) is not among ``held_keys``."""
    mask = _not_in(rows, held_keys, cols)
    return rows if mask.all() else rows.filter(pa.array(mask))


def check_identity(series: Series, table: pa.Table) -> None:
    """Refuse a trades or bars table whose schema metadata names another instrument or bar type."""
    meta = table.schema.metadata or {}
    if series.data_cls is TradeTick:
        got = meta.get(b"instrument_id", b"").decode()
        if got != series.identifier:
            raise CatalogStoreError(f"table is for instrument {got!r}, series is {series}")
    elif series.data_cls is Bar:
        got = meta.get(b"bar_type", b"").decode()
        if got != series.identifier:
            raise CatalogStoreError(f"table is for bar type {got!r}, series is {series}")


def normalize(table: pa.Table, key_cols: list[str]) -> tuple[pa.Table, int]:
    """Sort by (ts_init, key) and drop repeated keys (first kept); one chunk per column."""
    table = table.combine_chunks()
    n = table.num_rows
    if n <= 1:
        return table, 0
    ts = ts_init_array(table)
    key_is_ts = key_cols == ["ts_init"]
    k = None if key_is_ts or len(key_cols) != 1 else numeric_array(table.column(key_cols[0]))
    if _sorted_unique(ts, k, key_is_ts):
        return table, 0
    table = table.take(sort_indices(table, key_cols)).combine_chunks()
    if len(key_cols) == 1:
        col = table.column(key_cols[0]).combine_chunks()
        num = numeric_array(col)
        if num is not None:
            _, first = np.unique(num, return_index=True)
        else:
            first = pd.Index(col.to_pandas()).duplicated(keep="first")
            first = np.flatnonzero(~first)
    else:
        first = np.flatnonzero(~_key_frame(table, key_cols).duplicated(keep="first").to_numpy())
    if len(first) == n:
        return table, 0
    mask = np.zeros(n, dtype=bool)
    mask[first] = True
    return table.filter(pa.array(mask)).combine_chunks(), n - int(mask.sum())
