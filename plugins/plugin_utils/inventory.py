# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory of docs/contract.md, checked and normalized once.

`check_inventory` returns every problem at once, each naming the upstream, client or rule and the
offending value (never a key), so a run fails before it changes anything and the user fixes the
whole inventory in one go. What it returns besides is the canonical form of every value: the only
form later stages use, so nothing the inventory says reaches a file or a command verbatim.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import (
    Invalid, describe, endpoint, family, format_endpoint, host_address, hostname, integer, interface_address,
    ipv4_network_text, network, plain_text, type_name, wireguard_key)
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import kept_clients, rule_lists
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.settings import boolean, check_settings, choice, fraction

try:
    import idna
except ImportError:  # internationalised domain names then need it; ASCII names do not
    idna = None

UPSTREAM_NAME = re.compile(r'[a-z0-9_-]{1,32}')
# Client names appear in set and chain names: prefix + name + '-p4' must fit ipset's 31 characters.
CLIENT_NAME = re.compile(r'[a-z0-9_-]{1,24}')
RULE_SET_NAME = re.compile(r'[a-z0-9_-]{1,32}')
# Bad lines of a list file named in full; the others are counted (a list may have 100,000 lines).
BAD_LINES_NAMED = 5
ACTIONS = ('proxy', 'direct')
VARIABLE = re.compile(r'[A-Za-z0-9_]{1,80}')
REQUIRED = object()


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def name_of(pattern, text):
    def check(value):
        value = plain_text(value)
        if not pattern.fullmatch(value):
            raise Invalid('must be %s' % text)
        return value
    return check


def each(parse, allow_single=True):
    """A list of values (or one value, when `allow_single`), each parsed."""
    def check(value):
        if isinstance(value, dict) or (not allow_single and not isinstance(value, list)):
            raise Invalid('must be a list, not %s' % type_name(value))
        return [parse(item) for item in as_list(value)]
    return check


def each_item(parse):
    """Like each(), but the message names the bad item (not the whole list)."""
    def check(value):
        result = []
        for item in each(lambda item: item)(value):
            try:
                result.append(parse(item))
            except Invalid as error:
                raise Invalid('%s: %s' % (describe(item), error))
        return result
    check.names_value = True
    return check


def non_empty(parse):
    def check(value):
        result = parse(value)
        if not result:
            raise Invalid('needs at least one value')
        return result
    check.names_value = getattr(parse, 'names_value', False)
    return check


def domain(value):
    """A domain name as the resolver matches it: IDNA 2008 / UTS 46 (as browsers map it), ASCII, lower case."""
    text = plain_text(value)
    if text.startswith('*.'):
        raise Invalid('a domain rule already covers every subdomain: write it without "*."')
    if idna is not None:
        try:
            text = idna.encode(text, uts46=True, transitional=False, std3_rules=True).decode('ascii')
        except (idna.IDNAError, UnicodeError, ValueError):
            raise Invalid('not a valid domain name')
    elif not text.isascii():
        raise Invalid('an internationalised domain name needs the Python package idna on the controller')
    try:
        return hostname(text)
    except Invalid as error:
        if 'looks like an address' in str(error):
            raise Invalid('looks like an address; use type ip')
        raise Invalid('not a valid domain name')


def canonical_endpoint(value):
    return format_endpoint(*endpoint(value))


def client_address(value):
    """A client's address: one host ('10.8.0.2', also '10.8.0.2/32')."""
    parsed = ipaddress.ip_interface(interface_address(value))
    if parsed.network.prefixlen != parsed.max_prefixlen:
        raise Invalid('a client address is one host (no /%d)' % parsed.network.prefixlen)
    return str(parsed.ip)


