# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""From the checked inventory to the kernel objects and resolver lines the roles apply.

Layout (docs/architecture.md has the picture):
* upstream N: interface wg-up-N, mark N << shift(mask), routing table table_base + N;
* client C: one set per action and address family it has domain rules for (`wgs-C-p4`,
  `wgs-C-d6`, ...), filled by the resolver; IP rules are plain iptables matches, no sets;
* resolver: one `ipset=` line per listed domain naming every set it feeds (dnsmasq uses the
  first line that matches, so the line must already carry what each client's nearest rule says).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import ACTIONS

SETTINGS_DEFAULTS = dict(server_interface='wg0', server_networks=[], mark_mask=0xff000000,
                         table_base=51000, rule_priority=5000, set_prefix='wgs-', max_sets=256, foreign_sets=0,
                         kill_switch_metric=4000, dns_redirect=True,
                         clients_chain='WGSPLIT_CLIENTS')
SET_NAME_MAX = 31
SECRET_KEYS = ('private_key', 'preshared_key')


def family_of(address):
    return ipaddress.ip_address(address.split('/')[0]).version


def ancestors(domain):
    """The domain and every parent domain, most specific first."""
    labels = domain.split('.')
    return ['.'.join(labels[index:]) for index in range(len(labels))]


def mask_shift(mask):
    return (mask & -mask).bit_length() - 1


class Planner(object):

    def __init__(self, upstreams, clients, settings):
        self.settings = dict(SETTINGS_DEFAULTS, **settings)
        self.errors = []
        self.warnings = []
        self.upstreams = self.plan_upstreams(upstreams)
        by_name = dict((upstream['name'], upstream) for upstream in self.upstreams)
        self.clients = self.plan_clients(clients, by_name)

    # Upstreams ----------------------------------------------------------------------------------
    def plan_upstreams(self, upstreams):
        mask = self.settings['mark_mask']
        if not 0 < mask <= 0xffffffff:
            self.errors.append('wgsplit_mark_mask: %#x is not a 32-bit mask' % mask)
            return []
        shift = mask_shift(mask)
        planned = []
        for upstream in upstreams:
            if upstream['id'] > mask >> shift:
                self.errors.append('upstream %r: id %d does not fit wgsplit_mark_mask %#x (at most %d)'
                                   % (upstream['name'], upstream['id'], mask, mask >> shift))
                continue
            table = self.settings['table_base'] + upstream['id']
            planned.append(dict(upstream, interface='wg-up-%d' % upstream['id'], mark=upstream['id'] << shift,
                                mask=mask, table=table))
        return planned

    def routing(self, upstream):
        """policy_route arguments per family: the mark rule, rules for the upstream's resolvers, kill switch."""
        priority = self.settings['rule_priority']
        result = []
        for family, version in (('inet', 4), ('inet6', 6)):
            rules = [dict(priority=priority, fwmark=upstream['mark'], fwmask=upstream['mask'])]
            rules += [dict(priority=priority, to=server) for server in upstream['dns'] if family_of(server) == version]
            routes = [dict(to='default', type='unreachable', metric=self.settings['kill_switch_metric'])]
            result.append(dict(family=family, table=upstream['table'], rules=rules, routes=routes))
        return result

    # Clients ------------------------------------------------------------------------------------
    def plan_clients(self, clients, upstreams):
        planned = []
        for client in clients:
            upstream = upstreams.get(client['upstream'])
            if not client['enabled'] or not client['upstream_enabled'] or upstream is None:
                continue
            if not upstream['enabled']:
                self.warnings.append('client %r is not split: its upstream %r is disabled'
                                     % (client['name'], upstream['name']))
                continue
            rules = [rule for rule in client['rules'] if rule['enabled']]
            families = sorted(set(family_of(address) for address in client['address']))
            domains = dict((action, set(rule['value'] for rule in rules
                                        if rule['type'] == 'domain' and rule['action'] == action))
                           for action in ACTIONS)
            sets = {}
            for action in ACTIONS:
                for version in families:
                    if domains[action]:
                        sets[(action, version)] = '%s%s-%s%d' % (self.settings['set_prefix'], client['name'],
                                                                 action[0], version)
            planned.append(dict(client, upstream=upstream, rules=rules, families=families, domains=domains, sets=sets))
        return planned

    def sets(self):
        names = sorted((name, 'inet' if version == 4 else 'inet6')
                       for client in self.clients for (action, version), name in client['sets'].items())
        for name, family in names:
            if len(name) > SET_NAME_MAX:
                self.errors.append('set %s is longer than %d characters: shorten wgsplit_set_prefix or the client name'
                                   % (name, SET_NAME_MAX))
        budget = self.settings['max_sets'] - self.settings['foreign_sets']
        if len(names) > budget:
            self.errors.append('the clients need %d ipsets but only %d are free (kernel limit %d, %d used by other'
                               ' software): fewer clients with domain rules, or raise ip_set max_sets'
                               % (len(names), budget, self.settings['max_sets'], self.settings['foreign_sets']))
        return [dict(name=name, family=family) for name, family in names]

    def mangle_rules(self):
        """The rules of the per-client chain, run for NEW connections from the server interface."""
        rules = [dict(comment='wgsplit server network', destination=network, action='return')
                 for network in self.server_networks()]
        for client in self.clients:
            upstream = client['upstream']
            mark = dict(action='mark', mark=upstream['mark'], mask=upstream['mask'])
            for address in client['address']:
                version = family_of(address)
                label = 'wgsplit %s' % client['name']
                # Direct before proxy: a destination matched both ways goes direct.
                for action, target in (('direct', dict(action='return')), ('proxy', mark)):
                    for rule in client['rules']:
                        if rule['type'] == 'ip' and rule['action'] == action and family_of(rule['value']) == version:
                            rules.append(dict(target, comment='%s %s %s' % (label, action, rule['value']),
                                              source=address, destination=rule['value']))
                    name = client['sets'].get((action, version))
                    if name:
                        rules.append(dict(target, comment='%s %s domains' % (label, action), source=address,
                                          match_set=name, match_set_flags='dst'))
                if client['default_action'] == 'proxy':
                    rules.append(dict(mark, comment='%s proxy by default' % label, source=address))
        return rules

    def server_networks(self):
        return sorted(set(str(ipaddress.ip_interface(network).network) for network in self.settings['server_networks']),
                      key=lambda network: (family_of(network), network))

    def main_rules(self):
        """The chain jumped from PREROUTING: keep a connection's mark, classify only its first packet."""
        interface = self.settings['server_interface']
        mask = self.settings['mark_mask']
        return [
            dict(comment='wgsplit keep the mark of a connection', in_interface=interface, action='connmark_restore',
                 mask=mask),
            dict(comment='wgsplit classify new connections', in_interface=interface, ctstate=['NEW'], action='jump',
                 target=self.settings['clients_chain']),
            dict(comment='wgsplit remember the mark', in_interface=interface, ctstate=['NEW'], action='connmark_save',
                 mask=mask),
        ]

    def snat_rules(self):
        return [dict(comment='wgsplit upstream %s' % upstream['name'], out_interface=upstream['interface'],
                     action='masquerade') for upstream in self.upstreams if upstream['enabled']]

    def dns_rules(self):
        if not self.settings['dns_redirect']:
            return []
        return [dict(comment='wgsplit %s dns' % client['name'], in_interface=self.settings['server_interface'],
                     source=address, protocol=protocol, destination_port=53, action='redirect', to_ports='53')
                for client in self.clients for address in client['address'] for protocol in ('udp', 'tcp')]

    # Resolver -----------------------------------------------------------------------------------
    def resolver_lines(self):
        """`ipset=` and `server=` lines, one per listed domain, parents before children."""
        rules = self.domain_rules()
        listed = sorted(rules, key=lambda domain: (domain.count('.'), domain))
        servers = {}
        lines = []
        for domain in listed:
            feeds, proxied_by = self.domain_targets(domain, rules)
            lines.append('ipset=/%s/%s' % (domain, ','.join(sorted(feeds))))
            server = self.domain_server(proxied_by)
            parent = next((servers[name] for name in ancestors(domain)[1:] if name in servers), '#')
            servers[domain] = server
            if server != parent:
                lines.extend('server=/%s/%s' % (domain, address) for address in server.split(','))
        return lines

    def domain_rules(self):
        """{domain: {client index: action}}, direct where a client lists a domain both ways."""
        rules = {}
        for index, client in enumerate(self.clients):
            for action in ACTIONS:
                for domain in client['domains'][action]:
                    by_client = rules.setdefault(domain, {})
                    if by_client.get(index) != 'direct':
                        by_client[index] = action
        return rules

    def domain_targets(self, domain, rules):
        """(sets, upstreams): the sets each client's nearest rule puts the domain's addresses in, and the
        upstreams of the clients that proxy it. Cost: the domain's labels, not the number of clients."""
        feeds, proxied_by, decided = set(), set(), set()
        for name in ancestors(domain):
            for index, action in rules.get(name, {}).items():
                if index in decided:
                    continue
                decided.add(index)
                client = self.clients[index]
                feeds.update(client['sets'][(action, version)] for version in client['families'])
                if action == 'proxy':
                    proxied_by.add(client['upstream']['name'])
        return feeds, proxied_by

    def domain_server(self, proxied_by):
        """Where the resolver asks for a domain: the upstream's own resolvers (through its tunnel) when every
        client proxying it uses that one upstream and it has resolvers, else the default servers ('#')."""
        if len(proxied_by) == 1:
            upstream = next(upstream for upstream in self.upstreams if upstream['name'] in proxied_by)
            if upstream['dns']:
                return ','.join(upstream['dns'])
        return '#'


def plan(upstreams, clients, settings):
    planner = Planner(upstreams, clients, settings)
    sets = planner.sets()
    result = dict(
        # Keys stay out of the plan: it is a fact that -v prints; the role takes them from the inventory.
        upstreams=[dict(dict((key, value) for key, value in upstream.items() if key not in SECRET_KEYS),
                        routing=planner.routing(upstream))
                   for upstream in planner.upstreams if upstream['enabled']],
        clients=[dict(name=client['name'], upstream=client['upstream']['name'], address=client['address'],
                      sets=sorted(client['sets'].values())) for client in planner.clients],
        sets=sets,
        main_rules=planner.main_rules(),
        client_rules=planner.mangle_rules(),
        snat_rules=planner.snat_rules(),
        dns_rules=planner.dns_rules(),
        resolver_lines=planner.resolver_lines(),
        warnings=planner.warnings,
    )
    result['errors'] = planner.errors
    return result


def stale_sets(old_config, new_lines):
    """Sets that an old resolver configuration fed from a domain the new lines no longer send to them:
    they must be emptied, or addresses of a removed rule would keep their path."""
    def feeds(lines):
        result = {}
        for line in lines:
            if line.startswith('ipset=/'):
                domain, names = line.strip().split('/', 2)[1:]
                for name in names.split(','):
                    result.setdefault(name, set()).add(domain)
        return result
    old, new = feeds((old_config or '').splitlines()), feeds(new_lines)
    return sorted(name for name, domains in old.items() if name in new and not domains <= new[name])
