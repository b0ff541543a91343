#!/usr/bin/env bash
# Creates .venv with Python 3.12 and installs the project with its test extras.
# Idempotent: does nothing when pyproject.toml has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
# The web workstation's browser tests drive Debian's chromium: installed here when missing and running as root.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the browser tests" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: warning: /usr/bin/chromium is missing; the browser tests need it: sudo apt-get install chromium" >&2
  fi
fi
py=$(bash scripts/python312.sh)
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ -f "$stamp" ] && .venv/bin/python -c 'import framework' >/dev/null 2>&1; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $py" >&2
  $py -m venv .venv
fi
echo "setup: installing the project and its dependencies (about a minute)" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
rm -f .venv/.installed-*
touch "$stamp"