UPSTREAM_FIELDS = dict(
    name=(REQUIRED, name_of(UPSTREAM_NAME, '1 to 32 of a-z 0-9 _ -')),
    id=(REQUIRED, lambda value: integer(value, 1, 255)),
    endpoint=(REQUIRED, canonical_endpoint),
    public_key=(REQUIRED, wireguard_key),
    private_key=(REQUIRED, wireguard_key),
    preshared_key=(None, wireguard_key),
    address=(REQUIRED, non_empty(each_item(interface_address))),
    allowed_ips=(['0.0.0.0/0'], non_empty(each_item(network))),
    persistent_keepalive=(25, lambda value: integer(value, 0, 65535)),
    mtu=(1420, lambda value: integer(value, 1280, 9000)),
    dns=([], each_item(host_address)),
    enabled=(True, boolean),
)
SECRET_FIELDS = ('public_key', 'private_key', 'preshared_key')
CLIENT_FIELDS = dict(
    name=(REQUIRED, name_of(CLIENT_NAME, '1 to 24 of a-z 0-9 _ - (it names the client\'s ipsets and chain)')),
    # By its addresses, by its WireGuard peer's public key (what wg-easy shows), or both.
    address=([], each_item(client_address)),
    public_key=(None, wireguard_key),
    upstream=(REQUIRED, plain_text),
    upstream_enabled=(True, boolean),
    enabled=(True, boolean),
    default_action=('direct', choice(*ACTIONS)),
    rules=([], each(lambda item: item, allow_single=False)),
    rule_sets=([], each_item(name_of(RULE_SET_NAME, 'a name in wgsplit_rule_sets'))),
)
RULE_SET_FIELDS = dict(
    name=(REQUIRED, name_of(RULE_SET_NAME, '1 to 32 of a-z 0-9 _ -')),
    rules=([], each(lambda item: item, allow_single=False)),
    # A file on the controller, one domain, address or network per line; relative to the inventory's directory.
    file=(None, plain_text),
    action=('proxy', choice(*ACTIONS)),  # of the file's entries
    max_change=(None, fraction),  # wgsplit_rule_set_max_change for this list
)
RULE_FIELDS = dict(
    type=(REQUIRED, choice('domain', 'ip')),
    value=(REQUIRED, lambda value: value),  # parsed by type in check_rule
    action=('proxy', choice(*ACTIONS)),
    enabled=(True, boolean),
)


class Checker(object):
    """Collects problems with the place they were found in."""

    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, where, text):
        self.errors.append('%s: %s' % (where, text))

    def item(self, where, raw, fields):
        """The item with every field parsed (defaults filled in), or None when a field is bad or missing."""
        if not isinstance(raw, dict):
            self.error(where, 'must be a mapping, not %s' % describe(raw))
            return None
        item, good = {}, True
        for key in raw:
            if key not in fields:
                self.error(where, 'unknown key %s' % describe(key))
                good = False
        for key, (default, parse) in fields.items():
            value = raw.get(key, default)
            if default is REQUIRED and (value is REQUIRED or value is None or value == '' or value == []):
                self.error(where, '%s is missing' % key)
                good = False
                continue
            if value is None:
                if default is not None:
                    # A blank key in YAML: refused rather than read as false, empty or the default.
                    self.error(where, '%s must not be null (leave it out for its default, %s)' % (key, describe(default)))
                    good = False
                item[key] = None
                continue
            try:
                item[key] = parse(value)
            except Invalid as error:
                # A key's value is never repeated: name the field only.
                # Keys are never repeated; a list's bad item is named by its parser.
                shown = '' if key in SECRET_FIELDS or getattr(parse, 'names_value', False) else ' %s' % describe(value)
                self.error(where, '%s%s %s' % (key, shown, error))
                good = False
        return item if good else None

    def unique(self, kind, items, key):
        """One item per `key`; a key that is not the name names the items that share it."""
        seen = {}
        for item in items:
            if item[key] in seen:
                both = '' if key == 'name' else ' (%s %r and %r)' % (kind.split()[0], seen[item[key]]['name'], item['name'])
                self.error('%s %r' % (kind, item[key]), 'duplicate %s%s' % (key, both))
            seen.setdefault(item[key], item)


def variable_name(name):
    """wgsplit_NAME for a message, escaped unless it is a plain identifier."""
    text = 'wgsplit_%s' % name
    return text if VARIABLE.fullmatch(text) else describe(text)


def usable_name(kind, raw):
    """The item's name when it is one (whatever else is wrong with the item), else None."""
    patterns = {'upstream': UPSTREAM_NAME, 'client': CLIENT_NAME, 'rule set': RULE_SET_NAME}
    if isinstance(raw, dict):
        try:
            return name_of(patterns[kind], '')(raw.get('name'))
        except Invalid:
            pass
    return None


