"""calls: the module calls split_pending reads are the ones the roles make, with the same arguments, in the run's
order, each role reading its own before making them; a role task that drifted from its call could be skipped while
it would change something."""
import glob
import json
import os
import re

import pytest
import yaml

from ansible_collections.wgsplit.gateway.plugins.module_utils.pending import with_keys
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.calls import OTHER_WORK, ROLES, role_work
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan
from test_plan import CLIENTS as CLIENTS_FOR_WORK, UPSTREAMS as UPSTREAMS_FOR_WORK, KEY, OTHER_KEY, discovered, make_plan

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
PLAN_PATH = re.compile(r'\{\{ wgsplit_plan\.([a-z_.]+) \}\}')
GATE = re.compile(r"^([a-z_]+)_pending\.run\['([a-z_.]+)'\] \| default\(wgsplit_plan\.pending\.run\['([a-z_.]+)'\]\) \| default\(true\)$")
# What is left behind by earlier runs (removals go in the same calls), and a resolver that still asks an upstream's
# resolver the plan no longer has (dnsmasq_split's refusal table).
FOUND = discovered(
    chains=[dict(table='mangle', chain='wgs-gone', family='inet')],
    routing=dict(inet=[51003], inet6=[]),
    wireguard=dict(links=['wg-up-3'], configs=[dict(name='wg-up-3', path='a', owned=True)]),
    resolver=dict(config='server=1.1.1.1\nipset=/video.example.net/wgs-bob-p4\nserver=/video.example.net/10.10.9.1\n'))


def role_tasks():
    """(role, file, tasks) of every task file of the roles."""
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml'))):
        with open(path) as handle:
            yield path.split(os.sep)[-3], os.path.basename(path), yaml.safe_load(handle) or []


def gated_tasks():
    """{call name: [(module, arguments)]} of every role task skipped when split_pending finds its call in sync; each
    gate reads the result its own role registered, earlier in the same task file, or else the run's reading (the plan
    role's) of the same call."""
    found = {}
    for role, file_name, tasks in role_tasks():
        checked = False
        for task in tasks:
            if task.get('register') == '%s_pending' % role:
                assert task['wgsplit.gateway.split_pending']['calls'] == '{{ wgsplit_plan.calls.%s }}' % role
                # Skipped only in site.yml, when nothing ran before the role since the run's reading, used once.
                assert task['when'][-1] == ("not wgsplit_pending_reuse | default(false) or wgsplit_plan.pending.read_again.{0}"
                                            " | default(true) or '{0}' in wgsplit_pending_used | default([])").format(role), task['name']
                checked = True
            gates = [GATE.match(condition) for condition in task.get('when', []) if isinstance(task.get('when'), list)]
            gates = [gate for gate in gates if gate]
            if not gates:
                continue
            assert checked, '%s/%s: %s is gated before the role reads its calls' % (role, file_name, task['name'])
            assert gates[0].group(1) == role and gates[0].group(2).split('.')[0] == role, task['name']
            assert gates[0].group(3) == gates[0].group(2), task['name']  # the run's reading of the same call
            module = next(key for key in task if key.startswith('wgsplit.gateway.'))
            found.setdefault(gates[0].group(2), []).append((module[len('wgsplit.gateway.'):], task[module]))
    return found


def all_calls(result):
    return [call for calls in result['calls'].values() for call in calls]


def resolve(result, value):
    """A task argument as the role passes it: a `{{ wgsplit_plan.a.b }}` path is looked up in the plan."""
    match = PLAN_PATH.fullmatch(value) if isinstance(value, str) else None
    if not match:
        return value
    for key in match.group(1).split('.'):
        result = result[key]
    return result


def absent_plan():
    checked = check_inventory(dict(state='absent'), None)
    found_chains = [dict(table='mangle', chain=name, family='inet') for name in ('wgs-alice', 'WGSPLIT_CLIENTS', 'WGSPLIT')]
    found_chains.append(dict(table='nat', chain='WGSPLIT_DNS', family='inet'))
    return plan(checked, discovered(chains=found_chains, routing=dict(inet=[51000, 51001], inet6=[51000]),
                                    wireguard=dict(configs=[dict(name='wg-up-1', path='c', owned=True)])))


NFT_FOUND = discovered(nftables=dict(exists=True, owned=True, sets=['wgs-alice-p4']))
NFT_PLAN = make_plan(discovery=FOUND, backend='nftables', accounting=False)
ABSENT_NFT = plan(check_inventory(dict(state='absent'), None), discovered(nftables=dict(exists=True, owned=True, sets=[])))
IPTABLES_AGAIN = make_plan(discovery=NFT_FOUND)


