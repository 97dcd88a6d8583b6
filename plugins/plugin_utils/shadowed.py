# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proxy networks that never go through the upstream: a destination in both a client's direct and proxy matches goes
direct, so a proxy network inside one of the client's direct networks is a dead rule, or a direct list that grew
over it. The plan warns of a client's own proxy networks inside any of its direct networks, and of a list's proxy
networks inside a direct network of the lists the client references (a direct rule of the client's own over a
listed proxy network is taken as the exception it is written to be). Each combination of lists is read once: lists
of 100,000 entries are shared by hundreds of clients, whose own rules are few."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

SHOWN = 3  # pairs named per warning; the others counted


def full(text):
    """A canonical network's text with its prefix length (a single address is written without one)."""
    return text if '/' in text else text + ('/128' if ':' in text else '/32')


def values(rules, action):
    return [rule['value'] for rule in rules if rule['type'] == 'ip' and rule['action'] == action]


class Directs(object):
    """Direct networks as written (canonical text): the one that holds a given network, looked up by its supernet
    at each prefix length they have (no parsing of the direct networks: a list may hold 100,000)."""

    def __init__(self, texts):
        self.texts = set(full(text) for text in texts)
        self.lengths = {4: set(), 6: set()}
        for text in self.texts:
            self.lengths[6 if ':' in text else 4].add(int(text.rpartition('/')[2]))
        self.lengths = dict((version, sorted(lengths)) for version, lengths in self.lengths.items())

    def holder(self, network):
        """The largest of them that holds `network` (an ipaddress network), or None."""
        for length in self.lengths[network.version]:
            if length > network.prefixlen:
                break
            text = str(network.supernet(new_prefix=length))
            if text in self.texts:
                return text
        return None


class Lists(object):
    """A combination of rule lists: its direct networks, and its proxy networks held by them (read when asked)."""

    def __init__(self, rules):
        self.direct = Directs(values(rules, 'direct'))
        self.proxy = values(rules, 'proxy')
        self.found = None
        self.by_families = {}  # {families: (their pairs in order, the proxy networks of those)}

    def pairs(self):
        if self.found is None:
            self.found = []
            if self.direct.texts:
                for text in self.proxy:
                    holder = self.direct.holder(ipaddress.ip_network(text))
                    if holder:
                        self.found.append((full(text), holder))
        return self.found

    def held(self, families):
        """(pairs of those families in order, their proxy networks), once per set of families: clients with rules of
        their own each ask, and a list may hold 100,000 such pairs."""
        key = tuple(sorted(families))
        if key not in self.by_families:
            pairs = sorted(set(pair for pair in self.pairs() if (6 if ':' in pair[0] else 4) in families))
            self.by_families[key] = (pairs, set(proxy for proxy, _holder in pairs))
        return self.by_families[key]


def shadowed(lists, own, families):
    """[(proxy network, the direct network that holds it)] (text, in order) of a client: `lists` (its rule lists'
    Lists), `own` (its own rules), `families` (those of its addresses)."""
    own_direct = Directs(values(own, 'direct'))
    listed, proxies = lists.held(families)
    extra = {}
    for text in values(own, 'proxy'):
        network = ipaddress.ip_network(text)
        holder = lists.direct.holder(network) or own_direct.holder(network)
        if holder and network.version in families and full(text) not in proxies:
            extra.setdefault(full(text), holder)
    return sorted(listed + list(extra.items())) if extra else listed


def warning(clients, pairs):
    """The plan's warning for the shadowed proxy networks `pairs` of `clients` (names: clients with the same rules
    are named in one warning), or None without any."""
    if not pairs:
        return None
    who = 'client %r' % clients[0] + (' and %d more with the same rules' % (len(clients) - 1) if len(clients) > 1 else '')
    named = ', '.join('%s within %s' % pair for pair in pairs[:SHOWN])
    more = ' and %d more' % (len(pairs) - SHOWN) if len(pairs) > SHOWN else ''
    return '%s: proxy networks inside a direct network go direct (a destination in both goes direct): %s%s' % (who, named, more)
