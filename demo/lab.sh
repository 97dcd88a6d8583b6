#!/usr/bin/env bash
# The README's first command: brings up the molecule lab (a gateway whose wg0 runs as wg-easy leaves
# it, two upstream WireGuard servers, three clients, a far host with DNS and an HTTP echo), applies
# playbooks/site.yml with the lab inventory, and prints what the far end saw for each client and
# destination. The lab stays up; `bash tests/lab/molecule.sh destroy` removes it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
WGSPLIT_VENV=$("$root/tests/setup.sh" | tail -n 1)
export WGSPLIT_VENV

"$root/tests/lab/molecule.sh" destroy >/tmp/wgsplit-lab-destroy.log 2>&1
for step in create prepare converge; do
  echo "== molecule $step"
  "$root/tests/lab/molecule.sh" "$step" >/tmp/wgsplit-lab-$step.log 2>&1 ||
    { tail -n 40 "/tmp/wgsplit-lab-$step.log"; exit 1; }
done
exec "$WGSPLIT_VENV/bin/python" "$root/demo/lab_paths.py"
