import ipaddress
import os
import stat
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.wgsplit.gateway.plugins.module_utils import netstate


class FakeModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode


def test_list_delta_keeps_order():
    assert netstate.list_delta(['a', 'b', 'c'], ['c', 'd', 'a', 'e']) == (['d', 'e'], ['b'])


def test_write_file_is_atomic_private_and_idempotent(tmp_path):
    path = str(tmp_path / 'sub' / 'file')
    assert netstate.write_file(FakeModule(), path, 'one\n', 0o600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not netstate.write_file(FakeModule(), path, 'one\n', 0o600)
    os.chmod(path, 0o644)
    assert netstate.write_file(FakeModule(), path, 'one\n', 0o600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(os.path.dirname(path)) == ['file']


def test_write_file_in_check_mode_reports_without_writing(tmp_path):
    path = str(tmp_path / 'file')
    assert netstate.write_file(FakeModule(check_mode=True), path, 'x', 0o600)
    assert not os.path.exists(path)


def test_read_text_of_a_missing_file(tmp_path):
    assert netstate.read_text(str(tmp_path / 'missing')) is None


def test_read_text_of_bytes_that_are_not_utf8(tmp_path):
    # A hand-edited kept client: reading it must not raise (every run, the one removing it too, would stop).
    path = tmp_path / 'erin.json'
    path.write_bytes(b'{"name": "erin\xff"}\n')
    assert netstate.read_text(str(path)) == '{"name": "erin\ufffd"}\n'


def test_restore_script_restores_sets_before_chains_before_routes():
    text = netstate.RESTORE_SCRIPT_TEXT
    assert text.index('ipset -exist restore') < text.index('-restore" -w --noflush') < text.index('route/*.batch')
    assert 'ExecStart=%s' % netstate.RESTORE_SCRIPT in netstate.RESTORE_UNIT_TEXT


def test_restore_script_is_posix_sh_without_warnings():
    """It runs as root at boot and from the watch: shellcheck (installed by tests/setup.sh) at warning level."""
    checked = subprocess.run(['shellcheck', '--shell=sh', '--severity=warning', '-'], input=netstate.RESTORE_SCRIPT_TEXT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert checked.returncode == 0, checked.stdout


def test_firewall_units_that_flush_the_ruleset_are_followed_by_the_restore_again():
    dropins = dict(netstate.FIREWALL_DROPINS)
    again = '-%s again' % netstate.RESTORE_SCRIPT  # '-': a failure of ours does not fail the firewall unit
    for unit, actions in (('nftables.service', ('ExecStartPost', 'ExecReload', 'ExecStopPost')),
                          ('netfilter-persistent.service', ('ExecStartPost', 'ExecStopPost'))):
        text = dropins['%s.d/wgsplit-restore.conf' % unit]
        assert sorted(line for line in text.splitlines() if '=' in line) == sorted('%s=%s' % (action, again) for action in actions)
        assert unit in netstate.RESTORE_UNIT_TEXT  # at boot the restore unit runs after it (again does nothing then)
    assert set(dropins) <= set(unit for unit, _text in netstate.BOOT_UNITS)


@pytest.mark.parametrize('text, expected', [
    (netstate.WIREGUARD_CONFIG_MARKER + '\n[Interface]\n', True),
    (netstate.WIREGUARD_CONFIG_MARKER + '\r\n[Interface]\r\n', False),  # not as the collection writes it
    ('[Interface]\n' + netstate.WIREGUARD_CONFIG_MARKER + '\n', False),
    (' ' + netstate.WIREGUARD_CONFIG_MARKER + '\n', False),
    ('', False),
    (None, False),
])
def test_a_wireguard_configuration_is_ours_only_by_its_first_line(text, expected):
    assert netstate.owned_wireguard_config(text) is expected


class SystemctlModule(object):
    """Answers `systemctl is-enabled UNIT...` with one state per unit, as systemctl prints them."""

    def __init__(self, states):
        self.states = states
        self.asked = []

    def run_command(self, argv, **_kwargs):
        self.asked.append(argv[2:])
        return 1, ''.join('%s\n' % self.states[unit] for unit in argv[2:]), ''


def test_disabled_units_are_read_in_one_call_and_a_unit_without_a_file_is_not_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(netstate, 'UNIT_DIR', str(tmp_path))
    for unit in ('a.service', 'b.service', 'c.timer'):
        (tmp_path / unit).write_text('')
    module = SystemctlModule({'a.service': 'enabled', 'b.service': 'disabled', 'c.timer': 'masked'})
    assert netstate.disabled_units(module, 'systemctl', ['a.service', 'b.service', 'c.timer', 'gone.service']) == [
        'b.service', 'c.timer', 'gone.service']
    assert module.asked == [['a.service', 'b.service', 'c.timer']]
    # Output that does not give one state per unit enables them all again (a change each run, never a skip).
    module.states = {'a.service': '', 'b.service': '', 'c.timer': ''}
    assert netstate.disabled_units(module, 'systemctl', ['a.service', 'b.service', 'c.timer']) == [
        'a.service', 'b.service', 'c.timer']
    assert netstate.disabled_units(SystemctlModule({}), 'systemctl', ['gone.service']) == ['gone.service']


class BootModule(SystemctlModule):
    check_mode = False

    def get_bin_path(self, name):
        return '/usr/bin/' + name


class Commands(object):
    def __init__(self):
        self.ran = []

    def run(self, argv, data=None, check=True):
        self.ran.append(argv)
        return 0, '', ''


def test_the_boot_units_are_enabled_and_the_timer_and_watch_started_once_and_a_new_script_restarts_the_watch(tmp_path, monkeypatch):
    monkeypatch.setattr(netstate, 'UNIT_DIR', str(tmp_path / 'system'))
    monkeypatch.setattr(netstate, 'RESTORE_SCRIPT', str(tmp_path / 'restore'))
    monkeypatch.setattr(netstate, 'DROPIN_DIRECTORIES', str(tmp_path / 'dropin-directories'))
    units = [netstate.RESTORE_UNIT, netstate.LEARNED_UNIT, netstate.LEARNED_TIMER, netstate.WATCH_UNIT]
    module, commands = BootModule(dict((unit, 'disabled') for unit in units)), Commands()
    state = netstate.BootState(module, 'iptables', commands)
    assert state._ensure_restore_unit()
    assert commands.ran == [['systemctl', 'daemon-reload'], ['systemctl', 'try-restart', netstate.WATCH_UNIT],
                            ['systemctl', 'enable'] + units, ['systemctl', 'start', netstate.LEARNED_TIMER, netstate.WATCH_UNIT]]
    assert (tmp_path / 'system' / netstate.WATCH_UNIT).read_text() == netstate.WATCH_UNIT_TEXT
    module.states, commands.ran = dict((unit, 'enabled') for unit in units), []
    assert not state._ensure_restore_unit() and commands.ran == []
    (tmp_path / 'restore').write_text('#!/bin/sh\n')  # the script of an older release: the watch runs the new one
    assert state._ensure_restore_unit()
    assert commands.ran == [['systemctl', 'daemon-reload'], ['systemctl', 'try-restart', netstate.WATCH_UNIT]]


def test_back_resolvers_enabled_are_what_their_boot_links_name(tmp_path):
    wants = tmp_path / 'multi-user.target.wants'
    wants.mkdir()
    template = str(tmp_path / 'wgsplit-resolver-back@.service')
    for name, target in (('wgsplit-resolver-back@2.service', template), ('wgsplit-resolver-back@7.service', template),
                         ('wgsplit-resolver-back@8.service', '/lib/systemd/system/other@.service'),
                         ('ssh.service', '/lib/systemd/system/ssh.service')):
        (wants / name).symlink_to(target)
    (wants / 'wgsplit-resolver-back@9.service').write_text('a file, not a link systemctl enable makes')
    # systemd pulls an instance in by the name of what is there, whatever a link points to.
    assert netstate.linked_instances(template) == ['wgsplit-resolver-back@%d.service' % number for number in (2, 7, 8, 9)]
    assert netstate.linked_instances(str(tmp_path / 'none@.service')) == []
    # What link_instance makes is what is read; unlink_instance removes a link of that name, not a file.
    netstate.link_instance(template, 'wgsplit-resolver-back@3.service')
    netstate.link_instance(template, 'wgsplit-resolver-back@3.service')  # again: no error, one link
    for number in (7, 8, 9):
        netstate.unlink_instance(template, 'wgsplit-resolver-back@%d.service' % number)
    assert netstate.linked_instances(template) == ['wgsplit-resolver-back@%d.service' % number for number in (2, 3, 9)]
    assert os.readlink(str(wants / 'wgsplit-resolver-back@3.service')) == template
    assert not [name for name in os.listdir(str(wants)) if name.startswith('.')]
    # Made where none was.
    other = tmp_path / 'other'
    other.mkdir()
    netstate.link_instance(str(other / 'x@.service'), 'x@1.service')
    assert netstate.linked_instances(str(other / 'x@.service')) == ['x@1.service']


def printed_by_the_kernel(network):
    """How `ip` and `ipset save` print a network, from ipaddress: 'default', a bare address, or address/length."""
    if network.prefixlen == 0:
        return 'default'
    return str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.builds(lambda address, length: '%s/%d' % (ipaddress.IPv4Address(address), length),
                           st.integers(0, 2 ** 32 - 1), st.integers(0, 32)),
                 st.builds(lambda address, length: '%s/%d' % (ipaddress.IPv6Address(address), length),
                           st.integers(0, 2 ** 128 - 1), st.integers(0, 128)),
                 st.builds(lambda address: str(ipaddress.IPv4Address(address)), st.integers(0, 2 ** 32 - 1))))
def test_prefix_text_prints_what_ipaddress_makes_of_the_network(value):
    # Read without ipaddress objects (a set's 100,000s of members on every run): it must say what they say.
    network = ipaddress.ip_network(value, strict=False)
    assert netstate.prefix_text(value) == (network.version, network.prefixlen, printed_by_the_kernel(network))
    assert netstate.kernel_prefix(value) == (network, printed_by_the_kernel(network))
