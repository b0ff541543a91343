"""Mistakes any command can meet: unknown commands and flags, missing or broken config files."""

from __future__ import annotations

from tests.bad_input import Case
from tests.bad_input import yaml_case

CASES = [
    Case("unknown-command", ["nope"], 2, "invalid choice: 'nope'"),
    Case("unknown-flag", ["collect", "--no-such-flag"], 2, "unrecognized arguments: --no-such-flag"),
    Case("missing-config", ["collect", "missing.yaml"], 2, "config file missing.yaml does not exist"),
    yaml_case("yaml-not-yaml", "collect", "a: [1, 2\n", 2, "not valid YAML at line"),
    yaml_case("yaml-not-mapping", "collect", "- a\n- b\n", 2, "expected a mapping of settings"),
    Case("bad-log-level", ["collect", "--offline", "--log-level", "LOUD"], 2, "unknown log level 'LOUD'"),
    Case("offline-with-url", ["collect", "--offline", "--base-path-spot", "http://x"], 2,
         "--offline serves its own URLs"),
]
