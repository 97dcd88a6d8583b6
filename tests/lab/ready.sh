#!/usr/bin/env bash
# Makes this machine ready for the lab's containers: starts Docker if it is not running and builds the
# lab image if it is missing or out of date (tests/lab/image.sh). Used by the molecule lab, the converge
# benchmark and the release check's ansible-runner run.
set -euo pipefail
if ! docker info >/dev/null 2>&1; then
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
"$(dirname "$0")/image.sh"
