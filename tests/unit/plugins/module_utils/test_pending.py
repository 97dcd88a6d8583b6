"""split_pending's reading (module_utils/pending.py): a call after a pending one of its role runs; a call whose
arguments or checks its module refuses, or whose reading fails, is pending (the module then runs and reports it);
keys are merged by interface; the calls kept for the next run are read back only by root and for the same inputs."""
import json
import os

import pytest

from ansible_collections.wgsplit.gateway.plugins.module_utils import pending as reading


def test_a_call_runs_when_it_or_a_call_of_its_role_before_it_is_pending():
    names = ['wg_upstream', 'wg_upstream.routing', 'split_client.sets', 'split_client.chains', 'split_client.routing',
             'dnsmasq_split.chains']
    pending = dict((name, []) for name in names)
    pending['split_client.chains'] = ['the kernel differs']
    assert reading.must_run(names, pending) == {
        'wg_upstream': False, 'wg_upstream.routing': False, 'split_client.sets': False, 'split_client.chains': True,
        'split_client.routing': True, 'dnsmasq_split.chains': False}
    # A role run alone is not held back by another one's pending call.
    pending = dict(pending, **{'split_client.chains': [], 'wg_upstream': ['the kernel differs']})
    assert reading.must_run(names, pending) == dict(
        (name, name.startswith('wg_upstream')) for name in names)
    assert not any(reading.must_run(names, dict((name, []) for name in names)).values())


def test_a_role_reads_again_when_a_call_of_a_role_before_it_runs():
    names = ['wg_upstream', 'wg_upstream.routing', 'split_client.sets', 'split_client.chains', 'dnsmasq_split.chains']
    quiet = dict((name, False) for name in names)
    assert reading.read_again(names, quiet) == dict(wg_upstream=False, split_client=False, dnsmasq_split=False)
    assert reading.read_again(names, dict(quiet, **{'wg_upstream.routing': True})) == dict(
        wg_upstream=False, split_client=True, dnsmasq_split=True)
    # A call of the role itself running does not make it read again (the order rule already runs what follows).
    assert reading.read_again(names, dict(quiet, **{'split_client.chains': True})) == dict(
        wg_upstream=False, split_client=False, dnsmasq_split=True)
    # Every call of a role runs already: a second reading could only skip some, which would change nothing.
    assert reading.read_again(names, dict(quiet, **{'wg_upstream': True, 'wg_upstream.routing': True,
                                                    'split_client.sets': True, 'split_client.chains': True})) == dict(
        wg_upstream=False, split_client=False, dnsmasq_split=True)
    # Removal runs the roles backwards: the order of the calls is the run's.
    backwards = ['dnsmasq_split.chains', 'split_client.chains', 'wg_upstream']
    assert reading.read_again(backwards, {'dnsmasq_split.chains': True, 'split_client.chains': False, 'wg_upstream': False}) == dict(
        dnsmasq_split=False, split_client=True, wg_upstream=True)


def test_keys_are_merged_by_interface_and_removals_keep_none():
    args = dict(upstreams=[dict(name='wg-up-1', endpoint='a:1'), dict(name='wg-up-3', state='absent')])
    keys = {'wg-up-1': dict(private_key='K', preshared_key=None)}
    assert reading.with_keys(args, keys) == dict(upstreams=[
        dict(name='wg-up-1', endpoint='a:1', private_key='K', preshared_key=None), dict(name='wg-up-3', state='absent')])


class FakeModule:
    def __init__(self):
        self.no_log_values = set()

    def run_command(self, *_args, **_kwargs):
        raise AssertionError('nothing is run for a call refused before it reads')

    def get_bin_path(self, _name):
        return None


def test_arguments_the_module_refuses_make_the_call_pending():
    found = reading.reasons(FakeModule(), dict(module='mangle_mark', args=dict(chains=[dict(chain='X', table='nosuch')])), {}, {})
    assert len(found) == 1 and found[0].startswith('its arguments are refused') and 'nosuch' in found[0]


