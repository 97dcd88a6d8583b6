#!/usr/bin/env bash
# Installs what the tests need on a Debian 12 machine, as root: kernel tools, WireGuard (userspace
# wireguard-go where the kernel has no module), Docker and debootstrap for the lab, and a Python venv
# with the pinned test tools.
# Safe to run again; prints the venv path last.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${WGSPLIT_VENV:-/opt/wgsplit-venv}

packages=(iproute2 iptables ipset wireguard-tools wireguard-go iputils-ping python3 python3-venv git shellcheck
          docker.io debootstrap openssh-client)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! cmp -s "$root/tests/requirements.txt" "$venv/.requirements.txt"; then
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/requirements.txt"
  cp "$root/tests/requirements.txt" "$venv/.requirements.txt"
fi
# Release checks (tests/release/check.sh): their own venv, their tools pin others.
release_venv=${WGSPLIT_RELEASE_VENV:-/opt/wgsplit-release-venv}
[ -x "$release_venv/bin/python" ] || python3 -m venv "$release_venv"
if ! cmp -s "$root/tests/release/requirements.txt" "$release_venv/.requirements.txt"; then
  "$release_venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/release/requirements.txt"
  cp "$root/tests/release/requirements.txt" "$release_venv/.requirements.txt"
fi
# The oldest ansible-core the collection supports (tests/oldest/run.sh).
oldest_venv=${WGSPLIT_OLDEST_VENV:-/opt/wgsplit-core216-venv}
[ -x "$oldest_venv/bin/python" ] || python3 -m venv "$oldest_venv"
if ! cmp -s "$root/tests/oldest/requirements.txt" "$oldest_venv/.requirements.txt"; then
  "$oldest_venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/oldest/requirements.txt"
  cp "$root/tests/oldest/requirements.txt" "$oldest_venv/.requirements.txt"
fi
echo "$venv"
