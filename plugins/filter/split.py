# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the roles compute with; the logic lives in plugins/plugin_utils (pure, unit-tested)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan, stale_sets


def split_check(upstreams, clients, server_networks=None, dns_servers=None):
    """{errors, upstreams, clients}: every problem of the inventory, and its items with defaults."""
    errors, checked_upstreams, checked_clients = check_inventory(upstreams, clients, server_networks, dns_servers)
    return dict(errors=errors, upstreams=checked_upstreams, clients=checked_clients)


def split_interface_networks(ip_json):
    """'address/prefixlen' of each global address in the output of `ip -j addr show dev IF`."""
    return ['%s/%s' % (info['local'], info['prefixlen']) for link in ip_json for info in link.get('addr_info', [])
            if info.get('scope') == 'global']


def split_plan(checked, settings):
    """Sets, chains, routes and resolver lines for a checked inventory (see split_check)."""
    if checked['errors']:
        raise AnsibleFilterError('split_plan needs an inventory without errors')
    return plan(checked['upstreams'], checked['clients'], settings)


def split_stale_sets(old_config, resolver_lines):
    """Sets the old resolver configuration fed from domains the new lines no longer send them."""
    return stale_sets(old_config, resolver_lines)


class FilterModule(object):

    def filters(self):
        return dict(split_check=split_check, split_interface_networks=split_interface_networks, split_plan=split_plan,
                    split_stale_sets=split_stale_sets)