def test_a_check_the_module_fails_makes_the_call_pending():
    found = reading.reasons(FakeModule(), dict(module='mangle_mark', args=dict(chains=[dict(chain='PREROUTING')])), {}, {})
    assert found == ["it fails: chain 'PREROUTING' must be a non-built-in chain name of 1 to 28 of A-Z a-z 0-9 _ -"]


def test_a_missing_command_makes_the_call_pending():
    found = reading.reasons(FakeModule(), dict(module='ipset_set', args=dict(sets=[dict(name='wgs-a-p4')])), {}, {})
    assert found == ['it fails: ipset is not installed']


def test_an_unexpected_error_makes_the_call_pending(monkeypatch):
    class Broken:
        def __init__(self, module):
            raise KeyError('surprise')
    monkeypatch.setitem(reading.MODULES, 'ipset_set', (reading.MODULES['ipset_set'][0], Broken))
    found = reading.reasons(FakeModule(), dict(module='ipset_set', args=dict(sets=[dict(name='wgs-a-p4')])), {}, {})
    assert found == ["its reading fails: KeyError: 'surprise'"]


def test_a_malformed_call_is_pending_not_a_crash():
    for args in (dict(upstreams=[dict(state='absent')]), dict(upstreams=['wg-up-1'])):
        found = reading.reasons(FakeModule(), dict(module='wg_upstream', args=args), {}, {})
        assert len(found) == 1 and found[0].startswith(('its arguments are refused', 'it fails', 'its reading fails'))


class CommandFails(FakeModule):
    def get_bin_path(self, name):
        return '/usr/sbin/' + name

    def run_command(self, *_args, **kwargs):
        assert kwargs['handle_exceptions'] is False  # the module's own run_command would end split_pending
        raise OSError('exec format error')


def test_a_command_that_cannot_run_makes_the_call_pending():
    found = reading.reasons(CommandFails(), dict(module='ipset_set', args=dict(sets=[dict(name='wgs-a-p4')])), {}, {})
    assert found == ['its reading fails: OSError: exec format error']


def test_an_empty_list_is_refused():
    for module, option in (('wg_upstream', 'upstreams'), ('policy_route', 'tables'), ('mangle_mark', 'chains'),
                           ('ipset_set', 'sets')):
        found = reading.reasons(FakeModule(), dict(module=module, args={option: []}), {}, {})
        assert found == ['it fails: %s is empty: give at least one, or leave the task out' % option], module


def test_keys_given_in_the_calls_are_refused_and_never_echoed():
    args = dict(upstreams=[dict(name='wg-up-1', private_key='SECRETKEY')])
    found = reading.reasons(FakeModule(), dict(module='wg_upstream', args=args), {}, {})
    assert found == ['its arguments are refused: keys belong in interface_keys, hidden from logs']


def test_a_command_two_calls_read_runs_once_and_a_failed_one_again():
    class Counting:
        def __init__(self):
            self.argv, self.no_log_values = [], set()

        def run_command(self, args, handle_exceptions=True, **_kwargs):
            assert handle_exceptions is False  # raised, so that the call is pending
            self.argv.append(args)
            if args[0] == 'broken':
                raise OSError('no such command')
            return 0, ' '.join(args), ''
    module, reads = Counting(), {}
    first = reading.CheckModeCall(module, {}, reads)
    second = reading.CheckModeCall(module, {}, reads)
    assert first.run_command(['iptables-save', '-t', 'nat']) == second.run_command(['iptables-save', '-t', 'nat'])
    assert second.run_command(['iptables-save', '-t', 'raw'])[1] == 'iptables-save -t raw'
    second.run_command(['ip', 'rule'], environ_update=dict(LANG='C'))
    second.run_command(['ip', 'rule'])  # other arguments, another command
    for call in (first, second):
        try:
            call.run_command(['broken'])
        except OSError:
            pass
    assert module.argv == [['iptables-save', '-t', 'nat'], ['iptables-save', '-t', 'raw'], ['ip', 'rule'], ['ip', 'rule'],
                           ['broken'], ['broken']]


