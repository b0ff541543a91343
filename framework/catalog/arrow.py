"""Fast path: decoded columns -> the Arrow tables Nautilus 1.231 writes for ``TradeTick`` and ``Bar``.

Nautilus stores prices and sizes as 128-bit fixed-point integers scaled by 10**16 (``FIXED_PRECISION`` =
16 in the high-precision build) in ``fixed_size_binary[16]`` columns, little endian. That is exactly the
unscaled integer of an Arrow ``decimal128(38, 16)``, so a column of decimal strings or of integer mantissas
becomes a Nautilus column with one or two vectorised casts and a zero-copy re-labelling of the buffer, no
Python objects.

The schemas below are the ones ``ArrowSerializer.serialize_batch`` produces (field order, types,
nullability, schema metadata in the same key order), so a table built here and written with the same
writer options gives files byte-identical to ``ParquetDataCatalog.write_data``
(``tests/test_catalog_store.py`` checks the bytes).

Inputs per price/size column (``value = mantissa / 10**scale``):

* ``numpy`` integer array: mantissas at ``scale`` decimals (default: the column's precision). With
  ``scale > precision`` the digits below the precision must be zero (checked).
* a sequence / ``pyarrow`` array of decimal strings (Binance's exact strings, e.g. ``"65000.10"`` or spot's
  ``"65000.10000000"``): parsed by Arrow; more non-zero decimals than the precision is an error.

Floats are refused on purpose: the decoders keep Binance's decimals exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FIXED_PRECISION = 16  # nautilus_trader.model.objects.FIXED_PRECISION in the 1.231 wheels (128-bit build)
FIXED_SCALAR = 10**FIXED_PRECISION
_RAW_TYPE = pa.binary(16)
_DEC_RAW = pa.decimal128(38, FIXED_PRECISION)

# AggressorSide values (nautilus_trader.model.enums)
NO_AGGRESSOR = 0
BUYER = 1
SELLER = 2


def _field(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_, nullable=False)


TRADE_TICK_FIELDS = (
    _field("price", _RAW_TYPE),
    _field("size", _RAW_TYPE),
    _field("aggressor_side", pa.uint8()),
    _field("trade_id", pa.string()),
    _field("ts_event", pa.uint64()),
    _field("ts_init", pa.uint64()),
)
BAR_FIELDS = (
    _field("open", _RAW_TYPE),
    _field("high", _RAW_TYPE),
    _field("low", _RAW_TYPE),
    _field("close", _RAW_TYPE),
    _field("volume", _RAW_TYPE),
    _field("ts_event", pa.uint64()),
    _field("ts_init", pa.uint64()),
)


def trade_tick_schema(instrument_id: str, price_precision: int, size_precision: int) -> pa.Schema:
    return pa.schema(
        TRADE_TICK_FIELDS,
        metadata={
            "instrument_id": str(instrument_id),
            "price_precision": str(int(price_precision)),
            "size_precision": str(int(size_precision)),
        },
    )


def bar_schema(bar_type: str, price_precision: int, size_precision: int) -> pa.Schema:
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


def _bar_instrument_id(bar_type: str) -> str:
    # "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL" -> "BTCUSDT-PERP.BINANCE", as Nautilus parses it
    from nautilus_trader.model.data import BarType

    return BarType.from_str(bar_type).instrument_id.value


# -- fixed-point columns ------------------------------------------------------------------------------------


def _decimal_to_raw(arr: pa.Array) -> pa.FixedSizeBinaryArray:
    """decimal128(38, 16) -> fixed_size_binary[16] over the same buffer (no copy)."""
    if arr.null_count:
        raise ValueError("fixed-point column has nulls")
    return pa.FixedSizeBinaryArray.from_buffers(
        _RAW_TYPE, len(arr), [None, arr.buffers()[1]], offset=arr.offset
    )


def raw_column(values: Any, precision: int, scale: int | None = None) -> pa.FixedSizeBinaryArray:
    """One price/size column as Nautilus raw fixed-point (value * 10**16, int128 little endian)."""
    precision = int(precision)
    if not 0 <= precision <= FIXED_PRECISION:
        raise ValueError(f"precision {precision} outside 0..{FIXED_PRECISION}")
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        scale = precision if scale is None else int(scale)
        if not 0 <= scale <= FIXED_PRECISION:
            raise ValueError(f"scale {scale} outside 0..{FIXED_PRECISION}")
        m = values.astype(np.int64, copy=False)
        if scale > precision and len(m):
            step = 10 ** (scale - precision)
            if np.any(m % step):
                raise ValueError(f"values have more than {precision} decimals (mantissas at scale {scale})")
        dec0 = pc.cast(pa.array(m, type=pa.int64()), pa.decimal128(38, 0))
        dec = pa.Array.from_buffers(
            pa.decimal128(38, scale), len(m), [None, dec0.buffers()[1]], offset=dec0.offset
        )
        return _decimal_to_raw(pc.cast(dec, _DEC_RAW) if scale != FIXED_PRECISION else dec)
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        raise TypeError("float prices/sizes are not accepted: pass integer mantissas or decimal strings")
    if (
        isinstance(values, pa.Array)
        and pa.types.is_fixed_size_binary(values.type)
        and values.type.byte_width == 16
    ):
        return values  # already raw
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if pa.types.is_decimal(arr.type):
        checked = pc.cast(arr, pa.decimal128(38, precision))
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        checked = pc.cast(
            arr, pa.decimal128(38, precision)
        )  # raises on more non-zero decimals than precision
    else:
        raise TypeError(f"unsupported fixed-point input type {arr.type}")
    return _decimal_to_raw(pc.cast(checked, _DEC_RAW))


def raw_to_float(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Nautilus raw fixed-point column -> float64 values (for plain pandas / numpy readers)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    buf = column.buffers()[1]
    words = np.frombuffer(buf, dtype=np.uint64, count=2 * (n + column.offset))[2 * column.offset :]
    lo = words[0::2].astype(np.float64)
    hi = words[1::2].view(np.int64).astype(np.float64)
    return (hi * 18446744073709551616.0 + lo) / FIXED_SCALAR


def raw_to_int(column: pa.Array | pa.ChunkedArray) -> list[int]:
    """Nautilus raw fixed-point column -> exact Python ints (value * 10**16)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return [int.from_bytes(b, "little", signed=True) for b in column.to_pylist()]


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
    return np.where(np.asarray(is_buyer_maker, dtype=bool), SELLER, BUYER).astype(np.uint8)


