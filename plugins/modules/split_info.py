#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: split_info
short_description: Read in one call the gateway state that the wgsplit.gateway plan depends on
version_added: 0.1.0
description:
  - Reads, and never changes, what the collection's plan needs to know about a gateway - the WireGuard
    server interface (addresses, peers), the kernel's ipsets and their limit, the collection's boot
    files, the routing tables holding rules or routes of the collection's protocol, the wg-quick
    configurations and units, the resolver's configuration and unit, and every socket bound to the
    DNS port with its process.
  - Everything is read from machine-readable output (C(ip -j), C(wg show NAME dump), C(ipset list -n)),
    C(/proc) and C(/sys), and the collection's files, with a C(C) locale.
  - The module is read-only, so C(changed) is always C(false); it runs the same in check mode, and with
    C(--diff) there is nothing to show, since nothing changes.
extends_documentation_fragment:
  - wgsplit.gateway.attributes.read_only
  - wgsplit.gateway.attributes
options:
  server_interface:
    description: The WireGuard server interface the clients connect through.
    type: str
    default: wg0
  protocol:
    description: The routing protocol number that marks the collection's ip rules and routes.
    type: int
    default: 233
  config_dir:
    description: Where wg-quick configurations live (read non-recursively).
    type: path
    default: /etc/wireguard
  persist_dir:
    description: Where the collection keeps its boot files (C(ipset/), C(iptables/), C(route/)).
    type: path
    default: /etc/wgsplit
  resolver_config:
    description: The resolver's configuration file.
    type: path
    default: /etc/wgsplit/resolver/dnsmasq.conf
  resolver_unit:
    description: The resolver's systemd unit; a socket owner in its cgroup is reported as C(ours).
    type: str
    default: wgsplit-resolver.service
  dns_port:
    description: The port whose listeners are reported.
    type: int
    default: 53
  recheck:
    description:
      - Read again the calls the last M(wgsplit.gateway.split_pending) reading kept (its I(remember)), right after
        this module's own reading and sharing its commands, and return what each would change as I(recheck).
      - The collection's C(split_plan) action asks for it, and reads with M(wgsplit.gateway.split_pending) only the
        calls it plans differently from those read here (by I(recheck)'s digests).
    type: bool
    default: false
notes:
  - Requires iproute2 with JSON output (C(ip -j)). C(wg), C(ipset) and C(systemctl) are used when present.
  - The sockets are those of the network namespace the module runs in; their owners are found among
    all processes by the socket's inode.
seealso:
  - module: wgsplit.gateway.policy_route
  - module: wgsplit.gateway.wg_upstream
'''

EXAMPLES = r'''
- name: Read the gateway's state
  wgsplit.gateway.split_info:
  register: gateway

- name: Refuse when something else answers DNS on the server's addresses
  ansible.builtin.assert:
    that: gateway.listeners | rejectattr('ours') | rejectattr('address', 'in', ['127.0.0.1', '::1']) | list == []

- name: The same for another server interface and a non-default protocol number
  wgsplit.gateway.split_info:
    server_interface: wg1
    protocol: 234
'''

RETURN = r'''
server:
  description: The server interface.
  returned: always
  type: dict
  contains:
    name:
      description: The interface name.
      type: str
      sample: wg0
    exists:
      description: Whether the interface exists.
      type: bool
      sample: true
    addresses:
      description: The interface's addresses of scope global, as address/prefixlen, in the order C(ip) lists them.
      type: list
      elements: str
      sample: ["10.8.0.1/24", "fdcc::1/64"]
    peers:
      description:
        - The WireGuard peers sorted by public key; their allowed IPs as networks, IPv4 first, sorted.
        - C(null) when the interface is missing, is not WireGuard, or C(wg) is not installed.
      type: list
      elements: dict
      sample: [{"public_key": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", "allowed_ips": ["10.8.0.2/32", "fdcc::2/128"]}]
ipsets:
  description: The kernel's ipsets.
  returned: always
  type: dict
  contains:
    names:
      description: Every set in the kernel, sorted (empty when C(ipset) is not installed).
      type: list
      elements: str
      sample: ["f2b-sshd", "wgs-alice-p4"]
    persisted:
      description: The sets with a boot file C(PERSIST_DIR/ipset/NAME.save), sorted.
      type: list
      elements: str
      sample: ["wgs-alice-p4"]
    entries:
      description: The number of entries of each set with a boot file (what the resolver or the modules put in).
      type: dict
      sample: {"wgs-alice-p4": 12}
    counters:
      description:
        - Of each set with a boot file whose members count (C(counters)), the bytes each member counted; the
          collection's accounting sets (what each split client sent and received through its upstream and
          direct).
      type: dict
      sample: {"wgs-A-sent-up4": {"10.8.0.2,wg-up-1": 5120}}
    max_sets:
      description:
        - The ip_set module's C(max_sets) parameter.
        - C(null) when the module is not loaded or the parameter is 0 (unset, the kernel's built-in limit,
          normally 256, applies).
      type: int
      sample: 256
chains:
  description: The chains with a boot file C(PERSIST_DIR/iptables/TABLE.CHAIN.FAMILY.rules), sorted.
  returned: always
  type: list
  elements: dict
  sample: [{"table": "mangle", "chain": "WGSPLIT", "family": "inet"}]
kernel_chains:
  description:
    - The chains that are not built in, of the raw, mangle, nat and filter tables (C(iptables-save) and
      C(ip6tables-save)), whoever made them, sorted; a planned chain found here without a boot file is
      another program's. Empty where iptables is not installed.
  returned: always
  type: list
  elements: dict
  sample: [{"table": "filter", "chain": "DOCKER", "family": "inet"}]
routing:
  description:
    - Per family, the sorted routing table numbers that hold an ip rule or a route of I(protocol), or
      have a boot file C(PERSIST_DIR/route/table-N.FAMILY.batch).
    - Routes of the main table and rules without a table (say C(unreachable)) are not counted.
  returned: always
  type: dict
  contains:
    inet:
      description: IPv4 tables.
      type: list
      elements: int
      sample: [51001, 51002]
    inet6:
      description: IPv6 tables.
      type: list
      elements: int
      sample: [51001]
wireguard:
  description: wg-quick configurations, interfaces and units.
  returned: always
  type: dict
  contains:
    configs:
      description:
        - Every C(*.conf) in I(config_dir), sorted by name; C(owned) when its first line is the marker
          the collection writes.
      type: list
      elements: dict
      sample: [{"name": "wg-up-1", "path": "/etc/wireguard/wg-up-1.conf", "owned": true}]
    links:
      description: The names of every network interface, sorted.
      type: list
      elements: str
      sample: ["eth0", "lo", "wg-up-1", "wg0"]
    tunnels:
      description:
        - The live state of the interface of each configuration the collection wrote (C(owned)), by name - whether
          it exists and is up, its peer's latest handshake (epoch seconds, C(null) when never) and its age in
          seconds on the host's clock, and the bytes received and sent through it.
      type: list
      elements: dict
      sample: [{"name": "wg-up-1", "exists": true, "up": true, "latest_handshake": 1795000000, "handshake_age": 42,
                "rx_bytes": 1048576, "tx_bytes": 524288}]
    units_enabled:
      description:
        - The configuration names whose C(wg-quick@NAME.service) is enabled, sorted.
        - Empty when C(systemctl) is not installed.
      type: list
      elements: str
      sample: ["wg-up-1"]
nftables:
  description:
    - The table C(inet wgsplit) of the nftables backend (its lines of C(nft -t list ruleset inet), and C(nft -j -i) listings of
      the sets that fill or count); all false and empty without C(nft).
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the table exists.
      type: bool
    owned:
      description: Whether it carries the collection's comment C(wgsplit.gateway) (only then is it the collection's).
      type: bool
    sets:
      description: Its named sets, sorted.
      type: list
      elements: str
    entries:
      description: The number of elements of each set that fills or counts, not of a rule list's interval set (only of a table of the collection's).
      type: dict
    counters:
      description: Of each set whose elements count, the bytes per element, written as ipset writes members.
      type: dict
  sample: {"exists": true, "owned": true, "sets": ["wgs-A-sent-direct4", "wgs-alice-p4"], "entries": {"wgs-alice-p4": 3,
           "wgs-A-sent-direct4": 1}, "counters": {"wgs-A-sent-direct4": {"10.8.0.2": 5120}}}