CALLS = [dict(name='split_client.sets', module='ipset_set', args=dict(sets=[dict(name='wgs-a-p4')])),
         dict(name='wg_upstream', module='wg_upstream', args=dict(upstreams=[dict(name='wg-up-1')]))]
KEYS = {'wg-up-1': dict(private_key='SECRETKEY', preshared_key=None)}


def test_a_reading_says_what_runs_what_is_pending_and_what_reads_again_and_reads_no_call_known(monkeypatch):
    class State:
        def __init__(self, module):
            self.module = module

        def pending(self):
            return ['the kernel differs'] if self.module.params['upstreams'][0].get('private_key') == 'SECRETKEY' else []
    monkeypatch.setitem(reading.MODULES, 'wg_upstream', (dict(argument_spec=dict(upstreams=dict(type='list'))), State))
    calls = list(reversed(CALLS))  # the upstream first, with its keys merged
    names = [call['name'] for call in calls]
    found = reading.reading(FakeModule(), calls, KEYS)
    assert found == {'wg_upstream': ['the kernel differs'], 'split_client.sets': ['it fails: ipset is not installed']}
    assert reading.summary(names, found) == dict(
        run={'wg_upstream': True, 'split_client.sets': True}, pending=found, read_again=dict(wg_upstream=False, split_client=False))
    found = reading.reading(FakeModule(), calls, {})
    assert reading.summary(names, found) == dict(run={'wg_upstream': False, 'split_client.sets': True},
                                                 pending={'split_client.sets': ['it fails: ipset is not installed']},
                                                 read_again=dict(wg_upstream=False, split_client=False))
    # A call known is not read (FakeModule has no ipset: read, it would be pending).
    assert reading.reading(FakeModule(), calls, KEYS, known={'split_client.sets': []})['split_client.sets'] == []


def test_calls_kept_are_read_again_with_their_digests_and_root_alone_reads_them(tmp_path):
    path = str(tmp_path / 'run' / 'reading.json')
    assert reading.kept(path) is None and reading.read_kept(FakeModule(), {}, path) is None  # nothing kept yet
    assert reading.keep(CALLS, KEYS, {}, path) is True
    assert reading.kept(path) == (CALLS, KEYS, {})
    module = FakeModule()
    again = reading.read_kept(module, {}, path)
    assert module.no_log_values == {'SECRETKEY'}  # read from a file, hidden from the result all the same
    assert again == dict((call['name'], dict(digest=reading.call_digest(call, KEYS), pending=found))
                         for call, found in zip(CALLS, (['it fails: ipset is not installed'], ['it fails: ip is not installed'])))
    assert oct(os.stat(path).st_mode & 0o777) == '0o600' and oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == '0o700'
    assert os.listdir(os.path.dirname(path)) == ['reading.json']  # no temporary file left
    os.chmod(path, 0o644)  # readable by others: not the collection's file any more
    assert reading.kept(path) is None


@pytest.mark.parametrize('text', ['{', '[]', '{"calls": []}', json.dumps(dict(interface_keys={}, calls=[{}])),
                                  json.dumps(dict(interface_keys={}, calls=[dict(CALLS[0], module='shell')])),
                                  json.dumps(dict(interface_keys={}, calls=[CALLS[0], CALLS[0]])),
                                  json.dumps(dict(interface_keys=[], calls=CALLS))])
def test_a_malformed_kept_file_is_no_reading(tmp_path, text):
    path = tmp_path / 'reading.json'
    path.write_text(text)
    path.chmod(0o600)
    assert reading.kept(str(path)) is None


