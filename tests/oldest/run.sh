#!/usr/bin/env bash
# The unit tests and the module integration tests on the oldest ansible-core the collection supports
# (meta/runtime.yml: requires_ansible >= 2.16), in a venv of its own (tests/setup.sh makes it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${WGSPLIT_OLDEST_VENV:-/opt/wgsplit-core216-venv}
cd "$root"
"$venv/bin/ansible" --version | sed -n 1p  # sed reads it all: head would break the pipe
# The tarball test builds with the newest ansible-galaxy (tests/release/check.sh does too); the rest runs here.
"$venv/bin/python" -m pytest -p no:cacheprovider -q tests/unit tests/integration -k 'not tarball'
