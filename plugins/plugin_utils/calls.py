# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module calls a run makes that may find nothing to do, per role in the order it makes them, with the arguments
the roles pass: each role reads its own in one split_pending call, and skips those it finds in sync.

Each role's task passes exactly these arguments (tests/unit/plugins/plugin_utils/test_calls.py reads the roles'
tasks against them): a task whose arguments drifted from its call could be skipped while it would change something.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.wgsplit.gateway.plugins.module_utils.upstreams import KEY_OPTIONS

ROLES = ('wg_upstream', 'split_client', 'dnsmasq_split')  # playbooks/site.yml's order; removal runs it backwards


def public(interfaces):
    """Upstreams or wg_upstream's interfaces without their keys (split_pending takes them apart, hidden from logs)."""
    return [dict((key, value) for key, value in spec.items() if key not in KEY_OPTIONS) for spec in interfaces]


def interface_keys(interfaces):
    """{interface: its keys}, for split_pending's `interface_keys`."""
    return dict((spec['name'], dict((key, spec[key]) for key in KEY_OPTIONS)) for spec in interfaces if 'private_key' in spec)


def module_calls(state, interfaces, sets, chains, routing, table=None, table_removed=None):
    """{role: [{name, module, args}]}, roles and calls in the order the run makes them; a call whose list is empty is
    left out, as its task is skipped. `interfaces` are wg_upstream's (keys included); `chains` and `routing` are per
    role; `table` nft_table's arguments (the nftables backend) or None, `table_removed` its removal per role (or None).
    Each role checks its own calls right before making them, so that what ran before (another role, a handler) is read
    too: split_client and dnsmasq_split share the refusal table.

    The table comes before the iptables chains it replaces go, and goes after every chain that replaces it is made (the
    DNS redirect is dnsmasq_split's): a switch of backend never leaves the server interface's packets unmarked or the
    clients' DNS queries unredirected."""
    table_removed = table_removed or {}
    by_role = dict(
        wg_upstream=[('wg_upstream', 'wg_upstream', dict(upstreams=public(interfaces))),
                     ('wg_upstream.routing', 'policy_route', dict(tables=routing['wg_upstream'])),
                     ('wg_upstream.chains', 'mangle_mark', dict(chains=chains['wg_upstream'], family='both'))],
        split_client=[('split_client.sets', 'ipset_set', dict(sets=sets)),
                      ('split_client.table', 'nft_table', table),
                      ('split_client.chains', 'mangle_mark', dict(chains=chains['split_client'], family='both')),
                      ('split_client.table_removed', 'nft_table', table_removed.get('split_client')),
                      ('split_client.routing', 'policy_route', dict(tables=routing['split_client']))],
        dnsmasq_split=[('dnsmasq_split.routing', 'policy_route', dict(tables=routing['dnsmasq_split'])),
                       ('dnsmasq_split.chains', 'mangle_mark', dict(chains=chains['dnsmasq_split'], family='both')),
                       ('dnsmasq_split.table_removed', 'nft_table', table_removed.get('dnsmasq_split'))])
    roles = ROLES if state != 'absent' else ROLES[::-1]
    return dict((role, [dict(name=name, module=module, args=args) for name, module, args in by_role[role] if given(args)])
                for role in roles)


def given(args):
    """Whether a call has something to do: nft_table's when it has arguments, the others when their list (the
    option that is not `family`) is not empty."""
    if not args or 'table' in args:
        return bool(args)
    return all(value for key, value in args.items() if key != 'family')


# What a role does beside its calls, each from the plan alone (tests/unit/plugins/plugin_utils/test_calls.py checks
# that a role's tasks read no other plan key outside their calls).
OTHER_WORK = dict(
    wg_upstream={},
    split_client=dict(
        kept_clients=lambda kept: bool(kept['write'] or kept['remove']),
        removed=lambda removed: bool(removed['sets']),
        metrics=lambda metrics: bool(any(item['write'] for item in metrics['files']) or metrics['start']
                                     or metrics['stop'] or metrics['remove'])),
    dnsmasq_split=dict(
        resolver=lambda resolver: bool(resolver['stale_sets'] or resolver['stale_table_sets'] or resolver['apply']
                                       or resolver['journal'] is not None or resolver['journal_removal'] is not None)),
)


def role_work(planned, pending):
    """{role: whether its tasks have anything to do}, from the plan and split_pending's reading of its calls (`pending`,
    empty when there was none): a call to run, its calls to read again, or other work. A role with nothing to do skips
    its tasks in one (playbooks/site.yml): a run that changes nothing evaluates a handful of tasks, not dozens."""
    if planned['errors']:
        return dict.fromkeys(ROLES, True)  # the plan role's assert stops the run first
    work = {}
    for role in ROLES:
        calls = [call['name'] for call in planned['calls'].get(role, [])]
        read = bool(calls) and (not pending or pending['read_again'].get(role, True)
                                or any(pending['run'].get(name, True) for name in calls))
        work[role] = read or any(pending_work(planned[key]) for key, pending_work in OTHER_WORK[role].items())
    return work
