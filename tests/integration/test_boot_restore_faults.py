"""The boot restore script, fault by fault, in a throwaway network namespace (a stand-in for a rebooted
kernel) with its files in a temporary directory: one bad or missing file affects only what it describes,
and what could not be restored is refused (DROP), never left to the default path."""
import contextlib
import fcntl
import functools
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import RESTORE_SCRIPT_TEXT
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import (
    boot_text, fallback_text, normalized_listing, terse_listing)
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan

SETS = {'wgs-alice-p4': 'create wgs-alice-p4 hash:ip family inet hashsize 1024 maxelem 65536\n',
        'wgs-bob-p4': 'create wgs-bob-p4 hash:ip family inet hashsize 1024 maxelem 65536\n'}
HEADER = '# Written by wgsplit.gateway.mangle_mark; restored by wgsplit-restore.service.\n'


def chain_file(chain, rules, jumps=()):
    lines = [HEADER.rstrip()] + ['# jump: mangle %s %s' % (parent, chain) for parent in jumps]
    lines += ['*mangle', ':%s - [0:0]' % chain] + ['-A %s %s' % (chain, rule) for rule in rules] + ['COMMIT']
    return '\n'.join(lines) + '\n'


def age(path, seconds):
    """Makes a file look written `seconds` ago (the script reads a learned save's age from its time)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


CHAINS = {
    'WGSPLIT': chain_file('WGSPLIT', ['-i wg0 -m mark --mark 0x0/0xff800000 -j WGSPLIT_CLIENTS'], ['PREROUTING']),
    'WGSPLIT_CLIENTS': chain_file('WGSPLIT_CLIENTS', ['-s 10.8.0.2/32 -j wgs-alice', '-s 10.8.0.3/32 -j wgs-bob',
                                                      '-m mark --mark 0x0/0xff800000 -j MARK --set-xmark 0x800000/0xff800000']),
    'wgs-alice': chain_file('wgs-alice', ['-m set --match-set wgs-alice-p4 dst -j MARK --set-xmark 0x1000000/0xff800000']),
    'wgs-bob': chain_file('wgs-bob', ['-m set --match-set wgs-bob-p4 dst -j MARK --set-xmark 0x2000000/0xff800000']),
}


@pytest.fixture
def booted(tmp_path):
    """(files, boot, run): the boot files to write or break, a function that restores them into a new namespace
    and returns the script's process and `iptables-save -t mangle` there, and one that runs a command there."""
    namespace = 'wgsplit-boot-%s' % uuid.uuid4().hex[:8]
    script = tmp_path / 'restore'
    script.write_text(RESTORE_SCRIPT_TEXT.replace('dir=/etc/wgsplit', 'dir=%s' % tmp_path))
    files = {}
    for name, text in SETS.items():
        files['ipset/%s.save' % name] = text
    for name, text in CHAINS.items():
        files['iptables/mangle.%s.inet.rules' % name] = text

    def boot(ages=None):
        """`ages`: {file: seconds} files to make look written that long ago."""
        for relative, text in files.items():
            path = tmp_path / relative
            path.parent.mkdir(exist_ok=True)
            if text is not None:
                path.write_text(text)
        for relative, seconds in (ages or {}).items():
            age(tmp_path / relative, seconds)
        subprocess.run(['ip', 'netns', 'add', namespace], check=True)
        process = subprocess.run(['ip', 'netns', 'exec', namespace, 'sh', str(script)], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, check=False)
        saved = subprocess.run(['ip', 'netns', 'exec', namespace, 'iptables-save', '-t', 'mangle'], check=True,
                               stdout=subprocess.PIPE, text=True).stdout
        return process, saved

    def run(*argv):
        return subprocess.run(['ip', 'netns', 'exec', namespace] + list(argv), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=False)

    yield files, boot, run
    subprocess.run(['ip', 'netns', 'delete', namespace], check=False)  # its sets and chains go with it


def chain_rules(saved, chain):
    return [line for line in saved.splitlines() if line.startswith('-A %s ' % chain)]


def test_everything_restores(booted):
    files, boot, _run = booted
    process, saved = boot()
    assert process.returncode == 0, process.stdout
    assert chain_rules(saved, 'PREROUTING') == ['-A PREROUTING -j WGSPLIT']
    assert len(chain_rules(saved, 'WGSPLIT_CLIENTS')) == 3
    assert 'wgs-alice-p4' in chain_rules(saved, 'wgs-alice')[0]


@pytest.mark.parametrize('fault', ['set file corrupt', 'set file missing', 'chain file corrupt', 'chain file missing'])
def test_a_fault_in_one_clients_files_refuses_that_client_only(booted, fault):
    files, boot, _run = booted
    if fault == 'set file corrupt':
        files['ipset/wgs-alice-p4.save'] = 'create wgs-alice-p4 hash:nonsense\n'
    elif fault == 'set file missing':
        files['ipset/wgs-alice-p4.save'] = None
    elif fault == 'chain file corrupt':
        files['iptables/mangle.wgs-alice.inet.rules'] = CHAINS['wgs-alice'].replace('COMMIT', '-A garbage\nCOMMIT')
    else:
        files['iptables/mangle.wgs-alice.inet.rules'] = None
    process, saved = boot()
    assert process.returncode != 0  # the unit fails visibly
    assert chain_rules(saved, 'wgs-alice') == ['-A wgs-alice -j DROP'], saved
    # Everyone else is split as before.
    assert 'wgs-bob-p4' in chain_rules(saved, 'wgs-bob')[0]
    assert len(chain_rules(saved, 'WGSPLIT_CLIENTS')) == 3
    assert chain_rules(saved, 'PREROUTING') == ['-A PREROUTING -j WGSPLIT']


def test_a_missing_shared_chain_refuses_everyone_it_would_have_classified(booted):
    files, boot, _run = booted
    files['iptables/mangle.WGSPLIT_CLIENTS.inet.rules'] = None
    process, saved = boot()
    assert chain_rules(saved, 'WGSPLIT_CLIENTS') == ['-A WGSPLIT_CLIENTS -j DROP']
    assert chain_rules(saved, 'PREROUTING') == ['-A PREROUTING -j WGSPLIT']


def test_the_restore_unit_runs_after_the_firewall_restore_units():
    from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import RESTORE_UNIT_TEXT
    after = [line for line in RESTORE_UNIT_TEXT.splitlines() if line.startswith('After=')][0]
    for unit in ('netfilter-persistent.service', 'nftables.service', 'firewalld.service', 'iptables.service'):
        assert unit in after