def item_label(kind, raw, index, list_name):
    """'upstream 'us'' when the item has a usable name, else its position in the list."""
    name = usable_name(kind, raw)
    return '%s[%d]' % (list_name, index) if name is None else '%s %r' % (kind, name)


def check_names_unique(checker, kind, raws, more=()):
    """One item per name among every item that has a usable one, bad or not (every problem at once)."""
    names = [usable_name(kind, raw) for raw in raws] + list(more)
    checker.unique(kind, [dict(name=name) for name in names if name is not None], 'name')


def check_rule(checker, where, raw):
    rule = checker.item(where, raw, RULE_FIELDS)
    if rule is None:
        return None
    where = '%s (%s %s)' % (where, rule['type'], describe(raw['value']))
    try:
        if rule['type'] == 'domain':
            rule['value'] = domain(rule['value'])
        else:
            rule['value'] = network(rule['value'])
    except Invalid as error:
        checker.error(where, 'bad %s %s: %s' % (rule['type'], describe(raw['value']), error))
        return None
    return rule


def check_client(checker, where, raw, upstream_names):
    client = checker.item(where, raw, CLIENT_FIELDS)
    if client is None:
        return None
    if not client['address'] and client['public_key'] is None:
        checker.error(where, 'address or public_key is missing (the client\'s addresses, or its WireGuard peer\'s key)')
    if live(client) and client['upstream'] not in upstream_names:
        checker.error(where, 'upstream %s is not in wgsplit_upstreams' % describe(client['upstream']))
    rules = [check_rule(checker, '%s rule %d' % (where, number + 1), rule) for number, rule in enumerate(client['rules'])]
    client['rules'] = [rule for rule in rules if rule is not None]
    return client if all(rule is not None for rule in rules) else None


def check_rule_set(checker, where, raw, read, previous, settings):
    """A named list: its inline rules and the entries of its file (guarded), or None when anything is bad."""
    rule_set = checker.item(where, raw, RULE_SET_FIELDS)
    if rule_set is None:
        return None
    rules = [check_rule(checker, '%s rule %d' % (where, number + 1), rule) for number, rule in enumerate(rule_set['rules'])]
    good = all(rule is not None for rule in rules)
    rule_set['rules'] = [rule for rule in rules if rule is not None]
    rule_set['count'] = None
    if rule_set['file'] is not None:
        shown = '%s file %s' % (where, describe(rule_set['file']))
        try:
            text = read(rule_set['file'])
        except Invalid as error:
            checker.error(shown, str(error))
            return None
        file_rules = check_list_entries(checker, shown, text, rule_set['action'])
        if file_rules is None:
            return None
        max_change = settings['rule_set_max_change'] if rule_set['max_change'] is None else rule_set['max_change']
        refused = rule_lists.guard(len(file_rules), previous.get(rule_set['name']), max_change,
                                   settings['rule_set_max_entries'])
        if refused:
            checker.error(shown, refused)
            return None
        rule_set['rules'] += file_rules
        rule_set['count'] = len(file_rules)
    return rule_set if good else None


def check_list_entries(checker, where, text, action):
    """The rules of a list file's lines (each a domain, address or network), or None with the bad lines named."""
    cut_short = rule_lists.cut_short(text)
    if cut_short:
        checker.error(where, cut_short)
        return None
    rules, bad, seen = [], [], set()
    for number, entry in rule_lists.entries(text):
        value = ipv4_network_text(entry)  # most lines of a network list: canonical already, checked once
        kind = 'ip' if value else rule_lists.entry_type(entry)
        try:
            value = value or (domain(entry) if kind == 'domain' else network(entry))
        except Invalid as error:
            # Named by number, never quoted (nor any part of the line: the reason without its hint): a path can point
            # at any file the controller reads (an AWX job's environment, a key), and the job's output is seen by
            # whoever may read it.
            bad.append('line %d: bad %s: %s' % (number, kind, error.reason))
            continue
        too_broad = rule_lists.broad_entry(kind, value)
        if too_broad:
            bad.append('line %d: %s: %s' % (number, kind, too_broad))
            continue
        if (kind, value) not in seen:  # a line repeated counts once: the guard compares distinct entries
            seen.add((kind, value))
            rules.append(dict(type=kind, value=value, action=action, enabled=True))
    for message in bad[:BAD_LINES_NAMED]:
        checker.error(where, message)
    if len(bad) > BAD_LINES_NAMED:
        checker.error(where, 'and %d more bad lines' % (len(bad) - BAD_LINES_NAMED))
    return None if bad else rules