kept_clients:
  description:
    - The clients kept on the gateway (C(playbooks/client.yml)), by name, each with the text of its file
      C(PERSIST_DIR/clients/NAME.json).
  returned: always
  type: dict
  sample: {"dave": "{\"address\": [\"10.8.0.5\"], \"name\": \"dave\", \"upstream\": \"us\"}"}
metrics:
  description: The metrics exporter (C(wgsplit-metrics.timer)), as the collection wrote it.
  returned: always
  type: dict
  contains:
    files:
      description: Its program, configuration and units, by path, each with its C(text) and C(mode) (C(null) when missing).
      type: dict
      sample: {"/etc/wgsplit/metrics/config.json": {"text": "{...}", "mode": "0644"}}
    textfile:
      description: Where the configuration in place writes the metrics (C(null) without one).
      type: str
      sample: /var/lib/prometheus/node-exporter/wgsplit.prom
    timer_enabled:
      description: Whether C(wgsplit-metrics.timer) is enabled.
      type: bool
    timer_active:
      description: Whether C(wgsplit-metrics.timer) is active.
      type: bool
resolver:
  description: The resolver.
  returned: always
  type: dict
  contains:
    config:
      description: The text of I(resolver_config); C(null) when it does not exist.
      type: str
      sample: "interface=wg0\nbind-dynamic\n"
    config_mode:
      description: The permission bits of I(resolver_config) in octal; C(null) when it does not exist.
      type: str
      sample: "0600"
    config_dir_mode:
      description: The permission bits of the directory of I(resolver_config); C(null) when it does not exist.
      type: str
      sample: "0700"
    unit:
      description: The text of C(/etc/systemd/system/RESOLVER_UNIT); C(null) when it does not exist.
      type: str
    unit_exists:
      description: Whether C(/etc/systemd/system/RESOLVER_UNIT) exists.
      type: bool
      sample: true
    enabled:
      description: Whether the unit is enabled (C(false) when C(systemctl) is not installed).
      type: bool
      sample: true
    active:
      description: Whether the unit is active (C(false) when C(systemctl) is not installed).
      type: bool
      sample: true
    backs:
      description: The back resolvers' configurations (C(back-N.conf) beside I(resolver_config)) by path, each
        with its C(text) and C(mode).
      type: dict
      sample: {"/etc/wgsplit/resolver/back-1.conf": {"text": "listen-address=127.53.0.1\n", "mode": "0600"}}
    back_unit:
      description: The text of C(/etc/systemd/system/wgsplit-resolver-back@.service); C(null) when it does not exist.
      type: str
    journal:
      description:
        - The text of C(previous.lines) beside I(resolver_config); C(null) when it does not exist.
        - Role C(dnsmasq_split) writes the table the resolvers served there before it changes any of their files, and
          removes it at its end; found, it tells of a run that stopped before its end.
      type: str
    backs_active:
      description:
        - The instances of C(wgsplit-resolver-back@.service) that run, by unit name, restarting after a failure
          included.
      type: list
      elements: str
      sample: [wgsplit-resolver-back@1.service]
    backs_enabled:
      description:
        - The instances of C(wgsplit-resolver-back@.service) enabled at boot, by unit name (their links in
          C(/etc/systemd/system/multi-user.target.wants) to the collection's template).
      type: list
      elements: str
      sample: [wgsplit-resolver-back@1.service]
missing_packages:
  description:
    - The Debian packages whose commands the collection runs and that are not installed (by the
      command's absence from the search path), sorted. Empty on a host ready for the roles.
  returned: always
  type: list
  elements: str
  sample: [dnsmasq-base]
listeners:
  description:
    - Every TCP socket listening on, and every unconnected UDP socket bound to, I(dns_port), loopback
      included, sorted by protocol, address family, address and process id.
    - C(pid) and C(process) are C(null) when no process holds the socket, or when its descriptors cannot be
      read (a process that dropped its privileges, seen by a root without C(CAP_SYS_PTRACE), as in a container).
    - C(ours) is true when the process runs in I(resolver_unit)'s cgroup or a back resolver's; for an unreadable
      owner, when that unit is active and the socket is on one of the server interface's addresses (the resolver
      binds exactly those, and nothing else can listen there while it runs), or when it is on C(127.53.0.N) and
      back resolver N is active.
  returned: always
  type: list
  elements: dict
  sample:
    - {"protocol": "udp", "address": "10.8.0.1", "port": 53, "pid": 612, "process": "dnsmasq", "ours": true}
    - {"protocol": "tcp", "address": "127.0.0.53", "port": 53, "pid": 388, "process": "systemd-resolve", "ours": false}
kept_reading:
  description: Whether the directory of the calls a M(wgsplit.gateway.split_pending) reading kept is on the host (its I(remember)).
  returned: always
  type: bool
recheck:
  description:
    - For each call kept, by name, I(digest) (of its name, module and arguments, keys included) and I(pending), the
      reasons it would change the gateway (empty when it would not), as M(wgsplit.gateway.split_pending) reads them.
  returned: with I(recheck), when calls are kept and no command the collection runs is missing
  type: dict
  sample: {"wg_upstream": {"digest": "5f0c...", "pending": []}, "split_client.chains": {"digest": "9a1e...", "pending": ["the kernel differs"]}}
'''

import ipaddress
import json
import os
import re
import sys
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import (
    COLLECTION_TABLE, interval_set, listed_objects, table_owned, terse_listing)
from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import (
    parse_all_counters, parse_set_headers, read_nft_sets, read_tunnels)
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    LEGACY_BOOT_FAMILIES, METRICS_CONFIG, METRICS_EXPORTER, METRICS_TIMER, METRICS_UNIT, Commands, PERSIST_DIR,
    RESOLVER_BACK_NETWORK, RESOLVER_BACK_PREFIX, RESOLVER_BACK_SUFFIX, RESOLVER_BACK_TEMPLATE, RESOLVER_CONFIG, RESOLVER_JOURNAL,
    RESOLVER_UNIT, ROUTE_PROTOCOL, STOPPED, UNIT_DIR, linked_instances, owned_wireguard_config, read_text, unit_instance, unit_instance_prefix)
from ansible_collections.wgsplit.gateway.plugins.module_utils.pending import KEPT_DIR, Remembering, read_kept

FAMILIES = (('inet', '-4'), ('inet6', '-6'))
CHAIN_FILE = re.compile(r'^([a-z]+)\.([A-Za-z0-9_-]+)\.(inet|inet6|ipv4|ipv6)\.rules$')
# Boot files written by earlier builds named the family ipv4/ipv6 (mangle_mark removes them on its next run).
LEGACY_FAMILIES = dict((legacy, family) for family, legacy in LEGACY_BOOT_FAMILIES.items())
ROUTE_FILE = re.compile(r'^table-([0-9]+)\.(inet|inet6)\.batch$')
SOCKET_LINK = re.compile(r'^socket:\[([0-9]+)\]$')
# /proc/net files and the state a socket that accepts DNS queries is in: TCP_LISTEN, and TCP_CLOSE for
# UDP (an unconnected UDP socket; a connected one is ESTABLISHED and is a client, not a listener).
PROC_NET = (('tcp', '/proc/net/tcp', '0A'), ('tcp', '/proc/net/tcp6', '0A'),
            ('udp', '/proc/net/udp', '07'), ('udp', '/proc/net/udp6', '07'))
MAX_SETS_PATH = '/sys/module/ip_set/parameters/max_sets'
# The Debian packages of the commands the collection runs on the host.
PACKAGES = (('wg', 'wireguard-tools'), ('wg-quick', 'wireguard-tools'), ('wireguard-go', 'wireguard-go'),
            ('ip', 'iproute2'), ('ipset', 'ipset'), ('iptables-restore', 'iptables'),
            ('ip6tables-restore', 'iptables'), ('dnsmasq', 'dnsmasq-base'), ('nft', 'nftables'))
NO_IPV6 = 'Address family not supported'


# Pure parsers: text or JSON in, plain values out (unit-tested without a kernel). Reading comes after.

def parse_wg_dump(text):
    """Peers of `wg show NAME dump`: the first line is the interface, each further line a peer."""
    peers = []
    for line in text.splitlines()[1:]:
        fields = line.split('\t')
        if len(fields) < 4:
            continue
        allowed = [value for value in fields[3].split(',') if value and value != '(none)']
        peers.append(dict(public_key=fields[0], allowed_ips=canonical_networks(allowed)))
    # wireguard-go lists peers in no stable order.
    return sorted(peers, key=lambda peer: peer['public_key'])


def canonical_networks(values):
    """Networks as ipaddress prints them, IPv4 first, each family sorted."""
    networks = set(ipaddress.ip_network(value, strict=False) for value in values)
    return [str(network) for network in sorted(networks, key=lambda network: (network.version, network))]


def global_addresses(entries):
    """address/prefixlen of the addresses of scope global in `ip -j addr show` output."""
    return ['%s/%s' % (info['local'], info['prefixlen'])
            for entry in entries for info in entry.get('addr_info', []) if info.get('scope') == 'global']


def decode_address(text, byteorder=sys.byteorder):
    """An address of /proc/net/{tcp,udp}[6]: hex of 32-bit words, each in the host's byte order."""
    raw = bytes.fromhex(text)
    if byteorder == 'little':
        raw = b''.join(raw[index:index + 4][::-1] for index in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw))


def parse_proc_net(text, state, port, byteorder=sys.byteorder):
    """(address, port, inode) of each socket in `state` bound to `port`, from a /proc/net file."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != state:
            continue
        address, hex_port = fields[1].split(':')
        if int(hex_port, 16) == port:
            sockets.append((decode_address(address, byteorder), port, int(fields[9])))
    return sockets


def parse_max_sets(text):
    """The ip_set max_sets parameter; None when unknown or 0 (unset: the built-in limit applies)."""
    text = (text or '').strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def socket_inode(link):
    """The inode of a /proc/PID/fd link to a socket ('socket:[123]'), else None."""
    match = SOCKET_LINK.match(link)
    return int(match.group(1)) if match else None


def in_unit(cgroup_text, unit):
    """Whether /proc/PID/cgroup puts the process in (a cgroup under) the unit."""
    for line in (cgroup_text or '').splitlines():
        if unit in line.split(':', 2)[-1].split('/'):
            return True
    return False


def in_instance(cgroup_text, template):
    """Whether /proc/PID/cgroup puts the process in an instance of the template unit."""
    prefix = unit_instance_prefix(template)
    return any(part.startswith(prefix) and part.endswith('.service')
               for line in (cgroup_text or '').splitlines() for part in line.split(':', 2)[-1].split('/'))


def rule_tables(entries, protocol):
    """Tables looked up by the rules of `ip -N -j rule show` that carry the protocol."""
    return set(int(entry['table']) for entry in entries
               if entry.get('protocol') == str(protocol) and str(entry.get('table', '')).isdigit())


def route_tables(entries):
    """Tables of `ip -N -j route show table all proto P` routes; routes of the main table name none."""
    return set(int(entry['table']) for entry in entries if str(entry.get('table', '')).isdigit())


def boot_tables(file_names):
    """{family: tables} named by the boot files table-N.FAMILY.batch."""
    tables = {'inet': set(), 'inet6': set()}
    for name in file_names:
        match = ROUTE_FILE.match(name)
        if match:
            tables[match.group(2)].add(int(match.group(1)))
    return tables


def declared_chains(save_text, family):
    """{table, chain, family} of each chain that `iptables-save` declares and that is not built in."""
    chains, table = [], None
    for line in save_text.splitlines():
        if line.startswith('*'):
            table = line[1:].strip()
        elif line.startswith(':') and table:
            name, policy = (line[1:].split() + ['', ''])[:2]
            if policy == '-':  # built-in chains have a policy (ACCEPT, DROP), user chains '-'
                chains.append(dict(table=table, chain=name, family=family))
    return chains


def boot_chains(file_names):
    """{table, chain, family} of each boot file TABLE.CHAIN.FAMILY.rules (once, whichever version named it)."""
    found = set()
    for name in file_names:
        match = CHAIN_FILE.match(name)
        if match:
            found.add((match.group(1), match.group(2), LEGACY_FAMILIES.get(match.group(3), match.group(3))))
    return [dict(table=table, chain=chain, family=family) for table, chain, family in sorted(found)]


def boot_sets(file_names):
    """Set names of the boot files NAME.save (the writer's hidden temporary files excluded)."""
    return sorted(name[:-len('.save')] for name in file_names if name.endswith('.save') and not name.startswith('.'))


class SplitInfo:
    """Reads each part of the state; nothing here writes."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.cmd = Commands(module)

    def has(self, command):
        return self.module.get_bin_path(command) is not None

    def ip_json(self, flag, argv):
        # A host without IPv6 refuses -6 queries; it has no IPv6 rules or routes to report.
        return self.cmd.json(['ip', flag] + argv, missing=NO_IPV6 if flag == '-6' else None)

    def read(self):
        entries = self.cmd.json(['ip', '-j', 'link', 'show'])
        links = sorted(entry['ifname'] for entry in entries)
        server, resolver = self.server(links), self.resolver()
        wireguard = self.wireguard(links)
        wireguard['tunnels'] = self.tunnels(wireguard['configs'], entries)
        return dict(server=server, ipsets=self.ipsets(), chains=self.chains(), kernel_chains=self.kernel_chains(),
                    routing=self.routing(), wireguard=wireguard, resolver=resolver, metrics=self.metrics(),
                    kept_clients=self.kept_clients(), nftables=self.nftables(),
                    listeners=self.listeners(server, resolver), missing_packages=self.missing_packages())

    def tunnels(self, configs, links):
        """The live state of each interface of a wg-quick configuration the collection wrote (status, metrics)."""
        names = [config['name'] for config in configs if config['owned']]
        has_wg = self.has('wg')

        def run(argv):  # without wg, nothing is read of a tunnel but its link
            return tuple(self.cmd.run(argv, check=False)[:2]) if has_wg else (127, '')
        tunnels = read_tunnels(names, links, int(time.time()), run)
        return [tunnels[name] for name in names]

    def missing_packages(self):
        return sorted(set(package for command, package in PACKAGES if not self.has(command)))

    def server(self, links):
        name = self.params['server_interface']
        if name not in links:
            return dict(name=name, exists=False, addresses=[], peers=None)
        addresses = global_addresses(self.cmd.json(['ip', '-j', 'addr', 'show', 'dev', name]))
        peers = None
        if self.has('wg'):
            rc, out, err = self.cmd.run(['wg', 'show', name, 'dump'], check=False)
            peers = parse_wg_dump(out) if rc == 0 else None
        return dict(name=name, exists=True, addresses=addresses, peers=peers)

    def ipsets(self):
        headers = {}
        if self.has('ipset'):
            headers = parse_set_headers(self.cmd.run(['ipset', 'list', '-t'])[1])
        persisted = boot_sets(list_dir(self.persist_path('ipset')))
        owned = [name for name in persisted if name in headers]
        counted = [name for name in owned if headers[name]['counters']]
        # One save of every set, not one per set: the reading of the sets call kept runs the same command.
        saved = parse_all_counters(self.cmd.run(['ipset', 'save'])[1]) if counted else {}
        return dict(names=sorted(headers), persisted=persisted, max_sets=parse_max_sets(read_text(MAX_SETS_PATH)),
                    entries=dict((name, headers[name]['entries']) for name in owned),
                    counters=dict((name, saved.get(name, {})) for name in counted))

    def nftables(self):
        listing, sets = None, {}
        if self.has('nft'):
            listing = terse_listing(self.cmd.run, COLLECTION_TABLE)[2]
        declared = listed_objects(listing)['set']
        if table_owned(listing):  # each set's element count and counters (status, metrics)
            sets = self.nft_sets(declared)
        return dict(exists=listing is not None, owned=table_owned(listing), sets=sorted(declared),
                    entries=dict((name, item['entries']) for name, item in sets.items()),
                    counters=dict((name, item['counters']) for name, item in sets.items() if item['counters']))

    def nft_sets(self, declared):
        """{name: {entries, counters}} of the table's sets that fill or count (not a rule list's interval set)."""
        return read_nft_sets(COLLECTION_TABLE, sorted(name for name, lines in declared.items() if not interval_set(lines)),
                             lambda argv, data: self.cmd.run(argv, data=data, check=False)[:2])

    def chains(self):
        return boot_chains(list_dir(self.persist_path('iptables')))

    def kernel_chains(self):
        chains = []
        for command, family in (('iptables-save', 'inet'), ('ip6tables-save', 'inet6')):
            if self.has(command):
                for table in ('raw', 'mangle', 'nat', 'filter'):
                    chains += declared_chains(self.cmd.run([command, '-t', table])[1], family)
        return sorted(chains, key=lambda chain: (chain['table'], chain['chain'], chain['family']))

    def routing(self):
        protocol = self.params['protocol']
        tables = boot_tables(list_dir(self.persist_path('route')))
        for family, flag in FAMILIES:
            tables[family] |= rule_tables(self.ip_json(flag, ['-N', '-j', 'rule', 'show']), protocol)
            tables[family] |= route_tables(self.ip_json(flag, ['-N', '-j', 'route', 'show', 'table', 'all',
                                                               'proto', str(protocol)]))
        return dict((family, sorted(numbers)) for family, numbers in tables.items())

    def wireguard(self, links):
        directory = self.params['config_dir']
        configs = []
        for file_name in list_dir(directory):
            path = os.path.join(directory, file_name)
            if file_name.endswith('.conf') and os.path.isfile(path):
                configs.append(dict(name=file_name[:-len('.conf')], path=path, owned=owned_wireguard_config(read_text(path))))
        enabled = []
        if self.has('systemctl'):
            enabled = [config['name'] for config in configs
                       if self.systemctl('is-enabled', 'wg-quick@%s.service' % config['name'])]
        return dict(configs=configs, links=links, units_enabled=sorted(enabled))

    def resolver(self):
        unit, config = self.params['resolver_unit'], self.params['resolver_config']
        unit_text = read_text(os.path.join(UNIT_DIR, unit))
        directory = os.path.dirname(config)
        backs = dict((path, dict(text=read_text(path), mode=file_mode(path)))
                     for path in [os.path.join(directory, name) for name in list_dir(directory)
                                  if name.startswith(RESOLVER_BACK_PREFIX) and name.endswith(RESOLVER_BACK_SUFFIX)])
        systemctl = self.has('systemctl')
        return dict(config=read_text(config), config_mode=file_mode(config), config_dir_mode=file_mode(directory),
                    unit=unit_text, unit_exists=unit_text is not None,
                    enabled=systemctl and self.systemctl('is-enabled', unit),
                    active=systemctl and self.systemctl('is-active', unit),
                    backs=backs, back_unit=read_text(os.path.join(UNIT_DIR, RESOLVER_BACK_TEMPLATE)),
                    journal=read_text(os.path.join(directory, RESOLVER_JOURNAL)),
                    backs_active=self.running_instances(RESOLVER_BACK_TEMPLATE) if systemctl else [],
                    backs_enabled=linked_instances(os.path.join(UNIT_DIR, RESOLVER_BACK_TEMPLATE)))

    def running_instances(self, template):
        """The instances of a template unit that run, by name: active, starting, stopping, or restarting after a
        failure (systemd starts that one again unless it is stopped)."""
        prefix = unit_instance_prefix(template)
        output = self.cmd.run(['systemctl', 'list-units', '--all', '--plain', '--no-legend', '--no-pager',
                               unit_instance(template, '*')], check=False)[1]
        rows = [line.split() for line in output.splitlines()]  # unit, load, active, sub, description
        return sorted(row[0] for row in rows if len(row) > 2 and row[0].startswith(prefix) and row[2] not in STOPPED)

    def kept_clients(self):
        """{name: text} of the clients kept on the gateway (playbooks/client.yml): PERSIST_DIR/clients/NAME.json."""
        directory = self.persist_path('clients')
        return dict((file_name[:-len('.json')], read_text(os.path.join(directory, file_name)))
                    for file_name in list_dir(directory) if file_name.endswith('.json') and not file_name.startswith('.'))

    def metrics(self):
        """The metrics exporter's files as the collection wrote them (text and mode), where its configuration sends
        the metrics, and its timer's state."""
        paths = (METRICS_EXPORTER, METRICS_CONFIG, os.path.join(UNIT_DIR, METRICS_UNIT), os.path.join(UNIT_DIR, METRICS_TIMER))
        files = dict((path, dict(text=read_text(path), mode=file_mode(path))) for path in paths)
        try:
            textfile = json.loads(files[METRICS_CONFIG]['text'] or '{}').get('textfile')
        except (ValueError, AttributeError):
            textfile = None
        systemctl = self.has('systemctl')
        return dict(files=files, textfile=textfile if isinstance(textfile, str) else None,
                    timer_enabled=systemctl and self.systemctl('is-enabled', METRICS_TIMER),
                    timer_active=systemctl and self.systemctl('is-active', METRICS_TIMER))

    def systemctl(self, verb, unit):
        return self.cmd.run(['systemctl', verb, '--quiet', unit], check=False)[0] == 0

    def listeners(self, server, resolver):
        port = self.params['dns_port']
        found = []
        for protocol, path, state in PROC_NET:
            found += [(protocol, address, number, inode)
                      for address, number, inode in parse_proc_net(read_text(path) or '', state, port)]
        owners = socket_owners(set(entry[3] for entry in found if entry[3]))
        listeners = []
        for protocol, address, number, inode in found:
            pid = owners.get(inode)
            if pid:
                cgroup = read_text('/proc/%d/cgroup' % pid)
                ours = in_unit(cgroup, self.params['resolver_unit']) or in_instance(cgroup, RESOLVER_BACK_TEMPLATE)
            else:
                # The owner's descriptors are not readable (a process that dropped its privileges, seen from a
                # root without CAP_SYS_PTRACE, as in a container). The resolver binds exactly the server
                # interface's addresses, and no other program can listen on one of those while it runs; back
                # resolver N exactly 127.53.0.N while its unit runs.
                ours = ((resolver['active'] and address in server_addresses(server)) or
                        (address.startswith(RESOLVER_BACK_NETWORK) and unit_instance(
                            RESOLVER_BACK_TEMPLATE, address[len(RESOLVER_BACK_NETWORK):]) in resolver['backs_active']))
            listeners.append(dict(protocol=protocol, address=address, port=number, pid=pid,
                                  process=process_name(pid) if pid else None, ours=ours))
        return sorted(listeners, key=listener_order)

    def persist_path(self, kind):
        return os.path.join(self.params['persist_dir'], kind)


def file_mode(path):
    """'0600' and the like, or None when the path does not exist."""
    try:
        return '%04o' % (os.stat(path).st_mode & 0o7777)
    except OSError:
        return None


def list_dir(path):
    """File names in a directory; a missing or unreadable one has none."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def socket_owners(inodes):
    """{inode: pid} for the sockets of `inodes`, the lowest pid holding each (forked children share it)."""
    owners = {}
    if not inodes:
        return owners
    for pid in sorted(int(name) for name in list_dir('/proc') if name.isdigit()):
        fd_dir = '/proc/%d/fd' % pid
        for fd in list_dir(fd_dir):
            try:
                inode = socket_inode(os.readlink(os.path.join(fd_dir, fd)))
            except OSError:  # the process or descriptor went away while we looked
                continue
            if inode in inodes and inode not in owners:
                owners[inode] = pid
        if len(owners) == len(inodes):
            break
    return owners


def server_addresses(server):
    """The server interface's addresses without their prefix length."""
    return set(value.split('/')[0] for value in server['addresses'])


def process_name(pid):
    """The command name of a process (None when it has gone)."""
    return (read_text('/proc/%d/comm' % pid) or '').strip() or None


def listener_order(entry):
    address = ipaddress.ip_address(entry['address'])
    return (entry['protocol'], address.version, address, entry['pid'] or 0)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            server_interface=dict(type='str', default='wg0'),
            protocol=dict(type='int', default=ROUTE_PROTOCOL),
            config_dir=dict(type='path', default='/etc/wireguard'),
            persist_dir=dict(type='path', default=PERSIST_DIR),
            resolver_config=dict(type='path', default=RESOLVER_CONFIG),
            resolver_unit=dict(type='str', default=RESOLVER_UNIT),
            dns_port=dict(type='int', default=53),
            recheck=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    reads = {}
    found = dict(SplitInfo(Remembering(module, reads)).read(), kept_reading=os.path.lexists(KEPT_DIR))
    # After the state is read, in the same round trip (calls planned the same need no second one), from the same
    # outputs where a command is the same.
    recheck = read_kept(module, reads) if module.params['recheck'] and not found['missing_packages'] else None
    if recheck is not None:
        found['recheck'] = recheck
    module.exit_json(changed=False, **found)


if __name__ == '__main__':
    main()