def test_a_link_is_not_followed_and_a_shared_directory_is_not_written(tmp_path):
    target = tmp_path / 'elsewhere.json'
    assert reading.keep(CALLS, KEYS, {}, str(target)) is True
    link = tmp_path / 'reading.json'
    link.symlink_to(target)
    assert reading.kept(str(link)) is None
    shared = tmp_path / 'shared'
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    assert reading.keep(CALLS, KEYS, {}, str(shared / 'reading.json')) is False and list(shared.iterdir()) == []


def test_forgetting_removes_the_file_what_a_stopped_keep_left_and_the_directory_when_empty(tmp_path):
    path = tmp_path / 'run' / 'reading.json'
    reading.keep(CALLS, KEYS, {}, str(path))
    (tmp_path / 'run' / '.reading-stopped').write_text('keys')
    reading.forget(str(path))
    assert not (tmp_path / 'run').exists()
    reading.forget(str(path))  # nothing to forget
    reading.keep(CALLS, KEYS, {}, str(path))
    (tmp_path / 'run' / 'other').write_text('')
    reading.forget(str(path))
    assert sorted(os.listdir(str(tmp_path / 'run'))) == ['other']


def test_a_call_digest_is_that_of_the_call_as_json_carries_it_keys_included():
    upstream = CALLS[1]
    assert reading.call_digest(upstream, KEYS) == reading.call_digest(json.loads(json.dumps(upstream)), json.loads(json.dumps(KEYS)))
    others = (dict(upstream, name='wg_upstream.other'), dict(upstream, args=dict(upstreams=[dict(name='wg-up-1', endpoint='a:1')])))
    for other, keys in [(other, KEYS) for other in others] + [(upstream, {'wg-up-1': dict(private_key='OTHER')}), (upstream, {})]:
        assert reading.call_digest(other, keys) != reading.call_digest(upstream, KEYS)
    # Only the call's own interfaces' keys count.
    assert reading.call_digest(upstream, dict(KEYS, **{'wg-up-2': dict(private_key='OTHER')})) == reading.call_digest(upstream, KEYS)
    assert reading.call_digest(CALLS[0], KEYS) == reading.call_digest(CALLS[0], {})


def test_the_digest_of_what_json_cannot_hold_the_same_way_is_none():
    assert reading.digest(CALLS, {1: 'a'}) is not None
    assert reading.digest({'a'}) is None and reading.digest(float('nan')) is None
    assert reading.digest({1: 'a', 'b': 2}) is None  # keys JSON would sort otherwise


def test_calls_that_cannot_be_kept_are_not_and_leave_nothing(tmp_path, monkeypatch):
    path = tmp_path / 'run' / 'reading.json'
    assert reading.keep([dict(CALLS[0], args=dict(timeout=float('nan')))], KEYS, {}, str(path)) is False
    assert os.listdir(str(tmp_path / 'run')) == []

    def full(*_args, **_kwargs):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(reading.os, 'replace', full)
    assert reading.keep(CALLS, KEYS, {}, str(path)) is False and os.listdir(str(tmp_path / 'run')) == []
    monkeypatch.setattr(reading.tempfile, 'mkstemp', full)
    assert reading.keep(CALLS, KEYS, {}, str(path)) is False


def test_a_kept_call_without_a_digest_is_not_read_again(tmp_path):
    path = tmp_path / 'reading.json'
    path.write_text('{"calls": [{"name": "a", "module": "ipset_set", "args": {"x": NaN}}], "interface_keys": {}}')
    path.chmod(0o600)
    assert reading.read_kept(FakeModule(), {}, str(path)) == {}


def test_split_info_and_the_calls_it_reads_again_share_their_commands():
    class Counting:
        def __init__(self):
            self.argv, self.no_log_values = [], set()

        def run_command(self, args, **_kwargs):
            self.argv.append(args)
            return 0, 'out', ''
    module, reads = Counting(), {}
    reading.Remembering(module, reads).run_command(['iptables-save', '-t', 'mangle'], data=None, environ_update=dict(LANG='C'))
    found = reading.CheckModeCall(module, {}, reads).run_command(['iptables-save', '-t', 'mangle'], data=None, environ_update=dict(LANG='C'))
    assert found == (0, 'out', '') and module.argv == [['iptables-save', '-t', 'mangle']]


