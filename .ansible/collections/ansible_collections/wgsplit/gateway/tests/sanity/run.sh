#!/usr/bin/env bash
# ansible-test sanity on a copy of the committed-and-working tree placed where ansible-test needs it
# (.../ansible_collections/wgsplit/gateway). Its venvs get pip from ensurepip (get_pip_offline.py),
# since ansible-test's own bootstrap download host is not reachable from these machines.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tree=$(mktemp -d)/ansible_collections/wgsplit/gateway
mkdir -p "$tree"
git -C "$root" ls-files -co --exclude-standard -z | (cd "$root" && xargs -0 cp --parents -t "$tree")
git -C "$tree" init -q && git -C "$tree" add -A
for version in 24_2 25_2; do
  install -D -m 0644 "$root/tests/sanity/get_pip_offline.py" "$HOME/.ansible/test/cache/get_pip_$version.py"
done
cd "$tree"
ansible-test sanity --venv --python 3.11 "$@"