def without_comments(saved):
    """iptables-save's output without its comment lines (they have the time)."""
    return [line for line in saved.splitlines() if not line.startswith('#')]


def fake_systemctl(tmp_path, state='running', queued=False):
    """A PATH whose systemctl says the system is in `state` (and the restore unit's start queued, if `queued`), and
    logs what it was asked to tmp_path/systemctl.log (the script's "again" asks it, and signals the resolver)."""
    directory = tmp_path / 'bin'
    directory.mkdir(exist_ok=True)
    (directory / 'systemctl').write_text(
        '#!/bin/sh\necho "$*" >> %s\n' % (tmp_path / 'systemctl.log') +
        'case "$1" in is-system-running) echo %s ;; list-jobs) %s ;; esac\n'
        % (state, 'echo "7 wgsplit-restore.service start waiting"' if queued else 'true'))
    (directory / 'systemctl').chmod(0o755)
    return 'PATH=%s:%s' % (directory, os.environ['PATH'])


def signalled(tmp_path):
    log = tmp_path / 'systemctl.log'
    return 'kill --kill-whom=main --signal=HUP wgsplit-resolver.service' in (log.read_text() if log.exists() else '')


RAW_CHAIN = chain_file('WGSPLIT', ['-i wg0 -j MARK --set-xmark 0xff800000/0xff800000'], ['PREROUTING']).replace(
    '*mangle', '*raw').replace('# jump: mangle', '# jump: raw')


def test_again_after_a_ruleset_flush_brings_every_chain_back_the_raw_one_first(booted, tmp_path):
    """What nftables.service's drop-in runs after Debian's `flush ruleset` (iptables-nft's tables go with it)."""
    files, boot, run = booted
    files['iptables/raw.WGSPLIT.inet.rules'] = RAW_CHAIN
    _process, saved = boot()
    raw = run('iptables-save', '-t', 'raw').stdout
    assert run('nft', 'flush', 'ruleset').returncode == 0
    assert 'WGSPLIT' not in run('iptables-save', '-t', 'mangle').stdout
    # The restores in the order they run: the raw chain ("not classified": refused) before any mangle chain.
    wrapper = tmp_path / 'bin' / 'iptables-restore'
    path = fake_systemctl(tmp_path)
    wrapper.write_text('#!/bin/sh\necho "$*" >> %s\nexec %s "$@"\n' % (tmp_path / 'restores.log', shutil.which('iptables-restore')))
    wrapper.chmod(0o755)
    again = run('env', path, 'sh', str(tmp_path / 'restore'), 'again')
    assert again.returncode == 0, again.stdout
    order = (tmp_path / 'restores.log').read_text().splitlines()
    assert 'raw.WGSPLIT' in order[0], order
    for table, before in (('mangle', saved), ('raw', raw)):  # the same chains, rules and jumps
        assert without_comments(run('iptables-save', '-t', table).stdout) == without_comments(before), table
    assert not signalled(tmp_path)  # nothing refilled: the resolver keeps its cache


@pytest.mark.parametrize('state, queued', [('stopping', False), ('starting', True), ('running', True)])
def test_again_leaves_the_work_to_a_queued_restore_unit_and_does_nothing_at_shutdown(booted, tmp_path, state, queued):
    _files, boot, run = booted
    boot()
    assert run('nft', 'flush', 'ruleset').returncode == 0
    again = run('env', fake_systemctl(tmp_path, state, queued), 'sh', str(tmp_path / 'restore'), 'again')
    assert again.returncode == 0, again.stdout
    assert 'WGSPLIT' not in run('iptables-save', '-t', 'mangle').stdout


def test_again_while_booting_after_the_restore_unit_ran_restores(booted, tmp_path):
    """A flush late in a long boot (cloud-init restarting nftables): the restore unit has run, no start of it queued."""
    _files, boot, run = booted
    boot()
    assert run('nft', 'flush', 'ruleset').returncode == 0
    assert run('env', fake_systemctl(tmp_path, 'starting'), 'sh', str(tmp_path / 'restore'), 'again').returncode == 0
    assert chain_rules(run('iptables-save', '-t', 'mangle').stdout, 'PREROUTING') == ['-A PREROUTING -j WGSPLIT']


def test_again_refills_only_a_set_the_firewall_emptied_and_clears_the_resolvers_cache(booted, tmp_path):
    files, boot, run = booted
    for name in SETS:
        files['ipset/%s.save' % name] = SETS[name].replace('maxelem 65536', 'maxelem 65536 timeout 86400')
    files['learned/wgs-alice-p4.save'] = 'add wgs-alice-p4 203.0.113.5 timeout 100\n'
    files['learned/wgs-bob-p4.save'] = 'add wgs-bob-p4 203.0.113.6 timeout 100\n'
    boot()
    assert run('ipset', 'flush', 'wgs-alice-p4').returncode == 0  # as netfilter-persistent's ipset plugin can
    assert run('ipset', 'del', 'wgs-bob-p4', '203.0.113.6').returncode == 0
    assert run('ipset', 'add', 'wgs-bob-p4', '203.0.113.7').returncode == 0  # learned since the save
    again = run('env', fake_systemctl(tmp_path), 'sh', str(tmp_path / 'restore'), 'again')
    assert again.returncode == 0, again.stdout
    assert '203.0.113.5 timeout' in run('ipset', 'list', 'wgs-alice-p4').stdout
    bob = run('ipset', 'list', 'wgs-bob-p4').stdout
    assert '203.0.113.7 timeout' in bob and '203.0.113.6' not in bob  # not empty: not touched
    assert signalled(tmp_path)


def test_the_timers_save_puts_back_a_ruleset_flushed_by_hand_first(booted, tmp_path):
    """`nft flush ruleset` or `iptables-restore` typed by hand (no unit, no drop-in): the learned timer's save, every
    five minutes, finds the collection's chains gone and restores them before saving."""
    _files, boot, run = booted
    _process, saved = boot()
    path = fake_systemctl(tmp_path)
    assert run('env', path, 'sh', str(tmp_path / 'restore'), 'save').returncode == 0
    assert not (tmp_path / 'systemctl.log').exists()  # nothing was gone: no restore ("again" asks systemctl first)
    assert run('nft', 'flush', 'ruleset').returncode == 0
    process = run('env', path, 'sh', str(tmp_path / 'restore'), 'save')
    assert process.returncode == 0, process.stdout
    assert without_comments(run('iptables-save', '-t', 'mangle').stdout) == without_comments(saved)


