#!/usr/bin/env bash
# Demo of the four modules on real packets, as root on Debian 12: builds four network namespaces
# (client, gateway, upstream WireGuard server, far end), applies demo/modules.yml in the gateway,
# and prints which address the far end sees for each destination, then again with the tunnel down.
# Everything lives in namespaces and a temporary directory, removed at the end.
set -euo pipefail
umask 077
root=$(cd "$(dirname "$0")/.." && pwd)
WGSPLIT_VENV=$("$root/tests/setup.sh" | tail -n 1)
export PATH="$WGSPLIT_VENV/bin:$PATH"
tree=$(mktemp -d)
demo_dir="$tree/demo"
mkdir -p "$tree/ansible_collections/wgsplit" "$demo_dir"
ln -s "$root" "$tree/ansible_collections/wgsplit/gateway"
ns=(wgsplit-demo-client wgsplit-demo-gw wgsplit-demo-up wgsplit-demo-far)
upstream_if=wgdemo-up1
server_if=wgdemo-srv

server_pid=
remove_namespaces() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  # wireguard-go keeps a deleted namespace alive until its interface goes: delete the interfaces first.
  ip -n wgsplit-demo-up link delete "$server_if" 2>/dev/null || true
  ip -n wgsplit-demo-gw link delete "$upstream_if" 2>/dev/null || true
  rm -f "/var/run/wireguard/$server_if.sock" "/var/run/wireguard/$upstream_if.sock"
  for name in "${ns[@]}"; do ip netns delete "$name" 2>/dev/null || true; done
}
trap 'remove_namespaces; rm -rf "$tree"' EXIT
remove_namespaces
for name in "${ns[@]}"; do ip netns add "$name"; ip -n "$name" link set lo up; done

link() {  # link NS1 IF1 ADDR1 NS2 IF2 ADDR2
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}
# wg0 stands in for the gateway's WireGuard server interface (what the modules match on is its name).
link wgsplit-demo-client eth0 10.8.0.2/24 wgsplit-demo-gw wg0 10.8.0.1/24
link wgsplit-demo-gw eth-up 192.168.250.1/24 wgsplit-demo-up eth-gw 192.168.250.2/24
link wgsplit-demo-gw eth-net 198.51.100.1/24 wgsplit-demo-far eth-gw 198.51.100.2/24
link wgsplit-demo-up eth-net 203.0.113.1/24 wgsplit-demo-far eth-up 203.0.113.2/24
ip -n wgsplit-demo-client route add default via 10.8.0.1
ip -n wgsplit-demo-gw route add default via 198.51.100.2
ip -n wgsplit-demo-up route add default via 203.0.113.2
for name in wgsplit-demo-gw wgsplit-demo-up; do ip netns exec "$name" sysctl -qw net.ipv4.ip_forward=1; done
# The far end: two "internet" addresses and an HTTP endpoint that answers with the source it sees.
ip -n wgsplit-demo-far addr add 192.0.2.80/32 dev lo
ip -n wgsplit-demo-far addr add 192.0.2.81/32 dev lo
ip netns exec wgsplit-demo-far python3 -c '
import http.server
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.client_address[0].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 80), Echo).serve_forever()' >/dev/null 2>&1 &
server_pid=$!
# Direct traffic leaves the gateway NATed to its own address (as wg-easy's own rule does).
ip netns exec wgsplit-demo-gw iptables -t nat -A POSTROUTING -o eth-net -j MASQUERADE
# The upstream WireGuard server NATs to its own address.
wg genkey > "$demo_dir/gateway.key"; wg genkey > "$demo_dir/server.key"
wg pubkey < "$demo_dir/server.key" > "$demo_dir/server.pub"
ip netns exec wgsplit-demo-up wireguard-go "$server_if" >/dev/null 2>&1
for _ in $(seq 50); do [ -S "/var/run/wireguard/$server_if.sock" ] && break; sleep 0.1; done
ip netns exec wgsplit-demo-up wg set "$server_if" private-key "$demo_dir/server.key" listen-port 51820 \
  peer "$(wg pubkey < "$demo_dir/gateway.key")" allowed-ips 10.10.0.2/32
ip -n wgsplit-demo-up addr add 10.10.0.1/24 dev "$server_if"
ip -n wgsplit-demo-up link set "$server_if" up
ip netns exec wgsplit-demo-up iptables -t nat -A POSTROUTING -o eth-net -j MASQUERADE

echo "== applying demo/modules.yml in the gateway namespace"
ip netns exec wgsplit-demo-gw env ANSIBLE_COLLECTIONS_PATH="$tree" ANSIBLE_PYTHON_INTERPRETER="$WGSPLIT_VENV/bin/python" \
  ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
  ansible-playbook -i localhost, "$root/demo/modules.yml" -e "demo_dir=$demo_dir upstream_if=$upstream_if"

seen() { ip netns exec wgsplit-demo-client curl -s --max-time 3 "http://$1/" || echo "(no answer)"; }
status=0
row() {  # row DESTINATION EXPECTED MEANING
  local got; got=$(seen "$1")
  printf '%-10s %-12s %-14s %-14s %s\n' "10.8.0.2" "$1" "$got" "$2" "$3"
  [ "$got" = "$2" ] || status=1
}
printf '\n%-10s %-12s %-14s %-14s %s\n' client destination "far end saw" expected meaning
row 192.0.2.80 203.0.113.1 "proxy rule: through the upstream"
row 192.0.2.81 198.51.100.1 "no rule: direct"
ip netns exec wgsplit-demo-gw ip link set "$upstream_if" down
echo "-- upstream interface taken down (kill switch)"
row 192.0.2.80 "(no answer)" "proxied traffic is dropped, never sent direct"
row 192.0.2.81 198.51.100.1 "direct traffic still works"
[ "$status" = 0 ] && echo "all as expected" || echo "MISMATCH"
exit "$status"
