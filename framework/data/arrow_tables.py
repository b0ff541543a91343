"""Decoded columns -> the Arrow tables Nautilus 1.231 writes for ``TradeTick``, ``Bar`` and custom data.

The one implementation of "columns -> Nautilus Arrow layout" (schemas, millisecond -> nanosecond timestamps,
the aggressor rule); price and size columns become raw fixed-point through ``framework.data.fixed_point``.
``framework.data.parsing`` (REST rows -> record batches / Nautilus objects) and the catalog's fast write path
(``CatalogStore.write_trades`` / ``write_bars``) both use it.

The schemas below are the ones ``ArrowSerializer.serialize_batch`` produces (field order, types,
nullability, schema metadata in the same key order), so a table built here and written with the same
writer options gives files byte-identical to ``ParquetDataCatalog.write_data``
(``tests/test_catalog_store.py`` checks the bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.objects import FIXED_PRECISION_BYTES
from nautilus_trader.serialization.arrow.serializer import get_schema

from framework.data.fixed_point import RAW_TYPE
from framework.data.fixed_point import raw_column
from framework.data.fixed_point import raw_to_float
from framework.timeunits import NS_PER_MS

_MAX_MS = (2**64 - 1) // NS_PER_MS  # the last millisecond whose nanoseconds fit a uint64

# AggressorSide values (nautilus_trader.model.enums; 0 is NO_AGGRESSOR)
BUYER = 1
SELLER = 2


def _field(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_, nullable=False)


TRADE_TICK_FIELDS = (
    _field("price", RAW_TYPE),
    _field("size", RAW_TYPE),
    _field("aggressor_side", pa.uint8()),
    _field("trade_id", pa.string()),
    _field("ts_event", pa.uint64()),
    _field("ts_init", pa.uint64()),
)
BAR_FIELDS = (
    _field("open", RAW_TYPE),
    _field("high", RAW_TYPE),
    _field("low", RAW_TYPE),
    _field("close", RAW_TYPE),
    _field("volume", RAW_TYPE),
    _field("ts_event", pa.uint64()),
    _field("ts_init", pa.uint64()),
)


def trade_tick_schema(instrument_id: str, price_precision: int, size_precision: int) -> pa.Schema:
    """The schema (fields and metadata) Nautilus writes for one instrument's ``TradeTick`` files."""
    return pa.schema(
        TRADE_TICK_FIELDS,
        metadata={
            "instrument_id": str(instrument_id),
            "price_precision": str(int(price_precision)),
            "size_precision": str(int(size_precision)),
        },
    )


def bar_schema(bar_type: str, price_precision: int, size_precision: int) -> pa.Schema:
    """The schema (fields and metadata) Nautilus writes for one bar type's ``Bar`` files."""
    bar_type = str(bar_type)
    return pa.schema(
        BAR_FIELDS,
        metadata={
            "bar_type": bar_type,
            "instrument_id": _bar_instrument_id(bar_type),
            "price_precision": str(int(price_precision)),
            "size_precision": str(int(size_precision)),
        },
    )


@lru_cache(maxsize=1024)
def _bar_instrument_id(bar_type: str) -> str:
    # "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL" -> "BTCUSDT-PERP.BINANCE", as Nautilus parses it
    from nautilus_trader.model.data import BarType

    return BarType.from_str(bar_type).instrument_id.value



# -- other columns ------------------------------------------------------------------------------------------


def _u64(values: Any, name: str, n: int | None = None) -> pa.Array:
    a = np.asarray(values)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers (ns), got {a.dtype}")
    if a.dtype.kind == "i" and len(a) and a.min() < 0:
        raise ValueError(f"{name} has negative timestamps")
    if n is not None and len(a) != n:
        raise ValueError(f"{name} has {len(a)} rows, expected {n}")
    return pa.array(a.astype(np.uint64, copy=False), type=pa.uint64())


