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
import socket

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import family


def span(text):
    """(first, last) address of a canonical network (or single address) as integers."""
    address, _slash, length = text.partition('/')
    bits = 128 if ':' in address else 32
    first = int.from_bytes(socket.inet_pton(socket.AF_INET6 if bits == 128 else socket.AF_INET, address), 'big')
    return first, first + (1 << (bits - int(length or bits))) - 1


def merged(rules, action, version):
    """The networks of `rules` with `action` in one family, merged (merged_texts)."""
    return merged_texts([rule['value'] for rule in rules if rule['type'] == 'ip' and rule['action'] == action
                         and family(rule['value']) == version], version)


def merged_texts(texts, version):
    """Canonical networks of one family, merged: an nftables interval set takes no overlap, and an ipset of type
    hash:net no /0 (which only a list covering every /8 would merge into: its two halves instead). Integers, not
    ipaddress objects (three lists of 100,000 networks: 28 s collapsed by ipaddress); a network that no other
    overlaps or touches is written as it is, the others as the fewest networks that cover their union."""
    runs = []  # [first, last, the network that spans it exactly, or None]
    for (first, last), text in sorted((span(text), text) for text in texts):
        if runs and first <= runs[-1][1] + 1:
            run = runs[-1]
            if last > run[1]:
                run[1], run[2] = last, (text if first == run[0] else None)
        else:
            runs.append([first, last, text])
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    networks = []
    for first, last, text in runs:
        if text and '/' in text and not text.endswith('/0'):
            networks.append(text)  # canonical already: as ipaddress prints it
            continue
        for network in ipaddress.summarize_address_range(make(first), make(last)):
            networks += [str(half) for half in network.subnets()] if network.prefixlen == 0 else [str(network)]
    return networks


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
        self.errors = []  # two combinations whose digests meet (lists named to that end): refused, either backend
        named = {}  # {set name: the lists it was planned for}
        self.used = set()  # (lists, family) of the clients: a family no client of the lists has gets no set
        for client in clients:
            lists = combination(client)
            self.used.update((lists, version) for version in client['families'])
            if not lists or (lists, actions[0], 4) in self.found:
                continue
            texts = dict(((action, version), []) for action in actions for version in (4, 6))
            for rule in listed_rules(lists):  # one pass over the lists, whatever the families and actions
                if rule['type'] == 'ip':
                    texts[(rule['action'], family(rule['value']))].append(rule['value'])
            for (action, version), found in texts.items():
                name = set_name(prefix, lists, action, version)
                if name in named:
                    self.errors.append('rule lists %s and %s would share the set %s: rename one of the lists'
                                       % ('+'.join(named[name]), '+'.join(lists), name))
                named[name] = lists
                self.found[(lists, action, version)] = dict(name=name, version=version, networks=merged_texts(found, version))

    def name(self, client, action, version):
        """The set a client's chain matches for its lists' networks with `action` in a family, or None (none listed)."""
        found = self.found.get((combination(client), action, version))
        return found['name'] if found and found['networks'] and version in client['families'] else None

    def sets(self):
        """Every set that holds networks for a family of the clients of its lists, by name."""
        return sorted((item for (lists, _action, version), item in self.found.items()
                       if item['networks'] and (lists, version) in self.used), key=lambda item: item['name'])