@pytest.mark.parametrize('result', [make_plan(discovery=FOUND), absent_plan(), NFT_PLAN, IPTABLES_AGAIN, ABSENT_NFT],
                         ids=['present', 'absent', 'nftables', 'iptables-again', 'absent-nftables'])
def test_every_gated_task_passes_its_calls_arguments(result):
    tasks = gated_tasks()
    assert all_calls(result), 'a plan with nothing to apply tests nothing'
    for call in all_calls(result):
        if result['state'] == 'absent' and call['name'] == 'dnsmasq_split.routing':
            continue  # absent.yml has no such task: its tables are split_client's to remove
        assert call['name'] in tasks, 'no role task is gated by %s' % call['name']
        args = with_keys(call['args'], result['secrets']['interface_keys']) if call['module'] == 'wg_upstream' \
            else call['args']
        for module, task_args in tasks[call['name']]:
            assert module == call['module']
            assert dict((key, resolve(result, value)) for key, value in task_args.items()) == args, call['name']


def test_every_gate_names_a_call():
    names = set(call['name'] for result in (make_plan(discovery=FOUND), NFT_PLAN, IPTABLES_AGAIN, ABSENT_NFT)
                for call in all_calls(result))
    assert set(gated_tasks()) <= names


def test_calls_follow_the_run_and_removal_runs_the_roles_backwards():
    assert [call['name'] for call in all_calls(make_plan(discovery=FOUND))] == [
        'wg_upstream', 'wg_upstream.routing', 'wg_upstream.chains', 'split_client.sets', 'split_client.chains',
        'split_client.routing', 'dnsmasq_split.routing', 'dnsmasq_split.chains']
    assert list(make_plan(discovery=FOUND)['calls']) == ['wg_upstream', 'split_client', 'dnsmasq_split']
    assert [call['name'] for call in all_calls(absent_plan())] == [
        'dnsmasq_split.chains', 'split_client.chains', 'split_client.routing', 'wg_upstream', 'wg_upstream.routing']


def test_a_switch_of_backend_makes_the_new_marking_before_the_old_goes():
    """The nftables table comes before the iptables chains go (as removals), and goes after they are made again."""
    assert [call['name'] for call in all_calls(NFT_PLAN)] == [
        'wg_upstream', 'wg_upstream.routing', 'split_client.table', 'split_client.chains', 'split_client.routing',
        'dnsmasq_split.routing']
    assert all(chain['state'] == 'absent' for chain in NFT_PLAN['chains']['split_client'])
    names = [call['name'] for call in all_calls(IPTABLES_AGAIN)]
    assert names.index('split_client.chains') < names.index('dnsmasq_split.chains') < names.index('dnsmasq_split.table_removed')
    assert IPTABLES_AGAIN['nftables_removed'] == dict(split_client=None, dnsmasq_split=dict(table='wgsplit', state='absent'))
    # From iptables to nftables, the chains of every role go after the table (the masquerade, the DNS redirect).
    switched = make_plan(discovery=discovered(chains=[dict(table='nat', chain='WGSPLIT_SNAT', family='inet'),
                                                      dict(table='nat', chain='WGSPLIT_DNS', family='inet')]),
                         backend='nftables')
    assert [chain['chain'] for chain in switched['chains']['split_client']] == ['WGSPLIT_SNAT', 'WGSPLIT_DNS']
    assert switched['chains']['wg_upstream'] == [] and switched['chains']['dnsmasq_split'] == []


def test_keys_are_only_in_the_secrets_part():
    result = make_plan(discovery=FOUND)
    public = json.dumps(dict((key, value) for key, value in result.items() if key != 'secrets'))
    assert '"private_key"' not in public and '"preshared_key"' not in public and OTHER_KEY not in public
    assert result['secrets']['interface_keys'] == {
        'wg-up-1': dict(private_key=KEY, preshared_key=OTHER_KEY), 'wg-up-2': dict(private_key=KEY, preshared_key=None)}
    # The removed interface is in the call, without keys.
    assert result['calls']['wg_upstream'][0]['args']['upstreams'][-1] == dict(name='wg-up-3', state='absent')


