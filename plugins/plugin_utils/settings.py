# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's settings (`wgsplit_*` variables other than upstreams and clients): the one
default of each, and the check that turns what the inventory says into a canonical value or a
message naming the variable. Role argument specs document the same defaults (a unit test keeps
them in step).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import (
    BUILTIN_CHAINS, CHAIN_NAME, Invalid, describe, host_address, integer, interface_name, plain_text, type_name)
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import RESERVED_TABLES

MAX_U32 = 0xffffffff
# Rules the collection places at its priority P and P + 1 must come before Tailscale's (5210-5270, the
# lowest documented range of other software) and so before wg-quick's (32764-32765) and main (32766).
FIRST_FOREIGN_RULE_PRIORITY = 5210
SET_PREFIX = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_-]{0,7}')
INVENTORY_LISTS = ('upstreams', 'clients', 'rule_sets')
# The answers of playbooks/client.yml's survey (plugin_utils/kept_clients.py): not settings, not unknown either.
EDIT_VARIABLES = ('edit_name', 'edit_state', 'edit_address', 'edit_public_key', 'edit_upstream', 'edit_default_action',
                  'edit_rules', 'edit_rule_sets')
# DNS over TLS and over QUIC, refused for split clients with block_encrypted_dns (it would bypass the domain rules).
ENCRYPTED_DNS_PORT = 853
# The upstream interfaces' names: wg-up-ID.
INTERFACE_PREFIX = 'wg-up-'
CHAIN_SETTINGS = ('mark_chain', 'clients_chain', 'snat_chain', 'dns_chain', 'filter_chain', 'count_chain', 'output_chain')
DIRECTORY = re.compile(r'(/[A-Za-z0-9_.-]+)+')


def boolean(value):
    if not isinstance(value, bool):
        raise Invalid('must be true or false, not %s' % type_name(value))
    return value


def choice(*choices):
    def check(value):
        if value not in choices:
            raise Invalid('must be one of %s' % ', '.join(choices))
        return value
    return check


def number(low, high):
    return lambda value: integer(value, low, high)


def mark_mask(value):
    """A contiguous 32-bit mask of at least two bits: the lowest marks direct, the others hold upstream ids."""
    mask = integer(value, 1, MAX_U32)
    lowest = mask & -mask
    if (mask + lowest) & mask:
        raise Invalid('must be one run of contiguous bits (for example 0xff800000)')
    if mask == lowest:
        raise Invalid('needs at least two bits (one for direct, the others for upstream ids)')
    return mask


def table_base(value):
    """Tables base .. base + 255 (the refusal table and one per upstream id) must all be free to use."""
    base = integer(value, 1, MAX_U32 - 255)
    if base <= max(RESERVED_TABLES):
        raise Invalid('must be at least 256 (tables base to base + 255 must miss local, main and default)')
    return base


def rule_priority(value):
    return integer(value, 1, FIRST_FOREIGN_RULE_PRIORITY - 2)


def set_prefix(value):
    text = plain_text(value)
    if not SET_PREFIX.fullmatch(text):
        raise Invalid('must be 1 to 8 of A-Z a-z 0-9 _ -, not starting with - (it starts every set and client chain'
                      ' of the collection)')
    return text


def chain(value):
    text = plain_text(value)
    if not CHAIN_NAME.fullmatch(text) or text in BUILTIN_CHAINS:
        raise Invalid('must be 1 to 28 of A-Z a-z 0-9 _ -, not starting with - and not a built-in chain')
    return text


def directory(value):
    """An absolute directory path of plain names (it reaches a systemd unit and a file name)."""
    text = plain_text(value).rstrip('/')
    if not DIRECTORY.fullmatch(text) or any(part in ('.', '..') for part in text.split('/')):
        raise Invalid('must be an absolute directory path of A-Z a-z 0-9 _ . - names, without . or .. parts')
    if text.count('/') < 2:
        raise Invalid('is a top-level directory of the system (/tmp, /var, ...): name a directory of its own inside one')
    return text


