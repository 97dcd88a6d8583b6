"""StateModule.run, the transaction every module stands on: check mode never applies, diff only when asked,
a kernel that does not reach the wanted state fails the module, boot files follow the wanted state."""
import fcntl
import threading

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wgsplit.gateway.plugins.module_utils import netstate
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import ECHO_MAX, BulkModule, StateModule, invocation


class Exit(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode=False, diff=False):
        self.check_mode = check_mode
        self._diff = diff
        self.params = {}
        self.result = None
        self.warned = []
        self.no_log_values = set()

    def exit_json(self, **result):
        self.result = dict(result, failed=False)
        raise Exit()

    def fail_json(self, **result):
        self.result = dict(result, failed=True)
        raise Exit()

    def warn(self, text):
        self.warned.append(text)


class Counter(StateModule):
    """A kernel object holding one number; `reaches` is what the kernel holds after apply."""

    def __init__(self, module, current, wanted, reaches=None):
        super(Counter, self).__init__(module)
        self.kernel, self.target, self.reaches = current, wanted, reaches
        self.applied, self.booted = [], []

    def read(self):
        return self.kernel

    def want(self, current):
        return self.target

    def apply(self, current, wanted):
        self.applied.append((current, wanted))
        self.kernel = wanted if self.reaches is None else self.reaches

    def boot(self, wanted):
        self.booted.append(wanted)
        return False


def run(state_module):
    with pytest.raises(Exit):
        state_module.run()
    return state_module.module.result


def test_change_is_applied_verified_and_reported():
    counter = Counter(FakeModule(), 1, 2)
    result = run(counter)
    assert result == dict(changed=True, failed=False)
    assert counter.applied == [(1, 2)] and counter.booted == [2]


def test_a_bulk_calls_large_arguments_are_echoed_as_their_size(monkeypatch):
    rules = [dict(comment='rule %d' % number, action='return') for number in range(ECHO_MAX // 20)]
    text = 'x' * (ECHO_MAX + 1)
    assert invocation(dict(chain='C', rules=rules, state='present', config=text, small=['a'])) == dict(module_args=dict(
        chain='C', rules='(%d items, not echoed)' % len(rules), state='present', config='(%d characters, not echoed)' % len(text),
        small=['a']))
    # The modules' AnsibleModule echoes so whether the call succeeds or fails (a given invocation stays).
    returned = []
    monkeypatch.setattr(AnsibleModule, 'exit_json', lambda self, **result: returned.append(result))
    monkeypatch.setattr(AnsibleModule, 'fail_json', lambda self, msg, **result: returned.append(dict(result, msg=msg)))
    module = BulkModule.__new__(BulkModule)  # its arguments set by hand: no AnsibleModule parsing here
    module.params = dict(chain='C', rules=rules)
    module.exit_json(changed=False)
    module.fail_json('failed', rc=1)
    module.exit_json(invocation='given')
    echoed = dict(module_args=dict(chain='C', rules='(%d items, not echoed)' % len(rules)))
    assert returned == [dict(changed=False, invocation=echoed), dict(rc=1, msg='failed', invocation=echoed),
                        dict(invocation='given')]


def test_nothing_to_do_applies_nothing():
    counter = Counter(FakeModule(), 2, 2)
    assert run(counter)['changed'] is False
    assert counter.applied == []


def test_check_mode_reports_the_change_and_never_applies():
    counter = Counter(FakeModule(check_mode=True, diff=True), 1, 2)
    result = run(counter)
    assert result['changed'] is True and result['diff'] == dict(before=1, after=2)
    assert counter.applied == [] and counter.kernel == 1


def test_diff_only_when_asked():
    assert 'diff' not in run(Counter(FakeModule(), 1, 2))
    assert run(Counter(FakeModule(diff=True), 1, 2))['diff'] == dict(before=1, after=2)


def test_a_kernel_that_does_not_reach_the_wanted_state_fails_the_module():
    result = run(Counter(FakeModule(), 1, 2, reaches=3))
    assert result['failed'] is True
    assert result['diff'] == dict(before=3, after=2)


class BootCounter(Counter):
    """A Counter whose boot file differs, and which warns when it reads."""

    def __init__(self, module, current, wanted, boot_differs=False, warning=None):
        super(BootCounter, self).__init__(module, current, wanted)
        self.boot_differs, self.warning = boot_differs, warning

    def read(self):
        if self.warning:
            self.warnings.append(self.warning)
        return self.kernel

    def boot(self, wanted):
        self.booted.append(wanted)
        return self.boot_differs


def test_pending_is_empty_only_when_kernel_and_boot_files_hold_what_is_wanted():
    assert Counter(FakeModule(check_mode=True), 2, 2).pending() == []
    assert BootCounter(FakeModule(check_mode=True), 2, 2, boot_differs=True).pending() == ['a boot file differs']


def test_pending_never_applies_and_says_why():
    counter = BootCounter(FakeModule(check_mode=True), 1, 2, boot_differs=True)
    assert counter.pending() == ['the kernel differs', 'a boot file differs']
    assert counter.applied == [] and counter.kernel == 1
    assert counter.module.result is None  # it neither exits nor fails


def test_a_call_that_would_warn_is_pending_so_that_its_warning_is_shown():
    assert BootCounter(FakeModule(check_mode=True), 2, 2, warning='peer missing').pending() == [
        'it warns: peer missing']


class Locked(Counter):
    """Notes, in apply (which takes the lock again, as nft_table's does) and in boot, whether another holder could
    take the learned lock."""

    def __init__(self, module, lock_path):
        super(Locked, self).__init__(module, 1, 2)
        self.lock_path, self.free = lock_path, []

    def lock_free(self):
        with open(self.lock_path, 'a') as other:  # another open file: as the restore script's flock
            try:
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
            return True

    def apply(self, current, wanted):
        with netstate.learned_lock():
            self.free.append(self.lock_free())
        super(Locked, self).apply(current, wanted)

    def boot(self, wanted):
        self.free.append(self.lock_free())
        return super(Locked, self).boot(wanted)


def test_the_kernel_and_its_boot_files_change_under_the_learned_lock(tmp_path, monkeypatch):
    """The restore script's watch checks under the same lock: it never sees a kernel changed and boot files not yet."""
    monkeypatch.setattr(netstate, 'PERSIST_DIR', str(tmp_path))
    monkeypatch.setattr(netstate, 'LEARNED_DIR', str(tmp_path / 'learned'))
    locked = Locked(FakeModule(), str(tmp_path / 'learned' / '.lock'))
    worker = threading.Thread(target=run, args=(locked,), daemon=True)  # a lock that is not taken again inside itself would hang
    worker.start()
    worker.join(10)
    assert not worker.is_alive() and locked.free == [False, False] and locked.lock_free()


def test_check_mode_takes_no_lock_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(netstate, 'PERSIST_DIR', str(tmp_path))
    monkeypatch.setattr(netstate, 'LEARNED_DIR', str(tmp_path / 'learned'))
    assert run(Counter(FakeModule(check_mode=True), 1, 2))['changed'] and not (tmp_path / 'learned').exists()
