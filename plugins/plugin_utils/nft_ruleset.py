# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nftables backend (wgsplit_backend: nftables): the whole data path in one table of the collection's own,
`inet wgsplit`, rendered from the plan's canonical values (module nft_table applies it in one transaction).

The same marks, refusal table and resolver as the iptables backend (docs/architecture.md), classified with constant
work per new connection whatever the number of clients:
* raw prerouting: every packet of the server interface "not classified" (all of M);
* mangle prerouting: a connection's mark restored from its connection mark by a verdict map; an unknown one (an
  upstream removed) stays "not classified"; replies and the server's networks direct; then a verdict map on the
  source address sends the packet to its client's chain, which matches interval sets (CIDR rules) and the resolver's
  sets, most decisive first (direct, then proxy, then the default); each mark chain sets the packet's and the
  connection's mark;
* forward: a packet with an upstream's mark or "not classified" leaves by an upstream or is refused (the guard),
  then byte counting;
* output: the gateway's own packets to an upstream's resolvers leave by an upstream or are refused (the guard);
* nat: DNS redirect and masquerade out of the upstreams; filter: encrypted DNS refused (when asked).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import family
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import COLLECTION_TABLE as TABLE
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import element_text
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.network_sets import merged
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.settings import ENCRYPTED_DNS_PORT, INTERFACE_PREFIX

SET_TYPES = {4: 'ipv4_addr', 6: 'ipv6_addr'}
MATCH = {4: 'ip', 6: 'ip6'}


def mark_chain_name(kind, upstream):
    return '%s-%s' % (kind, 'direct' if upstream is None else 'up-%d' % upstream['id'])


def set_mark(key, marks, value):
    return '%s mark set %s mark & 0x%08x | 0x%08x' % (key, key, ~marks.mask & 0xffffffff, value)


def counted_element(member):
    """An accounting set's member as nft writes it: `10.8.0.2,wg-up-1` (ipset) is `10.8.0.2 . "wg-up-1"`."""
    address, _comma, interface = member.partition(',')
    return element_text(address, interface or None)


def anonymous(values):
    return '{ %s }' % ', '.join(values)