def fraction(value):
    """A share of a rule list's size, as a number from 0 (no change allowed) to 100 (a hundredfold)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise Invalid('must be a number from 0 to 100 (0.2: a list may shrink or grow by a fifth)')
    return float(value)


def dns_servers(value):
    if not isinstance(value, list) or not value:
        raise Invalid('needs a list of at least one resolver address')
    servers = []
    for item in value:
        try:
            servers.append(host_address(item))
        except Invalid as error:
            raise Invalid('%s: %s' % (describe(item), error))
    return sorted(set(servers), key=servers.index)


# name (the variable without its wgsplit_ prefix): (default, check). `None` as default: required.
SETTINGS = dict(
    state=('present', choice('present', 'absent')),
    backend=('iptables', choice('iptables', 'nftables')),
    server_interface=('wg0', interface_name),
    dns_servers=(None, dns_servers),
    mark_mask=(0xff800000, mark_mask),
    table_base=(51000, table_base),
    rule_priority=(5000, rule_priority),
    set_prefix=('wgs-', set_prefix),
    max_ipsets=(256, number(1, 65535)),
    kill_switch_metric=(4000, number(1, MAX_U32)),
    dns_redirect=(True, boolean),
    block_encrypted_dns=(False, boolean),
    mark_chain=('WGSPLIT', chain),
    clients_chain=('WGSPLIT_CLIENTS', chain),
    snat_chain=('WGSPLIT_SNAT', chain),
    dns_chain=('WGSPLIT_DNS', chain),
    filter_chain=('WGSPLIT_FILTER', chain),
    count_chain=('WGSPLIT_COUNT', chain),
    output_chain=('WGSPLIT_OUTPUT', chain),
    upstream_rp_filter=(2, number(0, 2)),
    resolver_cache_size=(10000, number(0, 1000000)),
    resolver_max_ttl=(300, number(1, 86400)),
    resolver_instances=(250, number(1, 250)),
    manage_packages=(True, boolean),
    learned_timeout=(86400, number(0, 2147483)),
    set_maxelem=(65536, number(1024, 16777216)),
    rule_set_max_change=(0.2, fraction),
    rule_set_max_entries=(200000, number(1, 10000000)),
    accounting=(True, boolean),
    metrics=(False, boolean),
    metrics_interval=(60, number(10, 86400)),
    metrics_textfile_dir=('/var/lib/prometheus/node-exporter', directory),
)


def backend_errors(settings, errors):
    """What the nftables backend cannot name."""
    prefix = settings.get('set_prefix')
    if prefix and not (prefix[0].isalpha() or prefix[0] == '_'):
        errors.append('wgsplit_set_prefix: %s must start with a letter or _ with wgsplit_backend nftables (nft names)'
                      % prefix)


def check_settings(variables, errors):
    """({name: canonical value} for every setting, names of the variables that are no setting); problems
    appended to `errors` as 'wgsplit_NAME: reason'.

    `dns_servers` is required only when the state is present (absent needs no resolver)."""
    settings = {}
    for name, (default, check) in SETTINGS.items():  # state first: dns_servers depends on it
        raw = variables.get(name, default)
        if raw is None:
            if default is not None:
                errors.append('wgsplit_%s: must not be null (leave it out for its default, %s)' % (name, describe(default)))
            elif name == 'dns_servers' and settings.get('state') != 'present':
                settings[name] = []
            else:
                errors.append('wgsplit_%s: is required' % name)
            continue
        try:
            settings[name] = check(raw)
        except Invalid as error:
            shown = isinstance(raw, (str, int)) and not isinstance(raw, bool)
            errors.append('wgsplit_%s: %s %s' % (name, describe(raw), error) if shown else 'wgsplit_%s: %s' % (name, error))
    unknown = sorted(set(variables) - set(SETTINGS) - set(INVENTORY_LISTS) - set(EDIT_VARIABLES))
    learned, ttl = settings.get('learned_timeout'), settings.get('resolver_max_ttl')
    if learned and ttl and learned < 2 * ttl:
        errors.append('wgsplit_learned_timeout: %d must be 0 or at least twice wgsplit_resolver_max_ttl (%d): an address'
                      ' would leave its set while a client still holds the answer' % (learned, ttl))
    if settings.get('backend') == 'nftables':
        backend_errors(settings, errors)
    chains = [settings[name] for name in CHAIN_SETTINGS if name in settings]
    if len(set(chains)) != len(chains):
        errors.append('wgsplit_*_chain: the chain names must differ (%s)' % ', '.join(chains))
    return settings, unknown
