"""split_plan's action: split_info read first, the plan made from it, then every call of the run read by split_pending
in the run's order with the keys apart; nothing read while the plan has errors or a command is missing; a failed read
is shown (it holds no key), a plan never is."""
import contextlib
import json
import os
import sys
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.wgsplit.gateway.plugins.action import split_plan
from ansible_collections.wgsplit.gateway.plugins.module_utils.pending import call_digest
from ansible_collections.wgsplit.gateway.plugins.module_utils.pending import call_digest as real_digest
from ansible_collections.wgsplit.gateway.plugins.action.split_plan import ActionModule

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'plugin_utils'))
from test_plan import CLIENTS, OTHER_KEY, UPSTREAMS, discovered  # noqa: E402

VARIABLES = dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=CLIENTS)
PENDING = dict(changed=False, run={'wg_upstream': True}, pending={'wg_upstream': ['the kernel differs']},
               read_again={'wg_upstream': False}, invocation=dict(module_args=dict(calls=['wg_upstream'])))


def action(args, results):
    """The action with `args`, whose module executions answer from `results` ({module: result}) and are recorded."""
    task = mock.MagicMock(args=args, async_val=0, check_mode=False)
    # What each variable went through (the action templates those holding a template as one mapping).
    templar = mock.MagicMock(template=lambda value: dict((name, ('templated', item)) for name, item in value.items()))
    plugin = ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=templar, shared_loader_obj=None)
    plugin._load_name = 'wgsplit.gateway.split_plan'  # what the plugin loader sets (named in argument errors)
    plugin.executed = []

    def execute(module_name, module_args=None, task_vars=None, **_kwargs):
        plugin.executed.append((module_name, module_args))
        return json.loads(json.dumps(results[module_name]))  # a copy, as a module's JSON would be
    plugin._execute_module = execute
    plugin.built = []

    def modules_built(modules, _task_vars):
        plugin.built.append((modules, len(plugin.executed)))
        return contextlib.nullcontext()
    plugin.modules_built = modules_built
    return plugin


def found(**changes):
    return dict(discovered(**changes), changed=False, invocation=dict(module_args={}), missing_packages=[])


def test_reads_the_host_plans_and_reads_every_call_of_the_run_in_order():
    plugin = action(dict(variables=VARIABLES, server_interface='wg0'),
                    {'wgsplit.gateway.split_info': found(), 'wgsplit.gateway.split_pending': PENDING})
    result = plugin.run(task_vars={})
    assert [name for name, _args in plugin.executed] == ['wgsplit.gateway.split_info', 'wgsplit.gateway.split_pending']
    assert plugin.executed[0][1] == dict(server_interface='wg0', recheck=True)
    # Nothing was kept on the host (no recheck): every call is read, and kept for the next run.
    assert plugin.executed[1][1]['remember'] is True and plugin.executed[1][1]['known'] == {}
    calls = plugin.executed[1][1]['calls']
    assert calls == [call for role_calls in result['calls'].values() for call in role_calls]
    assert [call['name'].split('.')[0] for call in calls][:1] == ['wg_upstream'] and len(calls) > 3
    # The keys go apart from the calls, which the module echoes by name only.
    assert plugin.executed[1][1]['interface_keys'] == result['secrets']['interface_keys']
    assert '"private_key"' not in json.dumps(calls) and OTHER_KEY not in json.dumps(calls)  # KEY is a public key too
    assert result['pending'] == dict(run={'wg_upstream': True}, pending={'wg_upstream': ['the kernel differs']},
                                     read_again={'wg_upstream': False})
    assert result['found']['server']['name'] == 'wg0' and 'invocation' not in result['found']
    assert result['errors'] == [] and result['changed'] is False and 'failed' not in result
    assert result['_ansible_no_log'] is True  # the secrets part holds the keys
    # While split_pending reads, the modules of the calls and the resolver's are built for the roles' tasks.
    assert plugin.built == [(sorted(set(call['module'] for call in calls) | {'dnsmasq_instances'}), 1)]


def built_by(plugin, modules, tmp_path):
    """[(module, pid, task_vars names)] that modules_built's child built; a module named *fails raises."""
    built = tmp_path / 'built'

    def configure(module, args, task_vars):
        if module.endswith('fails'):
            raise ValueError(module)
        with open(str(built), 'a') as out:
            out.write('%s %d %s\n' % (module, os.getpid(), ','.join(sorted(task_vars))))
    plugin._configure_module = configure
    with ActionModule.modules_built(plugin, modules, dict(ansible_facts={})):
        pass
    return [tuple(line.split()) for line in built.read_text().splitlines()] if built.exists() else []


