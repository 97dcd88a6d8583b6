"""split_pending: a call after a pending one of its role runs; a call whose arguments or checks its module refuses, or whose
reading fails, is pending (the module then runs and reports it); keys are merged by interface."""
from ansible_collections.wgsplit.gateway.plugins.modules import split_pending


def test_a_call_runs_when_it_or_a_call_of_its_role_before_it_is_pending():
    names = ['wg_upstream', 'wg_upstream.routing', 'split_client.sets', 'split_client.chains', 'split_client.routing',
             'dnsmasq_split.chains']
    pending = dict((name, []) for name in names)
    pending['split_client.chains'] = ['the kernel differs']
    assert split_pending.must_run(names, pending) == {
        'wg_upstream': False, 'wg_upstream.routing': False, 'split_client.sets': False, 'split_client.chains': True,
        'split_client.routing': True, 'dnsmasq_split.chains': False}
    # A role run alone is not held back by another one's pending call.
    pending = dict(pending, **{'split_client.chains': [], 'wg_upstream': ['the kernel differs']})
    assert split_pending.must_run(names, pending) == dict(
        (name, name.startswith('wg_upstream')) for name in names)
    assert not any(split_pending.must_run(names, dict((name, []) for name in names)).values())


def test_a_role_reads_again_when_a_call_of_a_role_before_it_runs():
    names = ['wg_upstream', 'wg_upstream.routing', 'split_client.sets', 'split_client.chains', 'dnsmasq_split.chains']
    quiet = dict((name, False) for name in names)
    assert split_pending.read_again(names, quiet) == dict(wg_upstream=False, split_client=False, dnsmasq_split=False)
    assert split_pending.read_again(names, dict(quiet, **{'wg_upstream.routing': True})) == dict(
        wg_upstream=False, split_client=True, dnsmasq_split=True)
    # A call of the role itself running does not make it read again (the order rule already runs what follows).
    assert split_pending.read_again(names, dict(quiet, **{'split_client.chains': True})) == dict(
        wg_upstream=False, split_client=False, dnsmasq_split=True)
    # Every call of a role runs already: a second reading could only skip some, which would change nothing.
    assert split_pending.read_again(names, dict(quiet, **{'wg_upstream': True, 'wg_upstream.routing': True,
                                                          'split_client.sets': True, 'split_client.chains': True})) == dict(
        wg_upstream=False, split_client=False, dnsmasq_split=True)
    # Removal runs the roles backwards: the order of the calls is the run's.
    backwards = ['dnsmasq_split.chains', 'split_client.chains', 'wg_upstream']
    assert split_pending.read_again(backwards, {'dnsmasq_split.chains': True, 'split_client.chains': False, 'wg_upstream': False}) == dict(
        dnsmasq_split=False, split_client=True, wg_upstream=True)


def test_keys_are_merged_by_interface_and_removals_keep_none():
    args = dict(upstreams=[dict(name='wg-up-1', endpoint='a:1'), dict(name='wg-up-3', state='absent')])
    keys = {'wg-up-1': dict(private_key='K', preshared_key=None)}
    assert split_pending.with_keys(args, keys) == dict(upstreams=[
        dict(name='wg-up-1', endpoint='a:1', private_key='K', preshared_key=None), dict(name='wg-up-3', state='absent')])


class FakeModule:
    def run_command(self, *_args, **_kwargs):
        raise AssertionError('nothing is run for a call refused before it reads')

    def get_bin_path(self, _name):
        return None


def test_arguments_the_module_refuses_make_the_call_pending():
    found = split_pending.reasons(FakeModule(), dict(module='mangle_mark', args=dict(chains=[dict(chain='X', table='nosuch')])), {}, {})
    assert len(found) == 1 and found[0].startswith('its arguments are refused') and 'nosuch' in found[0]


def test_a_check_the_module_fails_makes_the_call_pending():
    found = split_pending.reasons(FakeModule(), dict(module='mangle_mark', args=dict(chains=[dict(chain='PREROUTING')])), {}, {})
    assert found == ["it fails: chain 'PREROUTING' must be a non-built-in chain name of 1 to 28 of A-Z a-z 0-9 _ -"]


def test_a_missing_command_makes_the_call_pending():
    found = split_pending.reasons(FakeModule(), dict(module='ipset_set', args=dict(sets=[dict(name='wgs-a-p4')])), {}, {})
    assert found == ['it fails: ipset is not installed']


def test_an_unexpected_error_makes_the_call_pending(monkeypatch):
    class Broken:
        def __init__(self, module):
            raise KeyError('surprise')
    monkeypatch.setitem(split_pending.MODULES, 'ipset_set', (split_pending.MODULES['ipset_set'][0], Broken))
    found = split_pending.reasons(FakeModule(), dict(module='ipset_set', args=dict(sets=[dict(name='wgs-a-p4')])), {}, {})
    assert found == ["its reading fails: KeyError: 'surprise'"]


def test_a_malformed_call_is_pending_not_a_crash():
    for args in (dict(upstreams=[dict(state='absent')]), dict(upstreams=['wg-up-1'])):
        found = split_pending.reasons(FakeModule(), dict(module='wg_upstream', args=args), {}, {})
        assert len(found) == 1 and found[0].startswith(('its arguments are refused', 'it fails', 'its reading fails'))


class CommandFails(FakeModule):
    def get_bin_path(self, name):
        return '/usr/sbin/' + name

    def run_command(self, *_args, **kwargs):
        assert kwargs['handle_exceptions'] is False  # the module's own run_command would end split_pending
        raise OSError('exec format error')


def test_a_command_that_cannot_run_makes_the_call_pending():
    found = split_pending.reasons(CommandFails(), dict(module='ipset_set', args=dict(sets=[dict(name='wgs-a-p4')])), {}, {})
    assert found == ['its reading fails: OSError: exec format error']


def test_an_empty_list_is_refused():
    for module, option in (('wg_upstream', 'upstreams'), ('policy_route', 'tables'), ('mangle_mark', 'chains'),
                           ('ipset_set', 'sets')):
        found = split_pending.reasons(FakeModule(), dict(module=module, args={option: []}), {}, {})
        assert found == ['it fails: %s is empty: give at least one, or leave the task out' % option], module


def test_keys_given_in_the_calls_are_refused_and_never_echoed():
    args = dict(upstreams=[dict(name='wg-up-1', private_key='SECRETKEY')])
    found = split_pending.reasons(FakeModule(), dict(module='wg_upstream', args=args), {}, {})
    assert found == ['its arguments are refused: keys belong in interface_keys, hidden from logs']


def test_a_command_two_calls_read_runs_once_and_a_failed_one_again():
    class Counting:
        def __init__(self):
            self.argv = []

        def run_command(self, args, handle_exceptions=True, **_kwargs):
            assert handle_exceptions is False  # raised, so that the call is pending
            self.argv.append(args)
            if args[0] == 'broken':
                raise OSError('no such command')
            return 0, ' '.join(args), ''
    module, reads = Counting(), {}
    first = split_pending.CheckModeCall(module, {}, reads)
    second = split_pending.CheckModeCall(module, {}, reads)
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