def aggressor_from_buyer_maker(is_buyer_maker: Any) -> np.ndarray:
    """Binance ``m`` / ``isBuyerMaker`` -> AggressorSide (maker buyer means the taker sold)."""
    return np.where(np.asarray(is_buyer_maker, dtype=bool), np.uint8(SELLER), np.uint8(BUYER))


def ms_to_ns(ms: Any) -> np.ndarray:
    """Integer milliseconds -> uint64 nanoseconds, exact integer math (Nautilus's ``millis_to_nanos`` goes
    through a double and is off by up to ~100 ns at current epochs)."""
    a = np.asarray(ms)
    if a.size == 0:
        return np.empty(a.shape, dtype=np.uint64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"milliseconds must be integers, got {a.dtype}")
    if (a.dtype.kind == "i" and a.min() < 0) or a.max() > _MAX_MS:
        raise ValueError("milliseconds outside the uint64 nanosecond range")
    return a.astype(np.uint64) * np.uint64(NS_PER_MS)


def _trade_ids(values: Any, n: int) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        arr = pc.cast(pa.array(values), pa.string())
    elif isinstance(values, pa.Array):
        arr = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    else:
        try:
            arr = pa.array(values, type=pa.string())  # strings already (the decoders' case)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            arr = pa.array([str(v) for v in values], type=pa.string())
    if len(arr) != n:
        raise ValueError(f"trade_id has {len(arr)} rows, expected {n}")
    if arr.null_count:
        raise ValueError("trade_id has nulls")
    return arr


def _aggressor(values: Any, n: int) -> pa.Array:
    a = np.asarray(values)
    if a.dtype == bool:
        raise TypeError("aggressor_side must be AggressorSide values; use aggressor_from_buyer_maker(m)")
    a = a.astype(np.uint8, copy=False)
    if len(a) != n:
        raise ValueError(f"aggressor_side has {len(a)} rows, expected {n}")
    if len(a) and a.max() > 2:
        raise ValueError("aggressor_side values must be 0 (none), 1 (buyer) or 2 (seller)")
    return pa.array(a, type=pa.uint8())


def _timestamps(ts_event: Any, ts_init: Any | None) -> tuple[pa.Array, pa.Array]:
    ts_e = _u64(ts_event, "ts_event")
    return ts_e, (ts_e if ts_init is None else _u64(ts_init, "ts_init", len(ts_e)))


def _raw_columns(
    n: int, precisions: dict[str, tuple[int, int | None]], columns: dict[str, Any]
) -> list[pa.Array]:
    out = []
    for name, values in columns.items():
        precision, scale = precisions[name]
        col = raw_column(values, precision, scale, what=name)
        if len(col) != n:
            raise ValueError(f"{name} has {len(col)} rows, expected {n}")
        out.append(col)
    return out


def trade_ticks_batch(
    instrument_id: str,
    price_precision: int,
    size_precision: int,
    *,
    price: Any,
    size: Any,
    aggressor_side: Any,
    trade_id: Any,
    ts_event: Any,
    ts_init: Any | None = None,
    price_scale: int | None = None,
    size_scale: int | None = None,
) -> pa.RecordBatch:
    """Columns of decoded trades -> the record batch Nautilus writes for ``TradeTick`` (input row order)."""
    ts_e, ts_i = _timestamps(ts_event, ts_init)
    n = len(ts_e)
    precisions = {"price": (price_precision, price_scale), "size": (size_precision, size_scale)}
    cols = _raw_columns(n, precisions, {"price": price, "size": size})
    cols += [_aggressor(aggressor_side, n), _trade_ids(trade_id, n), ts_e, ts_i]
    schema = trade_tick_schema(instrument_id, price_precision, size_precision)
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def trade_ticks_table(
    instrument_id: str, price_precision: int, size_precision: int, **columns: Any
) -> pa.Table:
    """:func:`trade_ticks_batch` as a table (same keyword columns)."""
    batch = trade_ticks_batch(instrument_id, price_precision, size_precision, **columns)
    return pa.Table.from_batches([batch])