def test_checked_arguments_are_kept_and_used_again_by_the_same_specification_only(tmp_path, monkeypatch):
    path = str(tmp_path / 'reading.json')
    calls = [dict(name='split_client.sets', module='ipset_set', args=dict(sets=[dict(name='wgs-a-p4')]))]
    params = {}
    reading.reading(FakeModule(), calls, {}, params=params)
    assert params['split_client.sets']['sets'][0]['name'] == 'wgs-a-p4' and 'persist' in params['split_client.sets']
    reading.keep(calls, {}, params, path)
    assert reading.kept(path)[2] == params
    # Used as given: a reading with them checks nothing (arguments the check would refuse pass).
    used = {'split_client.sets': dict(params['split_client.sets'], sets=[])}
    assert reading.reading(FakeModule(), calls, {}, params=used) == {'split_client.sets': ['it fails: sets is empty: give at least one, or leave the task out']}
    # A call known to a later reading keeps them while it is the same; changed, it loses them.
    reading.keep(calls, {}, {}, path)
    assert reading.kept(path)[2] == params
    other = [dict(calls[0], args=dict(sets=[dict(name='wgs-b-p4')]))]
    reading.keep(other, {}, {}, path)
    assert reading.kept(path)[2] == {}
    # Another version of the module's specification checks them again.
    reading.keep(calls, {}, params, path)
    monkeypatch.setitem(reading.SPECS, 'ipset_set', 'another')
    assert reading.kept(path)[2] == {}


def test_arguments_kept_are_those_checked_not_those_the_module_normalised(tmp_path, monkeypatch):
    class Sorting:
        def __init__(self, module):
            module.params['sets'].sort(key=lambda spec: spec['name'])  # in place, as a module may

        def pending(self):
            return []
    monkeypatch.setitem(reading.MODULES, 'ipset_set', (reading.MODULES['ipset_set'][0], Sorting))
    calls = [dict(name='sets', module='ipset_set', args=dict(sets=[dict(name='wgs-b-p4'), dict(name='wgs-a-p4')]))]
    params = {}
    reading.reading(FakeModule(), calls, {}, params=params)
    assert [spec['name'] for spec in params['sets']['sets']] == ['wgs-b-p4', 'wgs-a-p4']


def test_arguments_kept_for_a_call_whose_keys_changed_are_not_used_again(tmp_path):
    path = str(tmp_path / 'reading.json')
    upstream = dict(name='wg_upstream', module='wg_upstream', args=dict(upstreams=[dict(name='wg-up-1')]))
    reading.keep([upstream], KEYS, {'wg_upstream': dict(upstreams=[dict(name='wg-up-1', private_key='SECRETKEY')])}, path)
    assert reading.previous_params([upstream], KEYS, path) != {}
    # The same call with another key (another run kept its own meanwhile): checked again.
    assert reading.previous_params([upstream], {'wg-up-1': dict(private_key='OTHER', preshared_key=None)}, path) == {}


@pytest.mark.parametrize('calls, keys', [([dict(name='u', module='wg_upstream', args=dict(upstreams=['x']))], {}),
                                         (CALLS, {'wg-up-1': 'x'})])
def test_a_kept_file_whose_calls_or_keys_are_malformed_is_no_reading_and_no_crash(tmp_path, calls, keys):
    path = tmp_path / 'reading.json'
    path.write_text(json.dumps(dict(calls=calls, interface_keys=keys, params={})))
    path.chmod(0o600)
    assert reading.read_kept(FakeModule(), {}, str(path)) in (None, {})
    assert reading.previous_params(calls, {}, str(path)) == {}
