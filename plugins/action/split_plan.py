# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of wgsplit.gateway.split_plan (documented in plugins/modules/split_plan.py): the host read by split_info,
the plan made here on the controller (plugins/plugin_utils/plan.py), and split_pending's reading of the plan's
calls, in one task. One task instead of three spares the templating of the plan into a fact and of its calls into
module arguments, which grew with the inventory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import gc
import os
import signal
import traceback

from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_version
from ansible.utils.display import Display

from ansible_collections.wgsplit.gateway.plugins.module_utils.pending import call_digest, summary
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.calls import role_work
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan_inventory

display = Display()

# Checked as Ansible checks a module's (`variables`, the whole inventory, only for its type: the check would copy it).
ARGUMENTS = dict(
    server_interface=dict(type='str'),
    base_dir=dict(type='path'),
)
# What makes a string a template for Ansible (Jinja's default delimiters).
TEMPLATE_MARKS = ('{{', '{%', '{#')
PREFIX = 'wgsplit_'
# Variables of that prefix that are the collection's own, not the inventory's: registered results, facts, loop
# variables, the flags of playbooks/status.yml.
OWN_VARIABLES = frozenset(PREFIX + name for name in ('plan', 'role', 'roles', 'status', 'status_fail_on_down',
                                                     'status_fail_on_drift', 'pending_used', 'pending_reuse'))
# From ansible-core 2.19, each module's cached payload is written under a lock of its own file: a child process of
# this task can build them for the roles' tasks. Before, the strategy's locks are per task action, not the child's.
SHARED_MODULE_CACHE = tuple(int(part) for part in ansible_version.split('.')[:2]) >= (2, 19)
STOPPING = {signal.SIGINT, signal.SIGTERM}
# What a module's result carries for Ansible itself, not for the plan's reader.
INTERNAL = ('invocation', 'changed', 'failed', 'warnings', 'deprecations', 'ansible_facts', '_ansible_parsed', '_ansible_no_log')
# What a failed module's result says of its failure besides its message (split_info holds no key; split_pending's
# keys are no_log there).
FAILURE = ('exception', 'module_stderr', 'module_stdout', 'rc')


