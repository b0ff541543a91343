"""Paper orders and fills in the workstation's state file (``WebContext.state_db``), beside the alert rules.

An order row is written when a rule fires (status ``SENT``) and updated with what the paper node reports (its client
order id, quantity, fills, final status, the reason of a rejection); fills are kept one row each. Statements are
short and run on the event loop's thread.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from framework.web.state import connect

SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS paper_orders (
    ref TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS paper_fills (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ref TEXT,
    ts_ms INTEGER NOT NULL,
    fields TEXT NOT NULL
);
"""
MAX_ROWS = 1000


class PaperStore:
    """Paper orders (by the server's ``ref``) and their fills."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _db(self):  # noqa: ANN202 - a context manager of sqlite3.Connection
        return connect(self.path, SCHEMA)

    def add_order(self, order: dict[str, Any]) -> None:
        """Keep a new order (``ref`` and its fields)."""
        now = int(time.time() * 1000)
        with self._db() as db:
            db.execute("INSERT INTO paper_orders (ref, created_ms, updated_ms, fields) VALUES (?, ?, ?, ?)",
                       (order["ref"], order.get("created_ms", now), now, json.dumps(order)))

    def update_order(self, ref: str, fields: dict[str, Any]) -> None:
        """Merge ``fields`` into the order (a ref the store does not hold is ignored)."""
        with self._db() as db:
            row = db.execute("SELECT fields FROM paper_orders WHERE ref = ?", (ref,)).fetchone()
            if row is None:
                return
            db.execute("UPDATE paper_orders SET fields = ?, updated_ms = ? WHERE ref = ?",
                       (json.dumps({**json.loads(row[0]), **fields}), int(time.time() * 1000), ref))

    def order(self, ref: str) -> dict[str, Any] | None:
        """One order by ``ref`` (None: unknown)."""
        with self._db() as db:
            row = db.execute("SELECT fields, updated_ms FROM paper_orders WHERE ref = ?", (ref,)).fetchone()
        return None if row is None else {**json.loads(row[0]), "updated_ms": row[1]}

    def orders(self) -> list[dict[str, Any]]:
        """The newest ``MAX_ROWS`` orders, newest first."""
        with self._db() as db:
            rows = db.execute("SELECT fields, updated_ms FROM paper_orders ORDER BY created_ms DESC, rowid DESC "
                              "LIMIT ?", (MAX_ROWS,)).fetchall()
        return [{**json.loads(text), "updated_ms": updated} for text, updated in rows]

    def add_fill(self, fill: dict[str, Any]) -> None:
        """Keep one fill the node reported."""
        fields = {k: v for k, v in fill.items() if k != "type"}
        with self._db() as db:
            db.execute("INSERT INTO paper_fills (ref, ts_ms, fields) VALUES (?, ?, ?)",
                       (fill.get("ref"), fill.get("ts", 0), json.dumps(fields)))

    def fills(self) -> list[dict[str, Any]]:
        """The newest ``MAX_ROWS`` fills, newest first."""
        with self._db() as db:
            rows = db.execute("SELECT fields FROM paper_fills ORDER BY id DESC LIMIT ?", (MAX_ROWS,)).fetchall()
        return [json.loads(text) for (text,) in rows]