def check_rule_sets(checker, raws, read, previous, settings):
    """{name: rule set} of wgsplit_rule_sets."""
    if not isinstance(raws, list):
        checker.error('wgsplit_rule_sets', 'must be a list, not %s' % type_name(raws))
        return {}, set()
    names = set(usable_name('rule set', raw) for raw in raws) - {None}
    rule_sets = [check_rule_set(checker, item_label('rule set', raw, index, 'wgsplit_rule_sets'), raw, read, previous,
                                settings) for index, raw in enumerate(raws)]
    rule_sets = [rule_set for rule_set in rule_sets if rule_set is not None]
    check_names_unique(checker, 'rule set', raws)
    return dict((rule_set['name'], rule_set) for rule_set in rule_sets), names


def check_client_rule_sets(checker, clients, names):
    """Each list a client references is defined (a list with errors of its own is not blamed on the client)."""
    for client in clients:
        for name in client['rule_sets']:
            if name not in names:
                checker.error('client %r' % client['name'], 'rule set %r is not in wgsplit_rule_sets' % name)


def server_networks(server):
    """The networks of the server interface's addresses (discovery: 'address/prefixlen'), IPv4 first."""
    networks = set(ipaddress.ip_interface(value).network for value in (server or {}).get('addresses', []))
    return sorted(networks, key=lambda network: (network.version, network))


def check_addresses(checker, clients, server):
    """Client addresses inside the server interface's networks; each client completed with the other
    addresses its WireGuard peer has (wg-easy gives every peer an IPv4 and an IPv6 address): a family
    the inventory does not list is split too, never left unclassified."""
    networks = server_networks(server)
    for client in clients:
        where = 'client %r' % client['name']
        if client['public_key'] is not None and not add_peer_addresses(checker, where, client, server, networks):
            continue  # its addresses are not known: nothing more to say of them
        for value in client['address']:
            if not any(ipaddress.ip_address(value) in net for net in networks):
                checker.error(where, 'address %s is outside the server interface networks (%s)'
                              % (value, ', '.join(str(net) for net in networks) or 'none'))
        for value in peer_addresses(checker, where, client, server.get('peers'), networks):
            checker.warnings.append('%s: also split at %s, the other address its WireGuard peer has'
                                    % (where, value))
            client['address'].append(value)
        if server.get('peers') is None:
            unlisted_families(checker, where, client, networks, server.get('name') or 'the server interface')


def add_peer_addresses(checker, where, client, server, networks):
    """A client given by public key: every host address its peer has in the server networks. A peer that is
    missing (or disabled: wg-easy takes a disabled peer off the interface) is reported, and the client is
    not split until a run finds it again; an address listed beside the key must be the peer's. False when
    the client's addresses cannot be known."""
    peers = server.get('peers')
    interface = server.get('name') or 'the server interface'
    if peers is None:
        checker.error(where, 'public_key needs the WireGuard peers of %s, which cannot be read (`wg show %s dump`)'
                      % (interface, interface))
        return False
    peer = next((peer for peer in peers if peer.get('public_key') == client['public_key']), None)
    if peer is None:
        listed = bool(client['address'])
        checker.warnings.append('%s: no peer of %s has its public key (missing, or disabled on the server): %s'
                                % (where, interface, 'it is split at the addresses it lists' if listed
                                   else 'it is not split until a run finds the peer'))
        client['peer_missing'] = not listed
        return listed
    hosts = []
    for value in peer.get('allowed_ips', []):
        net = ipaddress.ip_network(value, strict=False)
        if net.prefixlen == net.max_prefixlen and any(net.subnet_of(server_net) for server_net in networks
                                                      if server_net.version == net.version):
            hosts.append(str(net.network_address))
    for value in client['address']:
        if value not in hosts:
            checker.error(where, 'address %s is not one of its WireGuard peer\'s (%s)' % (value, ', '.join(hosts) or 'none'))
    client['address'] = ordered_addresses(client['address'] + hosts)
    if not client['address']:
        checker.error(where, 'its WireGuard peer has no address in the server interface networks')
    return bool(client['address'])


