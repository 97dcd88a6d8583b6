"""dnsmasq_instances: the resolvers' files and services changed in the one make-before-break order, only what differs,
nothing in check mode, a configuration dnsmasq refuses changing nothing, only the collection's files removed."""
import os

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.wgsplit.gateway.plugins.module_utils import instances, netstate
from ansible_collections.wgsplit.gateway.plugins.module_utils.instances import ARGUMENTS, DnsmasqInstances, parse_show
from test_state_module import Exit, FakeModule

FRONT, BACK = 'wgsplit-resolver.service', 'wgsplit-resolver-back@%d.service'
MARK = '# Written by wgsplit.gateway (role dnsmasq_split): x\n'


@pytest.fixture(autouse=True)
def dnsmasq_installed(tmp_path, monkeypatch):
    """The check runs the units' dnsmasq by its path: here a stand-in the fake host answers for."""
    path = tmp_path / 'sbin' / 'dnsmasq'
    path.parent.mkdir()
    path.write_text('')
    monkeypatch.setattr(instances, 'DNSMASQ', str(path))
    return path


class FakeHost(FakeModule):
    """A module whose commands act on fake systemd units; every command is logged."""

    def __init__(self, params, units=None, check_mode=False, diff=False, refuse=None):
        super(FakeHost, self).__init__(check_mode=check_mode, diff=diff)
        checked = ArgumentSpecValidator(**ARGUMENTS).validate(params)  # as AnsibleModule would: defaults filled
        assert not checked.error_messages, checked.error_messages
        self.params = checked.validated_parameters
        self.units = units if units is not None else {}
        self.refuse, self.log = refuse, []

    def get_bin_path(self, name, required=False):
        return '/usr/bin/' + name

    def run_command(self, argv, **_kwargs):
        command, words = os.path.basename(argv[0]), argv[1:]
        if command == 'dnsmasq':
            with open(words[1].split('=', 1)[1]) as handle:
                text = handle.read()
            self.log.append(('dnsmasq --test', text))
            return (1, '', 'bad option') if self.refuse and self.refuse in text else (0, 'syntax check OK.', '')
        self.log.append(tuple(words))
        names = [word for word in words[1:] if word != '--' and not word.startswith('-')]
        if words[0] == 'show':
            return 0, '\n\n'.join(self.show(name) for name in names) + '\n', ''
        for name in names:
            if words[0] in ('start', 'restart'):
                self.state(name)['active'] = True
            elif words[0] == 'stop':
                self.state(name)['active'] = False
            elif words[0] in ('enable', 'disable'):
                self.state(name)['enabled'] = words[0] == 'enable'
        return 0, '', ''

    def state(self, name):
        return self.units.setdefault(name, dict(active=False, enabled=False))

    def show(self, name):
        unit = self.state(name)
        return 'LoadState=%s\nActiveState=%s\nUnitFileState=%s\nNeedDaemonReload=%s' % (
            unit.get('load', 'loaded'), unit.get('state', 'active' if unit['active'] else 'inactive'),
            unit.get('file', 'enabled' if unit['enabled'] else 'disabled'), 'yes' if unit.get('reload') else 'no')


class Stubborn(FakeHost):
    """A host whose back resolver 2 never stays up."""

    def run_command(self, argv, **kwargs):
        result = super(Stubborn, self).run_command(argv, **kwargs)
        self.units.get(BACK % 2, {})['active'] = False
        return result


class Refusing(FakeHost):
    """A host whose systemctl `verb` fails."""

    def __init__(self, params, verb, **kwargs):
        super(Refusing, self).__init__(params, **kwargs)
        self.verb = verb

    def run_command(self, argv, **kwargs):
        if argv[1:2] == [self.verb]:
            return 1, '', 'Job failed'
        return super(Refusing, self).run_command(argv, **kwargs)


def run(host):
    with pytest.raises(Exit):
        DnsmasqInstances(host).run()
    return host.result


def commands(host):
    return [entry for entry in host.log if entry[0] != 'show']


def template(tmp_path):
    return str(tmp_path / 'wgsplit-resolver-back@.service')