def test_the_modules_are_built_by_a_child_process_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(split_plan, 'SHARED_MODULE_CACHE', True)
    built = built_by(action({}, {}), ['ipset_set', 'it_fails', 'wg_upstream'], tmp_path)
    # Each module but the one that fails, after it too; by one process, not this one; done when the context is left.
    assert [module for module, _pid, _names in built] == ['wgsplit.gateway.ipset_set', 'wgsplit.gateway.wg_upstream']
    pids = set(pid for _module, pid, _names in built)
    assert len(pids) == 1 and str(os.getpid()) not in pids and built[0][2] == 'ansible_facts'


def test_before_ansible_core_2_19_the_tasks_build_their_modules(tmp_path, monkeypatch):
    """Its strategy locks each task action's cache file with a lock of its own, which a child here would not hold."""
    monkeypatch.setattr(split_plan, 'SHARED_MODULE_CACHE', False)
    assert built_by(action({}, {}), ['ipset_set'], tmp_path) == []


def kept_reading(variables, on_host=None, **reasons):
    """split_info's recheck of the calls of `variables` as planned, each with `reasons` (by name; else none), and the
    calls and keys read."""
    first = action(dict(variables=variables), {'wgsplit.gateway.split_info': on_host or found(), 'wgsplit.gateway.split_pending': PENDING})
    first.run(task_vars={})
    calls, keys = first.executed[1][1]['calls'], first.executed[1][1]['interface_keys']
    return dict((call['name'], dict(digest=call_digest(call, keys), pending=reasons.get(call['name'], []))) for call in calls), calls


def test_calls_split_info_read_again_are_used_when_they_are_the_plans_own():
    recheck, calls = kept_reading(VARIABLES, wg_upstream=['the kernel differs'])
    plugin = action(dict(variables=VARIABLES), {'wgsplit.gateway.split_info': dict(found(), recheck=recheck)})
    result = plugin.run(task_vars={})
    assert [name for name, _args in plugin.executed] == ['wgsplit.gateway.split_info']  # one round trip
    names = [call['name'] for call in calls]
    assert result['pending']['pending'] == {'wg_upstream': ['the kernel differs']} and 'recheck' not in result['found']
    assert result['pending']['run'] == dict((name, name.startswith('wg_upstream')) for name in names)
    assert list(result['pending']['read_again']) == ['wg_upstream', 'split_client', 'dnsmasq_split']


@pytest.mark.parametrize('change', ['endpoint', 'private_key'])
def test_only_the_calls_planned_otherwise_are_read_and_all_are_kept(change):
    recheck, calls = kept_reading(VARIABLES, **{'split_client.chains': ['the kernel differs']})
    edited = dict(UPSTREAMS[0], endpoint='other.example.com:51820') if change == 'endpoint' else dict(UPSTREAMS[0], private_key=OTHER_KEY)
    plugin = action(dict(variables=dict(VARIABLES, upstreams=[edited, UPSTREAMS[1]])),
                    {'wgsplit.gateway.split_info': dict(found(), recheck=recheck), 'wgsplit.gateway.split_pending': PENDING})
    result = plugin.run(task_vars={})
    args = plugin.executed[1][1]
    assert [call['name'] for call in args['calls']] == [call['name'] for call in calls] and args['remember'] is True
    # The upstream interfaces' call is read (its endpoint or key differs); the others are known, with their reasons.
    assert sorted(args['known']) == sorted(call['name'] for call in calls if call['name'] != 'wg_upstream')
    assert args['known']['split_client.chains'] == ['the kernel differs']
    assert result['pending']['pending'] == PENDING['pending']


def test_a_call_without_a_digest_is_read_anew(monkeypatch):
    recheck, _calls = kept_reading(VARIABLES)
    recheck['wg_upstream']['digest'] = None
    monkeypatch.setattr(split_plan, 'call_digest', lambda call, keys: None if call['name'] == 'wg_upstream' else real_digest(call, keys))
    plugin = action(dict(variables=VARIABLES), {'wgsplit.gateway.split_info': dict(found(), recheck=recheck),
                                                'wgsplit.gateway.split_pending': PENDING})
    plugin.run(task_vars={})
    assert 'wg_upstream' not in plugin.executed[1][1]['known'] and len(plugin.executed[1][1]['known']) == len(recheck) - 1


