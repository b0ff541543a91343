"""One data.binance.vision CSV (or a zip holding one) read into the row Structs the REST client decodes.

The columns of each (kind, market) come from the kinds registry (``framework.data.kinds``, a row's ``bulk``
files); :mod:`framework.ingest.bulk` names the files and calls the engines here.

Parsing rules
-------------
* Header: the first non-empty line is a header when its first field is not an integer. Its names are not
  checked (sources add their own), only its column count.
* Timestamps (open/close time, ``T``, ``time``): a value >= 10**14 is microseconds and is floored to ms.
  Decided per value: ms times stay below 10**14 until the year 5138 and µs times are above it for every
  date after 1973-03-03, so the rule cannot misread Binance data, and files mixing both (e.g. a month
  spanning the 2025 switch, or concatenated files) come out right. A value still >= 10**14 after that
  (ns, garbage) is an error. Sub-millisecond digits are dropped: the REST rows carry ms, and both paths must
  give equal rows.
* Decimals stay the file's exact strings (trailing zeros kept, no float round trip); they must look like
  ``-?digits[.digits]``. Booleans are ``true``/``false``/``True``/``False``. Blank lines are skipped.
* A malformed line raises one :class:`~framework.errors.FrameworkError` naming the file (and zip member), the
  line number, the column and the problem. Rows of earlier batches may already have been delivered by then.

Engines
-------
This module holds the layouts, the files (CSV or zip, checksums) and the reference reader
(:func:`python_batches`, line by line with the ``csv`` module: exact line numbers, ~250k rows/s). The fast
reader, column-wise with ``pyarrow.csv`` and no Python object per row, is :mod:`framework.ingest.bulk_columns`;
it applies the same rules and, on a failed check, re-reads the failing chunk with :func:`reference_rows` to name
the line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Literal
from typing import NamedTuple

from framework.binance.endpoints import Market
from framework.data.kinds import KINDS
from framework.data.kinds import BulkLayout
from framework.data.kinds import Step
from framework.errors import FrameworkError

DEFAULT_BATCH_ROWS = 100_000
#: Timestamps at or above this are microseconds (see the module notes).
US_THRESHOLD = 10**14
#: The kinds with data.binance.vision files (``data.kinds``' ``bulk`` column), kline kinds first.
BULK_KINDS = sorted((k for k in KINDS.values() if k.bulk is not None), key=lambda k: k.step is not Step.INTERVAL)
#: The kind of a kline file whose directory does not say (mark/index/premium files are named alike).
KLINES = "klines"
#: A CSV integer field.
INT_RE = re.compile(r"-?[0-9]+")
_DEC_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_BOOLS = {"true": True, "false": False, "True": True, "False": False}


# -- layouts -------------------------------------------------------------------------------------------------


class Col(NamedTuple):
    """One CSV column: the Struct field it fills, its name in the files, its value type."""

    field: str  # the Struct field
    name: str  # the data.binance.vision column name (for messages)
    type: Literal["int", "ts", "dec", "bool", "text"]


@dataclass(frozen=True)
class Layout:
    """The columns of one (kind, market) CSV and the Struct its rows become."""

    kind: str
    market: Market
    row_type: type
    columns: tuple[Col, ...]

    @property
    def width(self) -> int:
        """The number of columns."""
        return len(self.columns)

    @property
    def header(self) -> tuple[str, ...]:
        """The column names (a USD-M file's header line)."""
        return tuple(c.name for c in self.columns)

    def describe(self) -> str:
        """The layout as messages name it: ``USD-M agg_trades``."""
        return f"{'USD-M' if self.market is Market.FUTURES else 'spot'} {self.kind}"


def _layout(kind: str, market: Market, columns: BulkLayout) -> Layout:
    """A layout from the file's column names and value types, paired in order with the row Struct's fields (the
    rows are built positionally, so the column order is the Struct's field order)."""
    row_type = columns.row_type
    paired = zip(row_type.__struct_fields__, columns.names.split(), columns.types.split(), strict=True)
    return Layout(kind, market, row_type, tuple(Col(*c) for c in paired))


LAYOUTS: dict[tuple[str, Market], Layout] = {
    (k.name, market): _layout(k.name, market, columns)
    for k in BULK_KINDS for market, columns in k.bulk.layouts.items()
}

#: The header of USD-M kline files (spot files have none): the one content sign of a USD-M kline file.
FUTURES_KLINE_HEADER = LAYOUTS[(KLINES, Market.FUTURES)].header


def layout(kind: str, market: Market | str) -> Layout:
    """The layout of a kind's files on a market (an error naming the pair when they have none)."""
    try:
        return LAYOUTS[(kind, Market(market))]
    except (KeyError, ValueError):
        raise FrameworkError(f"no bulk-file layout for {market} {kind}") from None


# -- files ---------------------------------------------------------------------------------------------------


@contextmanager
def open_binary(path: Path) -> Iterator[tuple[io.BufferedIOBase, str]]:
    """The CSV bytes of ``path`` (a CSV, or a zip holding exactly one CSV) and a label for messages."""
    if path.suffix.lower() != ".zip":
        with open(path, "rb") as fh:
            yield fh, str(path)
        return
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FrameworkError(f"{path}: not a readable zip ({exc}); download it again") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
            names = ", ".join(m.filename for m in members) or "nothing"
            raise FrameworkError(f"{path}: a bulk zip must hold exactly one CSV file; it holds {names}")
        with zf.open(members[0]) as fh:
            yield fh, f"{path} [{members[0].filename}]"


@contextmanager
def open_text(path: Path) -> Iterator[tuple[io.TextIOBase, str]]:
    """The CSV text of ``path`` (see :func:`open_binary`; a UTF-8 BOM is skipped) and a label for messages."""
    with open_binary(path) as (fh, label):
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        try:
            yield text, label
        finally:
            text.detach()


def is_header(fields: list[str]) -> bool:
    """Whether a CSV line is a header: its first field is not an integer."""
    return not INT_RE.fullmatch(fields[0].strip().lstrip("\ufeff"))


def verify_checksum(path: Path, checksum: Path | None) -> None:
    """Compare the zip's SHA-256 with its ``.CHECKSUM`` (``<hex>  <name>``); raise on a mismatch."""
    if checksum is None:
        return
    text = checksum.read_text(encoding="utf-8", errors="replace").split()
    expected = text[0].lower() if text else ""
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise FrameworkError(f"{checksum}: not a SHA-256 checksum file")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise FrameworkError(f"{path}: SHA-256 {digest.hexdigest()} does not match {checksum.name} "
                             f"({expected}); the download is damaged: fetch it again")


# -- engines -------------------------------------------------------------------------------------------------


def rebatch(batches: Iterable[list[Any]], n: int) -> Iterator[list[Any]]:
    """The same rows re-cut into lists of ``n`` (the last one shorter)."""
    pending: list[Any] = []
    for batch in batches:
        if not pending and len(batch) == n:
            yield batch
            continue
        pending.extend(batch)
        while len(pending) >= n:
            yield pending[:n]
            pending = pending[n:]
    if pending:
        yield pending


def _problem(label: str, line: int, text: str) -> FrameworkError:
    return FrameworkError(f"{label}, line {line}: {text}")


def _width_problem(lay: Layout, width: int, what: str = "fields") -> str:
    text = f"{width} {what}, expected {lay.width} for {lay.describe()} ({','.join(lay.header)})"
    for other in Market:
        alt = LAYOUTS.get((lay.kind, other))
        if other is not lay.market and alt is not None and alt.width == width:
            text += f"; {width} is the {alt.describe()} layout: is the market right?"
    return text


def _converter(col: Col) -> Callable[[str], Any]:
    """str -> value, raising ValueError with the problem."""
    match col.type:
        case "dec":
            def conv(v: str) -> str:
                if _DEC_RE.fullmatch(v) is None:
                    raise ValueError("not a decimal number")
                return v
        case "int":
            def conv(v: str) -> int:
                if INT_RE.fullmatch(v) is None:
                    raise ValueError("not an integer")
                return int(v)
        case "ts":
            def conv(v: str) -> int:
                if INT_RE.fullmatch(v) is None:
                    raise ValueError("not an integer timestamp")
                t = int(v)
                if t >= US_THRESHOLD:
                    t //= 1000
                    if t >= US_THRESHOLD:
                        raise ValueError("a timestamp neither in milliseconds nor in microseconds")
                return t
        case "bool":
            def conv(v: str) -> bool:
                b = _BOOLS.get(v)
                if b is None:
                    raise ValueError("not true/false")
                return b
        case _:
            def conv(v: str) -> str:
                return v
    return conv


def reference_rows(text: io.TextIOBase | Iterable[str], lay: Layout, label: str, first_line: int = 1,
                   header: bool = True) -> Iterator[tuple[int, list[Any]]]:
    """(line number, values) of every row of CSV ``text``, checked line by line; the first bad line raises a
    :class:`FrameworkError` naming ``label``, the line (counted from ``first_line``), the column and the problem.

    ``header``: the first non-empty line may be a header (checked for its width, then skipped).
    """
    convs = [(i, c, _converter(c)) for i, c in enumerate(lay.columns)]
    reader = csv.reader(text, strict=True)
    started = not header
    try:
        for fields in reader:
            if not fields or fields == [""]:
                continue
            line = first_line - 1 + reader.line_num
            if not started:
                started = True
                if is_header(fields):
                    if len(fields) != lay.width:
                        raise _problem(label, line, "header with " + _width_problem(lay, len(fields), "columns"))
                    continue
            if len(fields) != lay.width:
                raise _problem(label, line, _width_problem(lay, len(fields)))
            values = []
            for i, col, conv in convs:
                v = fields[i]
                try:
                    values.append(conv(v))
                except ValueError as exc:
                    raise _problem(label, line, f"{col.name} (column {i + 1}) is {v!r}: {exc}") from None
            yield line, values
    except csv.Error as exc:
        raise _problem(label, first_line - 1 + reader.line_num, f"not CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise FrameworkError(f"{label}: not UTF-8 text ({exc})") from None


def python_batches(path: Path, lay: Layout, batch_rows: int) -> Iterator[list[Any]]:
    """The reference reader: line by line with the csv module; exact line numbers in errors."""
    cls = lay.row_type
    with open_text(path) as (fh, label):
        batch: list[Any] = []
        for _, values in reference_rows(fh, lay, label):
            batch.append(cls(*values))
            if len(batch) >= batch_rows:
                yield batch
                batch = []
        if batch:
            yield batch
