"""``local-exchange``: flags, YAML and data folders."""

from __future__ import annotations

from tests.bad_input import Case
from tests.bad_input import yaml_case

CASES = [
    Case("lx-history-word", ["local-exchange", "--history", "forever"], 2, "--history: 'forever' is not a duration"),
    Case("lx-start-word", ["local-exchange", "--start", "yesterday"], 2, "--start: 'yesterday' is not a time"),
    Case("lx-5xx-rate", ["local-exchange", "--http-5xx-rate", "2"], 2, "--http-5xx-rate: 2"),
    Case("lx-no-data", ["local-exchange", "--data", "/nonexistent"], 2, "data folder /nonexistent does not exist"),
    yaml_case("lx-unknown-key", "local-exchange", "speed: 1\nweigth_limit: 10\n", 2, "unknown key(s) weigth_limit"),
]