@pytest.mark.parametrize('fault', [['flush'], ['del', 'wgs-N1234abcd-p4', '198.51.100.0/24']])
def test_the_timers_save_fills_again_a_list_set_emptied_by_hand(booted, tmp_path, fault):
    """`ipset flush` typed by hand empties every set, `ipset del` one network: a rule list's proxied networks would
    go the default way. The learned timer's save, every five minutes, finds the set the plan fills short of members
    and restores it first."""
    files, boot, run = booted
    files['ipset/wgs-N1234abcd-p4.save'] = ('create wgs-N1234abcd-p4 hash:net family inet hashsize 1024 maxelem 65536\n'
                                            'add wgs-N1234abcd-p4 198.51.100.0/24\nadd wgs-N1234abcd-p4 192.0.2.128/25\n')
    boot()
    path = fake_systemctl(tmp_path)
    assert run('env', path, 'sh', str(tmp_path / 'restore'), 'save').returncode == 0
    assert not (tmp_path / 'systemctl.log').exists()  # every member there: nothing restored
    assert run('ipset', *fault).returncode == 0
    process = run('env', path, 'sh', str(tmp_path / 'restore'), 'save')
    assert process.returncode == 0, process.stdout
    assert '198.51.100.0/24' in run('ipset', 'list', 'wgs-N1234abcd-p4').stdout
    assert not (tmp_path / 'learned' / 'wgs-N1234abcd-p4.save').exists()


@pytest.mark.parametrize('emptied', ['by hand', 'by time'])
def test_the_timers_save_fills_again_a_resolver_set_emptied_by_hand(booted, tmp_path, emptied):
    """`ipset flush` typed by hand empties the sets the resolver fills: a client whose answer is cached would go the
    default way until it asks again. The timer's save puts back what its last save held, with the time it had left;
    a set whose members all ran out of time stays empty."""
    files, boot, run = booted
    files['ipset/wgs-alice-p4.save'] = SETS['wgs-alice-p4'].replace('maxelem 65536', 'maxelem 65536 timeout 86400')
    boot()
    assert run('ipset', 'add', 'wgs-alice-p4', '203.0.113.5', 'timeout', '1000').returncode == 0
    assert run('ipset', 'add', 'wgs-alice-p4', '203.0.113.6', 'timeout', '200').returncode == 0
    path = fake_systemctl(tmp_path)
    assert run('env', path, 'sh', str(tmp_path / 'restore'), 'save').returncode == 0
    saved = tmp_path / 'learned' / 'wgs-alice-p4.save'
    age(saved, 300 if emptied == 'by hand' else 1200)  # the timer runs every five minutes
    assert run('ipset', 'flush', 'wgs-alice-p4').returncode == 0  # by time: as if both had run out
    process = run('env', path, 'sh', str(tmp_path / 'restore'), 'save')
    assert process.returncode == 0, process.stdout
    listed = run('ipset', 'list', 'wgs-alice-p4').stdout
    if emptied == 'by time':
        assert 'timeout ' not in listed.split('Members:')[1] and saved.read_text() == ''
        assert not signalled(tmp_path)
        return
    timeout = int(re.search(r'^203\.0\.113\.5 timeout ([0-9]+)$', listed, re.MULTILINE).group(1))
    assert 690 <= timeout <= 700  # less the save's age
    assert '203.0.113.6' not in listed  # its time ran out since the save
    assert '203.0.113.5 timeout' in saved.read_text()
    assert signalled(tmp_path)


IPV6_CHAIN = chain_file('wgs-alice', ['-d 2001:db8::/32 -j MARK --set-xmark 0x1000000/0xff800000'])


def flush_raw_and_mangle(run):
    return [run('iptables', '-t', table, '-F', 'WGSPLIT') for table in ('raw', 'mangle')]


FLUSHED_BY_HAND = {  # each leaves the chains and their jumps in place, with fewer rules than their files
    'the raw and mangle chains flushed (nothing marks, nothing refuses)': flush_raw_and_mangle,
    "a client's rule deleted": lambda run: [run('iptables', '-t', 'mangle', '-D', 'wgs-alice', '1')],
    'an IPv6 chain flushed': lambda run: [run('ip6tables', '-t', 'mangle', '-F', 'wgs-alice')],
    'the raw mark replaced (as many rules)': lambda run: [run('iptables', '-t', 'raw', '-R', 'WGSPLIT', '1', '-j', 'RETURN')],
}


def saved_chains(run):
    return [without_comments(run(save, '-t', table).stdout)
            for save in ('iptables-save', 'ip6tables-save') for table in ('raw', 'mangle')]


def booted_with_raw_and_ipv6_chains(booted):
    """The chain files with a raw chain and an IPv6 one too, booted; (run, what iptables-save and ip6tables-save list)."""
    files, boot, run = booted
    files['iptables/raw.WGSPLIT.inet.rules'] = RAW_CHAIN
    files['iptables/mangle.wgs-alice.inet6.rules'] = IPV6_CHAIN
    boot()
    return run, saved_chains(run)


@pytest.mark.parametrize('fault', sorted(FLUSHED_BY_HAND))
def test_the_timers_save_puts_back_chains_emptied_by_hand(booted, tmp_path, fault):
    """`iptables -F CHAIN` typed by hand keeps the chain and its jump: the timer's save counts each chain's rules
    against its file, and restores every chain when one holds fewer."""
    run, _before = booted_with_raw_and_ipv6_chains(booted)
    assert_the_timers_save_puts_back(run, tmp_path, FLUSHED_BY_HAND[fault], saved_chains)


def assert_the_timers_save_puts_back(run, tmp_path, fault, read):
    """The timer's save finds nothing missing (no restore); after `fault(run)`, it puts back what `read(run)` read."""
    before = read(run)
    path = fake_systemctl(tmp_path)
    assert run('env', path, 'sh', str(tmp_path / 'restore'), 'save').returncode == 0
    assert not (tmp_path / 'systemctl.log').exists()  # nothing missing: nothing restored ("again" asks systemctl)
    assert all(process.returncode == 0 for process in fault(run))
    assert read(run) != before
    process = run('env', path, 'sh', str(tmp_path / 'restore'), 'save')
    assert process.returncode == 0, process.stdout
    assert read(run) == before


