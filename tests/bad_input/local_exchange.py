"""``local-exchange``: flags, YAML and data folders."""

from __future__ import annotations

import gzip
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from tests.bad_input import REPO
from tests.bad_input import Case
from tests.bad_input import config
from tests.bad_input import yaml_case

PACKAGED = REPO / "framework" / "binance" / "recordings"
HEADER = "id,price,qty,time,event_time,is_buyer_maker\n"
ROW = "5266583935,61800.30,0.006,1723161256322,1723161256322,0\n"
NEXT = "5266583936,61800.30,0.199,1723161256344,1723161256344,0\n"
HELD: list[socket.socket] = []  # sockets kept open while a case runs (a port in use)


def data_with(change: Callable[[Path], None]) -> Callable[[Path], None]:
    """A setup that copies the packaged data to ``{tmp}/data`` and damages it with ``change(data)``."""

    def setup(tmp: Path) -> None:
        shutil.copytree(PACKAGED, tmp / "data")
        change(tmp / "data")

    return setup


def tape(text: str) -> Callable[[Path], None]:
    """A setup whose USD-M BTCUSDT tape is ``text`` (plain CSV instead of the packaged gzip)."""

    def change(data: Path) -> None:
        (data / "futures" / "tape" / "BTCUSDT.csv.gz").unlink()
        (data / "futures" / "tape" / "BTCUSDT.csv").write_text(text)

    return data_with(change)


def truncated_exchange_info(data: Path) -> None:
    path = data / "spot" / "rest" / "exchangeInfo.json.gz"
    raw = gzip.decompress(path.read_bytes())
    path.unlink()
    (data / "spot" / "rest" / "exchangeInfo.json").write_bytes(raw[: len(raw) // 2])


def port_in_use(tmp: Path) -> None:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    HELD.append(held)
    config(tmp, "bad.yaml", f"port: {held.getsockname()[1]}\n")


TAPE = "{tmp}/data/futures/tape/BTCUSDT.csv"
DATA = ["local-exchange", "--data", "{tmp}/data"]

CASES = [
    Case("lx-history-word", ["local-exchange", "--history", "forever"], 2, "--history: 'forever' is not a duration"),
    Case("lx-start-word", ["local-exchange", "--start", "yesterday"], 2, "--start: 'yesterday' is not a time"),
    Case("lx-5xx-rate", ["local-exchange", "--http-5xx-rate", "2"], 2, "--http-5xx-rate: 2"),
    Case("lx-no-data", ["local-exchange", "--data", "/nonexistent"], 2, "data folder /nonexistent does not exist"),
    yaml_case("lx-unknown-key", "local-exchange", "speed: 1\nweigth_limit: 10\n", 2, "unknown key(s) weigth_limit"),
    # ports
    Case("lx-port-too-big", ["local-exchange", "--port", "70000"], 2, "--port: 70000 is not a TCP port"),
    Case("lx-port-negative", ["local-exchange", "--port", "-1"], 2, "--port: -1 is not a TCP port"),
    Case("lx-port-last", ["local-exchange", "--port", "65535"], 2, "USD-M listens on port + 1"),
    Case("lx-port-in-use", ["local-exchange", "{tmp}/bad.yaml"], 2, "cannot listen on 127.0.0.1:", setup=port_in_use),
    # clock and limits
    Case("lx-speed-negative", ["local-exchange", "--speed", "-3"], 2, "--speed: -3 must be zero or more"),
    Case("lx-history-zero", ["local-exchange", "--history", "0"], 2, "--history: 0 must be more than zero"),
    Case("lx-start-ambiguous", ["local-exchange", "--start", "09/08/2024"], 2,
         "--start: '09/08/2024' is not a time this framework reads"),
    Case("lx-start-8-digits", ["local-exchange", "--start", "20240808"], 2, "'20240808' is ambiguous"),
    Case("lx-weight-limit-zero", ["local-exchange", "--weight-limit", "0"], 2,
         "--weight-limit: 0 must be a whole number of at least 1"),
    Case("lx-window-negative", ["local-exchange", "--window-seconds", "-5"], 2, "--window-seconds: '-5' is not a duration"),
    yaml_case("lx-yaml-seed-word", "local-exchange", "seed: lucky\n", 2, "--seed: 'lucky' is not a number"),
    yaml_case("lx-yaml-speed-word", "local-exchange", "speed: fast\n", 2, "--speed: 'fast' is not a number"),
    # data folders
    Case("lx-data-no-futures", DATA, 2, "has no 'futures/' folder",
         setup=data_with(lambda d: shutil.rmtree(d / "futures"))),
    Case("lx-data-no-exchange-info", DATA, 2, "exchangeInfo.json is missing or has no 'symbols' list",
         setup=data_with(lambda d: (d / "spot" / "rest" / "exchangeInfo.json.gz").unlink())),
    Case("lx-data-truncated-exchange-info", DATA, 2, "spot/rest/exchangeInfo.json: not valid JSON",
         setup=data_with(truncated_exchange_info)),
    Case("lx-data-corrupt-gzip", DATA, 2, "depth__limit1000_BTCUSDT_2024.json.gz: cannot read it",
         setup=data_with(lambda d: (d / "spot" / "rest" / "depth__limit1000_BTCUSDT_2024.json.gz").write_bytes(
             b"\x1f\x8b\x08garbage"))),
    Case("lx-tape-bad-header", DATA, 2, f"{TAPE}, line 1: the header must be id,price,qty",
         setup=tape("id,price,quantity,time,event_time,is_buyer_maker\n" + ROW)),
    Case("lx-tape-short-row", DATA, 2, f"{TAPE}, line 3: 4 fields, expected 6",
         setup=tape(HEADER + ROW + "5266583936,61800.30,0.199,1723161256344\n")),
    Case("lx-tape-not-a-number", DATA, 2, f"{TAPE}, line 3: price '61,800.30' is not a decimal number",
         setup=tape(HEADER + ROW + NEXT.replace("61800.30", '"61,800.30"'))),
    Case("lx-tape-bad-boolean", DATA, 2, f"{TAPE}, line 2: is_buyer_maker 'maybe' is not true or false",
         setup=tape(HEADER + ROW.replace(",0\n", ",maybe\n"))),
    Case("lx-tape-gap", DATA, 2, f"{TAPE}, line 3: id 5266583940 follows 5266583935; trade ids must be contiguous",
         setup=tape(HEADER + ROW + NEXT.replace("5266583936", "5266583940"))),
    Case("lx-tape-time-backwards", DATA, 2, f"{TAPE}, line 3: time 1723161256000 is before",
         setup=tape(HEADER + ROW + NEXT.replace("1723161256344,", "1723161256000,", 1))),
    Case("lx-tape-header-only", DATA, 2, f"{TAPE}: no trades after the header", setup=tape(HEADER)),
    Case("lx-tape-unlisted-symbol", DATA, 2, "tape symbols not in exchangeInfo: ['NOPEUSDT']",
         setup=data_with(lambda d: (d / "futures" / "tape" / "NOPEUSDT.csv").write_text(HEADER + ROW))),
]