def test_calls_kept_but_no_longer_planned_are_kept_anew():
    recheck, _calls = kept_reading(VARIABLES)
    recheck['split_client.gone'] = dict(digest='0' * 64, pending=[])
    plugin = action(dict(variables=VARIABLES), {'wgsplit.gateway.split_info': dict(found(), recheck=recheck),
                                                'wgsplit.gateway.split_pending': PENDING})
    plugin.run(task_vars={})
    args = plugin.executed[1][1]
    assert args['remember'] is True and sorted(args['known']) == sorted(call['name'] for call in args['calls'])


def test_removal_forgets_the_calls_kept_even_with_nothing_else_left():
    on_host = found(chains=[dict(table='mangle', chain='WGSPLIT', family='inet')], routing=dict(inet=[51000], inet6=[]))
    plugin = action(dict(variables=dict(VARIABLES, state='absent')),
                    {'wgsplit.gateway.split_info': on_host, 'wgsplit.gateway.split_pending': PENDING})
    plugin.run(task_vars={})
    assert plugin.executed[1][1]['remember'] is False
    # Even when every call is known (read again by split_info): the removal forgets what is kept.
    recheck, _calls = kept_reading(dict(VARIABLES, state='absent'), on_host)
    plugin = action(dict(variables=dict(VARIABLES, state='absent')),
                    {'wgsplit.gateway.split_info': dict(on_host, recheck=recheck), 'wgsplit.gateway.split_pending': PENDING})
    plugin.run(task_vars={})
    assert plugin.executed[1][1]['remember'] is False and len(plugin.executed[1][1]['known']) == len(recheck)
    # Nothing else on the host: the calls kept are forgotten by a reading of none, and nothing is read without them.
    forgotten = dict(changed=False, run={}, pending={}, read_again={})
    for kept, reads in ((True, [dict(calls=[], remember=False)]), (False, [])):
        plugin = action(dict(variables=dict(VARIABLES, state='absent')),
                        {'wgsplit.gateway.split_info': dict(found(), kept_reading=kept), 'wgsplit.gateway.split_pending': forgotten})
        result = plugin.run(task_vars={})
        assert [args for name, args in plugin.executed[1:]] == reads and result['pending'] == {}


def test_a_bad_inventory_is_planned_with_its_errors_and_nothing_is_read():
    plugin = action(dict(variables=dict(VARIABLES, clients=[dict(CLIENTS[0], address='nowhere')])),
                    {'wgsplit.gateway.split_info': found()})
    result = plugin.run(task_vars={})
    assert [name for name, _args in plugin.executed] == ['wgsplit.gateway.split_info']
    assert plugin.executed[0][1] == dict(recheck=True)  # split_info's own default interface
    assert result['errors'] and 'nowhere' in ' '.join(result['errors']) and result['pending'] == {}


def test_while_a_command_is_missing_the_calls_are_not_read_and_all_run():
    plugin = action(dict(variables=VARIABLES), {'wgsplit.gateway.split_info': dict(found(), missing_packages=['ipset'])})
    result = plugin.run(task_vars={})
    assert [name for name, _args in plugin.executed] == ['wgsplit.gateway.split_info']
    assert result['found']['missing_packages'] == ['ipset'] and result['pending'] == {} and result['calls']


@pytest.fixture
def shown(monkeypatch):
    """The warnings the action shows."""
    warnings = []
    monkeypatch.setattr(split_plan.display, 'warning', warnings.append)
    return warnings


@pytest.mark.parametrize('failing', ['wgsplit.gateway.split_info', 'wgsplit.gateway.split_pending'])
def test_a_failed_read_is_shown_with_what_it_says_of_its_failure(failing, shown):
    results = {'wgsplit.gateway.split_info': dict(found(), warnings=['info warns']),
               'wgsplit.gateway.split_pending': dict(PENDING, warnings=['pending warns'])}
    results[failing] = dict(results[failing], failed=True, msg='it broke', module_stderr='Traceback ...', rc=1)
    result = action(dict(variables=VARIABLES), results).run(task_vars={})
    assert result['failed'] is True and result['msg'] == '%s failed: it broke' % failing.split('.')[-1]
    assert result['module_stderr'] == 'Traceback ...' and result['rc'] == 1
    assert '_ansible_no_log' not in result and 'secrets' not in result
    assert shown[0] == 'info warns'