def ordered_addresses(values):
    """Addresses without repeats, IPv4 first, each family in address order."""
    return sorted(set(values), key=lambda value: (family(value), ipaddress.ip_address(value)))


def unlisted_families(checker, where, client, networks, interface):
    """Without the peer table, a family the server serves and the client does not list cannot be found,
    and it would leave the client unclassified: refused."""
    listed = set(family(value) for value in client['address'])
    for version in sorted(set(net.version for net in networks) - listed):
        served = ', '.join(str(net) for net in networks if net.version == version)
        checker.error(where, 'the server interface also serves IPv%d (%s) and its WireGuard peers cannot be read'
                             ' (`wg show %s dump`) to find the client\'s IPv%d address: list it in address, or make'
                             ' wg work on the gateway' % (version, served, interface, version))


def check_upstream_resolvers(checker, upstreams, dns_servers, server):
    """An upstream's resolvers are routed into its tunnel for the whole gateway (`to <address>` rules): one
    upstream's only, never a default resolver, never an address of the clients' networks."""
    networks = server_networks(server)
    owners = {}
    for upstream in upstreams:
        where = 'upstream %r' % upstream['name']
        for address in upstream['dns']:
            if address in owners:
                checker.error(where, 'dns %s is also upstream %r\'s (its queries can go through one tunnel only)'
                              % (address, owners[address]))
            owners.setdefault(address, upstream['name'])
            if address in dns_servers:
                checker.error(where, 'dns %s is also in wgsplit_dns_servers (every default query would go through'
                                     ' this tunnel)' % address)
            if any(ipaddress.ip_address(address) in network for network in networks):
                checker.error(where, 'dns %s is inside the server interface networks' % address)


def live(client):
    """Whether a client is split when its upstream is: a disabled client (or one whose upstream is turned off for it)
    behaves as if absent, so only its own fields are checked, not what it would claim beside the others (an address,
    a peer, an upstream or a rule list that may be gone)."""
    return client['enabled'] and client['upstream_enabled']


def check_rule_families(checker, clients):
    """An enabled IP rule of a family the client has an address of (after the peer table added the others)."""
    for client in clients:
        if not client['address']:
            continue  # the client's own error says why it has none
        families = set(family(value) for value in client['address'])
        for number, rule in enumerate(client['rules']):
            if rule['enabled'] and rule['type'] == 'ip' and family(rule['value']) not in families:
                checker.error('client %r rule %d (ip %s)' % (client['name'], number + 1, rule['value']),
                              'bad ip %r: the client has no IPv%d address' % (rule['value'], family(rule['value'])))


def unreadable(_path):
    raise Invalid('cannot be read here (no directory to read list files from)')


def check_claimed_once(checker, clients, values, label):
    """Each value (an address, a peer's key) belongs to one client; `label(value)` names it in the message."""
    owners = {}
    for client in clients:
        for value in values(client):
            if value in owners:
                checker.error('client %r' % client['name'], '%s is also client %r\'s' % (label(value), owners[value]))
            owners.setdefault(value, client['name'])


def peer_addresses(checker, where, client, peers, networks):
    """Addresses of the client's peer, inside the server networks, that the client does not list."""
    if not peers:
        return []
    listed = [ipaddress.ip_address(value) for value in client['address']]
    extra = []
    for peer in peers:
        allowed = [ipaddress.ip_network(value, strict=False) for value in peer.get('allowed_ips', [])]
        if not any(value in net for value in listed for net in allowed):
            continue
        for net in allowed:
            if not any(net.version == server_net.version and net.overlaps(server_net) for server_net in networks):
                continue
            if net.prefixlen != net.max_prefixlen:
                if not any(value in net for value in listed):
                    checker.error(where, 'its WireGuard peer also has the network %s, which one client cannot stand for'
                                  % net)
                continue
            if net.network_address not in listed:
                extra.append(str(net.network_address))
    return sorted(set(extra), key=lambda value: (family(value), value))


