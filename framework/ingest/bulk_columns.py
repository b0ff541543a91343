"""One data.binance.vision CSV (or a zip holding one) streamed as checked Arrow columns: no Python object per row.

The file is read in chunks of about ``CHUNK_BYTES`` cut at line ends (a zip member is decompressed as a stream,
never whole), each parsed by ``pyarrow.csv`` with explicit column types: integers and times as ``int64``,
booleans as ``bool``, decimals and text as strings (Binance's exact text; the catalog's fixed-point columns are
made from it by the REST path's converters). The columns are named by the layout's fields, the REST row
Struct's, so a chunk is exactly a page of ``framework.binance.columnar.decode_page``: one conversion serves both.

The rules are :mod:`framework.ingest.bulk_csv`'s, vectorised: the header (first non-empty line, its first field
not an integer) is checked for its width and skipped; every row has the layout's width (Arrow's parser counts);
decimals match ``-?digits[.digits]`` (``fixed_point.plain_decimal_array``); times at or above 10**14 are
microseconds, floored to ms, and still above is an error; integers are plain digits (Arrow's integer parser
also takes spaces and ``0x`` hex: a chunk holding those bytes is checked line by line); booleans are
``true``/``false``/``True``/``False``; blank lines are skipped. On a failed check the chunk (not the file) is
re-read by the reference reader (``bulk_csv.reference_rows``), which raises one :class:`FrameworkError` naming
the file, line, column and problem; :meth:`ColumnChunk.problem` does the same for a row a converter refuses.

Reading, decompression and parsing run on a background thread (zlib and Arrow release the GIL), at most
``READ_AHEAD`` chunks ahead of the consumer: memory stays a few chunks whatever the file size.
"""

from __future__ import annotations

import csv
import io
import queue
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from framework.data.fixed_point import plain_decimal_array
from framework.errors import FrameworkError
from framework.ingest.bulk_csv import US_THRESHOLD
from framework.ingest.bulk_csv import Layout
from framework.ingest.bulk_csv import is_header
from framework.ingest.bulk_csv import open_binary
from framework.ingest.bulk_csv import reference_rows

#: Bytes of CSV text per chunk (~30k aggTrades rows): large enough that per-chunk costs vanish, small enough
#: that a few chunks in flight stay well under the memory bound.
CHUNK_BYTES = 2 << 20
#: Chunks parsed ahead of the consumer.
READ_AHEAD = 2
#: Arrow's parse block inside a chunk. Arrow's own threads stay off: the read-ahead thread already parses beside the
#: converting and the writing ones (measured on 2 cores: more rows/s, less CPU than with them).
_BLOCK_BYTES = 1 << 20
#: A line longer than this is not a Binance row (a file without line breaks would otherwise be read whole).
_MAX_LINE_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"
_TYPES = {"int": pa.int64(), "ts": pa.int64(), "dec": pa.string(), "text": pa.string(), "bool": pa.bool_()}
#: Bytes Arrow's integer parser accepts that ``-?[0-9]+`` does not (surrounding blanks, ``0x`` hex).
_LENIENT_INT_BYTES = (b" ", b"\t", b"x", b"X")


@dataclass
class ColumnChunk:
    """Checked columns of consecutive rows of one file, and where they came from (for messages)."""

    columns: pa.RecordBatch  # named by the layout's fields; int/ts int64 (ts in ms), dec/text string, bool
    label: str  # the file (and zip member) as messages name it
    path: Path
    offset: int  # bytes of the CSV text before the chunk
    text: bytes  # the chunk's CSV text (to name the line of a row a converter refuses)
    layout: Layout

    @property
    def csv_bytes(self) -> int:
        """The CSV bytes it was read from."""
        return len(self.text)

    @cached_property
    def first_line(self) -> int:
        """The line number of the chunk's first line (counted only when a message needs it)."""
        return _line_at(self.path, self.offset)

    def line_of(self, row: int) -> int:
        """The line number of the chunk's ``row``-th row."""
        for i, (line, _) in enumerate(reference_rows(io.StringIO(self.text.decode(errors="replace")), self.layout,
                                                     self.label, self.first_line, header=False)):
            if i == row:
                return line
        return self.first_line + row

    def recheck(self) -> None:
        """Re-read the chunk line by line: the reference reader's error for its first bad line, if any."""
        _pin(self.text, self.first_line, self.layout, self.label)

    def problem(self, row: int, text: str) -> FrameworkError:
        """The one-line error for a refused row: file, line, problem."""
        return FrameworkError(f"{self.label}, line {self.line_of(row)}: {text}")


def _line_at(path: Path, offset: int) -> int:
    """The number of the line starting ``offset`` bytes into the file's CSV text (re-read: errors only)."""
    lines, left = 1, offset
    with open_binary(path) as (fh, _):
        while left > 0 and (data := fh.read(min(left, 1 << 20))):
            lines += data.count(b"\n")
            left -= len(data)
    return lines


@dataclass
class FileStart:
    """What the first non-empty lines of a file show: its header and first data row (csv fields), or None."""

    header: list[str] | None = None
    first: list[str] | None = None


def read_chunks(path: Path, lay: Layout, chunk_bytes: int = CHUNK_BYTES,
                start: FileStart | None = None) -> Iterator[ColumnChunk]:
    """The checked column chunks of one file, in file order (see the module notes).

    ``start`` is filled in with the file's header and first row before the first chunk is handed on."""
    return _ahead(_parsed(path, lay, chunk_bytes, start or FileStart()), READ_AHEAD)