# policy_route's boot files: an upstream's mark rule and kill switch, the refusal table's rule per bit and route.
ROUTE_FILES = {
    'route/table-51001.inet.batch': 'rule add priority 5000 from all fwmark 0x1000000/0xff800000 lookup 51001 protocol 233\n'
                                    'route add unreachable default metric 4000 table 51001 proto 233\n',
    'route/table-51001.inet6.batch': 'rule add priority 5000 from all fwmark 0x1000000/0xff800000 lookup 51001 protocol 233\n'
                                     'route add unreachable default metric 4000 table 51001 proto 233\n',
    'route/table-51000.inet.batch': 'rule add priority 5001 iif wg0 fwmark 0x1000000/0x1000000 lookup 51000 protocol 233\n'
                                    'rule add priority 5001 iif wg0 fwmark 0x800000/0x800000 lookup 51000 protocol 233\n'
                                    'route add unreachable default metric 4000 table 51000 proto 233\n',
}
ROUTING_DELETED = {  # what systemd-networkd does to other software's rules and routes when it starts, and by hand
    'every ip rule': lambda run: [run('ip', '-4', 'rule', 'flush', 'protocol', '233'),
                                  run('ip', '-6', 'rule', 'flush', 'protocol', '233')],
    'every route': lambda run: [run('ip', '-4', 'route', 'flush', 'table', 'all', 'proto', '233'),
                                run('ip', '-6', 'route', 'flush', 'table', 'all', 'proto', '233')],
    'one IPv6 rule': lambda run: [run('ip', '-6', 'rule', 'delete', 'priority', '5000')],
    'one route': lambda run: [run('ip', '-4', 'route', 'delete', 'unreachable', 'default', 'table', '51000')],
}


def booted_with_routing(booted):
    """The boot files with the route files too, booted: `run` in that namespace, its rules and routes checked."""
    files, boot, run = booted
    files.update(ROUTE_FILES)
    boot()
    run('ip', 'link', 'set', 'lo', 'up')
    before = routing(run)
    assert [len(lines) for lines in before] == [3, 2, 1, 1], before
    return run


def routing(run):
    """The collection's ip rules and routes (protocol 233), per family."""
    return [[line for line in run('ip', version, *argv).stdout.splitlines() if ' proto 233' in line]
            for version in ('-4', '-6') for argv in (('rule', 'show'), ('route', 'show', 'table', 'all'))]


@pytest.mark.parametrize('fault', sorted(ROUTING_DELETED))
def test_the_timers_save_puts_back_the_routing_deleted_by_hand(booted, tmp_path, fault):
    """The collection's ip rules and routes deleted (systemd-networkd removes other software's when it starts): the
    forward guard refuses what they would route, and the timer's save counts them against their files and restores
    them (the whole script: every line again, those in place are no failure)."""
    run = booted_with_routing(booted)
    assert_the_timers_save_puts_back(run, tmp_path, ROUTING_DELETED[fault], routing)


def started(run, argv, stdout=subprocess.PIPE):
    """`argv` started in the namespace of `run`, in a session of its own (os.killpg stops it with its children)."""
    namespace = run('ip', 'netns', 'identify').stdout.strip()
    return subprocess.Popen(['ip', 'netns', 'exec', namespace] + argv, stdout=stdout, stderr=subprocess.STDOUT,
                            start_new_session=True)


@contextlib.contextmanager
def watching(run, script, path):
    """The script's watch (wgsplit-watch.service) running in the namespace of `run`, its monitor listening; stopped
    after, with its monitor."""
    watch = started(run, ['env', path, 'sh', str(script), 'watch'])
    try:
        until(lambda: subprocess.run(['pgrep', '-s', str(watch.pid), '-x', 'nft'], stdout=subprocess.DEVNULL, check=False).returncode == 0,
              'the watch never started its monitor')
        time.sleep(0.5)  # its first check (nothing missing) done
        yield watch
    finally:
        with contextlib.suppress(ProcessLookupError):  # a test may have ended it
            os.killpg(watch.pid, signal.SIGTERM)
        watch.wait()


