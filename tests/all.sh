#!/usr/bin/env bash
# One command for a fresh Debian 12 machine, run as root: install what the tests need, then run them all.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
WGSPLIT_VENV=$("$here/setup.sh" | tail -n 1)
export WGSPLIT_VENV
exec "$here/run.sh"
