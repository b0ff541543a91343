"""Compact Binance REST pages (klines, aggTrades, trades) -> Arrow columns, without a Python object per field.

A page of klines is ``[`` rows joined by ``,`` ``]``, every row of one fixed shape, e.g.
``[1721361660000,"61807.70",...,2005,"57.185","3534417.70220","0"]``. :class:`PageLayout` describes that
shape once (a row template) and decodes a page in a few vectorised passes: the quote positions give every
field's bounds, one ``StringArray`` over the page bytes holds the fields and the text between them, and
``take`` pulls each column out (strings stay Binance's exact text; integers are checked to be plain digits
and cast). The shape is verified completely (the text between the fields must be exactly the template's,
the page printable ASCII without escapes or whitespace), so a page decodes exactly as msgspec decodes it,
or not at all: :func:`decode_page` then decodes it with msgspec (which accepts or raises as usual) and
builds the same columns from the Structs.

The columns (a ``pa.RecordBatch``) are the Struct's fields (``framework.binance.schemas``), same names and
order: integers as ``int64``, decimals (and other text) as ``string``, flags as ``bool``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from typing import NamedTuple
from typing import get_args

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from framework.binance import schemas as rest

_OPEN, _CLOSE, _QUOTE, _BACKSLASH = 91, 93, 34, 92
_INT, _STR, _BOOL = "#", "$", "?"  # placeholders in a row template
_ARROW = {_INT: pa.int64(), _STR: pa.string(), _BOOL: pa.bool_()}
_MAX_DIGITS = 18  # always fits an int64
_TRUE, _FALS = (int.from_bytes(word, "little") for word in (b"true", b"fals"))


class _Field(NamedTuple):
    name: str
    kind: str
    start: tuple[int, int]  # (quote index in the row, -1 the row before / quotes_per_row the next; byte offset)
    end: tuple[int, int]


class PageLayout:
    """One row shape: ``template`` with ``#`` (integer), ``$`` (string content), ``?`` (true/false) per field,
    named by ``row_type``'s fields (in order)."""

    def __init__(self, row_type: type, template: str):
        self.row_type = row_type
        fields = row_type.__struct_fields__
        literals = re.split(r"[#$?]", template)  # before the first field, between fields, after the last
        places = [m.start() for m in re.finditer(r"[#$?]", template)]
        quotes = [i for i, c in enumerate(template) if c == '"']
        if len(places) != len(fields) or not quotes:
            raise ValueError(f"template has {len(places)} fields and {len(quotes)} quotes, names {len(fields)}")
        # a field is located from the nearest quote with only literal text in between; across the row's
        # edge that text must be literal too
        self.fields = tuple(
            _Field(name, template[p], _anchor(quotes, places, p, len(template), True),
                   _anchor(quotes, places, p + 1, len(template), False))
            for name, p in zip(fields, places, strict=True)
        )
        self.quotes_per_row = len(quotes)
        # where the quotes before the first row / after the last would be: before "[" / past "]"
        self._virtual = (-(len(template) - quotes[-1]), quotes[0])
        # bounds = padded quotes (the previous row's last, the row's, the next row's first)[cols] + deltas
        ends = [(f.start, f.end) for f in self.fields]
        self._cols = np.array([k + 1 for pair in ends for k, _ in pair], dtype=np.intp)
        self._deltas = np.array([d for pair in ends for _, d in pair], dtype=np.int64)
        # the text after each field up to the next one (after the last: the next row's first literal);
        # lengths, and the bytes that are not quotes as (field, offset, byte)
        after = [*literals[1:-1], literals[-1] + "," + literals[0]]
        self._gaps = np.array([len(t) for t in after], dtype=np.int64)
        self._head, self._tail = ("[" + literals[0]).encode(), (literals[-1] + "]").encode()
        checks = [(j, i, ord(c)) for j, t in enumerate(after) for i, c in enumerate(t) if c != '"']
        self._gap_field, self._gap_offset, self._gap_byte = (np.array(x, dtype=np.int64) for x in zip(*checks))
        self._pad = ("," + literals[0]).encode()  # what would follow the last row's "]" position
        self.schema = pa.schema([pa.field(f.name, _ARROW[f.kind], nullable=False) for f in self.fields])
        # fields read through one take: integers, then strings
        self._ints = [j for j, f in enumerate(self.fields) if f.kind == _INT]
        self._taken = self._ints + [j for j, f in enumerate(self.fields) if f.kind == _STR]
        self._bools = [j for j, f in enumerate(self.fields) if f.kind == _BOOL]
        self._cache: dict[int, tuple[np.ndarray, pa.Array]] = {}  # per row count (pages mostly have the same)

    def decode(self, body: bytes) -> pa.RecordBatch | None:
        """The page's columns, or None when it is not exactly this layout (compact, printable, no escapes)."""
        data = np.frombuffer(body, dtype=np.uint8)
        size = len(data)
        if size < 2 or data[0] != _OPEN or data[-1] != _CLOSE:
            return None
        if size == 2:
            return _empty(self.schema)
        if int(data.min()) < 32 or int(data.max()) > 126 or (data == _BACKSLASH).any():
            return None
        quotes = np.flatnonzero(data == _QUOTE)
        n, extra = divmod(len(quotes), self.quotes_per_row)
        if extra or n == 0:
            return None
        padded = np.empty((n, self.quotes_per_row + 2), dtype=np.int32)  # a page is far below 2 GB
        padded[:, 1:-1] = quotes.reshape(n, self.quotes_per_row)
        padded[0, 0], padded[1:, 0] = self._virtual[0], padded[:-1, -2]
        padded[-1, -1], padded[:-1, -1] = size + self._virtual[1], padded[1:, 1]
        offsets = np.empty(n * len(self._cols) + 2, dtype=np.int32)  # 0, (start, end) of each field, size
        offsets[0], offsets[-1] = 0, size
        bounds = offsets[1:-1].reshape(n, len(self._cols))
        np.add(padded[:, self._cols], self._deltas, out=bounds)
        steps = np.diff(offsets)
        # the text between the fields must be the template's, row after row: first the lengths
        gaps = self._gap_lengths(n)
        if int(steps[1::2].min()) < 0 or steps[0] != len(self._head) or not np.array_equal(steps[2::2], gaps):
            return None
        # then the bytes that are not quotes (the quotes are where they must be by construction)
        ends = bounds[:, 1::2]
        text = np.concatenate((data[:-1], np.frombuffer(self._pad, dtype=np.uint8)))
        if not (text[ends[:, self._gap_field] + self._gap_offset] == self._gap_byte).all():
            return None
        if bytes(data[: len(self._head)]) != self._head:
            return None
        columns = {}
        if self._taken:
            whole = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(body))
            taken = pc.take(whole, self._take_indices(n))
            ints = taken.slice(0, n * len(self._ints))
            ints = _int_column(ints) if len(self._ints) else ints
            if ints is None:
                return None
            for i, j in enumerate(self._taken):
                source = ints if i < len(self._ints) else taken
                columns[self.fields[j].name] = source.slice(i * n, n)
        for j in self._bools:
            flags = _bool_column(data, bounds[:, 2 * j], ends[:, j])
            if flags is None:
                return None
            columns[self.fields[j].name] = pa.array(flags)
        return pa.RecordBatch.from_arrays([columns[name] for name in self.schema.names], schema=self.schema)

    def _gap_lengths(self, n: int) -> np.ndarray:
        """The lengths of the text between the fields of n rows (after the last field: "]")."""
        if n not in self._cache:
            if len(self._cache) >= 16:
                self._cache.clear()
            gaps = np.tile(self._gaps, n).astype(np.int32)
            gaps[-1] = len(self._tail)
            rows = 2 * len(self.fields) * np.arange(n)
            self._cache[n] = gaps, pa.array(np.add.outer(2 * np.array(self._taken) + 1, rows).ravel())
        return self._cache[n][0]

    def _take_indices(self, n: int) -> pa.Array:
        """Where the integer and string fields of n rows are in the page's array of fields and gaps, by field."""
        self._gap_lengths(n)
        return self._cache[n][1]

    def rows_batch(self, rows: Sequence[Any]) -> pa.RecordBatch:
        """Decoded Structs of ``row_type`` -> the columns :meth:`decode` gives."""
        arrays = [pa.array([getattr(r, f.name) for r in rows], f.type) for f in self.schema]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _anchor(quotes: list[int], places: list[int], pos: int, row_len: int, start: bool) -> tuple[int, int]:
    """A field bound at template position ``pos`` as (quote index, byte offset from that quote): the nearest
    quote before a start / from an end on; across the row's edge the previous row's last or the next row's
    first quote (index -1 / ``len(quotes)``)."""
    if start:
        k = sum(1 for q in quotes if q < pos) - 1
        quote = quotes[k] if k >= 0 else quotes[-1] - row_len - 1
        lo, hi = (quote, pos) if k >= 0 else (quotes[-1], row_len)
    else:
        k = sum(1 for q in quotes if q < pos)
        quote = quotes[k] if k < len(quotes) else row_len + 1 + quotes[0]
        lo, hi = (pos, quote) if k < len(quotes) else (0, quotes[0])
    if any(lo < p < hi for p in places) or (k < 0 and places[-1] > quotes[-1]) or (
            k == len(quotes) and places[0] < quotes[0]):
        raise ValueError("a field must reach a quote through literal text only")
    return k, pos - quote


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data bytes) of a string array."""
    _, offsets, data = values.buffers()
    off = np.frombuffer(offsets, dtype=np.int32, count=len(values) + 1, offset=4 * values.offset)
    return off, np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)


def _int_column(values: pa.Array) -> pa.Array | None:
    """Plain JSON integers (digits, no leading zero, at most 18) -> int64; None otherwise."""
    off, data = _bytes(values)
    lengths = np.diff(off)
    if int(lengths.min()) < 1 or int(lengths.max()) > _MAX_DIGITS:
        return None
    digits = data[off[0] : off[-1]]
    if int(digits.min()) < 48 or int(digits.max()) > 57 or ((data[off[:-1]] == 48) & (lengths > 1)).any():
        return None
    return pc.cast(values, pa.int64())


def _bool_column(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """JSON true/false between ``starts`` and ``ends`` -> bools; None when one is neither."""
    lengths = ends - starts
    if not ((lengths == 4) | (lengths == 5)).all():  # also keeps the reads below inside the page
        return None
    # the 4 bytes from each start as one little-endian word (a 4-byte field is followed by its separator)
    head = data[starts[:, None] + np.arange(4)].view("<u4").ravel()
    true = head == _TRUE
    false = (head == _FALS) & (data[starts + 4] == ord("e"))
    return true if ((true & (lengths == 4)) | (false & (lengths == 5))).all() else None


_AGG = '{"a":#,"p":"$","q":"$","f":#,"l":#,"T":#,"m":?'
_TRADE = '{"id":#,"price":"$","qty":"$","quoteQty":"$","time":#,"isBuyerMaker":?'

#: The row types whose pages decode column-wise, with the shape Binance prints them in.
LAYOUTS: dict[type, PageLayout] = {
    layout.row_type: layout
    for layout in (
        PageLayout(rest.Kline, '[#,"$","$","$","$","$",#,"$",#,"$","$","$"]'),
        PageLayout(rest.FuturesAggTrade, _AGG + "}"),
        PageLayout(rest.SpotAggTrade, _AGG + ',"M":?}'),
        PageLayout(rest.FuturesTrade, _TRADE + "}"),
        PageLayout(rest.SpotTrade, _TRADE + ',"isBestMatch":?}'),
    )
}


@lru_cache(maxsize=16)
def _decoder(row_type: type) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(list[row_type])


def decode_page(body: bytes, row_type: type) -> pa.RecordBatch:
    """A page of ``row_type`` rows as columns: column-wise when it has the exact layout, else through msgspec
    (``msgspec.ValidationError`` / ``DecodeError`` as for any page it refuses)."""
    layout = LAYOUTS[row_type]
    columns = layout.decode(body)
    return columns if columns is not None else layout.rows_batch(_decoder(row_type).decode(body))


def decode_body(body: bytes, schema: Any) -> Any:
    """A REST body decoded with the endpoint's ``schema``: a page of a row type in :data:`LAYOUTS` as columns
    (:func:`decode_page`), anything else as msgspec Structs."""
    (row_type,) = get_args(schema) or (None,)
    if row_type in LAYOUTS:
        return decode_page(body, row_type)
    return msgspec.json.decode(body, type=schema)


def page_columns(rows: pa.RecordBatch | Sequence[Any], row_type: type) -> pa.RecordBatch:
    """Rows as columns: a batch from :func:`decode_page` as it is, a sequence of Structs converted."""
    return rows if isinstance(rows, pa.RecordBatch) else LAYOUTS[row_type].rows_batch(rows)
