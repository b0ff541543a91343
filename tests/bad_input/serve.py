"""``serve``: mistakes in its values (flags and YAML alike), a port already taken, an address that is not this
machine's. (A missing or empty catalog is not a mistake: the page says what to run; see tests/test_web_server.py.)"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.bad_input import NO_AWS
from tests.bad_input import NO_CREDENTIALS
from tests.bad_input import Case
from tests.bad_input import config
from tests.bad_input import yaml_case

CATALOG = ["--catalog", "{tmp}/cat"]
_HELD: list[socket.socket] = []  # ports held open for the whole test run (a case's process must find them taken)


def port_taken(tmp: Path) -> None:
    """A YAML whose port another socket already listens on."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    _HELD.append(held)
    config(tmp, "bad.yaml", f"catalog: {tmp}/cat\nport: {held.getsockname()[1]}\n")


def a_file(tmp: Path) -> None:
    (tmp / "cat").write_text("not a folder")


CASES = [
    Case("serve-port-word", ["serve", *CATALOG, "--port", "http"], 2, "--port: 'http' is not a number"),
    Case("serve-port-range", ["serve", *CATALOG, "--port", "70000"], 2, "--port: 70000 is not a TCP port"),
    Case("serve-port-in-use", ["serve", "{tmp}/bad.yaml"], 1, "already in use on 127.0.0.1; choose another --port",
         setup=port_taken),
    Case("serve-host-url", ["serve", *CATALOG, "--host", "http://0.0.0.0"], 2,
         "--host: 'http://0.0.0.0' is not an address to listen on"),
    Case("serve-host-not-here", ["serve", *CATALOG, "--host", "203.0.113.9", "--port", "0"], 1,
         "--host 203.0.113.9 --port 0: cannot listen there"),
    Case("serve-catalog-s3-no-credentials", ["serve", "--catalog", "s3://bucket/cat"], 1, NO_CREDENTIALS, env=NO_AWS),
    Case("serve-runs-s3", ["serve", *CATALOG, "--runs", "s3://bucket/runs"], 2, "--runs: 's3://bucket/runs' is on "
         "object storage; serve reads run folders from a local folder"),
    Case("serve-catalog-file", ["serve", *CATALOG], 2, "is a file; give the catalog folder", setup=a_file),
    Case("serve-token-short", ["serve", *CATALOG, "--token", "abc"], 2, "--token: use at least 8 printable "
         "characters"),
    Case("serve-offline-without-live", ["serve", *CATALOG, "--offline"], 2, "--offline runs the live feed on the "
         "local exchange; add --live or drop --offline"),
    Case("serve-start-without-offline", ["serve", *CATALOG, "--start", "now"], 2, "add --offline or drop it"),
    Case("serve-log-level", ["serve", *CATALOG, "--log-level", "LOUD"], 2, "unknown log level 'LOUD'"),
    Case("serve-config-missing", ["serve", "{tmp}/nope.yaml"], 2, "config file {tmp}/nope.yaml does not exist"),
    yaml_case("serve-yaml-unknown-key", "serve", "prot: 8000\n", 2, "unknown key 'prot'; did you mean 'port'?"),
    yaml_case("serve-yaml-port-word", "serve", "port: eighty\n", 2, "--port: 'eighty' is not a number"),
    yaml_case("serve-yaml-live-word", "serve", "live: maybe\n", 2, "bad value for 'live'"),
]