def check_inventory(variables, server=None, read=None, previous=None, kept=None):
    """Every problem of the inventory and the canonical form of each value.

    `variables`: the `wgsplit_*` variables without their prefix (missing ones get their defaults).
    `server`: what discovery found of the server interface ({exists, addresses, peers}); None: not known.
    `read(path)`: the text of a rule list file (raises Invalid); `previous`: {list name: entries} when last applied.
    `kept`: {name: file text} of the clients kept on the gateway (kept_clients), which an edit (`edit_*`) changes.
    Returns dict(errors, warnings, settings, upstreams, clients, rule_sets, kept); `kept` is {name: file content, or
    None for a file to remove}."""
    checker = Checker()
    settings, unknown = check_settings(variables, checker.errors)
    checker.warnings.extend('%s is not a variable of the collection (a typo?): it is ignored' % variable_name(name)
                            for name in unknown)
    result = dict(errors=checker.errors, warnings=checker.warnings, settings=settings, upstreams=[], clients=[],
                  rule_sets={}, kept={})
    if settings.get('state') == 'absent':
        return result
    lists = {}
    for name in ('upstreams', 'clients'):
        value = variables.get(name, [])
        if not isinstance(value, list):
            checker.error('wgsplit_%s' % name, 'must be a list, not %s' % type_name(value))
            value = []
        lists[name] = value
    labels = [item_label('upstream', raw, index, 'wgsplit_upstreams') for index, raw in enumerate(lists['upstreams'])]
    upstreams = [checker.item(label, raw, UPSTREAM_FIELDS) for label, raw in zip(labels, lists['upstreams'])]
    upstreams = [item for item in upstreams if item is not None]
    check_names_unique(checker, 'upstream', lists['upstreams'])
    checker.unique('upstream id', upstreams, 'id')
    # Clients of an upstream with errors of its own are not blamed for naming it.
    names = set(usable_name('upstream', raw) for raw in lists['upstreams']) - {None}
    clients = [check_client(checker, item_label('client', raw, index, 'wgsplit_clients'), raw, names)
               for index, raw in enumerate(lists['clients'])]
    clients = [item for item in clients if item is not None]
    inventory_names = set(raw['name'] for raw in lists['clients'] if isinstance(raw, dict) and isinstance(raw.get('name'), str))
    kept_raw, result['kept'] = kept_clients.kept_entries(checker, variables, kept or {}, inventory_names, CLIENT_NAME)
    kept_names = []
    for label, raw in kept_raw:
        client = check_client(checker, label, raw, names)
        if client is not None:
            result['kept'][client['name']] = kept_clients.content(client)  # before the peer's addresses join it
            clients.append(client)
            kept_names.append(client['name'])
    check_names_unique(checker, 'client', lists['clients'], kept_names)
    if 'rule_set_max_change' in settings and 'rule_set_max_entries' in settings:  # else their own error says why
        rule_sets, rule_set_names = check_rule_sets(checker, variables.get('rule_sets', []), read or unreadable,
                                                    previous or {}, settings)
        check_client_rule_sets(checker, [client for client in clients if live(client)], rule_set_names)
        result['rule_sets'] = rule_sets
    check_upstream_resolvers(checker, upstreams, settings.get('dns_servers') or [], server)
    # What a client claims beside the others, for the clients that are split (names stay unique among all).
    clients = [client for client in clients if live(client)]
    # One client per WireGuard peer (the key is not repeated: the clients' names say which).
    check_claimed_once(checker, clients, lambda client: [client['public_key']] if client['public_key'] else [],
                       lambda _key: 'public_key')
    if server is not None and server.get('exists'):
        check_addresses(checker, clients, server)
        clients = [client for client in clients if not client.pop('peer_missing', False)]
    elif any(client['public_key'] and not client['address'] for client in clients):
        checker.error('wgsplit_clients', 'a client given by public_key only needs the server interface\'s peers')
    check_claimed_once(checker, clients, lambda client: client['address'], lambda address: 'address %s' % address)
    check_rule_families(checker, clients)
    result.update(upstreams=upstreams, clients=clients)
    return result