def until(condition, message, seconds=10):
    """Waits for `condition`; the watch puts things back in about a second, the timer would in five minutes."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


@pytest.mark.parametrize('fault', sorted(FLUSHED_BY_HAND) + ['nft flush ruleset'])
def test_the_watch_puts_back_at_once_what_is_deleted_by_hand(booted, tmp_path, fault):
    run, _before = booted_with_raw_and_ipv6_chains(booted)
    flushed = FLUSHED_BY_HAND.get(fault, lambda run: [run('nft', 'flush', 'ruleset')])
    assert_the_watch_puts_back(run, tmp_path, flushed, saved_chains)


@pytest.mark.parametrize('fault', sorted(ROUTING_DELETED))
def test_the_watch_puts_back_at_once_the_routing_deleted_by_hand(booted, tmp_path, fault):
    run = booted_with_routing(booted)
    assert_the_watch_puts_back(run, tmp_path, ROUTING_DELETED[fault], routing)


def assert_the_watch_puts_back(run, tmp_path, fault, read):
    """What `fault(run)` took from what `read(run)` reads is back at once, twice (again after the watch's own restore)."""
    before = read(run)
    with watching(run, tmp_path / 'restore', fake_systemctl(tmp_path)) as watch:
        for _turn in range(2):
            assert all(process.returncode == 0 for process in fault(run))
            assert read(run) != before
            until(lambda: read(run) == before, 'not put back')
        assert watch.poll() is None


def running_in(session, name):
    return subprocess.run(['pgrep'] + session + ['-x', name], stdout=subprocess.DEVNULL, check=False).returncode == 0


@pytest.mark.parametrize('killed', ['nft', 'ip'])
def test_the_watch_ends_with_either_monitor_and_leaves_no_other(booted, tmp_path, killed):
    """Its unit starts it again (Restart=): a watch whose nft or ip monitor is gone (killed, out of memory) must end,
    not listen to the other alone."""
    _files, boot, run = booted
    boot()
    with watching(run, tmp_path / 'restore', fake_systemctl(tmp_path)) as watch:
        session = ['-s', str(watch.pid)]
        for monitor in ('ip', 'nft'):
            until(functools.partial(running_in, session, monitor), 'no %s monitor' % monitor)
        subprocess.run(['pkill'] + session + ['-x', killed], check=True)
        until(lambda: watch.poll() is not None, 'the watch outlived its %s monitor' % killed)
        assert watch.returncode != 0
        until(lambda: subprocess.run(['pgrep'] + session, stdout=subprocess.DEVNULL, check=False).returncode != 0,
              'a process of the watch outlived it')


def test_the_watch_puts_back_every_flush_of_a_series(booted, tmp_path):
    """Flushes that come while the watch reads the deletions of its own restore are checked too."""
    run, before = booted_with_raw_and_ipv6_chains(booted)
    with watching(run, tmp_path / 'restore', fake_systemctl(tmp_path)):
        for _flush in range(5):
            assert all(process.returncode == 0 for process in flush_raw_and_mangle(run))
            time.sleep(1.1)
        until(lambda: saved_chains(run) == before, 'a flush of the series left in place')


def agains(tmp_path):
    """How many times the script's "again" ran (it asks systemctl first, each time)."""
    log = tmp_path / 'systemctl.log'
    return log.read_text().count('is-system-running') if log.exists() else 0


def test_the_watch_does_not_reload_at_every_deletion_what_it_cannot_put_back(booted, tmp_path):
    """A chain file that does not load leaves that client refused (a stub chain, shorter than its file): the watch tries
    "again" once, not at each deletion of other software; something else missing is put back all the same."""
    files, boot, run = booted
    files['iptables/mangle.wgs-alice.inet.rules'] = CHAINS['wgs-alice'].replace('COMMIT', '-A wgs-alice -j RETURN\n-A garbage\nCOMMIT')
    boot()
    with watching(run, tmp_path / 'restore', fake_systemctl(tmp_path)):
        until(lambda: agains(tmp_path) == 1, 'the watch never tried to put back what was missing')
        for _deletion in range(3):  # other software's rule in a built-in chain, added and deleted
            assert run('iptables', '-t', 'mangle', '-A', 'PREROUTING', '-j', 'ACCEPT').returncode == 0
            assert run('iptables', '-t', 'mangle', '-D', 'PREROUTING', '-j', 'ACCEPT').returncode == 0
            time.sleep(1)
        time.sleep(6)  # the watch's second first check, five seconds after its start, is done too
        assert agains(tmp_path) == 1
        assert run('iptables', '-t', 'mangle', '-F', 'wgs-bob').returncode == 0
        until(lambda: len(chain_rules(run('iptables-save', '-t', 'mangle').stdout, 'wgs-bob')) == 1, 'wgs-bob not put back')
    assert chain_rules(run('iptables-save', '-t', 'mangle').stdout, 'wgs-alice') == ['-A wgs-alice -j DROP']


def test_the_watch_waits_for_a_run_changing_the_kernel_and_then_its_files(booted, tmp_path):
    """A module holds the learned lock from its change of the kernel to its boot files: the watch neither puts back the
    rule a run is removing nor replaces anything (a table replaced has its resolver sets empty for a moment)."""
    files, boot, run = booted
    boot()
    (tmp_path / 'learned').mkdir()
    with watching(run, tmp_path / 'restore', fake_systemctl(tmp_path)):
        with open(tmp_path / 'learned' / '.lock', 'a') as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            assert run('iptables', '-t', 'mangle', '-D', 'wgs-alice', '1').returncode == 0
            time.sleep(2)  # the watch has seen the deletion, and waits
            (tmp_path / 'iptables' / 'mangle.wgs-alice.inet.rules').write_text(chain_file('wgs-alice', []))
        time.sleep(2)
    assert chain_rules(run('iptables-save', '-t', 'mangle').stdout, 'wgs-alice') == []
    assert not (tmp_path / 'systemctl.log').exists()  # "again" never ran (it asks systemctl first)


def test_a_refill_the_set_does_not_take_is_not_tried_again(booted, tmp_path):
    """A set made again without timeouts since the save: its members do not load; the save says so, stays a success
    (the timer unit does not fail every five minutes) and keeps the set's empty listing instead."""
    files, boot, run = booted
    files['learned/wgs-alice-p4.save'] = 'add wgs-alice-p4 203.0.113.5 timeout 1000\n'
    boot()
    assert run('ipset', 'flush', 'wgs-alice-p4').returncode == 0
    process = run('env', fake_systemctl(tmp_path), 'sh', str(tmp_path / 'restore'), 'save')
    assert process.returncode == 0 and 'wgs-alice-p4.save: the learned addresses not restored' in process.stdout, process.stdout
    assert (tmp_path / 'learned' / 'wgs-alice-p4.save').read_text() == ''
    assert not signalled(tmp_path)


def test_learned_members_come_back_with_the_time_they_had_left(booted, tmp_path):
    files, boot, run = booted
    files['ipset/wgs-alice-p4.save'] = SETS['wgs-alice-p4'].replace('maxelem 65536', 'maxelem 65536 timeout 86400')
    files['learned/wgs-alice-p4.save'] = ('add wgs-alice-p4 203.0.113.5 timeout 1000\n'
                                          'add wgs-alice-p4 203.0.113.7 timeout 100\n')
    files['learned/wgs-gone-p4.save'] = 'add wgs-gone-p4 203.0.113.6 timeout 100\n'  # its set is no more
    process, saved = boot(ages={'learned/wgs-alice-p4.save': 600})  # saved at shutdown, ten minutes ago
    assert process.returncode == 0, process.stdout
    listed = run('ipset', 'list', 'wgs-alice-p4').stdout
    timeout = int(re.search(r'^203\.0\.113\.5 timeout ([0-9]+)$', listed, re.MULTILINE).group(1))
    assert 390 <= timeout <= 400  # its age kept, the time the gateway was off counted: it expires as it would have
    assert '203.0.113.7' not in listed  # its time ran out while the gateway was off
    assert 'wgs-gone-p4' not in run('ipset', 'list', '-n').stdout
    assert 'wgs-alice-p4' in chain_rules(saved, 'wgs-alice')[0]


def test_save_writes_what_the_collections_sets_hold_and_nothing_else(booted, tmp_path):
    files, boot, run = booted
    files['ipset/wgs-alice-p4.save'] = SETS['wgs-alice-p4'].replace('maxelem 65536', 'maxelem 65536 timeout 86400')
    files['learned/wgs-removed-p4.save'] = 'add wgs-removed-p4 203.0.113.9 timeout 50\n'
    # A rule list's networks: given by the plan, in their boot file already; not saved again every few minutes.
    files['ipset/wgs-N1234abcd-p4.save'] = ('create wgs-N1234abcd-p4 hash:net family inet hashsize 1024 maxelem 65536\n'
                                            'add wgs-N1234abcd-p4 198.51.100.0/24\n')
    boot()
    for argv in (['ipset', 'add', 'wgs-alice-p4', '203.0.113.7'], ['ipset', 'create', 'foreign', 'hash:ip'],
                 ['ipset', 'add', 'foreign', '192.0.2.1']):
        assert run(*argv).returncode == 0
    process = run('sh', str(tmp_path / 'restore'), 'save')
    assert process.returncode == 0, process.stdout
    learned = sorted(path.name for path in (tmp_path / 'learned').iterdir() if path.name != '.lock')
    assert learned == ['wgs-alice-p4.save', 'wgs-bob-p4.save']  # no foreign set, the removed set's file gone
    assert re.fullmatch(r'add wgs-alice-p4 203\.0\.113\.7 timeout [0-9]+\n', (tmp_path / 'learned' / 'wgs-alice-p4.save').read_text())
    assert (tmp_path / 'learned' / 'wgs-bob-p4.save').read_text() == ''


# The nftables backend: one table, loaded as a whole; its fallback when it cannot be.
NFT_SERVER = dict(name='wg0', exists=True, addresses=['10.8.0.1/24'], peers=[])
NFT_INVENTORY = dict(
    dns_servers=['192.0.2.53'], backend='nftables',
    upstreams=[dict(name='us', id=1, endpoint='192.0.2.1:51820', public_key='xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
                    private_key='xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=', address='10.10.1.2/32')],
    clients=[dict(name='alice', address='10.8.0.2', upstream='us', rule_sets=['nets'],
                  rules=[dict(type='domain', value='proxied.test'), dict(type='ip', value='203.0.113.0/24')])],
    rule_sets=[dict(name='nets', rules=[dict(type='ip', value='198.51.100.0/24'), dict(type='ip', value='192.0.2.128/25')])])


@pytest.fixture
def nft_booted(tmp_path):
    """(files, boot, run) as `booted`, with the files of the nftables backend's table for one client."""
    table = plan(check_inventory(NFT_INVENTORY, NFT_SERVER), dict(server=NFT_SERVER))['nftables']
    namespaces = []
    script = tmp_path / 'restore'
    script.write_text(RESTORE_SCRIPT_TEXT.replace('dir=/etc/wgsplit', 'dir=%s' % tmp_path))
    learned = [item['name'] for item in table['sets'] if item['elements'] is None]
    files = {'nftables/wgsplit.nft': boot_text('wgsplit', table['sets'], table['definition']),
             'nftables/wgsplit.fallback': fallback_text('wgsplit', table['fallback']),
             'nftables/wgsplit.learned': ''.join(name + '\n' for name in learned)}

    def run(*argv):
        return subprocess.run(['ip', 'netns', 'exec', namespaces[-1]] + list(argv), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=False)

    def boot(*arguments):
        """A new namespace (a rebooted kernel), the script run there; its process and the table's listing."""
        for relative, text in files.items():
            path = tmp_path / relative
            path.parent.mkdir(exist_ok=True)
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)
        namespaces.append('wgsplit-boot-%s' % uuid.uuid4().hex[:8])
        subprocess.run(['ip', 'netns', 'add', namespaces[-1]], check=True)
        process = run('sh', str(script), *arguments)
        return process, run('nft', 'list', 'table', 'inet', 'wgsplit').stdout

    yield files, boot, run, script
    for namespace in namespaces:
        subprocess.run(['ip', 'netns', 'delete', namespace], check=False)