def test_the_plan_role_reads_and_plans_in_one_task_before_the_check():
    """split_plan reads every call of the run (tests/unit/plugins/action/test_split_plan.py); the roles' gates use
    that reading as wgsplit_plan.pending. The packages' file plans again under the same name."""
    files = {}
    for name in ('main.yml', 'packages.yml'):
        with open(os.path.join(ROOT, 'roles', 'plan', 'tasks', name)) as handle:
            files[name] = yaml.safe_load(handle)
        planned = [task for task in files[name] if 'wgsplit.gateway.split_plan' in task]
        assert len(planned) == 1 and planned[0]['register'] == 'wgsplit_plan', name
        assert 'variables' not in planned[0]['wgsplit.gateway.split_plan']  # the action reads the play's wgsplit_*
        assert 'no_log' not in planned[0]  # the action hides its result itself, and shows a failed read
    modules = [next(key for key in task if key.startswith('ansible.') or key.startswith('wgsplit.')) for task in files['main.yml']]
    assert modules[:3] == ['wgsplit.gateway.split_plan', 'ansible.builtin.include_tasks', 'ansible.builtin.assert']


def test_only_site_yml_lets_the_roles_reuse_the_runs_reading():
    """Between roles of a play of one's own other tasks may change the gateway: there each role reads right before its
    calls. site.yml runs them back to back."""
    with open(os.path.join(ROOT, 'playbooks', 'site.yml')) as handle:
        play = yaml.safe_load(handle)[0]
    # A fresh plan for the play (a plan an earlier play of the run registered is outdated), then the roles.
    planning, include = play['tasks']
    assert planning['ansible.builtin.include_role']['name'] == 'wgsplit.gateway.plan' and 'when' not in planning
    assert list(include['ansible.builtin.include_role']) == ['name'] and include['vars']['wgsplit_pending_reuse'] is True
    # A role with no work is not included (its own gate would skip its tasks; a second pass has a fresh plan).
    assert include['when'] == 'wgsplit_plan.work[wgsplit_role]' and include['loop_control']['loop_var'] == 'wgsplit_role'
    for path in glob.glob(os.path.join(ROOT, 'playbooks', '*.yml')) + glob.glob(os.path.join(ROOT, 'roles', '*', '*', '*.yml')):
        if not path.endswith(os.path.join('playbooks', 'site.yml')):
            with open(path) as handle:
                assert 'wgsplit_pending_reuse: true' not in handle.read(), path


def test_a_role_skips_its_tasks_only_when_none_of_them_has_anything_to_do():
    """Each role's main task file gates the rest on the run's `work` (site.yml only); every task behind that gate is
    the role's reading, or gated by its call's reading, or reads only plan keys the role's other work covers."""
    gated = {}
    for role, file_name, tasks in role_tasks():
        if role != 'plan' and file_name == 'main.yml':
            includes = [task for task in tasks if 'ansible.builtin.include_tasks' in task]
            assert includes, role
            # Nothing else there does work: the plan's include (once per host), the gated includes, and at most the
            # record that the run's reading is used.
            for task in tasks:
                module = next(key for key in task if key.startswith('ansible.') or key.startswith('wgsplit.'))
                assert module in ('ansible.builtin.include_role', 'ansible.builtin.include_tasks', 'ansible.builtin.set_fact'), task['name']
                if module == 'ansible.builtin.include_role':
                    assert task['when'] == 'wgsplit_plan is not defined', task['name']
                if module == 'ansible.builtin.set_fact':
                    assert set(task[module]) == {'wgsplit_pending_used'}, task['name']
            for task in includes:
                conditions = task['when'] if isinstance(task['when'], list) else [task['when']]
                assert ' '.join(conditions[-1].split()) == ("not wgsplit_pending_reuse | default(false) or wgsplit_plan.work.{0}"
                                                            " or '{0}' in wgsplit_pending_used | default([])").format(role)
            # The pass is recorded after the gate, whether it opened or not: a second pass opens it and reads again.
            assert tasks[-1]['ansible.builtin.set_fact']['wgsplit_pending_used'] == (
                "{{ wgsplit_pending_used | default([]) + ['%s'] }}" % role), role
            assert tasks.index(includes[-1]) < len(tasks) - 1
    for role, file_name, task, text in ungated_tasks():
        keys = set(re.findall(r'wgsplit_plan\.([a-z_]+)', text))
        gated.setdefault(role, set()).update(keys)
        assert keys and keys <= set(OTHER_WORK[role]), (role, file_name, task['name'], keys)
    assert gated == dict((role, set(keys)) for role, keys in OTHER_WORK.items() if keys)


