#!/usr/bin/env bash
# Builds the lab's container image locally (no registry here): a Debian 12 root with systemd as PID 1
# and every tool the gateway, upstreams, clients and the far end need (sshd: the converge benchmark
# connects to a gateway over SSH as AWX does; node_exporter serves the gateway's metrics). Skips the build when the image
# exists with the same package list.
set -euo pipefail
image=${WGSPLIT_LAB_IMAGE:-wgsplit-lab:bookworm}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,iptables,ipset,dnsmasq-base,wireguard-tools,wireguard-go,curl,dnsutils,iputils-ping,procps,conntrack,kmod,nftables,openssh-server,prometheus-node-exporter
# Docker mounts /proc/sys read-only, and its API has no equivalent of the CLI's
# `--security-opt systempaths=unconfined`; with CAP_SYS_ADMIN the container remounts it at each boot,
# as a real machine has it (sysctls, rp_filter of new interfaces).
proc_sys_unit='[Unit]
Description=Writable /proc/sys, as on a real machine
DefaultDependencies=no
Before=sysinit.target systemd-sysctl.service
[Service]
Type=oneshot
ExecStart=/bin/mount -o remount,rw /proc/sys
[Install]
WantedBy=sysinit.target'
label=$(printf '%s\n%s' "$packages" "$proc_sys_unit" | sha256sum | cut -c1-12)

if [ "$(docker image inspect -f '{{index .Config.Labels "wgsplit.packages"}}' "$image" 2>/dev/null)" = "$label" ]; then
  echo "image $image is up to date"
  exit 0
fi
root=$(mktemp -d /var/tmp/wgsplit-lab-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
# The Debian mirror this machine's apt already uses (no mirror is named in the project).
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "no Debian mirror found in the apt configuration" >&2; exit 1; }
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >/dev/null
printf '%s\n' "$proc_sys_unit" > "$root/etc/systemd/system/proc-sys-rw.service"
mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
ln -s ../proc-sys-rw.service "$root/etc/systemd/system/sysinit.target.wants/proc-sys-rw.service"
# Units a container has no use for (and that fail or wait without hardware).
rm -f "$root"/etc/systemd/system/*.wants/systemd-timesyncd.service
tar -C "$root" -c . | docker import \
  -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
  -c "LABEL wgsplit.packages=$label" - "$image" >/dev/null
echo "built image $image"
