#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: split_pending
short_description: Say in one read-only call which of the plan's module calls would change the gateway
version_added: 0.2.0
description:
  - Runs, for each call given, what the module named would do in check mode (the same code, from the
    collection's C(module_utils)), and reports which calls would change something. The collection's C(plan) role
    reads every call of the run once, and the roles skip the calls found in sync, so a run that changes nothing
    executes this module once instead of one module per call.
  - A call is pending when the kernel differs from what it wants, when one of its boot files differs, when it
    would warn, and when its arguments or its reading fail (the module then runs and reports the failure).
  - Calls are given in the order the run makes them. A call after a pending one of the same role (the part of
    its name before the first dot) always runs, whatever it found, since the change of an earlier call can
    change what a later one finds (an interface recreated loses its routes).
  - The result is true of the moment it is read. A play that runs other tasks between it and the calls must read
    again; the collection's roles do, right before their calls, unless C(playbooks/site.yml) runs them back to back.
    There, once a call of an earlier role runs, what a later role's calls find may differ, so I(read_again) names
    the roles that must read their calls again.
  - The module changes nothing on the gateway, so C(changed) is always C(false). With I(remember) it keeps the calls it
    read (a cache for M(wgsplit.gateway.split_info)), but not in check mode.
extends_documentation_fragment:
  - wgsplit.gateway.attributes.read_only
  - wgsplit.gateway.attributes
attributes:
  check_mode:
    description: The reading is the same in check mode; the calls are then neither kept nor forgotten (I(remember)).
    support: full
  diff_mode:
    description: Nothing of the gateway changes (the calls kept are a cache of the reading), so there is no difference to report.
    support: full
options:
  calls:
    description: The module calls, in the order the run makes them.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The call's name, unique, C(ROLE) or C(ROLE.PART); the key of I(run) and I(pending).
        type: str
        required: true
      module:
        description: The module the call runs.
        type: str
        required: true
        choices: [wg_upstream, policy_route, mangle_mark, ipset_set, nft_table]
      args:
        description:
          - The module's arguments, checked by the module's own argument specification.
          - The keys of M(wgsplit.gateway.wg_upstream) come from I(interface_keys); a call that gives them here is
            refused (pending).
        type: dict
        required: true
  interface_keys:
    description:
      - The keys of the WireGuard interfaces, by interface name (C(private_key), C(preshared_key)); merged into the
        interfaces of M(wgsplit.gateway.wg_upstream) calls.
      - Apart from I(calls) so that only the keys are hidden from logs.
    type: dict
    default: {}
  known:
    description:
      - The reasons already read for some calls, by call name (a list, empty when the call would change nothing).
        Those calls are not read again. The collection's C(split_plan) action gives what
        M(wgsplit.gateway.split_info) read of the calls kept (its I(recheck)) for the calls planned exactly the same.
    type: dict
    default: {}
  remember:
    description:
      - C(true) keeps the calls, their keys and their arguments as the modules' specifications checked them (keys
        included) on the host (C(/run/wgsplit/reading.json), root only, gone at reboot) for the next
        M(wgsplit.gateway.split_info) given I(recheck), which reads them again in its own call. C(false) forgets them
        (the gateway's removal). Nothing is kept or forgotten in check mode.
    type: bool
notes:
  - The plan (filter C(wgsplit.gateway.split_plan)) gives the calls per role as its C(calls) and the keys as
    C(secrets.interface_keys).
seealso:
  - module: wgsplit.gateway.split_info
'''

EXAMPLES = r'''
- name: Which of the run's calls would change the gateway
  wgsplit.gateway.split_pending:
    calls: "{{ wgsplit_plan.calls.values() | flatten(levels=1) }}"
    interface_keys: "{{ wgsplit_plan.secrets.interface_keys }}"
  register: upstream_pending

- name: Upstream interfaces, only when they would change
  wgsplit.gateway.wg_upstream:
    upstreams: "{{ wgsplit_plan.secrets.wg_upstream }}"
  when: upstream_pending.run['wg_upstream'] | default(true)
'''

RETURN = r'''
run:
  description: For each call, whether it must run (it is pending, or a call of its role before it is).
  returned: always
  type: dict
  sample: {"wg_upstream": false, "split_client.sets": true, "split_client.chains": true}
pending:
  description: The calls that would change something, each with the reasons.
  returned: always
  type: dict
  sample: {"split_client.sets": ["the kernel differs"]}
read_again:
  description:
    - For each role, in the order of I(calls), whether its calls must be read again right before they are made. A
      call of a role before it runs, and one of its own calls would be skipped (when all of them run anyway, a
      second reading changes nothing).
  returned: always
  type: dict
  sample: {"wg_upstream": false, "split_client": false, "dnsmasq_split": true}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wgsplit.gateway.plugins.module_utils.pending import KEPT_DIR, MODULES, forget, keep, reading, summary


def main():
    module = AnsibleModule(
        argument_spec=dict(
            calls=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                module=dict(type='str', required=True, choices=sorted(MODULES)),
                args=dict(type='dict', required=True))),
            interface_keys=dict(type='dict', default={}, no_log=True),
            known=dict(type='dict', default={}),
            remember=dict(type='bool'),
        ),
        supports_check_mode=True,
    )
    calls, keys, known, remember = (module.params[name] for name in ('calls', 'interface_keys', 'known', 'remember'))
    names = [call['name'] for call in calls]
    repeated = sorted(set(name for name in names if names.count(name) > 1))
    if repeated:
        module.fail_json(msg='calls names %s more than once' % ', '.join(repeated))
    malformed = sorted(name for name, found in known.items()
                       if not isinstance(found, list) or not all(isinstance(reason, str) for reason in found))
    if malformed:
        module.fail_json(msg='known: the reasons of %s are not a list of strings' % ', '.join(malformed))
    params = {}
    result = summary(names, reading(module, calls, keys, known=known, params=params))
    # Only when asked, and never in check mode (it writes).
    if remember is not None and not module.check_mode:
        if remember and not keep(calls, keys, params):
            module.warn('the calls read could not be kept under %s (a directory not root\'s only, or a full /run): '
                        'the next run reads them all again' % KEPT_DIR)
        elif not remember:
            forget()
    # The calls' arguments are the plan's (hundreds of kilobytes for hundreds of clients): echoed back as the
    # invocation they would double what the run carries and the controller processes; their names say enough.
    module.exit_json(changed=False, invocation=dict(module_args=dict(calls=names)), **result)


if __name__ == '__main__':
    main()
