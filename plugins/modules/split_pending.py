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
  - The module is read-only, so C(changed) is always C(false); it runs the same in check mode.
extends_documentation_fragment:
  - wgsplit.gateway.attributes.read_only
  - wgsplit.gateway.attributes
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
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.wgsplit.gateway.plugins.module_utils import chains, nftables, routing, sets, upstreams

# Each module's arguments and its StateModule.
MODULES = dict(wg_upstream=(upstreams.ARGUMENTS, upstreams.WgUpstream), policy_route=(routing.ARGUMENTS, routing.PolicyRoute),
               mangle_mark=(chains.ARGUMENTS, chains.MangleMark), ipset_set=(sets.ARGUMENTS, sets.IpsetSet),
               nft_table=(nftables.ARGUMENTS, nftables.NftTable))


class Refused(Exception):
    """A call's module would fail (fail_json)."""


class CheckModeCall(object):
    """What a module's StateModule sees of its AnsibleModule: the call's checked arguments, check mode, and
    this module's commands; a failure is raised, not exited, so that the other calls are read too. `reads` holds
    the output of each command already run: in check mode every command reads, and nothing changes between the
    calls, so several calls reading the same table (iptables-save -t nat, the boot units) run it once."""

    def __init__(self, module, params, reads):
        self.params = params
        self.check_mode = True
        self._diff = False
        self.module = module
        self.reads = reads

    def run_command(self, args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        if key not in self.reads:  # raised: this call is pending (not kept: the next call runs it again)
            self.reads[key] = self.module.run_command(args, handle_exceptions=False, **kwargs)
        return self.reads[key]

    def get_bin_path(self, name, required=False):
        path = self.module.get_bin_path(name)
        if path is None and required:
            raise Refused('%s is not installed' % name)
        return path

    def fail_json(self, msg, **_result):
        raise Refused(msg)


def with_keys(args, keys):
    """wg_upstream arguments with each interface's keys from `keys`."""
    return dict(args, upstreams=[dict(spec, **keys.get(spec.get('name'), {})) for spec in args.get('upstreams') or []])


def reasons(module, call, keys, reads):
    """Why the call would change the gateway ([] when it would not)."""
    if call['module'] == 'wg_upstream' and any(
            isinstance(spec, dict) and set(spec) & set(upstreams.KEY_OPTIONS) for spec in call['args'].get('upstreams') or []):
        return ['its arguments are refused: keys belong in interface_keys, hidden from logs']
    try:
        args = with_keys(call['args'], keys) if call['module'] == 'wg_upstream' else call['args']
        arguments, state_module = MODULES[call['module']]
        checked = ArgumentSpecValidator(**arguments).validate(args)
        if checked.error_messages:
            return ['its arguments are refused: %s' % '; '.join(checked.error_messages)]
        return state_module(CheckModeCall(module, checked.validated_parameters, reads)).pending()
    except Refused as error:
        return ['it fails: %s' % error]
    except Exception as error:  # pylint: disable=broad-except  # the module itself then runs and reports it
        return ['its reading fails: %s' % ('%s: %s' % (type(error).__name__, error))]


def must_run(names, pending):
    """{name: whether the call runs}: it is pending, or a call of the same role before it is (its change can change
    what a later call finds: an interface recreated loses its routes). A role is what a name has before its first
    dot (a later role reads its calls again when one of an earlier role runs: read_again)."""
    run, earlier = {}, set()
    for name in names:
        role = name.split('.')[0]
        if pending[name]:
            earlier.add(role)
        run[name] = role in earlier
    return run


def read_again(names, run):
    """{role: whether it must read its calls again}: a call of a role before it (in the order of the calls) runs, so
    what its calls find may have changed, and one of its calls would be skipped (when all of them run anyway, a
    reading could only skip some, which change nothing)."""
    result, ran, skipped = {}, False, {}
    for name in names:
        role = name.split('.')[0]
        if role not in result:
            result[role] = ran
        skipped[role] = skipped.get(role, False) or not run[name]
        ran = ran or run[name]
    return dict((role, before and skipped[role]) for role, before in result.items())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            calls=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                module=dict(type='str', required=True, choices=sorted(MODULES)),
                args=dict(type='dict', required=True))),
            interface_keys=dict(type='dict', default={}, no_log=True),
        ),
        supports_check_mode=True,
    )
    names = [call['name'] for call in module.params['calls']]
    repeated = sorted(set(name for name in names if names.count(name) > 1))
    if repeated:
        module.fail_json(msg='calls names %s more than once' % ', '.join(repeated))
    reads = {}
    pending = dict((call['name'], reasons(module, call, module.params['interface_keys'], reads)) for call in module.params['calls'])
    # The calls' arguments are the plan's (hundreds of kilobytes for hundreds of clients): echoed back as the
    # invocation they would double what the run carries and the controller processes; their names say enough.
    run = must_run(names, pending)
    module.exit_json(changed=False, run=run, pending=dict((name, found) for name, found in pending.items() if found),
                     read_again=read_again(names, run), invocation=dict(module_args=dict(calls=names)))


if __name__ == '__main__':
    main()
