# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""From the checked inventory and what discovery found on the host, everything the roles apply.

Layout (docs/architecture.md has the picture), with mask M whose lowest bit is D:
* every packet from the server interface is marked "not classified yet" (all of M) in the raw table, and
  every connection is classified once in the mangle table: D (direct) or upstream N's mark
  N << (shift + 1); a packet of the server interface whose mark holds upstream bits its upstream's rule
  did not take (not classified, or that rule missing) is refused by a refusal table, never sent direct;
* upstream N: interface wg-up-N, routing table table_base + N (table_base itself refuses);
* client C: its own chain `<prefix>C` (so a fault in its objects affects only C), one set per action and
  address family it has domain rules for (`<prefix>C-p4`, ...), filled by the resolver;
* resolver: one entry per listed domain naming every set it feeds (dnsmasq uses the first line that
  matches, so the entry must already carry what each client's nearest rule says), served by the back
  resolver of its combination of sets and servers (plugin_utils/resolver.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import functools
import hashlib
import ipaddress

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import family
from ansible_collections.wgsplit.gateway.plugins.module_utils import instances
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import calls, exporter, kept_clients, resolver, rule_lists, shadowed
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import TABLE_MARKER
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import nft_ruleset
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.network_sets import NetworkSets
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.nft_ruleset import Ruleset
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.resolver import ancestors
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import ACTIONS, check_inventory, server_networks
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.settings import ENCRYPTED_DNS_PORT, INTERFACE_PREFIX

SET_NAME_MAX = 31
CHAIN_NAME_MAX = 28
FAMILIES = ((4, 'inet'), (6, 'inet6'))
# dnsmasq reads a configuration line into a buffer of this many characters and cuts longer ones in two.
RESOLVER_LINE_MAX = 1024
# The accounting sets, per address family: (direction, path, name part, set type, lookup flags). A split client's
# packet is counted once, by the first set of its direction that holds it: through its upstream when the
# packet leaves by (or came in by) the upstream's interface, else direct.
COUNTERS = (('sent', 'upstream', 'sent-up', 'hash:net,iface', 'src,dst'),
            ('sent', 'direct', 'sent-direct', 'hash:net', 'src'),
            ('received', 'upstream', 'recv-up', 'hash:net,iface', 'dst,src'),
            ('received', 'direct', 'recv-direct', 'hash:net', 'dst'))


def list_set_maxelem(maxelem, count):
    """A list set's maxelem: wgsplit_set_maxelem, or the next power of two that holds its networks (a list that grows
    by a few lines keeps its set; a new maxelem rebuilds it)."""
    while maxelem < count:
        maxelem *= 2
    return maxelem


def summed(rules, base=None):
    """({action: domains}, {rule type: count}) of `rules` added to `base` (such a pair, not changed): a client's own
    rules to its lists' (counted once per combination of lists and families: lists of 100,000 entries are shared by
    hundreds of clients, whose own rules are few)."""
    domains, counts = base or (dict((action, set()) for action in ACTIONS), dict(domain=0, ip=0))
    own = [rule for rule in rules if rule['type'] == 'domain']
    if own:
        domains = dict((action, domains[action] | set(rule['value'] for rule in own if rule['action'] == action))
                       for action in ACTIONS)
    return domains, dict(domain=counts['domain'] + len(own), ip=counts['ip'] + len(rules) - len(own))


def upstream_interface(upstream_id):
    return '%s%d' % (INTERFACE_PREFIX, upstream_id)


class Marks(object):
    """The mark layout inside the collection's mask: lowest bit direct, the bits above an upstream id."""

    def __init__(self, mask):
        shift = (mask & -mask).bit_length() - 1
        self.mask = mask
        self.direct = 1 << shift
        self.upstream_mask = mask & ~self.direct
        self.id_shift = shift + 1
        self.max_id = mask >> self.id_shift

    def upstream(self, upstream_id):
        return upstream_id << self.id_shift

    def upstream_bits(self):
        """Each bit of the upstream id field, lowest first."""
        return [1 << bit for bit in range(self.id_shift, 32) if self.upstream_mask & (1 << bit)]


class Planner(object):

    def __init__(self, checked, discovery):
        self.settings = checked['settings']
        self.discovery = discovery
        self.errors = []
        self.warnings = list(checked['warnings'])
        self.marks = Marks(self.settings['mark_mask'])
        self.prefix = self.settings['set_prefix']
        self.nftables = self.settings['backend'] == 'nftables'
        self.upstreams = self.plan_upstreams(checked['upstreams'])
        self.rule_sets = checked.get('rule_sets', {})
        self.listed = {}  # {a combination of rule lists: its enabled rules} (listed_rules)
        self.owners = []  # who owns sets: one client, or the clients that share lists (plan_clients)
        self.clients = self.plan_clients(checked['clients'])
        self.network_sets = NetworkSets(self.prefix, self.clients, self.listed_rules, ACTIONS)
        self.errors += self.network_sets.errors
        self.counter_sets = self.plan_counter_sets()

    # Upstreams ----------------------------------------------------------------------------------
    def plan_upstreams(self, upstreams):
        planned = []
        for upstream in upstreams:
            if upstream['id'] > self.marks.max_id:
                self.errors.append('upstream %r: id %d does not fit wgsplit_mark_mask %#x (at most %d)'
                                   % (upstream['name'], upstream['id'], self.marks.mask, self.marks.max_id))
                continue
            planned.append(dict(upstream, interface=upstream_interface(upstream['id']),
                                mark=self.marks.upstream(upstream['id']),
                                table=self.settings['table_base'] + upstream['id']))
        return planned

    def interface_spec(self, upstream):
        """wg_upstream module arguments for an upstream's interface (its routes go to its table only)."""
        return dict(name=upstream['interface'], private_key=upstream['private_key'], public_key=upstream['public_key'],
                    preshared_key=upstream['preshared_key'], endpoint=upstream['endpoint'],
                    addresses=upstream['address'], allowed_ips=upstream['allowed_ips'],
                    persistent_keepalive=upstream['persistent_keepalive'], mtu=upstream['mtu'],
                    table=str(upstream['table']), rp_filter=self.settings['upstream_rp_filter'])

    def enabled_upstreams(self):
        return [upstream for upstream in self.upstreams if upstream['enabled']]

    def routing(self):
        """policy_route arguments per role: for wg_upstream, per enabled upstream and family its table (the
        mark's rule, its resolvers, the kill switch); for split_client (applied once the chains that mark
        exist), the refusal table; for dnsmasq_split, the refusal table again once the resolver runs its new
        configuration, when the one before still asked resolvers that are no longer planned."""
        priority = self.settings['rule_priority']
        kill_switch = dict(to='default', type='unreachable', metric=self.settings['kill_switch_metric'])
        tables = dict(wg_upstream=[], split_client=[], dnsmasq_split=[])
        # Resolvers the running resolver may still ask for proxied names until it restarts with the new lines.
        previous = self.previous_resolvers()
        for version, inet in FAMILIES:
            resolvers = []
            for upstream in self.enabled_upstreams():
                own = [server for server in upstream['dns'] if family(server) == version]
                resolvers += own
                rules = [dict(priority=priority, fwmark=upstream['mark'], fwmask=self.marks.mask)]
                # Only the gateway's own queries (iif lo): a client's packet to that address is classified as any other.
                rules += [dict(priority=priority, iif='lo', to=server) for server in own]
                tables['wg_upstream'].append(dict(table=upstream['table'], family=inet, rules=rules, routes=[kill_switch]))
            stale = [server for server in previous if family(server) == version and server not in resolvers]
            tables['split_client'].append(self.refusal_table(inet, resolvers + stale, kill_switch))
            if stale:
                tables['dnsmasq_split'].append(self.refusal_table(inet, resolvers, kill_switch))
        return tables

    def refusal_table(self, inet, resolvers, kill_switch):
        """The refusal table of one family. A packet of the server interface with any upstream bit that its
        upstream's rule did not take (an upstream mark whose rule is gone, or the raw table's "not classified"
        mark) is refused: one rule per bit, since a rule cannot say "not zero" for one interface only; a rule
        on unmarked packets would catch the reverse-path checks of replies to the clients (they look up with
        mark 0), a rule without the interface other software's marks. The resolver's queries for proxied names
        (iif lo: the gateway's own packets, not its clients') are refused too when their upstream's rule is gone."""
        priority = self.settings['rule_priority'] + 1
        rules = [dict(priority=priority, iif=self.settings['server_interface'], fwmark=bit, fwmask=bit)
                 for bit in self.marks.upstream_bits()]
        rules += [dict(priority=priority, iif='lo', to=server) for server in resolvers]
        return dict(table=self.settings['table_base'], family=inet, rules=rules, routes=[kill_switch])

    def previous_resolvers(self):
        """The upstream resolvers the resolvers in place ask for listed domains."""
        return resolver.upstream_servers(self.in_place_lines())

    def in_place_lines(self):
        found = self.discovery.get('resolver', {})
        return resolver.in_place_lines(found.get('config'), [back['text'] or '' for back in (found.get('backs') or {}).values()],
                                       found.get('journal'))

    # Clients ------------------------------------------------------------------------------------
    def plan_clients(self, clients):
        upstreams = dict((upstream['name'], upstream) for upstream in self.upstreams)
        planned = []
        owners = {}
        lists = {}  # {a combination of rule lists: its shadowed.Lists}
        summed_lists = {}  # {(a combination of rule lists, families): its domains per action, its rules counted per type}
        dead = {}  # {what decides a client's shadowed proxy networks: (those networks, the clients' names)}
        for client in clients:
            upstream = upstreams.get(client['upstream'])
            if not client['enabled'] or not client['upstream_enabled'] or upstream is None:
                continue
            if not upstream['enabled']:
                self.warnings.append('client %r is not split: its upstream %r is disabled'
                                     % (client['name'], upstream['name']))
                continue
            families = sorted(set(family(address) for address in client['address']))
            own = [rule for rule in client['rules'] if rule['enabled']]
            combination = tuple(client['rule_sets'])
            if (combination, tuple(families)) not in summed_lists:
                summed_lists[(combination, tuple(families))] = summed(
                    [rule for rule in self.listed_rules(combination) if rule['type'] == 'domain' or family(rule['value']) in families])
            domains, counts = summed(own, summed_lists[(combination, tuple(families))])
            if combination not in lists:
                lists[combination] = shadowed.Lists(self.listed_rules(combination))
            same = (combination, tuple(families), tuple((rule['value'], rule['action']) for rule in own if rule['type'] == 'ip'))
            if same not in dead:
                dead[same] = (shadowed.shadowed(lists[combination], own, families), [])
            dead[same][1].append(client['name'])
            key = self.owner_key(client, upstream, own)
            if key not in owners:
                owners[key] = len(self.owners)
                self.owners.append(dict(base=self.owner_name(client, key), upstream=upstream, domains=domains,
                                        families=set()))
            self.owners[owners[key]]['families'].update(families)
            planned.append(dict(client, upstream=upstream, rules=own, rule_counts=counts, families=families, owner=owners[key],
                                chain=self.prefix + client['name']))
        self.warnings += [shadowed.warning(names, pairs) for pairs, names in dead.values() if pairs]
        for owner in self.owners:
            owner['families'] = sorted(owner['families'])
            owner['sets'] = dict(((action, version), '%s-%s%d' % (owner['base'], action[0], version))
                                 for action in ACTIONS if owner['domains'][action] for version in owner['families'])
        return planned

    def listed_rules(self, combination):
        """The enabled rules of a combination of rule lists (both families), gathered once: lists of 100,000 entries
        are shared by hundreds of clients."""
        combination = tuple(combination)
        if combination not in self.listed:
            self.listed[combination] = [rule for name in combination for rule in self.rule_sets[name]['rules'] if rule['enabled']]
        return self.listed[combination]

    @staticmethod
    def owner_key(client, upstream, own):
        """Clients that reference the same rule lists with the same upstream, and have no domain rule of their own,
        share their sets (the set count grows with such combinations, not with clients); others own theirs."""
        if not client['rule_sets'] or any(rule['type'] == 'domain' for rule in own):
            return ('client', client['name'])
        return ('lists', upstream['name']) + tuple(sorted(set(client['rule_sets'])))

    def owner_name(self, client, key):
        """A client's sets are named after it; shared sets after a digest of their lists and upstream (stable
        whichever clients come and go)."""
        if key[0] == 'client':
            return self.prefix + client['name']
        # An upper-case L, which no client name has: a shared set never takes a client's set name.
        return self.prefix + 'L' + hashlib.sha1('\0'.join(key[1:]).encode('utf-8')).hexdigest()[:8]

    def client_summary(self, client):
        """What status and metrics report of a split client: its upstream, addresses, sets, how many rules of each
        kind, and which member of which accounting set counts what of its traffic."""
        owner = self.owners[client['owner']]
        return dict(name=client['name'], upstream=client['upstream']['name'], address=client['address'],
                    rule_sets=client['rule_sets'], sets=sorted(name for (_action, version), name in owner['sets'].items()
                                                               if version in client['families']),
                    rules=client['rule_counts'],
                    counters=self.client_counters(client) if self.counter_sets else [])

    # Accounting ---------------------------------------------------------------------------------
    def counter_set_name(self, part, version):
        # An upper-case A, which no client name has.
        return '%sA-%s%d' % (self.prefix, part, version)

    @staticmethod
    def counter_member(client, address, path):
        return '%s,%s' % (address, client['upstream']['interface']) if path == 'upstream' else address

    def plan_counter_sets(self):
        """Per family that split clients have addresses of, the four accounting sets, their members counting bytes
        (a lookup per packet whatever the number of clients)."""
        if not self.settings['accounting']:
            return []
        sets = []
        for version, inet in FAMILIES:
            addresses = [(client, address) for client in self.clients for address in client['address']
                         if family(address) == version]
            for _direction, path, part, set_type, _flags in COUNTERS if addresses else ():
                sets.append(dict(name=self.counter_set_name(part, version), family=inet, type=set_type, counters=True,
                                 maxelem=self.settings['set_maxelem'],
                                 members=sorted(self.counter_member(client, address, path) for client, address in addresses)))
        return sets

    def client_counters(self, client):
        return [dict(set=self.counter_set_name(part, family(address)), member=self.counter_member(client, address, path),
                     direction=direction, path=path)
                for address in client['address'] for direction, path, part, _type, _flags in COUNTERS]

    def count_rules(self):
        """From FORWARD: each packet of the server interface (sent) and to it (received) looked up in the sets of
        its direction, through an upstream first (only when it leaves or came by an upstream's interface); the first
        that holds it counts it."""
        interface = self.settings['server_interface']
        names = set(item['name'] for item in self.counter_sets)
        rules = []
        for version, inet in FAMILIES:
            for direction, path, part, _type, flags in COUNTERS:
                name = self.counter_set_name(part, version)
                if name in names:
                    own, far = ('in_interface', 'out_interface') if direction == 'sent' else ('out_interface', 'in_interface')
                    rule = {own: interface, 'comment': 'wgsplit count %s %s' % (direction, path), 'family': inet,
                            'match_set': name, 'match_set_flags': flags, 'action': 'return'}
                    if path == 'upstream':
                        # Only a packet by an upstream's interface can be in its set: a direct one skips the lookup.
                        rule[far + '_prefix'] = INTERFACE_PREFIX
                    rules.append(rule)
        return rules

    def sets(self):
        """ipset_set's `sets`: the client sets (hash:ip, filled by the resolver), the rule lists' networks (hash:net,
        as large as the lists), then the accounting sets; none with the nftables backend, whose sets are in its table."""
        if self.nftables:
            return []
        settings = self.settings
        planned = [dict(name=name, family='inet' if version == 4 else 'inet6', type='hash:ip',
                        timeout=settings['learned_timeout'], maxelem=settings['set_maxelem'])
                   for name, version in self.resolver_sets()]
        planned += [dict(name=item['name'], family='inet' if item['version'] == 4 else 'inet6', type='hash:net',
                         maxelem=list_set_maxelem(settings['set_maxelem'], len(item['networks'])), members=item['networks'])
                    for item in self.network_sets.sets()]
        planned += self.counter_sets
        repeated = sorted(name for name, count in collections.Counter(item['name'] for item in planned).items() if count > 1)
        if repeated:
            self.errors.append('two planned sets have the same name: %s' % ', '.join(repeated))
        for item in planned:
            if len(item['name']) > SET_NAME_MAX:
                self.errors.append('set %s is longer than %d characters: shorten wgsplit_set_prefix or the client name'
                                   % (item['name'], SET_NAME_MAX))
        return planned

    def resolver_sets(self):
        """(name, address family) of every set the resolver fills, by name: each owner's per action and family."""
        return sorted((name, version) for owner in self.owners for (_action, version), name in owner['sets'].items())

    def client_chain_rules(self, client):
        """A client's own chain, entered (by goto) for the first packet of each connection. Every rule sets the
        mark and the last match wins: the default first, proxy matches next, direct matches last (a destination
        matched both ways goes direct), DNS left "not classified" when it is redirected, and encrypted DNS when it is
        refused. An empty or flushed chain leaves the packet "not classified": refused."""
        direct = dict(action='mark', mark=self.marks.direct, mask=self.marks.mask)
        proxy = dict(action='mark', mark=client['upstream']['mark'], mask=self.marks.mask)
        label = 'wgsplit %s' % client['name']
        default = proxy if client['default_action'] == 'proxy' else direct
        rules = [dict(default, comment='%s %s by default' % (label, client['default_action']))]
        for action, target in (('proxy', proxy), ('direct', direct)):
            for rule in client['rules']:
                if rule['type'] == 'ip' and rule['action'] == action:
                    rules.append(dict(target, comment='%s %s %s' % (label, action, rule['value']),
                                      destination=rule['value']))
            for version, inet in FAMILIES:
                if version not in client['families']:
                    continue
                # The networks of its rule lists: one set shared by the clients of the same lists.
                name = self.network_sets.name(client, action, version)
                if name:
                    rules.append(dict(target, comment='%s %s listed networks' % (label, action), family=inet,
                                      match_set=name, match_set_flags='dst'))
                name = self.owners[client['owner']]['sets'].get((action, version))
                if name:
                    rules.append(dict(target, comment='%s %s domains' % (label, action), family=inet,
                                      match_set=name, match_set_flags='dst'))
        if self.settings['dns_redirect']:
            # Queries to any server are redirected to the gateway's resolver (nat, after this chain: local, whatever
            # the mark). One still forwarded (the redirect deleted) would bypass the domain rules: refused.
            rules += [dict(comment='%s dns through the gateway only' % label, protocol=protocol, destination_port=53,
                           action='mark', mark=self.marks.mask, mask=self.marks.mask) for protocol in ('udp', 'tcp')]
        if self.settings['block_encrypted_dns']:
            # Refused by the filter chain; left "not classified" too, so that a new connection is refused (the refusal
            # table) when that chain or its jump is gone (a reload of the filter table by other software).
            rules += [dict(comment='%s no encrypted dns' % label, protocol=protocol, destination_port=ENCRYPTED_DNS_PORT,
                           action='mark', mark=self.marks.mask, mask=self.marks.mask) for protocol in ('tcp', 'udp')]
        return rules

    def clients_chain_rules(self):
        """Each client address goes to its client's chain (goto: the chain returns to the mark chain); a source
        that is no split client's is direct."""
        rules = [dict(comment='wgsplit %s' % client['name'], source=address, action='goto', target=client['chain'])
                 for client in self.clients for address in client['address']]
        rules.append(dict(comment='wgsplit not a split client', action='mark', mark=self.marks.direct,
                          mask=self.marks.mask))
        return rules

    def unclassified_rules(self):
        """raw PREROUTING (before the mangle chains): packets of the server interface start "not classified"
        (every bit of the mask), which the refusal rules refuse unless the mangle chains classify them."""
        return [dict(comment='wgsplit not classified yet', in_interface=self.settings['server_interface'],
                     action='mark', mark=self.marks.mask, mask=self.marks.mask)]

    def mark_chain_rules(self):
        """From PREROUTING: a classified connection's packets get its mark back (replacing "not classified") and
        leave the chain (an established flow's packets cross three rules, not six); a packet without the raw
        chain's "not classified" (that chain or its jump gone) gets it here, so that it is classified all the
        same; replies of connections opened towards a client go direct; any other connection is classified; the
        server's own networks are always direct; a classified mark is saved on the connection."""
        interface = self.settings['server_interface']
        mask, direct = self.marks.mask, self.marks.direct
        unclassified = dict(in_interface=interface, match_mark=mask, match_mask=mask)
        rules = [dict(comment='wgsplit keep the mark of a connection', in_interface=interface, match_connmark=0,
                      match_connmask=mask, match_connmark_negate=True, action='connmark_restore', mask=mask),
                 dict(comment='wgsplit no raw mark: not classified yet', in_interface=interface, match_mark=0,
                      match_mask=mask, action='mark', mark=mask, mask=mask),
                 dict(unclassified, comment='wgsplit a classified connection', match_mark_negate=True, action='return'),
                 dict(unclassified, comment='wgsplit replies go direct', ctdir='REPLY', action='mark', mark=direct,
                      mask=mask),
                 dict(unclassified, comment='wgsplit classify', action='jump', target=self.settings['clients_chain'])]
        rules += [dict(comment='wgsplit server network', in_interface=interface, destination=network, action='mark',
                       mark=direct, mask=mask) for network in self.server_networks()]
        rules.append(dict(unclassified, comment='wgsplit remember the mark', match_mark_negate=True,
                          action='connmark_save', mask=mask))
        return rules

    def server_networks(self):
        return [str(network) for network in server_networks(self.discovery.get('server'))]

    def snat_rules(self):
        return [dict(comment='wgsplit upstream %s' % upstream['name'], out_interface=upstream['interface'],
                     action='masquerade') for upstream in self.enabled_upstreams()]

    def dns_rules(self):
        if not self.settings['dns_redirect']:
            return []
        return [dict(comment='wgsplit %s dns' % client['name'], in_interface=self.settings['server_interface'],
                     source=address, protocol=protocol, destination_port=53, action='redirect', to_ports=53)
                for client in self.clients for address in client['address'] for protocol in ('udp', 'tcp')]

    def guard_rules(self):
        """From FORWARD, first: a packet of the server interface with an upstream's bit in its mark (an upstream's mark,
        or "not classified": all of M) leaves by an upstream's interface or not at all. Routing sends it nowhere else;
        this holds when the collection's ip rules or routes are gone (systemd-networkd removes other software's when it
        starts, `ip rule flush`), where routing would send it the main table's way: direct. In the chain that counts
        (one hook for both; mangle: DROP, REJECT is the filter table's)."""
        return [dict(comment='wgsplit proxied or not classified, not through an upstream',
                     in_interface=self.settings['server_interface'], out_interface_prefix=INTERFACE_PREFIX,
                     out_interface_negate=True, match_mark=0, match_mask=self.marks.upstream_mask, match_mark_negate=True,
                     action='drop')]

    def resolver_guard_rules(self):
        """From OUTPUT: the gateway's own packets to an upstream's resolvers (its queries for names proxied through that
        upstream) leave by an upstream's interface or not at all, as routing has them (the rules `iif lo to` at P and
        P+1); this holds when those rules are gone, where the main table would send the query direct (a DNS leak)."""
        return [dict(comment='wgsplit upstream resolver, not through an upstream', destination=server,
                     out_interface_prefix=INTERFACE_PREFIX, out_interface_negate=True, action='drop')
                for server in self.upstream_resolvers()]

    def upstream_resolvers(self):
        return [server for upstream in self.enabled_upstreams() for server in upstream['dns']]

    def filter_rules(self):
        """DNS over TLS/QUIC would bypass the domain rules: refused for split clients when asked."""
        if not self.settings['block_encrypted_dns']:
            return []
        return [dict(comment='wgsplit %s no encrypted dns' % client['name'],
                     in_interface=self.settings['server_interface'], source=address, protocol=protocol,
                     destination_port=ENCRYPTED_DNS_PORT, action='reject')
                for client in self.clients for address in client['address'] for protocol in ('tcp', 'udp')]

    def chains(self):
        """mangle_mark arguments per role, in the order they apply: a chain exists before a chain that jumps to it.
        None with the nftables backend (what the collection made with iptables before goes, as removals)."""
        settings = self.settings
        if self.nftables:
            return dict(wg_upstream=[], split_client=[], dnsmasq_split=[])
        split_client = []
        for client in self.clients:
            if len(client['chain']) > CHAIN_NAME_MAX:
                self.errors.append('chain %s is longer than %d characters: shorten wgsplit_set_prefix or the client'
                                   ' name' % (client['chain'], CHAIN_NAME_MAX))
            split_client.append(dict(table='mangle', chain=client['chain'], jump_from=[],
                                     rules=self.client_chain_rules(client)))
        split_client.append(dict(table='mangle', chain=settings['clients_chain'], jump_from=[],
                                 rules=self.clients_chain_rules()))
        split_client.append(dict(table='mangle', chain=settings['mark_chain'], jump_from=['PREROUTING'],
                                 rules=self.mark_chain_rules()))
        if settings['block_encrypted_dns']:
            split_client.append(dict(table='filter', chain=settings['filter_chain'], jump_from=['FORWARD'],
                                     rules=self.filter_rules()))
        split_client.append(dict(table='mangle', chain=settings['count_chain'], jump_from=['FORWARD'],
                                 rules=self.guard_rules() + self.count_rules()))
        if self.upstream_resolvers():
            split_client.append(dict(table='mangle', chain=settings['output_chain'], jump_from=['OUTPUT'],
                                     rules=self.resolver_guard_rules()))
        # Last: until the mangle chains exist, "not classified" would refuse every packet of the server interface.
        split_client.append(dict(table='raw', chain=settings['mark_chain'], jump_from=['PREROUTING'],
                                 rules=self.unclassified_rules()))
        dns = []
        if settings['dns_redirect']:
            dns.append(dict(table='nat', chain=settings['dns_chain'], jump_from=['PREROUTING'], rules=self.dns_rules()))
        return dict(wg_upstream=[dict(table='nat', chain=settings['snat_chain'], jump_from=['POSTROUTING'],
                                      rules=self.snat_rules())],
                    split_client=split_client, dnsmasq_split=dns)

    # Resolver -----------------------------------------------------------------------------------
    def resolver_entries(self):
        """One entry per listed domain, parents first: the sets it feeds and where it is asked."""
        rules = self.domain_rules()
        entries = []
        for domain in sorted(rules, key=lambda name: (name.count('.'), name)):
            feeds, proxied_by = self.domain_targets(domain, rules)
            entries.append(resolver.entry(domain, feeds, self.domain_servers(proxied_by)))
        return entries

    def domain_rules(self):
        """{domain: {owner index: action}}, direct where an owner lists a domain both ways."""
        rules = {}
        for index, owner in enumerate(self.owners):
            for action in ACTIONS:
                for domain in owner['domains'][action]:
                    by_owner = rules.setdefault(domain, {})
                    if by_owner.get(index) != 'direct':
                        by_owner[index] = action
        return rules

    def domain_targets(self, domain, rules):
        """(sets, upstreams): the sets each owner's nearest rule puts the domain's addresses in, and the
        upstreams of the owners that proxy it. Cost: the domain's labels, not the number of clients."""
        feeds, proxied_by, decided = set(), set(), set()
        for name in ancestors(domain):
            for index, action in rules.get(name, {}).items():
                if index in decided:
                    continue
                decided.add(index)
                owner = self.owners[index]
                feeds.update(owner['sets'][(action, version)] for version in owner['families'])
                if action == 'proxy':
                    proxied_by.add(owner['upstream']['name'])
        return feeds, proxied_by

    def domain_servers(self, proxied_by):
        """Where the resolver asks for a domain: the upstream's own resolvers (through its tunnel) when every
        client proxying it uses that one upstream and it has resolvers, else the default servers (['#'])."""
        if len(proxied_by) == 1:
            upstream = next(upstream for upstream in self.upstreams if upstream['name'] in proxied_by)
            if upstream['dns']:
                return upstream['dns']
        return ['#']

    # Pre-flight ---------------------------------------------------------------------------------
    def preflight(self, sets, lines, chains):
        """What would make the run fail later, found before anything changes."""
        server = self.discovery.get('server', {})
        if not server.get('exists'):
            self.errors.append('wgsplit_server_interface: %s does not exist' % self.settings['server_interface'])
        self.check_port_53(server)
        self.check_foreign_interfaces()
        self.check_sets(sets)
        self.check_resolver_lines(lines)
        self.check_foreign_chains(chains)
        self.check_foreign_table()
        self.check_resolver_config()

    def check_foreign_chains(self, chains):
        """A chain the plan would fill that exists without the collection's boot file is another program's."""
        ours = set((chain['table'], chain['chain']) for chain in self.discovery.get('chains', []))
        found = set((chain['table'], chain['chain']) for chain in self.discovery.get('kernel_chains', []))
        for spec in [spec for role in chains.values() for spec in role]:
            if (spec['table'], spec['chain']) in found and (spec['table'], spec['chain']) not in ours:
                self.errors.append('chain %s of table %s exists and was not made by the collection; rename it, or'
                                   ' choose other chain names (wgsplit_*_chain, wgsplit_set_prefix)'
                                   % (spec['chain'], spec['table']))

    def check_foreign_table(self):
        found = self.discovery.get('nftables') or {}
        if self.nftables and found.get('exists') and not found.get('owned'):
            self.errors.append('nftables table inet %s exists and was not made by the collection (no comment "%s");'
                               ' rename it, or keep wgsplit_backend iptables' % (nft_ruleset.TABLE, TABLE_MARKER))

    def nft_table(self, present):
        """(nft_table's arguments for the table, or None; {role: its removal}): the table with the nftables backend;
        its removal when the state is absent (split_client's), or when the backend is iptables again (dnsmasq_split's:
        after the DNS redirect chain that replaces the table's is made)."""
        if present and self.nftables:
            return Ruleset(self).call(), {}
        found = self.discovery.get('nftables') or {}
        if not found.get('owned'):
            return None, {}
        return None, {'dnsmasq_split' if present else 'split_client': dict(table=nft_ruleset.TABLE, state='absent')}

    def check_resolver_config(self):
        found = self.discovery.get('resolver', {})
        texts = [(resolver.RESOLVER_CONFIG, found.get('config'))]
        texts += sorted((path, back.get('text')) for path, back in (found.get('backs') or {}).items())
        for path, text in texts:
            if text is not None and not instances.ours(text):
                self.errors.append('%s was not written by the collection; move it away' % path)

    def check_resolver_lines(self, lines):
        for line in lines:
            length = len(resolver.file_line(line, self.settings))
            if length > RESOLVER_LINE_MAX:
                domain, names = line.split('/')[1], line.split('/')[2].split(',')
                self.errors.append('domain %s feeds %d client sets: its resolver line (%d characters) is longer than'
                                   ' dnsmasq reads (%d); fewer clients with a rule on it, or a shorter'
                                   ' wgsplit_set_prefix' % (domain, len(names), length, RESOLVER_LINE_MAX))

    def check_port_53(self, server):
        addresses = set(str(ipaddress.ip_interface(value).ip) for value in server.get('addresses', []))
        for listener in self.discovery.get('listeners', []):
            if listener.get('ours'):
                continue
            address = ipaddress.ip_address(listener['address'])
            holder = listener.get('process') or 'another program'
            pid = ' (pid %s)' % listener['pid'] if listener.get('pid') else ''
            if listener['address'].startswith(resolver.BACK_NETWORK):
                backs = '%s1 to %s%d' % (resolver.BACK_NETWORK, resolver.BACK_NETWORK, self.settings['resolver_instances'])
                self.errors.append('port 53 (%s) on %s is held by %s%s: the back resolvers listen on %s; stop it or make it'
                                   ' listen elsewhere' % (listener['protocol'], listener['address'], holder, pid, backs))
            elif address.is_unspecified or listener['address'] in addresses:
                self.errors.append('port 53 (%s) on %s is held by %s%s: the resolver could not listen on %s; stop it or'
                                   ' make it listen elsewhere (loopback is fine but for %s0/24)'
                                   % (listener['protocol'], listener['address'], holder, pid,
                                      self.settings['server_interface'], resolver.BACK_NETWORK))

    def check_foreign_interfaces(self):
        wireguard = self.discovery.get('wireguard', {})
        owned = set(config['name'] for config in wireguard.get('configs', []) if config['owned'])
        foreign_configs = set(config['name'] for config in wireguard.get('configs', []) if not config['owned'])
        links = set(wireguard.get('links', []))
        for upstream in self.enabled_upstreams():
            name = upstream['interface']
            if name in foreign_configs or (name in links and name not in owned):
                self.errors.append('upstream %r: %s exists and was not made by the collection (no configuration with'
                                   ' its marker); choose another id or remove it' % (upstream['name'], name))

    def owned_sets(self):
        ipsets = self.discovery.get('ipsets', {})
        return sorted(name for name in ipsets.get('persisted', []) if name.startswith(self.prefix))

    def check_sets(self, sets):
        ipsets = self.discovery.get('ipsets', {})
        kernel = set(ipsets.get('names', []))
        owned = set(self.owned_sets())
        for name in sorted(item['name'] for item in sets):
            if name in kernel and name not in owned:
                self.errors.append('set %s exists and was not made by the collection; remove it or change'
                                   ' wgsplit_set_prefix' % name)
        limit = ipsets.get('max_sets') or self.settings['max_ipsets']
        foreign = len(kernel - owned)
        if len(sets) > limit - foreign:
            self.errors.append('the clients need %d ipsets but only %d are free (kernel limit %d, %d used by other'
                               ' software): fewer clients with domain rules, or raise ip_set max_sets'
                               % (len(sets), limit - foreign, limit, foreign))

    def chain_layout(self, found):
        """(role, table, chain, jump_from) of every chain the roles may have made, parents before the chains they
        jump to (the order removal needs); client chains are those of `found` with the prefix."""
        settings = self.settings
        layout = [('split_client', 'raw', settings['mark_chain'], ['PREROUTING']),
                  ('split_client', 'mangle', settings['mark_chain'], ['PREROUTING']),
                  ('split_client', 'mangle', settings['clients_chain'], []),
                  ('split_client', 'filter', settings['filter_chain'], ['FORWARD']),
                  ('split_client', 'mangle', settings['count_chain'], ['FORWARD']),
                  ('split_client', 'mangle', settings['output_chain'], ['OUTPUT']),
                  ('wg_upstream', 'nat', settings['snat_chain'], ['POSTROUTING']),
                  ('dnsmasq_split', 'nat', settings['dns_chain'], ['PREROUTING'])]
        named = set((table, chain) for _role, table, chain, _jump_from in layout)
        # A named chain the prefix also starts (wgsplit_set_prefix WGSPLIT) is not a client's: listed once.
        layout += sorted(('split_client', table, chain, []) for table, chain in found
                         if table == 'mangle' and chain.startswith(self.prefix) and (table, chain) not in named)
        return layout

    # Removals -----------------------------------------------------------------------------------
    def removals(self, sets, chains, routing):
        """What the collection made earlier (found by its markers) that the plan no longer has, per role."""
        base = self.settings['table_base']
        wanted_tables = set((table['table'], table['family']) for role in routing.values() for table in role)
        routing_found = self.discovery.get('routing', {})
        tables = sorted((table, inet) for inet in ('inet', 'inet6') for table in routing_found.get(inet, [])
                        if base <= table <= base + 255 and (table, inet) not in wanted_tables)
        wanted_chains = set((chain['table'], chain['chain']) for role in chains.values() for chain in role)
        found_chains = set((chain['table'], chain['chain']) for chain in self.discovery.get('chains', []))
        stale_chains = dict((role, []) for role in chains)
        for role, table, chain, jump_from in self.chain_layout(found_chains):
            if (table, chain) in found_chains and (table, chain) not in wanted_chains:
                # With the nftables backend, every chain of the iptables one goes after the table that replaces it.
                stale_chains['split_client' if self.nftables else role].append(
                    dict(table=table, chain=chain, jump_from=jump_from, state='absent'))
        wanted_interfaces = set(upstream['interface'] for upstream in self.enabled_upstreams())
        interfaces = sorted(config['name'] for config in self.discovery.get('wireguard', {}).get('configs', [])
                            if config['owned'] and config['name'].startswith(INTERFACE_PREFIX)
                            and config['name'] not in wanted_interfaces)
        wanted_sets = set(item['name'] for item in sets)
        return dict(routing=dict(split_client=[dict(table=table, family=inet, state='absent')
                                               for table, inet in tables if table == base],
                                 wg_upstream=[dict(table=table, family=inet, state='absent')
                                              for table, inet in tables if table != base],
                                 dnsmasq_split=[]),
                    chains=stale_chains, interfaces=interfaces,
                    sets=[name for name in self.owned_sets() if name not in wanted_sets])


def list_counts(checked):
    """{rule list name: entries} of the lists read from files, recorded for the next run's guard."""
    return dict((name, rule_set['count']) for name, rule_set in checked.get('rule_sets', {}).items()
                if rule_set['count'] is not None)


def plan(checked, discovery):
    """Everything the roles apply, for a checked inventory (inventory.check_inventory) and what split_info found.

    `secrets` holds the keys, apart from the rest so that only the task that needs them sees them."""
    planner = Planner(checked, discovery)
    state = checked['settings']['state']
    if state == 'absent':
        planner.upstreams, planner.clients = [], []
    sets = planner.sets()
    present = state == 'present'
    chains = planner.chains() if present else dict(wg_upstream=[], split_client=[], dnsmasq_split=[])
    routing = planner.routing() if present else dict(wg_upstream=[], split_client=[], dnsmasq_split=[])
    entries = planner.resolver_entries()
    lines = resolver.lines(entries)
    table, table_removed = planner.nft_table(present)
    if present:
        planner.preflight(sets, lines, chains)
    upstreams = planner.enabled_upstreams()
    removed = planner.removals(sets, chains, routing)
    # One mangle_mark and one policy_route call per role: what it wants, then what it removes.
    stale_chains, stale_tables, stale_interfaces = removed.pop('chains'), removed.pop('routing'), removed.pop('interfaces')
    chains = dict((role, chains[role] + stale_chains[role]) for role in chains)
    routing = dict((role, routing[role] + stale_tables[role]) for role in routing)
    found = discovery.get('resolver', {})
    in_place = planner.in_place_lines()
    stale = resolver.stale_sets(in_place, lines)
    front, backs = (resolver.layout(checked['settings'], entries, list_counts(checked),
                                    in_place=resolver.numbered(found.get('backs') or {})) if present else (None, []))
    clients = [planner.client_summary(client) for client in planner.clients]
    # The sets that fill (not the lists' networks: what the plan gives, sized to it).
    listed = set(item['name'] for item in planner.network_sets.sets())
    set_limits = ([dict(name=item['name'], maxelem=item['maxelem']) for item in sets if item['name'] not in listed]
                  if table is None else
                  [dict(name=item['name'], maxelem=item['size']) for item in table['sets']])
    table_sets = set(item['name'] for item in table['sets']) if table else set()
    # Declarative (docs/contract.md 7): a removed domain's addresses leave the set; its other names refill as clients
    # ask again (the refill window, README Limits).
    stale_sets = [dict(item, members=[]) for item in sets if item['name'] in stale]
    stale_table_sets = [name for name in stale if name in table_sets]
    interfaces = ([planner.interface_spec(upstream) for upstream in upstreams] +
                  [dict(name=name, state='absent') for name in stale_interfaces])
    return dict(
        state=state,
        errors=planner.errors,
        warnings=planner.warnings,
        settings=checked['settings'],
        upstreams=calls.public(upstreams),
        # The only part with keys: what the wg_upstream module takes (interfaces, then removals), and the keys alone
        # for split_pending.
        secrets=dict(wg_upstream=interfaces, interface_keys=calls.interface_keys(interfaces)),
        calls=calls.module_calls(state, interfaces, sets, chains, routing, table, table_removed),
        routing=routing,
        sets=sets,  # ipset_set's `sets`: every set with its definition, one transaction
        clients=clients,  # for status and metrics
        set_limits=set_limits,  # every set and the most it holds, whichever the backend (status, metrics)
        metrics=exporter.files(discovery.get('metrics', {}), checked['settings'], upstreams, clients, set_limits),
        kept_clients=kept_clients.files(checked.get('kept', {}), discovery.get('kept_clients', {}), state),
        chains=chains,
        nftables=table,  # nft_table's arguments (the nftables backend), or None
        nftables_removed=dict(dict(split_client=None, dnsmasq_split=None), **table_removed),  # per role: the table's removal
        # The journal outlives the resolvers' call only to empty the stale sets again after the restart.
        resolver=dict(resolver.files(found, front, backs, in_place, keep_journal=bool(stale_sets or stale_table_sets)),
                      lines=lines,  # the table the back resolvers serve (docs/architecture.md)
                      stale_sets=stale_sets, stale_table_sets=stale_table_sets),
        removed=removed,
    )


def plan_inventory(variables, discovery, base_dir=None):
    """The plan of the `wgsplit_*` variables (without their prefix) on the host split_info read, the inventory
    checked first: `errors` lists every problem, and then nothing else is planned. Rule list files are read from
    `base_dir` (the inventory's directory) when their path is relative."""
    read = None if base_dir is None else functools.partial(rule_lists.read_file, str(base_dir))
    previous = rule_lists.previous_counts((discovery.get('resolver') or {}).get('config'))
    checked = check_inventory(variables, discovery.get('server'), read, previous, discovery.get('kept_clients'))
    if checked['errors']:
        return dict(state=checked['settings'].get('state'), errors=checked['errors'], warnings=checked['warnings'])
    return plan(checked, discovery)
