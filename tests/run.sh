#!/usr/bin/env bash
# The whole test suite, in the order that fails fastest: static checks, the modules demo, the
# benchmarks (they print figures and assert nothing about time; converge.py starts Docker and builds the lab
# image), unit and integration tests, then the
# molecule lab (real packets through a gateway, upstreams and clients in systemd containers), once per backend.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${WGSPLIT_VENV:-/opt/wgsplit-venv}
export PATH="$venv/bin:$PATH"
cd "$root"

echo "== ansible-test sanity"
tests/sanity/run.sh
echo "== ansible-lint (production profile)"
ansible-lint --nocolor
echo "== release checks (changelog, tarball, galaxy-importer, antsibull-docs, ansible-runner)"
tests/release/check.sh
echo "== modules demo (the four modules split one client in namespaces)"
bash demo/modules.sh
echo "== benchmark"
python tests/benchmarks/ipset_members.py
python tests/benchmarks/hundred_clients.py
python tests/benchmarks/shared_lists.py --clients 20 --lists 3 --networks 2000
python tests/benchmarks/shared_lists.py --clients 20 --lists 3 --networks 2000 --backend nftables
python tests/benchmarks/converge.py --clients 10 --rules 10
python tests/benchmarks/data_path.py --clients 50 --turns 1 --seconds 2
python tests/benchmarks/resolver.py --clients 20 --rules 200 --seconds 2 --turns 1
echo "== unit and integration tests"
pytest -p no:cacheprovider -v tests/unit tests/integration
echo "== unit and module integration tests on the oldest supported ansible-core"
tests/oldest/run.sh
echo "== molecule lab (iptables backend)"
tests/lab/molecule.sh test
echo "== molecule lab (nftables backend)"
WGSPLIT_LAB_BACKEND=nftables tests/lab/molecule.sh test
