#!/usr/bin/env bash
# Runs molecule on the lab scenario: starts Docker if it is not running, builds the image if needed,
# and makes this checkout the collection wgsplit.gateway for Ansible. Arguments go to molecule
# (default: test).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${WGSPLIT_VENV:-/opt/wgsplit-venv}
export PATH="$venv/bin:$PATH"

"$root/tests/lab/ready.sh"

# The same tree tests/conftest.py makes: one per checkout.
tree=${TMPDIR:-/tmp}/wgsplit-collections-$(printf '%s' "$root" | sha1sum | cut -c1-8)
mkdir -p "$tree/ansible_collections/wgsplit"
ln -sfn "$root" "$tree/ansible_collections/wgsplit/gateway"
export ANSIBLE_COLLECTIONS_PATH="$tree"

cd "$root"
exec molecule "${@:-test}"
