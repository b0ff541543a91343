"""Decimal strings and integer mantissas <-> Nautilus's raw fixed-point Arrow columns, exactly.

Nautilus stores prices and sizes as fixed-point integers scaled by ``10**FIXED_PRECISION`` (16 in the
high-precision 1.231 wheels: 128-bit raws; 9 and 64-bit raws in a standard-precision build) in
``fixed_size_binary[FIXED_PRECISION_BYTES]`` columns, little endian. That is exactly the unscaled integer of
an Arrow ``decimal128(38, FIXED_PRECISION)``, so a column of decimal strings or of integer mantissas becomes
a Nautilus column with one or two vectorised casts and a zero-copy re-labelling of the buffer, no Python
objects. ``framework.data.arrow_tables`` builds whole ``TradeTick``/``Bar`` tables from these columns.

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

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.objects import FIXED_PRECISION
from nautilus_trader.model.objects import FIXED_PRECISION_BYTES

FIXED_SCALAR = 10**FIXED_PRECISION
RAW_TYPE = pa.binary(FIXED_PRECISION_BYTES)  # a raw fixed-point column's Arrow type
_DEC_RAW = pa.decimal128(38, FIXED_PRECISION)


class DecimalTextError(pa.ArrowInvalid):
    """A decimal string that is not plain or has more decimals than the precision (a ``ValueError``)."""


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
    # imported here: only this error path needs them (importing types registers the custom data classes)
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


def _plain_rows(off: np.ndarray, data: np.ndarray) -> np.ndarray | None:
    """Each row's dot position in ``data`` (-1: no dot) when every row of a string array is a plain decimal,
    ``-?[0-9]+(\\.[0-9]+)?``, else None: the regex, byte-wise and vectorised (a few passes over the bytes)."""
    n = len(off) - 1
    starts, ends = off[:-1].astype(np.int64), off[1:].astype(np.int64)
    body = data[off[0] : off[-1]]
    if n and (not len(body) or int(body.min()) < 45 or int(body.max()) > 57 or (body == 47).any()):
        return None  # only "-", "." and digits ("/" sits between them)
    if n and int((ends - starts).min()) < 1:
        return None
    minus = int(np.count_nonzero(body == 45))
    if minus:  # a sign only first, followed by a digit
        signed = data[starts] == 45
        s = starts[signed]
        if int(signed.sum()) != minus or int((ends[signed] - s).min()) < 2 or (data[s + 1] < 48).any():
            return None
    dots = np.flatnonzero(body == 46) + off[0]
    if len(dots) == n and n and bool(((dots >= starts) & (dots < ends)).all()):
        rows_starts, rows_ends = starts, ends  # one dot a row (Binance's usual form)
    elif len(dots):
        rows = np.searchsorted(ends, dots, side="right")
        if len(rows) > 1 and not (np.diff(rows) > 0).all():
            return None  # two dots in a row
        rows_starts, rows_ends = starts[rows], ends[rows]
    if len(dots):
        if int((dots - rows_starts).min()) < 1 or int((rows_ends - dots).min()) < 2:
            return None  # a dot first or last
        if (data[dots - 1] < 48).any() or (data[dots + 1] < 48).any():
            return None  # a dot after the sign
        if len(dots) == n and rows_starts is starts:
            return dots
        pos = np.full(n, -1, dtype=np.int64)
        pos[rows] = dots
        return pos
    return np.full(n, -1, dtype=np.int64)


#: Mantissas below this are exact through a float64 (see ``_exact_raw``).
_FLOAT_EXACT_DIGITS = 15


def _exact_raw(array: pa.Array, off: np.ndarray, data: np.ndarray, pos: np.ndarray,
               precision: int) -> pa.Decimal128Array | None:
    """Plain decimal strings (``pos``: their dot positions) as ``decimal128(38, FIXED_PRECISION)``, or None when
    a value has more than 15 digits at ``precision`` or non-zero digits beyond it (the caller's casts decide).

    A decimal of at most 15 significant digits goes through Arrow's correctly rounded float parse: times
    ``10**precision`` its error is under 2**-52 of a mantissa below 2**50, so rounding gives the mantissa
    exactly; the raw value is that mantissa times ``10**(FIXED_PRECISION - precision)``, in 128-bit integer
    arithmetic."""
    n = len(pos)
    starts, ends = off[:-1].astype(np.int64), off[1:].astype(np.int64)
    dotted = pos >= 0
    decimals = np.where(dotted, ends - pos - 1, 0)
    digits = ends - starts - dotted - (data[starts] == 45)
    if int((digits + np.maximum(precision - decimals, 0)).max()) > _FLOAT_EXACT_DIGITS:
        return None
    beyond = np.maximum(decimals - precision, 0)
    widest = int(decimals.max()) if n else 0
    if widest > precision and int(decimals.min()) == widest:  # the digits past the precision must be zeros
        for place in range(precision + 1, widest + 1):  # every row alike (Binance's usual form): column-wise
            if (data[pos + place] != 48).any():
                return None
    elif widest > precision:
        rows = np.flatnonzero(beyond)
        count = beyond[rows]
        first = np.repeat(pos[rows] + 1 + precision, count)
        step = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        if (data[first + step] != 48).any():
            return None
    mantissa = np.rint(pc.cast(array, pa.float64()).to_numpy() * 10.0**precision).astype(np.int64)
    words = _times_pow10(mantissa, FIXED_PRECISION - precision)
    return pa.Array.from_buffers(_DEC_RAW, n, [None, pa.py_buffer(words)])


def _times_pow10(m: np.ndarray, k: int) -> np.ndarray:
    """``m`` (int64, |m| < 2**50) times ``10**k`` (k <= 16) as little-endian 128-bit two's complement words."""
    c = 10**k
    a = np.abs(m).astype(np.uint64)
    low32 = np.uint64(0xFFFFFFFF)
    al, ah = a & low32, a >> np.uint64(32)
    cl, ch = np.uint64(c & 0xFFFFFFFF), np.uint64(c >> 32)
    p0 = al * cl
    mid = al * ch + ah * cl  # < 2**55: no overflow
    lo = p0 + (mid << np.uint64(32))  # mod 2**64
    hi = ah * ch + (mid >> np.uint64(32)) + (lo < p0).astype(np.uint64)
    neg = m < 0
    if neg.any():  # two's complement of (hi, lo)
        nlo = ~lo + np.uint64(1)
        nhi = ~hi + (nlo == 0).astype(np.uint64)
        lo, hi = np.where(neg, nlo, lo), np.where(neg, nhi, hi)
    words = np.empty((len(m), 2), dtype=np.uint64)
    words[:, 0], words[:, 1] = lo, hi
    return words


def plain_decimal_array(values: Any, what: str = "value") -> pa.Array:
    """``values`` as an Arrow string array, after a vectorised check that each is a plain decimal."""
    array = _string_array(values)
    if len(array) == 0:
        return array
    if not array.null_count and _plain_rows(*_string_buffers(array)) is not None:
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
    pos = _plain_rows(off, data)
    if pos is not None and (fast := _exact_raw(array, off, data, pos, precision)) is not None:
        return fast
    # Every row has one dot (Binance's usual form) and at most `precision` digits after it ->
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
    return pa.FixedSizeBinaryArray.from_buffers(RAW_TYPE, count, [None, data])


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
    if isinstance(values, pa.Array) and values.type == RAW_TYPE:
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
