#!/usr/bin/env bash
# Prints a command that runs Python 3.12: plain `python3.12` where it works, else pyenv's 3.12.x.
set -euo pipefail
if command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys' >/dev/null 2>&1; then
  echo python3.12; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -V | tail -n 1 || true)
  if [ -n "$v" ]; then echo "env PYENV_VERSION=$v python3.12"; exit 0; fi
fi
echo "error: Python 3.12 not found; install it (python3.12 on PATH, or pyenv install 3.12)" >&2
exit 1