def test_the_table_restores_whole_and_a_second_restore_does_not_double_it(nft_booted):
    _files, boot, run, script = nft_booted
    process, listing = boot()
    assert process.returncode == 0, process.stdout
    assert 'comment "wgsplit.gateway"' in listing and 'ip saddr vmap { 10.8.0.2 : goto client-alice }' in listing
    assert 'ip daddr 203.0.113.0/24 goto mark-up-1' in listing
    again = run('sh', str(script))
    assert again.returncode == 0, again.stdout
    assert run('nft', 'list', 'table', 'inet', 'wgsplit').stdout == listing


@pytest.mark.parametrize('fault', ['corrupt', 'missing'])
def test_a_table_file_that_does_not_load_refuses_every_client(nft_booted, fault):
    files, boot, _run, _script = nft_booted
    files['nftables/wgsplit.nft'] = None if fault == 'missing' else files['nftables/wgsplit.nft'].replace(
        'goto mark-up-1', 'goto nowhere', 1)
    process, listing = boot()
    assert process.returncode != 0 and 'what it classifies is refused' in process.stdout, process.stdout
    # Only the fallback: every packet of wg0 stays "not classified", which the refusal table refuses, and the guard
    # should the refusal table's rules be gone.
    assert re.findall(r'^\tchain (\S+) \{', listing, re.MULTILINE) == ['not-classified', 'forward'], listing
    assert 'iifname "wg0" meta mark set meta mark | 0xff800000' in listing
    assert 'iifname "wg0" oifname != "wg-up-*" meta mark != 0x00000000/8 reject' in listing


def learned_and_saved(run, script, tmp_path):
    """alice's set learns 192.0.2.7 and the timer's save writes it; the PATH whose systemctl is a fake."""
    assert run('nft', 'add', 'element', 'inet', 'wgsplit', 'wgs-alice-p4', '{ 192.0.2.7 }').returncode == 0
    path = fake_systemctl(tmp_path)
    saved = run('env', path, 'sh', str(script), 'save')
    assert saved.returncode == 0, saved.stdout
    return path


def test_what_the_resolver_learned_into_the_table_comes_back(nft_booted, tmp_path):
    _files, boot, run, script = nft_booted
    boot()
    learned_and_saved(run, script, tmp_path)
    assert '192.0.2.7' in (tmp_path / 'learned' / 'wgs-alice-p4.nft').read_text()
    process, _listing = boot()
    assert process.returncode == 0, process.stdout
    assert '192.0.2.7' in run('nft', 'list', 'set', 'inet', 'wgsplit', 'wgs-alice-p4').stdout


def test_the_timers_save_fills_again_a_resolver_set_flushed_by_hand(nft_booted, tmp_path):
    """`nft flush set` typed by hand: the addresses do not age, so the timer's save puts back what it held last."""
    _files, boot, run, script = nft_booted
    boot()
    path = learned_and_saved(run, script, tmp_path)
    assert not signalled(tmp_path)
    assert run('nft', 'flush', 'set', 'inet', 'wgsplit', 'wgs-alice-p4').returncode == 0
    saved = run('env', path, 'sh', str(script), 'save')
    assert saved.returncode == 0, saved.stdout
    assert '192.0.2.7' in run('nft', 'list', 'set', 'inet', 'wgsplit', 'wgs-alice-p4').stdout
    assert '192.0.2.7' in (tmp_path / 'learned' / 'wgs-alice-p4.nft').read_text()
    assert signalled(tmp_path)