def _parsed(path: Path, lay: Layout, chunk_bytes: int, start: FileStart) -> Iterator[ColumnChunk]:
    read = pcsv.ReadOptions(column_names=[c.field for c in lay.columns], block_size=_BLOCK_BYTES, use_threads=False)
    convert = pcsv.ConvertOptions(
        column_types={c.field: _TYPES[c.type] for c in lay.columns}, null_values=[], strings_can_be_null=False,
        quoted_strings_can_be_null=False, true_values=["true", "True"], false_values=["false", "False"])
    with open_binary(path) as (fh, label):
        first = True
        for text, offset in _text_chunks(fh, chunk_bytes, label):
            if first:
                first = False
                text, offset = _take_header(text, offset, lay, label, start)
            if not text.strip():
                continue
            columns = _columns(text, lambda at=offset: _line_at(path, at), lay, label, read, convert)
            yield ColumnChunk(columns, label, path, offset, text, lay)


def _text_chunks(fh: io.BufferedIOBase, size: int, label: str) -> Iterator[tuple[bytes, int]]:
    """(text ending at a line end, its offset in the file's text) of about ``size`` bytes each. One copy of the
    bytes read (memory: about two chunks); lines are not counted here (only messages need their numbers)."""
    carry, offset, started = b"", 0, False
    while data := fh.read(size):
        if not started:
            started = True
            if data.startswith(_BOM):  # counted in the offset, dropped from the text
                data, offset = data[len(_BOM):], len(_BOM)
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry += data
            if len(carry) > _MAX_LINE_BYTES:
                raise FrameworkError(f"{label}: no line end in {len(carry):,} bytes from byte {offset:,}; not a "
                                     "bulk CSV")
            continue
        view = memoryview(data)
        chunk = carry + view[:cut] if carry or cut < len(data) else data
        carry = bytes(view[cut:])
        del view, data
        yield chunk, offset
        offset += len(chunk)
    if carry:
        yield carry, offset


def _take_header(text: bytes, offset: int, lay: Layout, label: str, start: FileStart) -> tuple[bytes, int]:
    """The first chunk (at ``offset``) without its header line (checked for its width) and leading blank lines,
    and the new offset; fills ``start``."""
    pos, line = 0, 1
    while pos < len(text):
        end = text.find(b"\n", pos)
        end = len(text) if end < 0 else end + 1
        raw = text[pos:end]
        if raw.strip():
            fields = _fields(raw, label, line)
            if is_header(fields):
                start.header = fields
                if len(fields) != lay.width:  # the reference reader says it in its words
                    list(reference_rows(io.StringIO(raw.decode(errors="replace")), lay, label, line))
                nxt = text.find(b"\n", end)
                nxt_line = text[end: len(text) if nxt < 0 else nxt + 1]
                start.first = _fields(nxt_line, label, line + 1) if nxt_line.strip() else None
                return text[end:], offset + end
            start.first = fields
            return text[pos:], offset + pos
        pos, line = end, line + 1
    return b"", offset + len(text)


def _fields(raw: bytes, label: str, line: int) -> list[str]:
    try:
        return next(csv.reader([raw.decode("utf-8").rstrip("\r\n")]), [""])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FrameworkError(f"{label}, line {line}: not CSV text ({exc})") from None


def _columns(text: bytes, line: Callable[[], int], lay: Layout, label: str, read: pcsv.ReadOptions,
             convert: pcsv.ConvertOptions) -> pa.RecordBatch:
    """The checked columns of one chunk; any failed check re-reads the chunk line by line to name the line
    (``line``: the number of its first line, counted then)."""
    try:
        if any(b in text for b in _LENIENT_INT_BYTES) and any(c.type in ("int", "ts") for c in lay.columns):
            raise _Recheck
        table = pcsv.read_csv(pa.py_buffer(text), read_options=read, convert_options=convert)
        arrays = [_checked(table.column(i).combine_chunks(), col.type) for i, col in enumerate(lay.columns)]
        return pa.RecordBatch.from_arrays(arrays, names=[c.field for c in lay.columns])
    except (pa.ArrowException, _Recheck) as exc:
        first = line()
        _pin(text, first, lay, label)
        raise FrameworkError(f"{label}, lines from {first}: cannot read {lay.describe()} rows: {exc}") from None


class _Recheck(Exception):
    """The chunk needs the line-by-line reader."""


def _checked(array: pa.Array, kind: str) -> pa.Array:
    """One column after the checks Arrow's types do not make (decimals plain, times in ms or µs, floored)."""
    if kind == "dec":
        try:
            plain_decimal_array(array)
        except pa.ArrowInvalid:
            raise _Recheck from None
    elif kind == "ts":
        values = array.to_numpy()
        us = values >= US_THRESHOLD
        if us.any():
            values = np.where(us, values // 1000, values)
            if int(values.max()) >= US_THRESHOLD:
                raise _Recheck
            array = pa.array(values, pa.int64())
    return array


def _pin(text: bytes, line: int, lay: Layout, label: str) -> None:
    """Re-read a chunk line by line: raises the reference reader's error for its first bad line."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameworkError(f"{label}: not UTF-8 text ({exc})") from None
    for _ in reference_rows(io.StringIO(decoded, newline=None), lay, label, line, header=False):
        pass


def struct_batches(path: Path, lay: Layout) -> Iterator[list[Any]]:
    """The fast reader as lists of the layout's row Structs (a list per chunk), for callers that want rows."""
    cls = lay.row_type
    for chunk in read_chunks(path, lay):
        columns = chunk.columns
        yield list(map(cls, *(columns.column(i).to_pylist() for i in range(columns.num_columns))))


# -- read-ahead ------------------------------------------------------------------------------------------------

_DONE = object()


def _ahead(items: Iterable[Any], depth: int) -> Iterator[Any]:
    """``items`` produced on a background thread, at most ``depth`` ahead; its exception is raised here, and
    leaving the loop early stops the producer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, which raises it)
            q.put((_DONE, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="bulk-read", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
