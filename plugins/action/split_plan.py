# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of wgsplit.gateway.split_plan (documented in plugins/modules/split_plan.py): the host read by split_info,
the plan made here on the controller (plugins/plugin_utils/plan.py), and split_pending's reading of the plan's
calls, in one task. One task instead of three spares the templating of the plan into a fact and of its calls into
module arguments, which grew with the inventory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan_inventory

ARGUMENTS = dict(
    variables=dict(type='dict', required=True),
    server_interface=dict(type='str'),
    base_dir=dict(type='path'),
)
# What a module's result carries for Ansible itself, not for the plan's reader.
INTERNAL = ('invocation', 'changed', 'failed', 'warnings', 'deprecations', '_ansible_parsed', '_ansible_no_log')


def module_data(result):
    return dict((key, value) for key, value in result.items() if key not in INTERNAL)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        info_args = {} if args['server_interface'] is None else dict(server_interface=args['server_interface'])
        found = self._execute_module('wgsplit.gateway.split_info', module_args=info_args, task_vars=task_vars)
        warnings = list(found.get('warnings') or [])
        if found.get('failed'):
            return dict(result, failed=True, msg='split_info failed: %s' % found.get('msg'), warnings=warnings)
        found = module_data(found)
        planned = plan_inventory(args['variables'], found, args['base_dir'])
        calls = [call for role_calls in (planned.get('calls') or {}).values() for call in role_calls]
        pending = {}
        # Without a command it needs (packages not yet installed) every call runs and reports what is missing.
        if calls and not planned['errors'] and not found.get('missing_packages'):
            read = self._execute_module('wgsplit.gateway.split_pending', task_vars=task_vars, module_args=dict(
                calls=calls, interface_keys=planned['secrets']['interface_keys']))
            warnings += read.get('warnings') or []
            if read.get('failed'):
                return dict(result, failed=True, msg='split_pending failed: %s' % read.get('msg'), warnings=warnings)
            pending = module_data(read)
        # What the plan could not do as asked is shown as the task's warnings, with those of the reads.
        result.update(planned, found=found, pending=pending, changed=False, warnings=warnings + planned['warnings'])
        # The plan's secrets part holds the upstreams' keys: the result is never shown (a failure above holds none).
        result['_ansible_no_log'] = True
        return result