def test_a_failing_plan_shows_where_but_no_value(monkeypatch):
    def broken(*_args):
        raise ValueError('private_key %s' % OTHER_KEY)
    monkeypatch.setattr(split_plan, 'plan_inventory', broken)
    result = action(dict(variables=VARIABLES), {'wgsplit.gateway.split_info': found()}).run(task_vars={})
    assert result['failed'] is True and result['msg'] == 'the plan failed: ValueError'
    assert 'broken' in result['exception'] and OTHER_KEY not in json.dumps(result)


def test_warnings_of_both_reads_and_of_the_plan_are_shown_the_result_being_hidden(shown):
    """Shown by the action: ansible-core before 2.19 drops the warnings of a hidden result."""
    upstreams = [dict(UPSTREAMS[0], enabled=False), UPSTREAMS[1]]
    result = action(dict(variables=dict(VARIABLES, upstreams=upstreams)),
                    {'wgsplit.gateway.split_info': dict(found(), warnings=['info warns']),
                     'wgsplit.gateway.split_pending': dict(PENDING, warnings=['pending warns'])}).run(task_vars={})
    assert shown[:2] == ['info warns', 'pending warns'] and len(shown) > 2 and "'us'" in ' '.join(shown[2:])
    assert 'warnings' not in result and result['_ansible_no_log'] is True


def test_the_interpreter_found_is_the_hosts_fact():
    facts = dict(discovered_interpreter_python='/usr/bin/python3')
    result = action(dict(variables=VARIABLES), {'wgsplit.gateway.split_info': dict(found(), ansible_facts=facts),
                                                'wgsplit.gateway.split_pending': PENDING}).run(task_vars={})
    assert result['ansible_facts'] == facts and 'ansible_facts' not in result['found']


def test_without_variables_the_plays_wgsplit_variables_are_planned_but_the_collections_own():
    plugin = action(dict(), {})
    task_vars = dict(wgsplit_dns_servers=['1.1.1.1'], wgsplit_clients=[], wgsplit_blok='a typo', other=1, wgsplit_plan={},
                     wgsplit_role='split_client', wgsplit_roles=[], wgsplit_status={}, wgsplit_status_fail_on_down=True,
                     wgsplit_status_fail_on_drift=True, wgsplit_pending_used=True, wgsplit_pending_reuse=True)
    variables, args = plugin.arguments(task_vars)
    assert variables == dict(dns_servers=['1.1.1.1'], clients=[], blok='a typo')
    assert args == dict(server_interface=None, base_dir=None)


@pytest.mark.parametrize('value', ['{{ key }}', ['a', {'b': 'x{% if y %}'}], {'{{ name }}': 1}, ({'c': ['{# no #}']},)])
def test_a_variable_holding_a_template_anywhere_is_templated(value):
    variables, _args = action(dict(), {}).arguments(dict(wgsplit_upstreams=value, wgsplit_clients=[{'name': 'a{b}'}]))
    assert variables == dict(upstreams=('templated', value), clients=[{'name': 'a{b}'}])


@pytest.mark.parametrize('args, message', [
    (dict(variables=VARIABLES, unknown=1), 'unknown'),
    (dict(variables=[VARIABLES]), 'variables is a list, not a dictionary'),
    (dict(variables='clients: []'), 'variables is a str, not a dictionary'),
])
def test_arguments_are_checked(args, message):
    with pytest.raises(AnsibleActionFail, match=message):
        action(args, {}).run(task_vars={})


class Encrypted(object):
    """What ansible-core 2.16 loads `!vault |` as (AnsibleVaultEncryptedUnicode): not a str, decrypted by str()."""
    __ENCRYPTED__ = True

    def __str__(self):
        return 'the key'


@pytest.mark.parametrize('value', [Encrypted(), [{'private_key': Encrypted()}], {'a'}])
def test_a_value_of_another_type_than_plain_data_is_templated(value):
    assert split_plan.holds_template(value)


@pytest.mark.parametrize('value', [None, True, 5, 1.5, 'plain', ['a', {'b': 1}]])
def test_plain_data_is_not_templated(value):
    assert not split_plan.holds_template(value)


def test_a_variable_resolving_to_omit_is_left_out_and_a_vault_string_decrypted():
    omit = '__omit_place_holder__1'
    templated = dict(backend=omit, upstreams=[dict(name='us', private_key=Encrypted(), preshared_key=omit)])
    assert split_plan.without_omit(templated, omit) == dict(upstreams=[dict(name='us', private_key='the key')])
    assert split_plan.without_omit(dict(backend='x'), None) == dict(backend='x')
