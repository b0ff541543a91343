"""One period's piece of a write merged into a series folder: the partial-period rule.

A write is cut at period boundaries (``Period.segments``); each piece either becomes a new file or merges with
the files it overlaps, or touches (``end + 1 == start``) inside its period, into one file named by the joined
bounds. So a partial period's file is rewritten whole as the period fills, never leaving two files or a hole.
Rows already held are dropped (existing rows win) and the merged rows are stored in ``(ts_init, key)`` order.
"""

from __future__ import annotations

import pyarrow as pa

from framework.catalog.dedupe import rows_not_held
from framework.catalog.dedupe import sort_indices
from framework.catalog.durable import FileWriter
from framework.catalog.durable import rename
from framework.catalog.holdings import read_file
from framework.catalog.nautilus_paths import file_name
from framework.catalog.objectstore import CatalogPath
from framework.catalog.series import CatalogStoreError
from framework.catalog.series import FileSpan
from framework.catalog.series import WriteReport


def merge_piece(
    writer: FileWriter,
    d: CatalogPath,
    files: list[FileSpan],
    pending: list[tuple[pa.Table, str]],
    rows: pa.Table,
    key_cols: list[str],
    seg_s: int,
    seg_e: int,
    ps: int,
    pe: int,
    report: WriteReport,
) -> list[FileSpan]:
    """Write one period's piece of a write (``rows`` in ``[seg_s, seg_e]`` of period ``[ps, pe]``, sorted and
    unique) into the series folder ``d`` holding ``files``; returns the files after it.

    A piece that meets no file becomes a new file, queued in ``pending`` (written in parallel, renamed in
    period order). Otherwise it merges with the files it overlaps or touches inside its period: the rows not
    held are added and one file ``[lo, hi]`` replaces them (a bare rename when only the bounds grow).
    """
    # The files this piece merges with: those overlapping it, and those inside its period that touch it.
    group = [f for f in files if f.start <= seg_e and seg_s <= f.end]
    lo = min([seg_s] + [f.start for f in group])
    hi = max([seg_e] + [f.end for f in group])
    grew = True
    while grew:
        grew = False
        for f in files:
            if f in group:
                continue
            if (f.end + 1 == lo and f.start >= ps) or (f.start == hi + 1 and f.end <= pe):
                group.append(f)
                lo, hi = min(lo, f.start), max(hi, f.end)
                grew = True
    group.sort(key=lambda f: f.start)
    name = file_name(lo, hi)

    if not group:
        if rows.num_rows == 0:  # nothing to hold: no file (rows decide coverage)
            return files
        pending.append((rows, name))
        report.written.append(name)
        report.rows_new += rows.num_rows
        return sorted([*files, FileSpan(name, lo, hi)], key=lambda f: (f.start, f.end))

    unchanged_bounds = len(group) == 1 and (group[0].start, group[0].end) == (lo, hi)
    if rows.num_rows == 0 and unchanged_bounds:
        return files
    writer.write_new(d, pending)  # earlier periods first: the catalog only ever grows in order
    if rows.num_rows == 0 and len(group) == 1:
        # only the bounds grow: rename (atomic), the bytes stay the same
        rename(d, group[0].name, name)
        report.renamed.append((group[0].name, name))
        return sorted(
            [f for f in files if f != group[0]] + [FileSpan(name, lo, hi)],
            key=lambda f: (f.start, f.end),
        )

    # Dedupe against what the group holds: the key columns first, the whole files only if rows are new.
    held_keys = pa.concat_tables([read_file(d / f.name, columns=key_cols) for f in group])
    new = rows_not_held(rows, held_keys, key_cols)
    if new.num_rows == 0 and unchanged_bounds:
        return files
    held = [read_file(d / f.name) for f in group]
    schema = held[0].schema
    for t in held[1:] + ([new] if new.num_rows else []):
        if not t.schema.equals(schema, check_metadata=True):
            raise CatalogStoreError(
                f"{d.name}: schema/metadata differ from the held file {group[0].name} "
                f"(held {schema.metadata}, new {t.schema.metadata}); "
                "a precision change needs a new series",
            )
    merged = pa.concat_tables([*held, new]) if new.num_rows else pa.concat_tables(held)
    if new.num_rows:
        merged = merged.take(sort_indices(merged, key_cols))
    merged = merged.combine_chunks()
    writer.publish(d, merged, name, group)
    report.written.append(name)
    report.removed += [f.name for f in group if f.name != name]
    report.rows_new += new.num_rows
    return sorted(
        [f for f in files if f not in group] + [FileSpan(name, lo, hi)], key=lambda f: (f.start, f.end)
    )