def test_a_refill_the_table_does_not_take_is_not_tried_again(nft_booted, tmp_path):
    """The set declared otherwise since the save (an old copy of the table loaded by hand): the save does not load; the
    timer's save stays a success and keeps the set's listing as it is now."""
    files, boot, run, script = nft_booted
    boot()
    path = learned_and_saved(run, script, tmp_path)
    old = tmp_path / 'old.nft'  # the whole table, the resolver's set declared otherwise (and empty)
    old.write_text(files['nftables/wgsplit.nft'].replace(
        'set wgs-alice-p4 { type ipv4_addr; size 65536; flags timeout; gc-interval 1d; }', 'set wgs-alice-p4 { type ipv4_addr; size 1000; }'))
    assert run('nft', '-f', str(old)).returncode == 0
    saved = run('env', path, 'sh', str(script), 'save')
    assert saved.returncode == 0 and 'wgs-alice-p4: the learned addresses not restored' in saved.stdout, saved.stdout
    assert 'elements' not in (tmp_path / 'learned' / 'wgs-alice-p4.nft').read_text()
    assert not signalled(tmp_path)


def test_the_listing_cut_from_the_ruleset_is_the_tables_own(nft_booted):
    """nft_table and split_info cut the table's terse listing from `nft -t list ruleset inet` (no set element read): it must
    be what `nft -t list table` prints, among other tables, one of the same name in another family included."""
    _files, boot, run, _script = nft_booted
    boot()
    for family, name in (('ip', 'wgsplit'), ('inet', 'other'), ('inet', 'wgsplit2')):
        assert run('nft', 'add', 'table', family, name).returncode == 0
        assert run('nft', 'add', 'chain', family, name, 'c').returncode == 0

    own = run('nft', '-t', 'list', 'table', 'inet', 'wgsplit').stdout
    assert 'chain classify' in own and terse_listing(runner(run), 'wgsplit') == (0, '', own)


def runner(run):
    """A CommandRunner's run, in the namespace of `run`."""
    def run_argv(argv, check=True):
        process = run(*argv)
        return process.returncode, process.stdout, ''
    return run_argv


def keep_listing(run, tmp_path):
    """What nft_table keeps beside the boot file after its change: the table's terse listing, normalized."""
    (tmp_path / 'nftables' / 'wgsplit.listing').write_text(normalized_listing(terse_listing(runner(run), 'wgsplit')[2]))


def test_a_table_file_without_its_fallback_still_loads(nft_booted):
    files, boot, _run, _script = nft_booted
    files['nftables/wgsplit.fallback'] = None
    process, listing = boot()
    assert process.returncode == 0, process.stdout
    assert 'chain classify' in listing and 'chain not-classified' in listing


@pytest.mark.parametrize('fault', ['ruleset flushed', 'table flushed', 'an old copy of the table loaded'])
def test_again_replaces_the_table_and_keeps_what_the_resolver_learned(nft_booted, tmp_path, fault):
    files, boot, run, script = nft_booted
    boot()
    aside = kept_aside()
    terse = run('nft', '-t', 'list', 'table', 'inet', 'wgsplit').stdout
    if fault == 'an old copy of the table loaded':  # a ruleset saved before an IP rule was added, loaded again
        old = tmp_path / 'old.nft'
        old.write_text(files['nftables/wgsplit.nft'].replace('ip daddr { 203.0.113.0/24 } goto mark-up-1\n', ''))
        assert run('nft', '-f', str(old)).returncode == 0
        assert '203.0.113.0/24' not in run('nft', 'list', 'table', 'inet', 'wgsplit').stdout
    assert run('nft', 'add', 'element', 'inet', 'wgsplit', 'wgs-alice-p4', '{ 192.0.2.7 }').returncode == 0
    if fault == 'ruleset flushed':
        assert run('nft', 'flush', 'ruleset').returncode == 0
    elif fault == 'table flushed':
        assert run('nft', 'flush', 'table', 'inet', 'wgsplit').returncode == 0  # every chain empty: nothing marks
    again = run('env', fake_systemctl(tmp_path), 'sh', str(script), 'again')
    assert again.returncode == 0, again.stdout
    assert run('nft', '-t', 'list', 'table', 'inet', 'wgsplit').stdout == terse
    if fault != 'ruleset flushed':  # gone with the flush and never saved; the resolver is asked again
        assert '192.0.2.7' in run('nft', 'list', 'set', 'inet', 'wgsplit', 'wgs-alice-p4').stdout
    assert signalled(tmp_path)
    assert not kept_aside() - aside  # nothing left aside


def kept_aside():
    return set(pathlib.Path('/run').glob('wgsplit-again.*'))


@pytest.mark.parametrize('way_out', ['stopped', 'its output gone', 'killed outright'])
def test_again_stopped_in_the_middle_leaves_nothing_aside(nft_booted, tmp_path, way_out):
    """"again" ended while it holds the resolver's sets aside, by its unit's SIGTERM (the watch stopped) or by SIGPIPE
    (what read its output gone, and it writes that the table did not load): the copies go too. Killed outright (no
    trap runs), the next "again" takes them."""
    _files, boot, run, script = nft_booted
    boot()
    aside = kept_aside()
    path = fake_systemctl(tmp_path)
    slow = tmp_path / 'bin' / 'nft'
    slow.write_text(  # the table's load takes long enough to be stopped in the middle, and fails
        '#!/bin/sh\ncase "$*" in "-f -"|"-f %s") sleep 3; exit 1 ;; esac\nexec %s "$@"\n'
        % (tmp_path / 'nftables' / 'wgsplit.nft', shutil.which('nft')))
    slow.chmod(0o755)
    again = started(run, ['env', path, 'sh', str(script), 'again'])
    until(lambda: any(any(directory.iterdir()) for directory in kept_aside() - aside), 'nothing was kept aside')
    left = kept_aside() - aside
    if way_out == 'its output gone':
        again.stdout.close()
    else:
        os.killpg(again.pid, signal.SIGKILL if way_out == 'killed outright' else signal.SIGTERM)
    assert again.wait(timeout=15) != 0
    if way_out == 'killed outright':
        assert kept_aside() - aside == left
        slow.unlink()
        assert run('env', path, 'sh', str(script), 'again').returncode == 0
    assert not kept_aside() - aside