def module_data(result):
    return dict((key, value) for key, value in result.items() if key not in INTERNAL)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        # This task's worker is a fork of ansible-playbook, whose heap holds the inventory: what the worker inherited is
        # left out of its garbage collections (the module payloads' parsing, the plan allocate plenty), which would
        # otherwise walk, and copy page by page, every inherited object. The worker ends with the task.
        gc.freeze()
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        variables, args = self.arguments(task_vars)
        # split_info also reads again the calls the last reading kept: a run whose calls are planned the same then
        # makes one round trip to the host, not two.
        info_args = dict(recheck=True)
        if args['server_interface'] is not None:
            info_args['server_interface'] = args['server_interface']
        found = self.read('split_info', info_args, task_vars)
        # The interpreter found on the first module's run is the host's fact, as after any module task.
        result['ansible_facts'] = found.get('ansible_facts') or {}
        if found.get('failed'):
            return failure(result, 'split_info', found)
        recheck = found.pop('recheck', None) or {}
        found = module_data(found)
        try:
            planned = plan_inventory(variables, found, args['base_dir'])
        except Exception as error:  # pylint: disable=broad-except  # a bug: its type and place, never the values
            return dict(result, failed=True, msg='the plan failed: %s' % type(error).__name__,
                        exception=traceback.format_exc().rsplit('\n', 2)[0])
        reading = self.read_calls(planned, found, recheck, task_vars)
        if reading.get('failed'):
            return failure(result, 'split_pending', reading)
        pending = module_data(reading)
        # What the plan could not do as asked. Shown here: the result is hidden, and ansible-core before 2.19 drops a
        # hidden result's warnings.
        for warning in planned.pop('warnings'):
            display.warning(warning)
        result.update(planned, found=found, pending=pending, work=role_work(planned, pending), changed=False)
        # The plan's secrets part holds the upstreams' keys: the result is never shown (a failure above holds none).
        result['_ansible_no_log'] = True
        return result

    def read_calls(self, planned, found, recheck, task_vars):
        """The reading of every call of the run: split_info's (`recheck`) for the calls planned exactly as those it read
        again, keys included; split_pending's for the others, which keeps them all for the next run. None ({}) without
        calls, with a bad inventory, or while a command is missing (each role then reads its calls again)."""
        calls = [call for role_calls in (planned.get('calls') or {}).values() for call in role_calls]
        absent = planned['state'] == 'absent'
        if calls and not planned['errors'] and not found.get('missing_packages'):
            keys = planned['secrets']['interface_keys']
            known = dict((call['name'], recheck[call['name']]['pending']) for call in calls
                         if call['name'] in recheck and same_digest(recheck[call['name']].get('digest'), call_digest(call, keys)))
            names = [call['name'] for call in calls]
            if not absent and len(known) == len(calls) == len(recheck):
                return summary(names, known)  # the calls kept are this run's: nothing to read or keep
            # The calls kept anew, or forgotten with the gateway's removal. While the host reads them, a child process
            # builds the modules the roles will run into the run's module cache (ansible-core builds each module once
            # per run, a fifth of a second of the controller's time apiece): a first run spares a second and more.
            modules = set(call['module'] for call in calls) | set(['dnsmasq_instances'] if planned['resolver']['apply'] else [])
            with self.modules_built(sorted(modules), task_vars):
                return self.read('split_pending', dict(calls=calls, interface_keys=keys, known=known, remember=not absent),
                                 task_vars)
        if absent and found.get('kept_reading'):
            # Nothing left to remove but the calls kept: forgotten all the same (they hold the keys).
            forgotten = self.read('split_pending', dict(calls=[], remember=False), task_vars)
            return forgotten if forgotten.get('failed') else {}
        return {}

    def arguments(self, task_vars):
        """(the inventory's variables keyed without the prefix, the other arguments checked). Without `variables`, the
        play's wgsplit_* variables for the host, templated here: templating them once as a task argument cost twice
        as long with a hundred clients."""
        given = dict(self._task.args)
        variables = given.pop('variables', None)
        checked = ArgumentSpecValidator(ARGUMENTS).validate(given)
        if checked.error_messages:
            raise AnsibleActionFail('%s: %s' % (self._load_name, '; '.join(checked.error_messages)))
        if variables is None:
            # Only a variable with a template in it is templated: templating copies the whole value (half a second
            # for a hundred clients of fifty rules, which seldom hold one).
            names = [name for name in task_vars if name.startswith(PREFIX) and name not in OWN_VARIABLES]
            templating = dict((name, task_vars[name]) for name in names if holds_template(task_vars[name]))
            # Templated as one mapping, as the old task argument was: a variable that resolves to omit is left out
            # (ansible-core 2.19 drops it from the mapping; 2.16 leaves its placeholder, removed here) and takes
            # its default, and a vault-encrypted string is decrypted.
            templated = without_omit(self._templar.template(templating), task_vars.get('omit')) if templating else {}
            variables = dict((name[len(PREFIX):], templated[name] if name in templating else task_vars[name])
                             for name in names if name not in templating or name in templated)
        elif not isinstance(variables, dict):
            raise AnsibleActionFail('%s: variables is a %s, not a dictionary' % (self._load_name, type(variables).__name__))
        return variables, checked.validated_parameters

    @contextlib.contextmanager
    def modules_built(self, modules, task_vars):
        """Within: a child process builds the collection's `modules` as their tasks would (the interpreter is known:
        split_info ran); on leaving, the child is waited for. A module it fails to build is built by its task, which
        reports why; without a child (ansible-core before 2.19, or no fork), the tasks build them all."""
        pid = None
        if SHARED_MODULE_CACHE:
            # Signals held until the child drops the worker's handlers: a Ctrl-C at the fork ends it, never runs the
            # worker's code in it.
            held = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
            try:
                pid = os.fork()
            except OSError:
                pass
            if pid == 0:
                try:
                    for number in STOPPING:
                        signal.signal(number, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
                    for module in modules:
                        try:
                            self._configure_module('wgsplit.gateway.' + module, {}, task_vars)
                        except Exception:  # pylint: disable=broad-except  # its task builds it and says why
                            pass
                finally:
                    os._exit(0)  # a forked child leaves at once: nothing of the worker's runs in it
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        try:
            yield
        finally:
            if pid:
                os.waitpid(pid, 0)

    def read(self, module, module_args, task_vars):
        """The result of one of the collection's read-only modules, its warnings shown (the task's result is hidden)."""
        module_result = self._execute_module('wgsplit.gateway.' + module, module_args=module_args, task_vars=task_vars)
        for warning in module_result.get('warnings') or []:
            display.warning(warning)
        return module_result


def same_digest(found, planned):
    """A call planned without a digest (a value JSON cannot hold the same way) reads anew: None never matches."""
    return planned is not None and found == planned


def holds_template(value):
    if isinstance(value, str):
        return any(mark in value for mark in TEMPLATE_MARKS)
    if isinstance(value, Mapping):
        return any(holds_template(key) or holds_template(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(holds_template(item) for item in value)
    # Numbers, booleans and null hold none. Anything else is templated, as every variable was: a vault-encrypted
    # string (AnsibleVaultEncryptedUnicode, EncryptedString: not a str, decrypted by templating), a set, ...
    return not (value is None or isinstance(value, (bool, int, float)))


def without_omit(value, omit):
    """`value` as the old task argument had it: without the mapping entries and list items that are ansible-core
    2.16's omit placeholder (2.19 leaves none in a templated mapping), and with 2.16's vault-encrypted strings
    decrypted (its templating leaves them as they are; 2.19's decrypts them)."""
    if getattr(value, '__ENCRYPTED__', False):
        return str(value)
    if not isinstance(omit, str):
        omit = object()
    if isinstance(value, Mapping):
        return dict((key, without_omit(item, omit)) for key, item in value.items() if not (isinstance(item, str) and item == omit))
    if isinstance(value, list):
        return [without_omit(item, omit) for item in value if not (isinstance(item, str) and item == omit)]
    return value


def failure(result, module, module_result):
    return dict(result, failed=True, msg='%s failed: %s' % (module, module_result.get('msg')),
                **dict((key, module_result[key]) for key in FAILURE if key in module_result))