def ungated_tasks():
    """(role, file, task, its `when` and `loop` as text) of each task behind a role's gate that is neither the role's
    reading of its calls nor gated by one of them."""
    for role, file_name, tasks in role_tasks():
        if role == 'plan' or file_name == 'main.yml':
            continue
        for task in tasks:
            if task.get('register') == '%s_pending' % role or 'ansible.builtin.set_fact' in task:
                continue
            conditions = task.get('when', [])
            conditions = conditions if isinstance(conditions, list) else [conditions]
            if not any(GATE.match(condition) for condition in conditions):
                yield role, file_name, task, ' '.join(conditions + [str(task.get('loop', ''))])


def test_work_is_what_the_reading_and_the_plan_leave_to_do():
    idle, in_sync = idle_plan()
    names = dict((role, [call['name'] for call in calls]) for role, calls in idle['calls'].items())
    # Without a reading (a command was missing), every role with calls reads them; one without calls has none to read.
    assert role_work(idle, {}) == dict((role, bool(names.get(role))) for role in ROLES)
    assert role_work(dict(idle, errors=['bad']), in_sync) == dict.fromkeys(ROLES, True)
    one_call = dict(in_sync, run=dict(in_sync['run'], **{names['split_client'][0]: True}))
    assert role_work(idle, one_call) == dict(wg_upstream=False, split_client=True, dnsmasq_split=False)
    again = dict(in_sync, read_again=dict(in_sync['read_again'], dnsmasq_split=True))
    assert role_work(idle, again)['dnsmasq_split'] is True
    for key, value, role in (('kept_clients', dict(write=[1], remove=[]), 'split_client'),
                             ('kept_clients', dict(write=[], remove=['x']), 'split_client'),
                             ('removed', dict(sets=['wgs-gone-p4']), 'split_client'),
                             ('metrics', dict(files=[dict(write=True)], start=False, stop=False, remove=[]), 'split_client'),
                             ('metrics', dict(files=[], start=False, stop=True, remove=[]), 'split_client'),
                             ('metrics', dict(files=[], start=False, stop=False, remove=['f']), 'split_client'),
                             ('resolver', dict(idle['resolver'], apply=True), 'dnsmasq_split'),
                             ('resolver', dict(idle['resolver'], stale_sets=[{}]), 'dnsmasq_split'),
                             ('resolver', dict(idle['resolver'], stale_table_sets=['s']), 'dnsmasq_split'),
                             ('resolver', dict(idle['resolver'], journal=''), 'dnsmasq_split'),
                             ('resolver', dict(idle['resolver'], journal_removal='j'), 'dnsmasq_split')):
        work = role_work(dict(idle, **{key: value}), in_sync)
        assert work == dict(dict.fromkeys(ROLES, False), **{role: True}), (key, value)


def idle_plan():
    """A plan and a reading with nothing to do for any role."""
    planned = plan(check_inventory(dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS_FOR_WORK, clients=CLIENTS_FOR_WORK)),
                   discovered())
    names = dict((role, [call['name'] for call in calls]) for role, calls in planned['calls'].items())
    in_sync = dict(run=dict.fromkeys([name for role in names.values() for name in role], False),
                   read_again=dict.fromkeys(names, False), pending={})
    idle = dict(planned, kept_clients=dict(write=[], remove=[], directory='d'), removed=dict(sets=[]),
                metrics=dict(planned['metrics'], files=[dict(write=False)], start=False, stop=False, remove=[]),
                resolver=dict(planned['resolver'], stale_sets=[], stale_table_sets=[], apply=False, journal=None,
                              journal_removal=None))
    assert role_work(idle, in_sync) == dict.fromkeys(ROLES, False)
    return idle, in_sync


def test_every_plan_field_a_task_behind_the_gate_reads_makes_work():
    """Field by field, not key by key: each `wgsplit_plan.KEY.FIELD` an ungated task's `when` or `loop` reads, given a
    value that makes the task run, makes its role's work true (a task reading a field role_work ignores would be
    skipped in site.yml while it has something to do)."""
    idle, in_sync = idle_plan()
    for role, file_name, task, text in ungated_tasks():
        for key, field in re.findall(r'wgsplit_plan\.([a-z_]+)\.([a-z_]+)', text):
            value = idle[key].get(field)
            busy = [dict(write=True)] if isinstance(value, list) else '' if value is None else True
            work = role_work(dict(idle, **{key: dict(idle[key], **{field: busy})}), in_sync)
            assert work[role], (role, file_name, task['name'], '%s.%s' % (key, field))