def test_again_loads_the_table_with_what_the_resolver_learned_in_one_transaction(nft_booted, tmp_path):
    """Never the table with its resolver sets empty, even for a moment: a new connection to a proxied name then
    would be classified the client's default way, and keep it."""
    _files, boot, run, script = nft_booted
    boot()
    assert run('nft', 'add', 'element', 'inet', 'wgsplit', 'wgs-alice-p4', '{ 192.0.2.7 }').returncode == 0
    assert run('nft', 'flush', 'table', 'inet', 'wgsplit').returncode == 0
    events = tmp_path / 'events'
    with open(events, 'w') as output:
        monitor = started(run, ['nft', 'monitor'], stdout=output)
    try:
        until(lambda: run('nft', 'add table inet probe; delete table inet probe').returncode == 0  # an event each time
              and 'add table inet probe' in events.read_text(), 'the monitor never listened')
        assert run('env', fake_systemctl(tmp_path), 'sh', str(script), 'again').returncode == 0
        until(lambda: '192.0.2.7' in events.read_text(), 'the learned address never came back')
    finally:
        os.killpg(monitor.pid, signal.SIGTERM)
        monitor.wait()
    lines = events.read_text().splitlines()
    replaced = lines.index('delete table inet wgsplit')
    refilled = [number for number, line in enumerate(lines) if line.startswith('add element inet wgsplit wgs-alice-p4 ')]
    assert refilled and refilled[0] > replaced
    assert not [line for line in lines[replaced:refilled[0]] if line.startswith('# new generation')]


def test_the_timers_save_puts_back_a_table_gone(nft_booted, tmp_path):
    _files, boot, run, script = nft_booted
    _process, listing = boot()
    assert run('nft', 'delete', 'table', 'inet', 'wgsplit').returncode == 0
    process = run('env', fake_systemctl(tmp_path), 'sh', str(script), 'save')
    assert process.returncode == 0, process.stdout
    assert run('nft', 'list', 'table', 'inet', 'wgsplit').stdout == listing


def test_the_timers_save_fills_again_a_list_set_of_the_table_emptied_by_hand(nft_booted, tmp_path):
    """`nft flush set` typed by hand on a rule list's networks: the terse listing kept for drift does not show
    elements, so the timer's save looks at the sets the table file gives elements, and replaces the table first."""
    _files, boot, run, script = nft_booted
    _process, listing = boot()
    name = list_set(listing)
    assert '198.51.100.0/24' in run('nft', 'list', 'set', 'inet', 'wgsplit', name).stdout
    assert run('env', fake_systemctl(tmp_path), 'sh', str(script), 'save').returncode == 0
    assert not (tmp_path / 'systemctl.log').exists()  # every set holds its elements: nothing replaced
    assert run('nft', 'flush', 'set', 'inet', 'wgsplit', name).returncode == 0
    process = run('env', fake_systemctl(tmp_path), 'sh', str(script), 'save')
    assert process.returncode == 0, process.stdout
    assert '198.51.100.0/24' in run('nft', 'list', 'set', 'inet', 'wgsplit', name).stdout


DORMANT = 'the table made dormant (its hooks off)'
INSERTED = 'a rule put before the raw mark'
TABLE_FAULTS = {
    'nft flush table': ['flush', 'table', 'inet', 'wgsplit'],
    DORMANT: ['add', 'table', 'inet', 'wgsplit', '{ flags dormant; }'],
    INSERTED: ['insert', 'rule', 'inet', 'wgsplit', 'not-classified', 'accept'],
    'a rule replaced (as many lines)': ['replace', 'rule', 'inet', 'wgsplit', 'not-classified', 'handle', 'HANDLE', 'accept'],
    'its raw chain flushed': ['flush', 'chain', 'inet', 'wgsplit', 'not-classified'],
    'nft flush ruleset': ['flush', 'ruleset'],
    "a network deleted from a rule list's set": ['delete', 'element', 'inet', 'wgsplit', 'LIST_SET', '{ 198.51.100.0/24 }'],
}


def table_fault(run, fault):
    """The fault's nft command, run; HANDLE is the raw chain's rule's, LIST_SET the rule list's set."""
    handle = re.search(r'^\t\t.* # handle ([0-9]+)$', run('nft', '-a', 'list', 'chain', 'inet', 'wgsplit', 'not-classified').stdout,
                       re.MULTILINE).group(1)
    names = dict(HANDLE=handle, LIST_SET=list_set(run('nft', '-t', 'list', 'table', 'inet', 'wgsplit').stdout))
    return run('nft', *[names.get(word, word) for word in TABLE_FAULTS[fault]])


def list_set(listing):
    """The name of the set of NFT_INVENTORY's rule list, in a listing of the table."""
    return re.search(r'^\tset (wgs-N[0-9a-f]{8}-p4) \{', listing, re.MULTILINE).group(1)


@pytest.mark.parametrize('fault', sorted(TABLE_FAULTS))
def test_the_timers_save_puts_back_a_table_emptied_by_hand(nft_booted, tmp_path, fault):
    """`nft flush table` keeps the table, its sets and chains: the timer's save counts the lines of its terse listing
    against the listing nft_table kept after its change."""
    _files, boot, run, script = nft_booted
    _process, listing = boot()
    keep_listing(run, tmp_path)
    assert run('env', fake_systemctl(tmp_path), 'sh', str(script), 'save').returncode == 0
    assert not (tmp_path / 'systemctl.log').exists()  # as many lines as kept: nothing replaced
    assert table_fault(run, fault).returncode == 0
    process = run('env', fake_systemctl(tmp_path), 'sh', str(script), 'save')
    assert process.returncode == 0, process.stdout
    assert run('nft', 'list', 'table', 'inet', 'wgsplit').stdout == listing


@pytest.mark.parametrize('fault', sorted(set(TABLE_FAULTS) - {DORMANT, INSERTED}))  # a deletion each; the others: the timer's
def test_the_watch_puts_back_a_table_at_once(nft_booted, tmp_path, fault):
    _files, boot, run, script = nft_booted
    _process, listing = boot()
    keep_listing(run, tmp_path)
    with watching(run, script, fake_systemctl(tmp_path)) as watch:
        for _turn in range(2):
            assert table_fault(run, fault).returncode == 0
            assert run('nft', 'list', 'table', 'inet', 'wgsplit').stdout != listing
            until(lambda: run('nft', 'list', 'table', 'inet', 'wgsplit').stdout == listing, 'not put back: %s' % fault)
        assert watch.poll() is None