def ms_to_ns(ms: Any) -> np.ndarray:
    return np.asarray(ms, dtype=np.int64).astype(np.uint64) * np.uint64(1_000_000)


def _trade_ids(values: Any, n: int) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        arr = pc.cast(pa.array(values), pa.string())
    elif isinstance(values, pa.Array):
        arr = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    else:
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


def _check_len(col: pa.Array, name: str, n: int) -> pa.Array:
    if len(col) != n:
        raise ValueError(f"{name} has {len(col)} rows, expected {n}")
    return col


def trade_ticks_table(
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
) -> pa.Table:
    """Columns of decoded trades -> the Arrow table Nautilus writes for ``TradeTick`` (input row order)."""
    ts_e = _u64(ts_event, "ts_event")
    n = len(ts_e)
    ts_i = ts_e if ts_init is None else _u64(ts_init, "ts_init", n)
    cols = [
        _check_len(raw_column(price, price_precision, price_scale), "price", n),
        _check_len(raw_column(size, size_precision, size_scale), "size", n),
        _aggressor(aggressor_side, n),
        _trade_ids(trade_id, n),
        ts_e,
        ts_i,
    ]
    return pa.Table.from_arrays(
        cols, schema=trade_tick_schema(instrument_id, price_precision, size_precision)
    )


def bars_table(
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
) -> pa.Table:
    """Columns of decoded klines -> the Arrow table Nautilus writes for ``Bar``.

    Nautilus stamps a bar at its close: pass ``ts_event`` = kline open time + interval (Binance stamps open).
    """
    ts_e = _u64(ts_event, "ts_event")
    n = len(ts_e)
    ts_i = ts_e if ts_init is None else _u64(ts_init, "ts_init", n)
    cols = [
        _check_len(raw_column(open, price_precision, price_scale), "open", n),
        _check_len(raw_column(high, price_precision, price_scale), "high", n),
        _check_len(raw_column(low, price_precision, price_scale), "low", n),
        _check_len(raw_column(close, price_precision, price_scale), "close", n),
        _check_len(raw_column(volume, size_precision, size_scale), "volume", n),
        ts_e,
        ts_i,
    ]
    return pa.Table.from_arrays(cols, schema=bar_schema(str(bar_type), price_precision, size_precision))


def empty_like(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def decoded_frame(table: pa.Table) -> Any:
    """A pandas DataFrame with fixed-point columns as float64 and ts columns as UTC datetimes (for people)."""
    import pandas as pd

    data: dict[str, Sequence[Any]] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_fixed_size_binary(col.type) and col.type.byte_width == 16:
            data[name] = raw_to_float(col)
        elif name in ("ts_event", "ts_init"):
            data[name] = pd.to_datetime(col.to_numpy().astype(np.int64), unit="ns", utc=True)
        else:
            data[name] = col.to_numpy(zero_copy_only=False)
    return pd.DataFrame(data)
