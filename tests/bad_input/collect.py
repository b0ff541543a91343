"""``collect``: settings from flags, the legacy environment variables and YAML; the output folder."""

from __future__ import annotations

from pathlib import Path

from tests.bad_input import Case
from tests.bad_input import yaml_case

OFFLINE = ["collect", "--offline", "--ws-capture-seconds", "0"]


def a_file(tmp: Path) -> None:
    (tmp / "afile").write_text("not a folder\n")


def nothing_written(tmp: Path) -> None:
    assert not (tmp / "outputs").exists(), "a refused run writes nothing"


CASES = [
    yaml_case("collect-unknown-key", "collect", "spot_symbl: ETHUSDT\n", 2,
              "unknown key 'spot_symbl'; did you mean 'spot_symbol'?"),
    yaml_case("collect-yaml-limit-list", "collect", "kline_limit: [1, 2]\n", 2, "bad value for 'kline_limit'"),
    Case("collect-symbol-not-listed", [*OFFLINE, "--spot-symbol", "NOPEUSDT"], 2,
         "spot_symbol 'NOPEUSDT' is not listed on Binance spot", check=nothing_written),
    Case("collect-symbol-malformed", ["collect", "--futures-symbol", "BTC-USDT"], 2,
         "futures_symbol (FUTURES_SYMBOL): 'BTC-USDT' is not a Binance symbol"),
    Case("collect-pair-env-malformed", ["collect"], 2, "futures_pair (FUTURES_PAIR): 'btc usdt' is not a Binance symbol",
         env={"FUTURES_PAIR": "btc usdt"}),
    Case("collect-kline-limit-word", ["collect"], 2, "bad value for 'kline_limit' (environment variable KLINE_LIMIT)",
         env={"KLINE_LIMIT": "abc"}),
    Case("collect-trade-limit-zero", ["collect"], 2, "trade_limit (TRADE_LIMIT): 0 must be a whole number of at least 1",
         env={"TRADE_LIMIT": "0"}),
    Case("collect-funding-limit-negative", ["collect"], 2, "funding_limit (FUNDING_LIMIT): -5 must be a whole number",
         env={"FUNDING_LIMIT": "-5"}),
    Case("collect-trade-limit-depth", OFFLINE, 2, "depth asks min(trade_limit, 1000) = 200 levels",
         env={"TRADE_LIMIT": "200"}, check=nothing_written),
    Case("collect-trade-limit-too-big", OFFLINE, 2, "trade_limit (TRADE_LIMIT) 5000: Binance spot /api/v3/trades takes",
         env={"TRADE_LIMIT": "5000"}, check=nothing_written),
    Case("collect-metric-limit-too-big", OFFLINE, 2, "metric_limit (METRIC_LIMIT) 1000: Binance futures",
         env={"METRIC_LIMIT": "1000"}, check=nothing_written),
    Case("collect-ws-seconds-negative", ["collect"], 2, "ws_capture_seconds (WS_CAPTURE_SECONDS): -1 must be zero or more",
         env={"WS_CAPTURE_SECONDS": "-1"}),
    Case("collect-ws-seconds-word", ["collect", "--ws-capture-seconds", "soon"], 2, "invalid float value: 'soon'"),
    Case("collect-interval-unknown", ["collect", "--kline-interval", "7m"], 2, "'7m' is not a Binance kline interval"),
    Case("collect-interval-1s", ["collect", "--kline-interval", "1s"], 2, "'1s' klines exist on spot only"),
    Case("collect-metric-period", ["collect", "--metric-period", "1m"], 2, "metric_period '1m' is not offered"),
    Case("collect-window-size", ["collect"], 2, "ws_window_size (WS_WINDOW_SIZE): '2h': use 1h, 4h or 1d",
         env={"WS_WINDOW_SIZE": "2h"}),
    Case("collect-contract-type", ["collect"], 2, "'QUARTERLY': use PERPETUAL, CURRENT_QUARTER, NEXT_QUARTER",
         env={"CONTINUOUS_CONTRACT_TYPE": "QUARTERLY"}),
    Case("collect-out-empty", ["collect", "--out", " "], 2, "output_dir (OUTPUT_DIR): empty"),
    Case("collect-out-is-a-file", [*OFFLINE, "--out", "{tmp}/afile"], 2, "output folder {tmp}/afile is a file",
         setup=a_file, timeout=60),
    Case("collect-out-under-a-file", [*OFFLINE, "--out", "{tmp}/afile/sub"], 2,
         "output folder {tmp}/afile/sub cannot be written: Not a directory ({tmp}/afile is a file", setup=a_file,
         timeout=60),
    Case("collect-out-env-is-a-file", OFFLINE, 2, "output folder {tmp}/afile is a file", setup=a_file,
         env={"OUTPUT_DIR": "{tmp}/afile"}, timeout=60),
    # /sys refuses new folders even to root (a chmod'ed folder would not stop root)
    Case("collect-out-unwritable", [*OFFLINE, "--out", "/sys/kernel/collect-out"], 2,
         "output folder /sys/kernel/collect-out cannot be written: Operation not permitted (it cannot be "
         "created in /sys/kernel)", timeout=60),
]