class Ruleset(object):
    """The table's definition, sets and fallback for a Planner (plugin_utils/plan.py)."""

    def __init__(self, planner):
        self.planner = planner
        self.marks = planner.marks
        self.interface = '"%s"' % planner.settings['server_interface']

    def mark_chains(self):
        """Per path (direct, each upstream): one chain setting packet and connection mark, one restoring."""
        lines = []
        for upstream in [None] + self.planner.enabled_upstreams():
            value = self.marks.direct if upstream is None else upstream['mark']
            marks = (set_mark('meta', self.marks, value), set_mark('ct', self.marks, value))
            lines.append('chain %s { %s; %s; }' % ((mark_chain_name('mark', upstream),) + marks))
            lines.append('chain %s { %s; }' % (mark_chain_name('restore', upstream), set_mark('meta', self.marks, value)))
        return lines

    def client_chain(self, client):
        """Most decisive first, each a goto: direct CIDRs and names, proxy CIDRs and names, then the default (as the
        iptables chain, where every rule marks and the last wins). DNS left "not classified" is returned before
        (classify_chain)."""
        owner = self.planner.owners[client['owner']]
        rules = []
        for action in ('direct', 'proxy'):
            target = mark_chain_name('mark', None if action == 'direct' else client['upstream'])
            for version in client['families']:
                # Its own networks (an anonymous interval set), its lists' (a named one, shared by the clients of the
                # same lists), its domains' addresses (the resolver's set).
                own = merged(client['rules'], action, version)
                if own:
                    rules.append('%s daddr %s goto %s' % (MATCH[version], anonymous(own), target))
                for name in (self.planner.network_sets.name(client, action, version), owner['sets'].get((action, version))):
                    if name:
                        rules.append('%s daddr @%s goto %s' % (MATCH[version], name, target))
        default = None if client['default_action'] == 'direct' else client['upstream']
        rules.append('goto %s' % mark_chain_name('mark', default))
        return ['chain client-%s {' % client['name']] + ['  ' + rule for rule in rules] + ['}']

    def classify_chain(self):
        mask = '0x%08x' % self.marks.mask
        restore = ['0x%08x : goto %s' % (self.marks.direct, mark_chain_name('restore', None))]
        restore += ['0x%08x : goto %s' % (upstream['mark'], mark_chain_name('restore', upstream))
                    for upstream in self.planner.enabled_upstreams()]
        rules = ['type filter hook prerouting priority mangle; policy accept;',
                 'iifname != %s return' % self.interface,
                 'ct mark & %s vmap %s' % (mask, anonymous(restore)),
                 # A connection mark no path restores (its upstream removed): "not classified", refused (set here too,
                 # should the raw chain be gone).
                 'ct mark & %s != 0 meta mark set meta mark | %s return' % (mask, mask),
                 'ct direction reply goto %s' % mark_chain_name('mark', None)]
        for version in (4, 6):
            nets = [network for network in self.planner.server_networks() if family(network) == version]
            if nets:
                rules.append('%s daddr %s goto %s' % (MATCH[version], anonymous(nets), mark_chain_name('mark', None)))
        ports = self.not_classified_ports()
        for version in (4, 6):
            sources = [(address, client['name']) for client in self.planner.clients for address in client['address']
                       if family(address) == version]
            if sources:
                addresses = anonymous(address for address, _name in sources)
                if ports:
                    rules.append('meta l4proto { tcp, udp } th dport %s %s saddr %s return' % (ports, MATCH[version], addresses))
                dispatch = anonymous('%s : goto client-%s' % source for source in sources)
                rules.append('%s saddr vmap %s' % (MATCH[version], dispatch))
                # A split client the map missed (the map's rule deleted by hand) stays "not classified": refused.
                rules.append('%s saddr %s return' % (MATCH[version], addresses))
        rules.append('goto %s' % mark_chain_name('mark', None))  # no split client's source
        return ['chain classify {'] + ['  ' + rule for rule in rules] + ['}']

    def not_classified_ports(self):
        """The ports a split client's new connections to leave "not classified" (as Planner.client_chain_rules does):
        DNS when it is redirected (local once redirected, refused if the redirect is gone), encrypted DNS when it is
        refused (refused by the refusal table should the encrypted-dns chain be gone). One rule for every client, before
        the dispatch: a rule in each client's chain cost the kernel an anonymous set per client."""
        settings = self.planner.settings
        ports = (['53'] if settings['dns_redirect'] else []) + (['%d' % ENCRYPTED_DNS_PORT] if settings['block_encrypted_dns'] else [])
        return anonymous(ports) if len(ports) > 1 else ''.join(ports)

    def not_classified_chain(self):
        return ['chain not-classified {',
                '  type filter hook prerouting priority raw; policy accept;',
                '  iifname %s meta mark set meta mark | 0x%08x' % (self.interface, self.marks.mask),
                '}']

    def per_client_address(self, chain, hook, match, statement):
        """A base chain with one rule per family over the split clients' addresses (an anonymous set)."""
        rules = []
        for version in (4, 6):
            addresses = [address for client in self.planner.clients for address in client['address']
                         if family(address) == version]
            if addresses:
                rules.append('  iifname %s %s saddr %s %s %s'
                             % (self.interface, MATCH[version], anonymous(addresses), match, statement))
        return ['chain %s {' % chain, '  %s; policy accept;' % hook] + rules + ['}'] if rules else []

    def nat_chains(self):
        settings = self.planner.settings
        lines = []
        if settings['dns_redirect']:
            lines += self.per_client_address('dns-redirect', 'type nat hook prerouting priority dstnat',
                                             'meta l4proto { tcp, udp } th dport 53', 'redirect to :53')
        interfaces = ['"%s"' % upstream['interface'] for upstream in self.planner.enabled_upstreams()]
        if interfaces:
            lines += ['chain upstream-nat {', '  type nat hook postrouting priority srcnat; policy accept;',
                      '  oifname %s masquerade' % anonymous(interfaces), '}']
        if settings['block_encrypted_dns']:
            lines += self.per_client_address('encrypted-dns', 'type filter hook forward priority filter',
                                             'meta l4proto { tcp, udp } th dport %d' % ENCRYPTED_DNS_PORT, 'reject')
        return lines

    def sets(self):
        """The resolver's sets (no elements given: dnsmasq fills them), then the accounting sets (their elements
        the split clients' addresses, each with a counter)."""
        size = self.planner.settings['set_maxelem']
        learned = [dict(name=name, type=SET_TYPES[version], size=size, counter=False, elements=None)
                   for name, version in self.planner.resolver_sets()]
        counted = [dict(name=item['name'], type=SET_TYPES[4 if item['family'] == 'inet' else 6] +
                        (' . ifname' if item['type'] == 'hash:net,iface' else ''),
                        size=item['maxelem'], counter=True, elements=[counted_element(member) for member in item['members']])
                   for item in self.planner.counter_sets]
        return learned + counted

    def guard_rule(self):
        """A packet of the server interface with an upstream's bit in its mark leaves by an upstream's interface or not
        at all (as Planner.guard_rules): holds when the ip rules or routes are gone."""
        return '  iifname %s oifname != "%s*" meta mark & 0x%08x != 0x00000000 reject' % (
            self.interface, INTERFACE_PREFIX, self.marks.upstream_mask)

    def forward_chain(self, counting=True):
        """From forward, in one chain (one hook): the guard first, then the plan's accounting rules (Planner.count_rules)
        in nft: each packet of a split client looked up in the sets of its direction, through its upstream's interface
        first (only a packet by an upstream's interface: `wg-up-*`); the first that holds it counts it."""
        rules = [self.guard_rule()]
        for rule in self.planner.count_rules() if counting else []:
            own = 'iifname' if 'in_interface' in rule else 'oifname'
            keys = [('%s %saddr' % (MATCH[4 if rule['family'] == 'inet' else 6], flag[0])) if index == 0 else
                    ('oifname' if flag == 'dst' else 'iifname')
                    for index, flag in enumerate(rule['match_set_flags'].split(','))]
            words = ['%s %s' % (own, self.interface)]
            prefixes = (('iifname', 'in_interface_prefix'), ('oifname', 'out_interface_prefix'))
            words += ['%s "%s*"' % (name, rule[key]) for name, key in prefixes if key in rule]
            rules.append('  %s @%s return' % (' '.join(words + [' . '.join(keys)]), rule['match_set']))
        return ['chain forward {', '  type filter hook forward priority mangle; policy accept;'] + rules + ['}']

    def output_chain(self):
        """From output, when an upstream has resolvers: the gateway's own packets to them leave by an upstream or are
        refused (as Planner.resolver_guard_rules)."""
        rules = []
        for version in (4, 6):
            servers = [server for server in self.planner.upstream_resolvers() if family(server) == version]
            if servers:
                rules.append('  %s daddr %s oifname != "%s*" reject' % (MATCH[version], anonymous(servers), INTERFACE_PREFIX))
        return ['chain output {', '  type filter hook output priority mangle; policy accept;'] + rules + ['}'] if rules else []

    def network_sets(self):
        """The rule lists' networks, one interval set per combination of lists, action and family, declared in the
        definition: replaced with the table, as the chains that match them."""
        return ['set %s { type %s; flags interval; elements = %s; }' % (item['name'], SET_TYPES[item['version']],
                                                                        anonymous(item['networks']))
                for item in self.planner.network_sets.sets()]

    def definition(self):
        lines = self.network_sets() + self.mark_chains()
        for client in self.planner.clients:
            lines += self.client_chain(client)
        return (lines + self.classify_chain() + self.not_classified_chain() + self.nat_chains() + self.forward_chain()
                + self.output_chain())

    def call(self):
        """nft_table's arguments; the fallback, loaded at boot when the definition cannot be, refuses (every
        packet of the server interface stays "not classified")."""
        return dict(table=TABLE, sets=self.sets(), definition=self.definition(),
                    fallback=self.not_classified_chain() + self.forward_chain(counting=False) + self.output_chain())
