"""``catalog check|repair``, and a damaged catalog met by every command that reads one.

``{tmp}/catalog`` is a small synthetic catalog (a day of 1m bars of BTCUSDT spot and perpetual, funding and
statistics, from 2024-08-01); the damaged rows cut one bar file short, as a full disk or an interrupted copy
does. Every reader must name that file and the repair, in one line.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.bad_input import AWS_NOWHERE
from tests.bad_input import NO_AWS
from tests.bad_input import NO_CREDENTIALS
from tests.bad_input import UNREACHABLE
from tests.bad_input import Case
from tests.bad_input import config

START_NS = 1_722_470_400_000_000_000  # 2024-08-01
DAMAGED = "{tmp}/catalog/data/bar"  # the message names the file under it
REPAIR = "run: python -m framework.main catalog repair --catalog "


def _catalog(tmp: Path) -> Path:
    from framework.backtest.synthetic import SyntheticMarket
    from framework.backtest.synthetic import write_synthetic

    write_synthetic(tmp / "catalog", SyntheticMarket(start_ns=START_NS, minutes=1440))
    return tmp / "catalog"


def _damaged(tmp: Path) -> None:
    victim = sorted((_catalog(tmp) / "data" / "bar").rglob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:-64])  # the footer cut off


def _empty_files(tmp: Path) -> None:
    import pyarrow.parquet as pq

    first = sorted((_catalog(tmp) / "data" / "bar").rglob("*.parquet"))[0]
    pq.write_table(pq.read_schema(first).empty_table(), first.with_name("2024-09-01T00-00-00-000000000Z_"
                                                                          "2024-09-01T00-59-59-999999999Z.parquet"))


def _backtest_yaml(tmp: Path) -> None:
    _damaged(tmp)
    config(tmp, "bt.yaml", yaml.safe_dump({
        "catalog": "catalog", "start": "2024-08-01T02:00:00Z", "end": "2024-08-01T08:00:00Z",
        "instruments": [{"symbol": "BTCUSDT", "market": "futures"}], "data": {"bars": ["1m"]}, "charts": False,
        "strategies": [{"class": "strategies.examples.ema_cross:EmaCrossRsi",
                        "config": {"instrument_id": "BTCUSDT-PERP.BINANCE", "fast_period": 5, "slow_period": 20}}],
    }))


def _no_catalog_made(tmp: Path) -> None:
    assert not (tmp / "s3:").exists(), "a folder named s3: was created"


CASES = [
    Case("catalog-bad-action", ["catalog", "fix"], 2, "invalid choice: 'fix'"),
    Case("catalog-missing-folder", ["catalog", "check", "--catalog", "{tmp}/nope"], 2,
         "--catalog: {tmp}/nope is not a folder"),
    Case("catalog-s3-no-credentials", ["catalog", "check", "--catalog", "s3://bucket/prefix"], 1, NO_CREDENTIALS,
         env=NO_AWS, check=_no_catalog_made),
    Case("catalog-s3-unreachable", ["catalog", "repair", "--catalog", "s3://bucket/prefix"], 1, UNREACHABLE,
         env=AWS_NOWHERE, check=_no_catalog_made),
    Case("catalog-s3-prefix-dots", ["catalog", "check", "--catalog", "s3://bucket/../x"], 2,
         "the prefix after the bucket has an empty, '.' or '..' part",
         check=_no_catalog_made),
    Case("catalog-check-damaged", ["catalog", "check", "--catalog", "{tmp}/catalog"], 1,
         "1 unreadable file among", setup=_damaged),
    Case("catalog-check-empty-files", ["catalog", "check", "--catalog", "{tmp}/catalog"], 1,
         "1 empty file among", setup=_empty_files),
    Case("catalog-repair-damaged", ["catalog", "repair", "--catalog", "{tmp}/catalog"], 1,
         "1 unreadable file among", setup=_damaged),
    # every command that reads a catalog names the damaged file and the repair
    Case("catalog-damaged-ingest", ["ingest", "--market", "futures", "--symbols", "BTCUSDT", "--kinds", "klines",
                                    "--start", "2024-08-01", "--offline", "--catalog", "{tmp}/catalog"], 1,
         f"is damaged (no parquet magic bytes: truncated or not a parquet file); {REPAIR}{{tmp}}/catalog",
         setup=_damaged),
    Case("catalog-damaged-backtest", ["backtest", "{tmp}/bt.yaml"], 1, f"catalog file {DAMAGED}",
         setup=_backtest_yaml),
    Case("catalog-damaged-plot", ["plot", "--catalog", "{tmp}/catalog", "--symbol", "BTCUSDT", "--start",
                                  "2024-08-01", "--end", "2024-08-02", "--out", "{tmp}/plots"], 1,
         f"catalog file {DAMAGED}", setup=_damaged),
    Case("catalog-damaged-report", ["report", "reconcile", "--catalog", "{tmp}/catalog", "--symbol", "BTCUSDT",
                                    "--start", "2024-08-01", "--end", "2024-08-02", "--out", "{tmp}/reports"], 1,
         f"catalog file {DAMAGED}", setup=_damaged),
    Case("catalog-damaged-record", ["record", "{repo}/configs/record/btc_futures.yaml", "--offline", "--catalog",
                                    "{tmp}/catalog", "--duration", "5"], 1, f"catalog file {DAMAGED}",
         setup=_damaged),
]
