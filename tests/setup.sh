#!/usr/bin/env bash
# Installs what the tests need on a Debian 12 machine, as root: kernel tools (nftables too), WireGuard (userspace
# wireguard-go where the kernel has no module), Docker and debootstrap for the lab, iperf3 and ethtool for the
# data-path benchmark, dnsmasq and dnsperf for the resolver test and benchmark, and a Python venv
# with the pinned test tools.
# Safe to run again; prints the venv path last.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${WGSPLIT_VENV:-/opt/wgsplit-venv}

packages=(iproute2 iptables ipset nftables wireguard-tools wireguard-go iputils-ping python3 python3-venv git shellcheck
          docker.io debootstrap openssh-client iperf3 ethtool dnsmasq-base dnsperf)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A venv at $1 with the pinned requirements file $2, installed again only when that file changed.
venv_with() {
  [ -x "$1/bin/python" ] || python3 -m venv "$1"
  if ! cmp -s "$2" "$1/.requirements.txt"; then
    "$1/bin/pip" install -q --disable-pip-version-check -r "$2"
    cp "$2" "$1/.requirements.txt"
  fi
}
venv_with "$venv" "$root/tests/requirements.txt"
# Release checks (tests/release/check.sh) and the oldest supported ansible-core (tests/oldest/run.sh): venvs of
# their own, their tools pin other versions.
venv_with "${WGSPLIT_RELEASE_VENV:-/opt/wgsplit-release-venv}" "$root/tests/release/requirements.txt"
venv_with "${WGSPLIT_OLDEST_VENV:-/opt/wgsplit-core216-venv}" "$root/tests/oldest/requirements.txt"
echo "$venv"
