# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter the roles plan with; the logic lives in plugins/plugin_utils (pure, unit-tested)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.status import status


def split_plan(variables, discovery, base_dir=None):
    """Everything the roles apply, from the `wgsplit_*` variables (without their prefix) and what
    wgsplit.gateway.split_info found on the host (with the clients kept on it, and the edit of playbooks/client.yml);
    `errors` lists every problem, and then nothing else is planned.
    Rule list files are read from `base_dir` (the inventory's directory) when their path is relative."""
    if not isinstance(variables, dict) or not isinstance(discovery, dict):
        raise AnsibleFilterError('split_plan takes the collection variables and the split_info result, as mappings')
    return plan_inventory(variables, discovery, base_dir)


def split_status(planned, discovery, pending=None):
    """What the gateway does now (upstreams' tunnels, clients' sets, the resolver) and what a run would change, from
    the plan, split_info and split_pending."""
    if not isinstance(planned, dict) or not isinstance(discovery, dict) or not isinstance(pending, (dict, type(None))):
        raise AnsibleFilterError('split_status takes the plan, the split_info result and the split_pending result, as mappings')
    return status(planned, discovery, pending)


class FilterModule(object):

    def filters(self):
        return dict(split_plan=split_plan, split_status=split_status)
