# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The networks of rule lists, in sets shared by the clients that reference the same lists.

A list of networks is written once per combination of lists, action and address family, whatever the number of
clients that reference it: each client's chain matches the set in one rule. Copied into every client's chain, a
list of 100,000 networks shared by 250 clients made 25 million iptables rules (and with nftables an interval set
per client). The set's name is a digest of the lists' names, so it stays the same whichever clients come and go.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import ipaddress

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import family


def merged(rules, action, version):
    """The networks of `rules` with `action` in one family, merged: an nftables interval set takes no overlap, and an
    ipset of type hash:net no /0 (which only a list covering every /8 would merge into: its two halves instead)."""
    found = [ipaddress.ip_network(rule['value']) for rule in rules
             if rule['type'] == 'ip' and rule['action'] == action and family(rule['value']) == version]
    networks = []
    for network in ipaddress.collapse_addresses(found):
        networks += list(network.subnets()) if network.prefixlen == 0 else [network]
    return [str(network) for network in networks]


def combination(client):
    """The rule lists a client references, as a set: the order it names them in changes none of their networks."""
    return tuple(sorted(set(client['rule_sets'])))


def set_name(prefix, lists, action, version):
    # An upper-case N, which no client name has: never a client's set name, nor a shared domain set's (L).
    digest = hashlib.sha1('\0'.join(lists).encode('utf-8')).hexdigest()[:8]
    return '%sN%s-%s%d' % (prefix, digest, action[0], version)


class NetworkSets(object):
    """{(lists, action, family): {'name', 'version', 'networks'}} of the planned clients (plugin_utils/plan.py), the
    lists' rules read through `listed_rules` (one gathering per combination)."""

    def __init__(self, prefix, clients, listed_rules, actions):
        self.found = {}
        for client in clients:
            lists = combination(client)
            for action in actions:
                for version in client['families']:
                    if lists and (lists, action, version) not in self.found:
                        networks = merged(listed_rules(lists), action, version)
                        self.found[(lists, action, version)] = dict(
                            name=set_name(prefix, lists, action, version), version=version, networks=networks)

    def name(self, client, action, version):
        """The set a client's chain matches for its lists' networks with `action` in a family, or None (none listed)."""
        found = self.found.get((combination(client), action, version))
        return found['name'] if found and found['networks'] else None

    def sets(self):
        """Every set that holds networks, by name."""
        return sorted((item for item in self.found.values() if item['networks']), key=lambda item: item['name'])
