#!/usr/bin/env bash
# The whole test suite, in the order that fails fastest: static checks, the demo, the benchmark
# (prints figures, asserts nothing about time), then unit and integration tests (pytest closes the run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${WGSPLIT_VENV:-/opt/wgsplit-venv}
export PATH="$venv/bin:$PATH"
cd "$root"

echo "== ansible-test sanity"
tests/sanity/run.sh
echo "== ansible-lint (production profile)"
ansible-lint --nocolor
echo "== demo (the README's first command)"
bash demo/modules.sh
echo "== benchmark"
python tests/benchmarks/ipset_members.py
echo "== unit and integration tests"
pytest -p no:cacheprovider -v tests/unit tests/integration
