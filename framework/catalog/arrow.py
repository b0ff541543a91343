"""Columns -> the Arrow tables Nautilus 1.231 writes for ``TradeTick`` and ``Bar``: the one implementation.

Everything that turns decoded columns into Nautilus's Arrow layout lives here (schemas, raw fixed-point
columns, millisecond -> nanosecond timestamps, the aggressor rule); ``framework.data.parsing`` (REST rows ->
record batches / Nautilus objects) and ``framework.catalog.store`` (fast write path) both use it.

Nautilus stores prices and sizes as fixed-point integers scaled by ``10**FIXED_PRECISION`` (16 in the
high-precision 1.231 wheels: 128-bit raws; 9 and 64-bit raws in a standard-precision build) in
``fixed_size_binary[FIXED_PRECISION_BYTES]`` columns, little endian. That is exactly the unscaled integer of
an Arrow ``decimal128(38, FIXED_PRECISION)``, so a column of decimal strings or of integer mantissas becomes
a Nautilus column with one or two vectorised casts and a zero-copy re-labelling of the buffer, no Python
objects.

The schemas below are the ones ``ArrowSerializer.serialize_batch`` produces (field order, types,
nullability, schema metadata in the same key order), so a table built here and written with the same
writer options gives files byte-identical to ``ParquetDataCatalog.write_data``
(``tests/test_catalog_store.py`` checks the bytes).

Inputs per price/size column (``value = mantissa / 10**scale``):

* ``numpy`` integer array: mantissas at ``scale`` decimals (default: the column's precision). With
  ``scale > precision`` the digits below the precision must be zero (checked).
* a sequence / ``pyarrow`` array of decimal strings (Binance's exact strings, e.g. ``"65000.10"`` or spot's
  ``"65000.10000000"``): each must be a plain decimal (``-?[0-9]+(\\.[0-9]+)?``, no exponent, sign or bare
  dot) without non-zero digits beyond the precision (:func:`decimal_column`; :class:`DecimalTextError`
  otherwise, naming the first bad value).
* a ``pyarrow`` decimal array (e.g. from :func:`decimal_column`), or a raw ``fixed_size_binary`` column.

Floats are refused on purpose: the decoders keep Binance's decimals exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.objects import FIXED_PRECISION
from nautilus_trader.model.objects import FIXED_PRECISION_BYTES

from framework.timeunits import NS_PER_MS

FIXED_SCALAR = 10**FIXED_PRECISION
_RAW_TYPE = pa.binary(FIXED_PRECISION_BYTES)
_DEC_RAW = pa.decimal128(38, FIXED_PRECISION)
_MAX_MS = (2**64 - 1) // NS_PER_MS  # the last millisecond whose nanoseconds fit a uint64

# AggressorSide values (nautilus_trader.model.enums)
NO_AGGRESSOR = 0
BUYER = 1
SELLER = 2


class DecimalTextError(pa.ArrowInvalid):
    """A decimal string that is not plain or has more decimals than the precision (a ``ValueError``)."""


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


@lru_cache(maxsize=1024)
def _bar_instrument_id(bar_type: str) -> str:
    # "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL" -> "BTCUSDT-PERP.BINANCE", as Nautilus parses it
    from nautilus_trader.model.data import BarType

    return BarType.from_str(bar_type).instrument_id.value


# -- decimal strings ----------------------------------------------------------------------------------------


def _precision(value: int, what: str = "precision") -> int:
    value = int(value)
    if not 0 <= value <= FIXED_PRECISION:
        raise ValueError(f"{what} {value} outside 0..{FIXED_PRECISION}")
    return value


def _string_array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    array = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise TypeError(f"expected decimal strings, got {array.type}")
    return array


def _string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets of the ``len + 1`` row bounds, data bytes) of a string array, zero copy."""
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets, data = array.buffers()
    width = np.dtype(offset_type).itemsize
    off = np.frombuffer(offsets, dtype=offset_type, count=len(array) + 1, offset=array.offset * width)
    return off, (np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8))