def linked(tmp_path):
    """The back instances enabled at boot (their links beside the template)."""
    return netstate.linked_instances(template(tmp_path))


def wanted(tmp_path, **changes):
    directory = str(tmp_path / 'resolver')
    params = dict(directory=directory, back_template=template(tmp_path),
                  configs=[dict(path=directory + '/back-2.conf', text=MARK + 'listen-address=127.53.0.2\n'),
                           dict(path=directory + '/dnsmasq.conf', text=MARK + 'server=/a.test/127.53.0.2\n')],
                  units=[dict(path=str(tmp_path / 'front.service'), text=MARK + '[Service]\n')],
                  front=FRONT, backs=[BACK % 2], retire=[], remove=[],
                  journal=dict(path=directory + '/previous.lines', text='ipset=/a.test/s\n'))
    params.update(changes)
    return params


def removal_params(tmp_path, **changes):
    """The arguments of a removal of what wanted() makes."""
    params = dict(state='absent', directory=str(tmp_path / 'resolver'), units=[dict(path=str(tmp_path / 'front.service'))],
                  front=FRONT, retire=[BACK % 2], journal=None, back_template=template(tmp_path))
    params.update(changes)
    return params


def test_a_first_run_writes_everything_then_starts_in_order(tmp_path):
    host = FakeHost(wanted(tmp_path))
    result = run(host)
    assert result['changed'] and not result['failed']
    directory = tmp_path / 'resolver'
    assert oct(os.stat(str(directory)).st_mode & 0o777) == '0o700'
    assert (directory / 'back-2.conf').read_text().endswith('127.53.0.2\n')
    assert oct(os.stat(str(directory / 'dnsmasq.conf')).st_mode & 0o777) == '0o600'
    assert oct(os.stat(str(tmp_path / 'front.service')).st_mode & 0o777) == '0o644'
    assert (directory / 'previous.lines').read_text() == 'ipset=/a.test/s\n'  # removed by the role at the run's end
    checked = [entry for entry in host.log if entry[0] == 'dnsmasq --test']
    assert len(checked) == 2 and host.log.index(checked[-1]) < host.log.index(('daemon-reload',))
    # Nothing ran: each enabled at boot (the back by its own link), the back started first, then the front that asks it.
    assert commands(host)[2:] == [('enable', '--no-reload', FRONT), ('daemon-reload',), ('start', '--', BACK % 2), ('start', FRONT)]
    assert not result['restarted'] and result['enabled'] == [FRONT, BACK % 2] and result['started'] == [BACK % 2, FRONT]
    assert linked(tmp_path) == [BACK % 2]
    assert result['written'] == [str(directory), str(directory / 'previous.lines'), str(directory / 'back-2.conf'),
                                 str(directory / 'dnsmasq.conf'), str(tmp_path / 'front.service')]
    assert not [name for name in os.listdir(str(directory)) if name.startswith('.')]  # no check file left