def bars_batch(
    bar_type: str,
    price_precision: int,
    size_precision: int,
    *,
    open: Any,
    high: Any,
    low: Any,
    close: Any,
    volume: Any,
    ts_event: Any,
    ts_init: Any | None = None,
    price_scale: int | None = None,
    size_scale: int | None = None,
) -> pa.RecordBatch:
    """Columns of decoded klines -> the record batch Nautilus writes for ``Bar``.

    Nautilus stamps a bar at its close: pass ``ts_event`` = kline open time + interval (Binance stamps open).
    """
    ts_e, ts_i = _timestamps(ts_event, ts_init)
    n = len(ts_e)
    p, s = (price_precision, price_scale), (size_precision, size_scale)
    precisions = {"open": p, "high": p, "low": p, "close": p, "volume": s}
    ohlcv = {"open": open, "high": high, "low": low, "close": close, "volume": volume}
    cols = _raw_columns(n, precisions, ohlcv)
    cols += [ts_e, ts_i]
    return pa.RecordBatch.from_arrays(cols, schema=bar_schema(str(bar_type), price_precision, size_precision))


def bars_table(bar_type: str, price_precision: int, size_precision: int, **columns: Any) -> pa.Table:
    """:func:`bars_batch` as a table (same keyword columns)."""
    return pa.Table.from_batches([bars_batch(bar_type, price_precision, size_precision, **columns)])


def _repeated_text(value: str, n: int) -> pa.StringArray:
    """``n`` times the same string, built from its buffers (a Python list of n references is ~10x slower)."""
    data = value.encode()
    if n * len(data) >= 2**31:
        raise ValueError(f"{n} x {len(data)} bytes do not fit a string column")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(data))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


def custom_data_table(data_cls: type, ts_event: Any, ts_init: Any | None = None, **columns: Any) -> pa.Table:
    """Columns -> the table Nautilus writes for a ``customdataclass_pyo3`` type (its registered Arrow schema;
    ``type`` = the class name), without building an object per row. A column is an Arrow array, a sequence
    or numpy array, or one ``str``/``int``/``float``/``bool`` value for every row."""
    try:
        schema = get_schema(data_cls)  # Nautilus's registry of Arrow schemas (the class's ``_schema``)
    except KeyError:
        name = data_cls.__name__
        raise TypeError(f"{name} has no Arrow schema: register_custom_data_class({name})") from None
    ts_e = np.asarray(ts_event, dtype=np.int64)
    n = len(ts_e)
    ts_i = ts_e if ts_init is None else ts_init
    values = {**columns, "type": data_cls.__name__, "ts_event": ts_e, "ts_init": ts_i}
    if set(values) != set(schema.names):
        raise ValueError(f"{data_cls.__name__} columns are {schema.names[:-3]}, got {sorted(columns)}")
    arrays = []
    for f in schema:
        value = values[f.name]
        if isinstance(value, str):
            array = _repeated_text(value, n)
        elif isinstance(value, (int, float, bool)):
            array = pa.array(np.full(n, value), f.type)
        else:
            array = value if isinstance(value, pa.Array) else pa.array(value, f.type)
            if array.type != f.type:
                array = pc.cast(array, f.type)
        if len(array) != n:
            raise ValueError(f"{f.name} has {len(array)} rows, expected {n}")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema)


def decoded_frame(table: pa.Table) -> Any:
    """A pandas DataFrame with fixed-point columns as float64 and ts columns as UTC datetimes (for people)."""
    import pandas as pd

    data: dict[str, Sequence[Any]] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_fixed_size_binary(col.type) and col.type.byte_width == FIXED_PRECISION_BYTES:
            data[name] = raw_to_float(col)
        elif name in ("ts_event", "ts_init"):
            data[name] = pd.to_datetime(col.to_numpy().astype(np.int64), unit="ns", utc=True)
        else:
            data[name] = col.to_numpy(zero_copy_only=False)
    return pd.DataFrame(data)