def _bad_decimal(array: pa.Array, precision: int | None, what: str) -> DecimalTextError | None:
    """The error for the first value that is not plain or not exact at ``precision`` (slow, error path)."""
    from framework.data.types import DECIMAL_TEXT  # the definition of "plain"
    from framework.data.types import fixed_raw

    texts = array.to_pylist()
    for index, text in enumerate(texts):  # a non-plain value anywhere first, then inexact ones
        if text is None or DECIMAL_TEXT.fullmatch(text) is None:
            return DecimalTextError(f"{what}[{index}] = {text!r} is not a plain decimal")
    for index, text in enumerate(texts if precision is not None else ()):
        try:
            fixed_raw(text, precision)
        except ValueError as e:
            return DecimalTextError(f"{what}[{index}]: {e} (precision {precision})")
    return None


def _plain_after_parse(off: np.ndarray, data: np.ndarray, dots: np.ndarray | None) -> bool:
    """Whether every value is a plain decimal, given that Arrow parsed each one as a number.

    Arrow's decimal/float parsers also take ``6e4``, ``1E-8``, ``+5``, ``inf``, ``.5``, ``5.`` and ``-.5``;
    with every byte in ``-./0-9`` (and ``/`` impossible in a parsed number) only the bare-dot cases remain.
    ``dots``: the dot positions when every row has exactly one (``dots[i]`` is row ``i``'s).
    """
    body = data[off[0] : off[-1]]
    if len(body) and (int(body.min()) < 45 or int(body.max()) > 57):  # "-" .. "9"
        return False
    if dots is not None:  # a digit on both sides of each row's dot
        return bool(
            int((dots - off[:-1]).min()) >= 1  # not first
            and int((off[1:] - dots).min()) >= 2  # not last
            and (data[dots - 1] >= 48).all()  # not after the sign
        )
    first = data[off[:-1]]
    if (first == 46).any() or (data[off[1:] - 1] == 46).any():
        return False
    signed = off[:-1][first == 45]
    return not (len(signed) and (data[signed + 1] == 46).any())


def plain_decimal_array(values: Any, what: str = "value") -> pa.Array:
    """``values`` as an Arrow string array, after a vectorised check that each is a plain decimal."""
    array = _string_array(values)
    if len(array) == 0:
        return array
    try:
        if array.null_count:
            raise pa.ArrowInvalid("nulls")
        pc.cast(array, pa.float64())  # a number at all (any length of digits), then: a plain one
        plain = _plain_after_parse(*_string_buffers(array), None)
    except pa.ArrowInvalid:
        plain = False
    if not plain:
        raise _bad_decimal(array, None, what) or DecimalTextError(f"{what}: not plain decimals")
    return array


def decimal_column(values: Any, precision: int, what: str = "value") -> pa.Decimal128Array:
    """Decimal strings as ``decimal128(38, FIXED_PRECISION)`` (the raw scale), exactly.

    Raises :class:`DecimalTextError` (a ``pa.ArrowInvalid`` and ``ValueError``) naming the first value that
    is not a plain decimal or has non-zero digits beyond ``precision``.
    """
    precision = _precision(precision)
    array = _string_array(values)
    n = len(array)
    if n == 0:
        return pa.array([], type=_DEC_RAW)
    if array.null_count:
        raise _bad_decimal(array, precision, what)  # type: ignore[misc]
    off, data = _string_buffers(array)
    # Fast path: every row has one dot (Binance's usual form) and at most `precision` digits after it ->
    # one cast straight to the raw scale. Otherwise cast at `precision` first (Arrow refuses non-zero
    # digits below it) and rescale.
    dots = np.flatnonzero(data[off[0] : off[-1]] == 46) + off[0]
    if len(dots) != n:
        dots = None
    direct = dots is not None and int((off[1:] - dots).max()) - 1 <= precision
    try:
        if direct:
            decimals = pc.cast(array, _DEC_RAW)
        else:
            decimals = pc.cast(pc.cast(array, pa.decimal128(38, precision)), _DEC_RAW)
    except pa.ArrowInvalid as e:
        raise (_bad_decimal(array, precision, what) or e) from None
    # Arrow parsed every row, so none has two dots: with n dots, dots[i] is row i's.
    if not _plain_after_parse(off, data, dots):
        raise _bad_decimal(array, precision, what) or DecimalTextError(f"{what}: not plain decimals")
    return decimals