def test_a_second_run_changes_nothing_and_makes_no_change_command(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    again = FakeHost(wanted(tmp_path, journal=None), units=host.units)
    result = run(again)
    assert not result['changed'] and commands(again) == []


def test_check_mode_reports_and_changes_nothing(tmp_path):
    host = FakeHost(wanted(tmp_path), check_mode=True, diff=True)
    result = run(host)
    assert result['changed'] and result['started'] == [BACK % 2, FRONT] and not (tmp_path / 'resolver').exists()
    assert [entry[0] for entry in commands(host)] == ['dnsmasq --test', 'dnsmasq --test']
    after = result['diff']['after']
    assert after['services'] == {FRONT: 'running, enabled at boot', BACK % 2: 'running, enabled at boot'}
    assert result['diff']['before']['services'] == {FRONT: 'stopped, disabled at boot', BACK % 2: 'stopped, disabled at boot'}
    assert after['files'][str(tmp_path / 'resolver' / 'dnsmasq.conf')].endswith('127.53.0.2\n')
    assert result['diff']['before']['files'][str(tmp_path / 'resolver' / 'dnsmasq.conf')] is None


def test_a_configuration_dnsmasq_refuses_changes_nothing(tmp_path):
    params = wanted(tmp_path)
    params['configs'][1] = dict(params['configs'][1], text=MARK + 'no-such-option\n')
    host = FakeHost(params, refuse='no-such-option')
    result = run(host)
    assert result['failed'] and 'dnsmasq.conf' in result['msg'] and 'bad option' in result['msg']
    assert not (tmp_path / 'resolver' / 'back-2.conf').exists() and not (tmp_path / 'resolver' / 'previous.lines').exists()
    assert commands(host) == [entry for entry in host.log if entry[0] == 'dnsmasq --test']


def test_an_edit_moves_the_front_to_a_new_back_before_the_old_one_stops(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    directory = str(tmp_path / 'resolver')
    moved = wanted(tmp_path, configs=[dict(path=directory + '/back-3.conf', text=MARK + 'listen-address=127.53.0.3\n'),
                                      dict(path=directory + '/dnsmasq.conf', text=MARK + 'server=/a.test/127.53.0.3\n')],
                   backs=[BACK % 3], retire=[BACK % 2], remove=[directory + '/back-2.conf'])
    edit = FakeHost(moved, units=host.units)
    result = run(edit)
    assert commands(edit)[2:] == [('start', '--', BACK % 3), ('restart', FRONT), ('stop', '--', BACK % 2)]
    assert not os.path.exists(directory + '/back-2.conf') and result['removed'] == [directory + '/back-2.conf']
    assert not edit.units[BACK % 2]['active'] and edit.units[BACK % 3]['active'] and linked(tmp_path) == [BACK % 3]
    assert (result['enabled'], result['disabled']) == ([BACK % 3], [BACK % 2])


def moved(tmp_path, **changes):
    """The front sent to a new back (its own file changed); no unit changes."""
    directory = str(tmp_path / 'resolver')
    params = wanted(tmp_path, configs=[dict(path=directory + '/back-3.conf', text=MARK + 'listen-address=127.53.0.3\n',
                                            restarts=[BACK % 3]),
                                       dict(path=directory + '/dnsmasq.conf', text=MARK + 'server=/a.test/127.53.0.3\n')],
                    backs=[BACK % 3], retire=[BACK % 2], remove=[directory + '/back-2.conf'])
    params.update(changes)
    return params


def test_an_edit_starts_the_new_back_restarts_the_front_alone_then_stops_the_old_back(tmp_path):
    host = FakeHost(wanted(tmp_path, backs=[BACK % 2, BACK % 4],
                           configs=wanted(tmp_path)['configs'] + [dict(path=str(tmp_path / 'resolver' / 'back-4.conf'),
                                                                       text=MARK + 'listen-address=127.53.0.4\n')]))
    run(host)
    edit = FakeHost(moved(tmp_path, backs=[BACK % 3, BACK % 4]), units=host.units)
    result = run(edit)
    assert [entry[0] for entry in commands(edit)[:2]] == ['dnsmasq --test', 'dnsmasq --test']
    # Back 4 (its file unchanged) keeps running: nothing binds it to the front. No unit changes: no daemon-reload.
    assert commands(edit)[2:] == [('start', '--', BACK % 3), ('restart', FRONT), ('stop', '--', BACK % 2)]
    assert result['restarted'] and result['restarted_backs'] == [] and result['started'] == [BACK % 3] and result['reused'] == []
    assert not result['reloaded'] and edit.units[BACK % 4]['active']


# A front halted: stopped and disabled, then enabled again once the files are in place.
HALT = [('disable', '--no-reload', FRONT), ('enable', '--no-reload', FRONT), ('daemon-reload',)]
STOPPED_FIRST = [('stop', '--', FRONT, BACK % 2), ('restart', '--', BACK % 2), ('start', FRONT)]


@pytest.mark.parametrize('change, restarted, backs, steps', [
    # The file of a back that runs (a number reused), even when the plan names only the back: the front stops before
    # the file is written and starts after the back, so that it never asks the back with the other meaning.
    (dict(configs=[dict(path='back-2.conf', text=MARK + 'listen-address=127.53.0.2\nx\n', restarts=[BACK % 2])],
          backs=[BACK % 2], retire=[], remove=[]), True, [BACK % 2], STOPPED_FIRST),
    # The back template: every back that runs restarts, the front keeps running.
    (dict(configs=[], units=[dict(path='back.service', text=MARK + '[Service]\nRestartSec=3\n', restarts=[BACK % 2])],
          backs=[BACK % 2], retire=[], remove=[]), False, [BACK % 2], [('restart', '--', BACK % 2)]),
    # The front's unit, given no restarts: the front restarts, the backs keep running.
    (dict(configs=[], units=[dict(path='front.service', text=MARK + '[Service]\nRestartSec=3\n')], backs=[BACK % 2],
          retire=[], remove=[]), True, [], [('restart', FRONT)]),
    # A run stopped midway: every resolver restarts, whatever changed, the front stopped first.
    (dict(configs=[], units=[], backs=[BACK % 2], retire=[], remove=[], restart=True), True, [BACK % 2],
     [('stop', '--', FRONT), ('restart', '--', BACK % 2), ('start', FRONT)]),
])
def test_a_change_restarts_the_services_that_read_it(tmp_path, change, restarted, backs, steps):
    host = FakeHost(wanted(tmp_path))
    run(host)
    for key in ('configs', 'units'):
        for item in change.get(key, []):
            item['path'] = os.path.join(str(tmp_path / 'resolver') if key == 'configs' else str(tmp_path), item['path'])
    edit = FakeHost(moved(tmp_path, **change), units=host.units)
    result = run(edit)
    assert result['restarted'] == restarted and result['restarted_backs'] == backs and result['started'] == []
    assert [entry for entry in commands(edit) if entry[0] in ('stop', 'restart', 'start')] == steps


def test_a_front_that_does_not_run_starts_after_its_backs_instead_of_restarting(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    host.units[FRONT]['active'] = False
    edit = FakeHost(moved(tmp_path), units=host.units)
    result = run(edit)
    assert not result['restarted'] and result['started'] == [BACK % 3, FRONT]
    assert commands(edit)[-3:] == [('start', '--', BACK % 3), ('start', FRONT), ('stop', '--', BACK % 2)]


def test_a_running_back_whose_own_file_changes_is_stopped_before_the_file_then_restarts_with_the_front(tmp_path, monkeypatch):
    host = FakeHost(wanted(tmp_path))
    run(host)
    directory = str(tmp_path / 'resolver')
    reused = wanted(tmp_path, journal=None, configs=[
        dict(path=directory + '/back-2.conf', text=MARK + 'listen-address=127.53.0.2\nipset=/#/other\n', restarts=[BACK % 2, FRONT])])
    edit = FakeHost(reused, units=host.units)
    written = instances.write_file

    def watched(module, path, text, mode):
        """Records whether back 2 and the front ran, and back 2 was linked, when back 2's file changed."""
        edit.log.append(('file written', edit.units[BACK % 2]['active'], edit.units[FRONT]['active'], linked(tmp_path) == [BACK % 2]))
        return written(module, path, text, mode)
    monkeypatch.setattr(instances, 'write_file', watched)
    result = run(edit)
    assert result['reused'] == [BACK % 2] and result['restarted'] and result['restarted_backs'] == [BACK % 2]
    steps = [entry for entry in edit.log if entry[0] in ('stop', 'restart', 'start', 'file written')]
    # Its link goes with it until the front's file is written: a reboot in between starts neither meaning.
    assert steps == [('stop', '--', FRONT, BACK % 2), ('file written', False, False, False), ('restart', '--', BACK % 2),
                     ('start', FRONT)]
    assert linked(tmp_path) == [BACK % 2] and result['enabled'] == result['disabled'] == []


def test_a_back_not_running_whose_own_file_in_place_changes_stops_the_front_first(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    host.units[BACK % 2]['active'] = False  # failed, or stopped by hand: its file is still in place
    directory = str(tmp_path / 'resolver')
    again = FakeHost(wanted(tmp_path, journal=None, configs=[
        dict(path=directory + '/back-2.conf', text=MARK + 'listen-address=127.53.0.2\nipset=/#/other\n', restarts=[BACK % 2])]),
        units=host.units)
    result = run(again)
    assert result['reused'] == [BACK % 2] and result['restarted']
    assert commands(again)[1:] == [('stop', '--', FRONT)] + HALT + [('start', '--', BACK % 2), ('start', FRONT)]


def test_a_run_stopped_after_the_front_stopped_is_finished_back_first(tmp_path):
    """A reused back whose start fails leaves the front stopped (no answer: closed). The next run (journal found)
    starts the back before the front."""
    host = FakeHost(wanted(tmp_path))
    run(host)
    directory = str(tmp_path / 'resolver')
    reused = wanted(tmp_path, configs=[
        dict(path=directory + '/back-2.conf', text=MARK + 'listen-address=127.53.0.2\nipset=/#/other\n', restarts=[BACK % 2, FRONT])])
    assert run(Refusing(reused, units=host.units, verb='restart'))['failed']
    assert not host.units[FRONT]['active'] and not host.units[BACK % 2]['active']
    again = FakeHost(wanted(tmp_path, configs=reused['configs'], restart=True), units=host.units)
    result = run(again)
    assert not result['failed'] and commands(again) == [('start', '--', BACK % 2), ('start', FRONT)]


def test_a_failed_restart_stops_no_old_back(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)

    edit = Refusing(moved(tmp_path), units=host.units, verb='restart')
    result = run(edit)
    assert result['failed'] and 'Job failed' in result['msg'] and not [entry for entry in commands(edit) if entry[0] == 'stop']
    assert host.units[BACK % 2]['active'] and (tmp_path / 'resolver' / 'back-2.conf').exists()


def test_a_file_that_restarts_a_service_not_to_run_is_refused(tmp_path):
    params = wanted(tmp_path)
    params['configs'][0]['restarts'] = [BACK % 9]
    host = FakeHost(params)
    result = run(host)
    assert result['failed'] and 'neither front nor one of backs' in result['msg'] and commands(host) == []


def journal_kept(tmp_path, keep, **changes):
    params = wanted(tmp_path, **changes)
    return dict(params, journal=dict(params['journal'], keep=keep))


def test_a_journal_not_kept_is_removed_last_once_every_service_runs(tmp_path):
    host = FakeHost(journal_kept(tmp_path, False))
    result = run(host)
    journal = str(tmp_path / 'resolver' / 'previous.lines')
    assert not result['failed'] and not os.path.exists(journal)
    assert journal in result['written'] and result['removed'] == [journal]
    # Nothing left to do: a second call changes nothing.
    again = FakeHost(wanted(tmp_path, journal=None), units=host.units)
    assert not run(again)['changed']


def test_a_journal_found_and_not_kept_is_removed_after_the_restart(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)  # kept: the state a run stopped after the call leaves
    journal = tmp_path / 'resolver' / 'previous.lines'
    assert journal.exists()
    again = FakeHost(journal_kept(tmp_path, False, restart=True), units=host.units)
    result = run(again)
    assert result['restarted'] and result['removed'] == [str(journal)] and not journal.exists()
    assert commands(again) == [('stop', '--', FRONT)] + HALT + [('restart', '--', BACK % 2), ('start', FRONT)]


@pytest.mark.parametrize('keep', [True, False])
def test_no_journal_is_written_when_no_file_the_resolvers_read_changes(tmp_path, keep):
    host = FakeHost(journal_kept(tmp_path, False))
    run(host)
    directory = tmp_path / 'resolver'
    os.chmod(str(directory), 0o755)  # drift that changes nothing the resolvers serve
    again = FakeHost(journal_kept(tmp_path, keep), units=host.units)
    result = run(again)
    assert result['written'] == [str(directory)] and not result['restarted'] and result['removed'] == []
    assert not (directory / 'previous.lines').exists()


def test_a_journal_stays_when_the_call_fails_and_in_check_mode(tmp_path):
    journal = tmp_path / 'resolver' / 'previous.lines'
    assert run(Stubborn(journal_kept(tmp_path, False)))['failed'] and journal.exists()
    checked = run(FakeHost(journal_kept(tmp_path, False), check_mode=True, diff=True))
    assert checked['removed'] == [str(journal)] and journal.exists()
    assert checked['diff']['after']['files'][str(journal)] is None


def test_a_journal_left_by_a_run_stopped_midway_restarts_the_front_whatever_the_files(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    again = FakeHost(wanted(tmp_path, restart=True), units=host.units)
    result = run(again)
    # The backs too (nothing binds them to the front), the front stopped first and started last.
    # Not started at boot either until the files are in place (the journal run writes none: at once).
    assert result['changed'] and result['written'] == [] and commands(again) == [
        ('stop', '--', FRONT)] + HALT + [('restart', '--', BACK % 2), ('start', FRONT)]


def test_only_what_does_not_run_is_started(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    host.units[BACK % 2]['active'] = False
    again = FakeHost(wanted(tmp_path, journal=None), units=host.units)
    assert run(again)['started'] == [BACK % 2] and commands(again) == [('start', '--', BACK % 2)]


def test_a_file_to_remove_without_the_marker_is_refused(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    foreign = str(tmp_path / 'resolver' / 'back-9.conf')
    with open(foreign, 'w') as out:
        out.write('# mine\n')
    refused = FakeHost(wanted(tmp_path, remove=[foreign]), units=host.units)
    result = run(refused)
    assert result['failed'] and 'back-9.conf' in result['msg'] and os.path.exists(foreign) and commands(refused) == []


@pytest.mark.parametrize('changes, message', [
    (dict(front='x; rm -rf /'), 'not a service unit name'),
    (dict(backs=['../../etc/passwd']), 'not a service unit name'),
    (dict(remove=['/etc/passwd']), 'not a file of directory'),
    (dict(journal=dict(path='/tmp/elsewhere', text='')), 'not a file of directory'),
    (dict(retire=[FRONT]), 'both wanted and retired'),
    (dict(units=[dict(path='/x.service', text=None)]), 'no text given'),
])
def test_bad_arguments_are_refused_before_anything_is_read(tmp_path, changes, message):
    host = FakeHost(wanted(tmp_path, **changes))
    result = run(host)
    assert result['failed'] and message in result['msg'] and host.log == []


def test_removal_stops_disables_and_removes_only_the_collections_files(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    directory = tmp_path / 'resolver'
    (directory / '.wgsplit-check-x').write_text('left by a run killed midway')
    params = removal_params(tmp_path, journal=dict(path=str(directory / 'previous.lines')))
    removal = FakeHost(params, units=host.units)
    result = run(removal)
    assert commands(removal) == [('disable', '--no-reload', FRONT), ('stop', '--', FRONT, BACK % 2), ('daemon-reload',)]
    assert result['disabled'] == [FRONT, BACK % 2] and linked(tmp_path) == []
    assert not directory.exists() and not (tmp_path / 'front.service').exists()
    assert str(directory) in result['removed']
    assert not run(FakeHost(params, units=removal.units))['changed']


def test_removal_unlinks_a_masked_back_as_check_mode_says(tmp_path):
    """Its link beside the template would be left dangling once the template goes."""
    host = FakeHost(wanted(tmp_path))
    run(host)
    host.units[BACK % 2].update(active=False, load='masked')
    params = removal_params(tmp_path)
    checked = run(FakeHost(params, units=host.units, check_mode=True, diff=True))
    assert 'stopped, disabled at boot' in checked['diff']['after']['services'][BACK % 2] and linked(tmp_path) == [BACK % 2]
    result = run(FakeHost(params, units=host.units))
    assert result['disabled'] == [FRONT, BACK % 2] and linked(tmp_path) == []


def test_removal_keeps_a_directory_with_files_of_others_and_says_so(tmp_path):
    directory = tmp_path / 'resolver'
    directory.mkdir()
    (directory / 'dnsmasq.conf').write_text(MARK)
    (directory / 'notes.txt').write_text('mine')
    host = FakeHost(dict(state='absent', directory=str(directory), front=FRONT))
    result = run(host)
    assert result['removed'] == [str(directory / 'dnsmasq.conf')] and (directory / 'notes.txt').exists()
    assert 'notes.txt' in host.warned[0]


def test_a_service_that_does_not_come_up_fails_the_call(tmp_path):
    result = run(Stubborn(wanted(tmp_path)))
    assert result['failed'] and BACK % 2 in result['msg']


def test_systemctl_show_blocks_are_read_in_order():
    output = ('LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n\n'
              'LoadState=loaded\nActiveState=failed\nUnitFileState=\nNeedDaemonReload=yes\n\n'
              'LoadState=loaded\nActiveState=activating\nUnitFileState=static\nNeedDaemonReload=no\n')
    assert parse_show(output, ['a.service', 'b.service', 'c.service']) == {
        'a.service': dict(load='loaded', active=True, enabled=True, reload=False),
        'b.service': dict(load='loaded', active=False, enabled=False, reload=True),
        # Restarting after a failure (Restart=on-failure) is running: removal stops it.
        'c.service': dict(load='loaded', active=True, enabled=True, reload=False)}
    with pytest.raises(ValueError):
        parse_show(output, ['a.service'])


def test_check_mode_without_dnsmasq_still_reports(tmp_path, dnsmasq_installed):
    dnsmasq_installed.unlink()  # a fresh host: the packages task did not run in check mode
    host = FakeHost(wanted(tmp_path), check_mode=True)
    result = run(host)
    assert result['changed'] and commands(host) == []


def test_a_unit_written_by_a_run_stopped_before_its_reload_is_reloaded(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    host.units[FRONT]['reload'] = True  # the file matches, systemd still has the old one
    again = FakeHost(wanted(tmp_path, journal=None, restart=True), units=host.units)
    assert run(again)['reloaded']
    # Read again before the front stops: what stops is what systemd will have.
    assert commands(again) == [('daemon-reload',), ('stop', '--', FRONT)] + HALT + [('restart', '--', BACK % 2), ('start', FRONT)]


def test_a_unit_mode_alone_is_repaired_without_a_restart(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    os.chmod(str(tmp_path / 'front.service'), 0o600)
    again = FakeHost(wanted(tmp_path, journal=None), units=host.units)
    result = run(again)
    assert result['changed'] and not result['restarted'] and commands(again) == []
    assert oct(os.stat(str(tmp_path / 'front.service')).st_mode & 0o777) == '0o644'


def test_a_masked_front_is_refused_before_any_file_changes(tmp_path):
    host = FakeHost(wanted(tmp_path), units={FRONT: dict(active=False, enabled=False, load='masked', file='masked')})
    result = run(host)
    assert result['failed'] and 'masked' in result['msg'] and not (tmp_path / 'resolver').exists()


def test_a_file_to_replace_without_the_marker_is_refused(tmp_path):
    (tmp_path / 'front.service').write_text('[Service]\nExecStart=/bin/true\n')
    result = run(FakeHost(wanted(tmp_path)))
    assert result['failed'] and 'front.service' in result['msg'] and not (tmp_path / 'resolver').exists()


def test_a_symbolic_link_for_the_directory_is_refused(tmp_path):
    (tmp_path / 'elsewhere').mkdir()
    os.symlink(str(tmp_path / 'elsewhere'), str(tmp_path / 'resolver'))
    result = run(FakeHost(wanted(tmp_path)))
    assert result['failed'] and 'symbolic link' in result['msg'] and os.listdir(str(tmp_path / 'elsewhere')) == []


def test_a_failing_systemctl_reports_what_already_changed(tmp_path):
    result = run(Refusing(wanted(tmp_path), verb='start'))
    assert result['failed'] and 'Job failed' in result['msg'] and str(tmp_path / 'resolver' / 'dnsmasq.conf') in result['written']


def test_removal_stops_a_front_that_restarts_after_failures(tmp_path):
    host = FakeHost(dict(state='absent', directory=str(tmp_path / 'resolver'), front=FRONT),
                    units={FRONT: dict(active=False, enabled=True, state='activating')})
    run(host)
    assert ('stop', '--', FRONT) in commands(host)


def test_a_back_enabled_but_not_running_and_no_longer_asked_is_unlinked(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    netstate.link_instance(template(tmp_path), BACK % 7)  # left by a run stopped midway, or failed
    again = FakeHost(wanted(tmp_path, journal=None, retire=[BACK % 7]), units=host.units)
    result = run(again)
    assert result['disabled'] == [BACK % 7] and result['stopped'] == [] and commands(again) == []
    assert linked(tmp_path) == [BACK % 2]


def test_a_back_an_older_front_pulled_in_is_linked_after_the_new_template(tmp_path):
    """Pulled in by an older front unit, a back has no link of its own (systemd calls it static)."""
    host = FakeHost(wanted(tmp_path), units={FRONT: dict(active=True, enabled=True),
                                             BACK % 2: dict(active=True, enabled=True, file='static')})
    host.params['units'].append(dict(path=template(tmp_path), text=MARK + '[Install]\nWantedBy=multi-user.target\n',
                                     restarts=[BACK % 2]))
    result = run(host)
    assert result['enabled'] == [BACK % 2] and linked(tmp_path) == [BACK % 2] and result['restarted_backs'] == [BACK % 2]


def test_backs_need_their_template(tmp_path):
    result = run(FakeHost(wanted(tmp_path, back_template=None)))
    assert result['failed'] and 'back_template' in result['msg']
    result = run(FakeHost(wanted(tmp_path, back_template=str(tmp_path / 'other@.service'))))
    assert result['failed'] and 'not instances of' in result['msg']


def test_a_boot_link_of_a_back_that_is_not_a_link_is_refused_before_any_change(tmp_path):
    wants = tmp_path / 'multi-user.target.wants'
    wants.mkdir()
    (wants / (BACK % 2)).mkdir()
    host = FakeHost(wanted(tmp_path))
    result = run(host)
    assert result['failed'] and 'not a link' in result['msg'] and commands(host) == [] and not (tmp_path / 'resolver').exists()


def test_a_reused_back_and_the_halted_front_start_at_boot_only_once_the_files_are_in_place(tmp_path, monkeypatch):
    """A link made by hand (relative) counts: systemd reads the name."""
    host = FakeHost(wanted(tmp_path))
    run(host)
    link = tmp_path / 'multi-user.target.wants' / (BACK % 2)
    link.unlink()
    link.symlink_to('../wgsplit-resolver-back@.service')
    directory = str(tmp_path / 'resolver')
    reused = FakeHost(wanted(tmp_path, journal=None, configs=[
        dict(path=directory + '/back-2.conf', text=MARK + 'listen-address=127.53.0.2\nipset=/#/other\n', restarts=[BACK % 2])]),
        units=host.units)
    written = instances.write_file

    def watched(module, path, text, mode):
        reused.log.append(('file written', linked(tmp_path), reused.units[FRONT]['enabled']))
        return written(module, path, text, mode)
    monkeypatch.setattr(instances, 'write_file', watched)
    result = run(reused)
    assert ('file written', [], False) in reused.log and not result['failed']
    assert linked(tmp_path) == [BACK % 2] and reused.units[FRONT]['enabled']


def test_a_mode_alone_restarts_nothing(tmp_path):
    host = FakeHost(wanted(tmp_path))
    run(host)
    os.chmod(str(tmp_path / 'resolver' / 'back-2.conf'), 0o644)
    again = FakeHost(wanted(tmp_path, journal=None), units=host.units)
    result = run(again)
    assert result['written'] == [str(tmp_path / 'resolver' / 'back-2.conf')] and result['reused'] == [] and commands(again) == []
    assert oct(os.stat(str(tmp_path / 'resolver' / 'back-2.conf')).st_mode & 0o777) == '0o600'
