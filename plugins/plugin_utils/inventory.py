# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory of CONTRACT.md, checked and given its defaults.

`check_inventory` returns every problem at once, each naming the upstream,
client or rule and the offending value, so a run fails before it changes
anything and the user fixes the whole inventory in one go.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import ipaddress
import re

NAME = re.compile(r'^[a-z0-9_-]+$')
# Client names appear in set names: 'wgs-' + name + '-p4' must fit ipset's 31 characters.
CLIENT_NAME_MAX = 24
LABEL = re.compile(r'^(?!-)[a-z0-9-]{1,63}(?<!-)$')
ACTIONS = ('proxy', 'direct')

UPSTREAM_DEFAULTS = dict(preshared_key=None, allowed_ips=['0.0.0.0/0'], persistent_keepalive=25, mtu=1420,
                         dns=[], enabled=True)
UPSTREAM_REQUIRED = ('name', 'id', 'endpoint', 'public_key', 'private_key', 'address')
CLIENT_DEFAULTS = dict(upstream_enabled=True, enabled=True, default_action='direct', rules=[])
CLIENT_REQUIRED = ('name', 'address', 'upstream')
RULE_DEFAULTS = dict(action='proxy', enabled=True)
RULE_REQUIRED = ('type', 'value')


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def is_wireguard_key(value):
    try:
        return isinstance(value, str) and len(base64.b64decode(value.strip(), validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def normalize_domain(value):
    """The domain in lower case without a trailing dot; ValueError when it is not a domain name."""
    if not isinstance(value, str):
        raise ValueError('not a string')
    domain = value.strip().lower().rstrip('.')
    try:
        domain = domain.encode('idna').decode('ascii')
    except UnicodeError:
        raise ValueError('not a valid domain name')
    labels = domain.split('.')
    if len(domain) > 253 or len(labels) < 1 or not all(LABEL.match(label) for label in labels):
        raise ValueError('not a valid domain name')
    if labels[-1].isdigit():
        raise ValueError('looks like an address; use type ip')
    return domain


def normalize_network(value):
    """The network with host bits refused, as ipaddress prints it."""
    try:
        return ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as error:
        raise ValueError(str(error).replace("'", ''))


def check_endpoint(value):
    match = re.match(r'^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$', str(value))
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError('not host:port')


class Checker(object):
    """Collects problems with the place they were found in."""

    def __init__(self):
        self.errors = []

    def error(self, where, text):
        self.errors.append('%s: %s' % (where, text))

    def item(self, where, raw, kind, defaults, required):
        """(where, item with defaults), where named by the item's name when it has one; (where, None) when
        the item is not a mapping or misses a required key."""
        if not isinstance(raw, dict):
            self.error(where, 'must be a mapping, not %r' % (raw,))
            return where, None
        item = dict(defaults, **raw)
        if kind and raw.get('name') is not None:
            where = '%s %r' % (kind, raw['name'])
        return where, (item if self.known_keys(where, item, defaults, required) else None)

    def known_keys(self, where, item, defaults, required):
        for key in sorted(set(item) - set(defaults) - set(required)):
            self.error(where, 'unknown key %r' % key)
        missing = [key for key in required if item.get(key) in (None, '', [])]
        for key in missing:
            self.error(where, '%s is missing' % key)
        return not missing

    def boolean(self, where, item, key):
        if not isinstance(item[key], bool):
            self.error(where, '%s must be true or false, not %r' % (key, item[key]))

    def choice(self, where, item, key, choices):
        if item[key] not in choices:
            self.error(where, '%s must be one of %s, not %r' % (key, ', '.join(choices), item[key]))

    def integer(self, where, item, key, low, high):
        value = item[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(where, '%s must be a whole number from %d to %d, not %r' % (key, low, high, value))
            return False
        return True

    def unique(self, kind, items, key):
        seen = set()
        for item in items:
            value = item.get(key)
            if value is not None and value in seen:
                self.error('%s %r' % (kind, value), 'duplicate %s' % key)
            seen.add(value)


def check_upstream(checker, index, raw):
    where, upstream = checker.item('wgsplit_upstreams[%d]' % index, raw, 'upstream', UPSTREAM_DEFAULTS,
                                   UPSTREAM_REQUIRED)
    if upstream is None:
        return None
    if not NAME.match(str(upstream['name'])):
        checker.error(where, 'name must use only a-z 0-9 _ -')
    checker.integer(where, upstream, 'id', 1, 255)
    try:
        check_endpoint(upstream['endpoint'])
    except ValueError as error:
        checker.error(where, 'endpoint %r is %s' % (upstream['endpoint'], error))
    for key in ('public_key', 'private_key', 'preshared_key'):
        if upstream[key] is not None and not is_wireguard_key(upstream[key]):
            # The value is a secret: name the key, never print it.
            checker.error(where, '%s is not a WireGuard key (44 characters of base64)' % key)
    for key, parse in (('address', interface_address), ('allowed_ips', normalize_network), ('dns', host_address)):
        upstream[key] = [str(value) for value in (as_list(upstream[key]))]
        for value in upstream[key]:
            try:
                parse(value)
            except ValueError as error:
                checker.error(where, '%s %r: %s' % (key, value, error))
    checker.integer(where, upstream, 'persistent_keepalive', 0, 65535)
    checker.integer(where, upstream, 'mtu', 1280, 9000)
    checker.boolean(where, upstream, 'enabled')
    return upstream


def interface_address(value):
    return ipaddress.ip_interface(str(value))


def host_address(value):
    """An address, also written as a /32 or /128 network."""
    network = ipaddress.ip_network(str(value))
    if network.prefixlen != network.max_prefixlen:
        raise ValueError('not a single address')
    return network.network_address


def check_rule(checker, where, raw, client_families):
    where, rule = checker.item(where, raw, None, RULE_DEFAULTS, RULE_REQUIRED)
    if rule is None:
        return None
    where = '%s (%s %s)' % (where, rule['type'], rule['value'])
    checker.choice(where, rule, 'type', ('domain', 'ip'))
    checker.choice(where, rule, 'action', ACTIONS)
    checker.boolean(where, rule, 'enabled')
    try:
        if rule['type'] == 'domain':
            rule['value'] = normalize_domain(rule['value'])
        elif rule['type'] == 'ip':
            network = normalize_network(rule['value'])
            if network.version not in client_families:
                raise ValueError('the client has no IPv%d address' % network.version)
            rule['value'] = str(network)
    except ValueError as error:
        checker.error(where, 'bad %s %r: %s' % (rule['type'], raw['value'], error))
    return rule


def check_client(checker, index, raw, upstream_names, server_networks):
    where, client = checker.item('wgsplit_clients[%d]' % index, raw, 'client', CLIENT_DEFAULTS, CLIENT_REQUIRED)
    if client is None:
        return None
    name = str(client['name'])
    if not NAME.match(name) or len(name) > CLIENT_NAME_MAX:
        checker.error(where, 'name must be 1 to %d of a-z 0-9 _ - (it names the client\'s ipsets)' % CLIENT_NAME_MAX)
    addresses = []
    for value in as_list(client['address']):
        try:
            address = ipaddress.ip_interface(str(value))
            if address.network.prefixlen != address.max_prefixlen:
                raise ValueError('a client address is one host (no /%d)' % address.network.prefixlen)
        except ValueError as error:
            checker.error(where, 'address %r: %s' % (value, error))
            continue
        if server_networks is not None and not any(address.ip in network for network in server_networks):
            checker.error(where, 'address %s is outside the server interface networks (%s)'
                          % (address.ip, ', '.join(str(network) for network in server_networks) or 'none'))
        addresses.append(str(address.ip))
    client['address'] = addresses
    if client['upstream'] not in upstream_names:
        checker.error(where, 'upstream %r is not in wgsplit_upstreams' % (client['upstream'],))
    for key in ('enabled', 'upstream_enabled'):
        checker.boolean(where, client, key)
    checker.choice(where, client, 'default_action', ACTIONS)
    if not isinstance(client['rules'], list):
        checker.error(where, 'rules must be a list')
        client['rules'] = []
    families = set(ipaddress.ip_address(address).version for address in addresses)
    client['rules'] = [rule for rule in (check_rule(checker, '%s rule %d' % (where, number + 1), rule, families)
                                         for number, rule in enumerate(client['rules'])) if rule is not None]
    return client


def check_dns_servers(checker, dns_servers):
    if not isinstance(dns_servers, list) or not dns_servers:
        checker.error('wgsplit_dns_servers', 'needs at least one resolver address, not %r' % (dns_servers,))
        return
    for server in dns_servers:
        try:
            host_address(server)
        except ValueError as error:
            checker.error('wgsplit_dns_servers', '%r: %s' % (server, error))


def check_inventory(upstreams, clients, server_networks=None, dns_servers=None):
    """(errors, upstreams, clients): every problem found, and the items with their defaults.

    `server_networks` are the networks of the server interface, `dns_servers` the resolver's default
    servers (None: not checked)."""
    checker = Checker()
    if dns_servers is not None:
        check_dns_servers(checker, dns_servers)
    networks = None
    if server_networks is not None:
        networks = [ipaddress.ip_interface(str(network)).network for network in server_networks]
    for name, value in (('wgsplit_upstreams', upstreams), ('wgsplit_clients', clients)):
        if not isinstance(value, list):
            checker.error(name, 'must be a list, not %r' % (value,))
    upstreams = upstreams if isinstance(upstreams, list) else []
    clients = clients if isinstance(clients, list) else []
    checked_upstreams = [item for item in (check_upstream(checker, index, raw)
                                           for index, raw in enumerate(upstreams)) if item is not None]
    checker.unique('upstream', checked_upstreams, 'name')
    checker.unique('upstream id', checked_upstreams, 'id')
    names = set(upstream['name'] for upstream in checked_upstreams)
    checked_clients = [item for item in (check_client(checker, index, raw, names, networks)
                                         for index, raw in enumerate(clients)) if item is not None]
    checker.unique('client', checked_clients, 'name')
    owners = {}
    for client in checked_clients:
        for address in client['address']:
            if address in owners:
                checker.error('client %r' % client['name'], 'address %s is also client %r\'s' % (address, owners[address]))
            owners.setdefault(address, client['name'])
    return checker.errors, checked_upstreams, checked_clients