# -- fixed-point columns ------------------------------------------------------------------------------------


def to_raw(decimals: pa.Array) -> pa.FixedSizeBinaryArray:
    """A decimal column (any scale up to the raw one) as Nautilus raw values (``value * 10**FIXED_PRECISION``)
    in the catalog's ``fixed_size_binary(FIXED_PRECISION_BYTES)`` layout: a re-labelling of the buffer."""
    if decimals.null_count:
        raise ValueError("fixed-point column has nulls")
    if decimals.type != _DEC_RAW:
        decimals = pc.cast(decimals, _DEC_RAW)
    count = len(decimals)
    data = decimals.buffers()[1].slice(decimals.offset * 16, count * 16)
    if FIXED_PRECISION_BYTES == 8:  # standard-precision build: 64-bit raws
        words = np.frombuffer(data, dtype="<i8").reshape(-1, 2)
        if not np.array_equal(words[:, 1], words[:, 0] >> 63):
            raise ValueError("value out of the 64-bit raw range of a standard-precision build")
        data = pa.py_buffer(np.ascontiguousarray(words[:, 0]).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(_RAW_TYPE, count, [None, data])


def raw_column(
    values: Any, precision: int, scale: int | None = None, what: str = "value"
) -> pa.FixedSizeBinaryArray:
    """One price/size column as Nautilus raw fixed-point (value * 10**FIXED_PRECISION, little endian)."""
    precision = _precision(precision)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        scale = precision if scale is None else _precision(scale, "scale")
        m = values.astype(np.int64, copy=False)
        if scale > precision and len(m):
            step = 10 ** (scale - precision)
            if np.any(m % step):
                raise ValueError(f"values have more than {precision} decimals (mantissas at scale {scale})")
        dec0 = pc.cast(pa.array(m, type=pa.int64()), pa.decimal128(38, 0))
        return to_raw(
            pa.Array.from_buffers(
                pa.decimal128(38, scale), len(m), [None, dec0.buffers()[1]], offset=dec0.offset
            )
        )
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        raise TypeError("float prices/sizes are not accepted: pass integer mantissas or decimal strings")
    if isinstance(values, pa.Array) and values.type == _RAW_TYPE:
        return values  # already raw
    if isinstance(values, pa.Array) and pa.types.is_decimal(values.type):
        if values.type.scale > precision:  # raises on non-zero digits below the precision
            values = pc.cast(values, pa.decimal128(38, precision))
        return to_raw(values)
    return to_raw(decimal_column(values, precision, what))


def raw_to_float(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Nautilus raw fixed-point column -> float64 values (for plain pandas / numpy readers)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    buf = column.buffers()[1]
    if column.type.byte_width == 8:
        raw = np.frombuffer(buf, dtype="<i8", count=n, offset=8 * column.offset)
        return raw.astype(np.float64) / FIXED_SCALAR
    words = np.frombuffer(buf, dtype=np.uint64, count=2 * (n + column.offset))[2 * column.offset :]
    lo = words[0::2].astype(np.float64)
    hi = words[1::2].view(np.int64).astype(np.float64)
    return (hi * 18446744073709551616.0 + lo) / FIXED_SCALAR


def raw_to_int(column: pa.Array | pa.ChunkedArray) -> list[int]:
    """Nautilus raw fixed-point column -> exact Python ints (value * 10**FIXED_PRECISION)."""
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
    """Columns -> the table Nautilus writes for a ``customdataclass_pyo3`` type (its registered ``_schema``;
    ``type`` = the class name), without building an object per row. A column is an Arrow array, a sequence
    or numpy array, or one ``str``/``int``/``float``/``bool`` value for every row."""
    schema = getattr(data_cls, "_schema", None)
    if schema is None:
        raise TypeError(f"{data_cls.__name__} has no Arrow schema: register_custom_data_class({data_cls.__name__})")
    ts_e = np.asarray(ts_event, dtype=np.int64)
    n = len(ts_e)
    values = {**columns, "type": data_cls.__name__, "ts_event": ts_e, "ts_init": ts_e if ts_init is None else ts_init}
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


def empty_like(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


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
