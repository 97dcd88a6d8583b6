# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of a run's module calls would change the gateway (split_pending), and the calls of the last reading kept on
the host so that the next run's split_info reads them again in its own round trip: a call planned the same (by its
digest, keys included) then needs no second one. The reading runs each module's own StateModule in check mode: the
same code as the calls."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import hashlib
import json
import os
import stat
import tempfile

from ansible.module_utils.ansible_release import __version__ as ansible_version
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.wgsplit.gateway.plugins.module_utils import chains, nftables, routing, sets, upstreams

# Each module's arguments and its StateModule.
MODULES = dict(wg_upstream=(upstreams.ARGUMENTS, upstreams.WgUpstream), policy_route=(routing.ARGUMENTS, routing.PolicyRoute),
               mangle_mark=(chains.ARGUMENTS, chains.MangleMark), ipset_set=(sets.ARGUMENTS, sets.IpsetSet),
               nft_table=(nftables.ARGUMENTS, nftables.NftTable))
# The last reading's calls and keys (root only, like the interfaces' own files), on tmpfs: a reboot forgets them.
KEPT_DIR = '/run/wgsplit'
KEPT_READING = KEPT_DIR + '/reading.json'
TEMPORARY_PREFIX = '.reading-'


class Refused(Exception):
    """A call's module would fail (fail_json)."""


def remembered(reads, run_command, args, kwargs):
    """The output of a command in `reads`, run once per reading (by its arguments, stdin and environment)."""
    key = repr((args, sorted(kwargs.items())))
    if key not in reads:
        reads[key] = run_command(args, **kwargs)
    return reads[key]


class Remembering(object):
    """A module whose commands' output is kept in `reads`, for a reading that only reads: split_info's, then the
    calls it reads again see the same moment and run a command they share once (iptables-save, wg show)."""

    def __init__(self, module, reads):
        self._module = module
        self._reads = reads

    def __getattr__(self, name):
        return getattr(self._module, name)

    def run_command(self, args, **kwargs):
        return remembered(self._reads, self._module.run_command, args, kwargs)


class CheckModeCall(object):
    """What a module's StateModule sees of its AnsibleModule: the call's checked arguments, check mode, and
    this module's commands; a failure is raised, not exited, so that the other calls are read too. `reads` holds
    the output of each command already run: in check mode every command reads, and nothing changes between the
    calls, so several calls reading the same table (iptables-save -t nat, the boot units) run it once."""

    def __init__(self, module, params, reads):
        self.params = params
        self.check_mode = True
        self._diff = False
        self.module = module
        self.reads = reads
        # A value the call's code learns is secret (a key in its canonical spelling) is masked in this run's output.
        self.no_log_values = module.no_log_values

    def run_command(self, args, **kwargs):
        # Raised: this call is pending (not kept: the next call runs it again).
        return remembered(self.reads, functools.partial(self.module.run_command, handle_exceptions=False), args, kwargs)

    def get_bin_path(self, name, required=False):
        path = self.module.get_bin_path(name)
        if path is None and required:
            raise Refused('%s is not installed' % name)
        return path

    def fail_json(self, msg, **_result):
        raise Refused(msg)


def with_keys(args, keys):
    """wg_upstream arguments with each interface's keys from `keys`."""
    return dict(args, upstreams=[dict(spec, **keys.get(spec.get('name'), {})) for spec in args.get('upstreams') or []])


def call_arguments(call, keys):
    """The arguments the call's module gets: a wg_upstream call's with its interfaces' keys."""
    return with_keys(call['args'], keys) if call['module'] == 'wg_upstream' else call['args']


def call_digest(call, keys):
    """What makes a call read the same: its name, module and arguments, keys included. None for a call whose keys
    cannot be merged (a malformed call or keys: nothing matches it)."""
    try:
        return digest(call['name'], call['module'], call_arguments(call, keys))
    except (AttributeError, TypeError, ValueError):
        return None


def checked(call, keys):
    """(the arguments the call's module would run with, as its own specification checks them, or None; why not)."""
    if call['module'] == 'wg_upstream' and any(
            isinstance(spec, dict) and set(spec) & set(upstreams.KEY_OPTIONS) for spec in call['args'].get('upstreams') or []):
        return None, ['its arguments are refused: keys belong in interface_keys, hidden from logs']
    result = ArgumentSpecValidator(**MODULES[call['module']][0]).validate(call_arguments(call, keys))
    if result.error_messages:
        return None, ['its arguments are refused: %s' % '; '.join(result.error_messages)]
    return result.validated_parameters, []


def reasons(module, call, keys, reads, params=None):
    """Why the call would change the gateway ([] when it would not). `params` ({name: checked arguments}) holds those
    of the calls a reading of the same calls checked already (the check of 5,000 rules costs a tenth of a second),
    and gets this call's."""
    params = {} if params is None else params
    name = call.get('name')
    try:
        if name in params:
            found = params[name]  # handed on as given: a reading given them keeps nothing
        else:
            found, refused = checked(call, keys)
            if found is None:
                return refused
            # Kept as checked: the module's own code may normalise its arguments in place (sorted set elements).
            # Copied through JSON (what they are; the file keeps them so): ten times as fast as a deep copy.
            params[name] = json.loads(json.dumps(found))
        return MODULES[call['module']][1](CheckModeCall(module, found, reads)).pending()
    except Refused as error:
        return ['it fails: %s' % error]
    except Exception as error:  # pylint: disable=broad-except  # the module itself then runs and reports it
        return ['its reading fails: %s' % ('%s: %s' % (type(error).__name__, error))]


def must_run(names, pending):
    """{name: whether the call runs}: it is pending, or a call of the same role before it is (its change can change
    what a later call finds: an interface recreated loses its routes). A role is what a name has before its first
    dot (a later role reads its calls again when one of an earlier role runs: read_again)."""
    run, earlier = {}, set()
    for name in names:
        role = name.split('.')[0]
        if pending[name]:
            earlier.add(role)
        run[name] = role in earlier
    return run


def read_again(names, run):
    """{role: whether it must read its calls again}: a call of a role before it (in the order of the calls) runs, so
    what its calls find may have changed, and one of its calls would be skipped (when all of them run anyway, a
    reading could only skip some, which change nothing)."""
    result, ran, skipped = {}, False, {}
    for name in names:
        role = name.split('.')[0]
        if role not in result:
            result[role] = ran
        skipped[role] = skipped.get(role, False) or not run[name]
        ran = ran or run[name]
    return dict((role, before and skipped[role]) for role, before in result.items())


def summary(names, found):
    """split_pending's result from each call's reasons (`found`, by name; the calls in the run's order): run, pending
    (the calls that would change something, with their reasons) and read_again."""
    run = must_run(names, found)
    return dict(run=run, pending=dict((name, found[name]) for name in names if found[name]), read_again=read_again(names, run))


def reading(module, calls, keys, reads=None, known=None, params=None):
    """The reasons of each call (by name), read on the host but for those `known` (read already, by split_info).
    `params`: as reasons() takes and fills them."""
    reads = {} if reads is None else reads
    known = known or {}
    params = {} if params is None else params
    return dict((call['name'], known[call['name']] if call['name'] in known else reasons(module, call, keys, reads, params))
                for call in calls)


def read_kept(module, reads, path=KEPT_READING):
    """{name: dict(digest, pending)} of the calls the last reading kept, read again now (sharing `reads`), or None.
    A call without a digest (a value JSON cannot hold the same way) is left out: nothing could match it."""
    found = kept(path)
    if found is None:
        return None
    calls, keys, params = found
    # The keys came from a file, not a no_log option: hidden from whatever the module returns all the same.
    module.no_log_values.update(value for interface in keys.values() for value in interface.values()
                                if isinstance(value, str) and value)
    digests = dict((call['name'], call_digest(call, keys)) for call in calls)
    calls = [call for call in calls if digests[call['name']] is not None]
    found = reading(module, calls, keys, reads, params=params)
    return dict((call['name'], dict(digest=digests[call['name']], pending=found[call['name']])) for call in calls)


def digest(*values):
    """The digest of JSON-like values; the controller's plan and the host's kept calls compare by it. None for a value
    JSON cannot hold the same way on both sides (then nothing is compared equal)."""
    try:
        text = json.dumps(values, sort_keys=True, separators=(',', ':'), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode('ascii')).hexdigest()


# Each module's specification, by digest (with the version of ansible-core that checks it): arguments it checked are
# used again only by the same.
SPECS = dict((name, digest(ansible_version, arguments)) for name, (arguments, _state_module) in MODULES.items())


def keep(calls, keys, params, path=KEPT_READING):
    """Keep the calls read, their keys and their checked arguments (`params`, by name; each with the digest of its
    module's specification) for the next run's split_info. False when the place is not the collection's to write
    (not a directory of root only) or the file cannot be written (a full /run): a cache, never a failure. A call
    known to the reading (not checked by it) keeps the arguments kept for it before, when it is the same."""
    params = dict(previous_params([call for call in calls if call['name'] not in params], keys, path), **params)
    params = dict((call['name'], dict(spec=SPECS[call['module']], args=params[call['name']])) for call in calls
                  if call['name'] in params and digest(params[call['name']]) is not None)
    directory = os.path.dirname(path)
    try:
        os.mkdir(directory, 0o700)
    except OSError:
        pass  # there already (checked below), or not creatable (refused below)
    try:
        found = os.lstat(directory)
    except OSError:
        return False
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o077:
        return False
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=TEMPORARY_PREFIX)
    except OSError:
        return False
    try:
        with os.fdopen(handle, 'w') as out:  # mkstemp: 0600
            # dumps, not dump: json.dump encodes in Python, dumps in C (three quarters of a second for 100 x 50).
            out.write(json.dumps(dict(calls=calls, interface_keys=keys, params=params), sort_keys=True, allow_nan=False))
        os.replace(temporary, path)
    except (OSError, ValueError):
        os.unlink(temporary)
        return False
    except BaseException:
        os.unlink(temporary)
        raise
    return True


def previous_params(calls, keys, path=KEPT_READING):
    """{name: checked arguments} kept before for those of `calls` that are the same (digest, keys included)."""
    found = kept(path) if calls else None
    if found is None:
        return {}
    before = dict((call['name'], call_digest(call, found[1])) for call in found[0] if call['name'] in found[2])
    return dict((call['name'], found[2][call['name']]) for call in calls
                if before.get(call['name']) is not None and before[call['name']] == call_digest(call, keys))


def forget(path=KEPT_READING):
    """Remove the kept calls (the gateway's removal), a file a stopped keep() left, and their directory when nothing
    else is in it."""
    directory = os.path.dirname(path)
    try:
        left = [os.path.join(directory, name) for name in os.listdir(directory) if name.startswith(TEMPORARY_PREFIX)]
    except OSError:
        left = []
    for remove, target in [(os.unlink, path)] + [(os.unlink, name) for name in left] + [(os.rmdir, directory)]:
        try:
            remove(target)
        except OSError:
            pass  # absent, or the directory holds something else


def kept(path=KEPT_READING):
    """(calls, keys, checked arguments by name) kept by the last reading, else None: an absent, unreadable or
    malformed file, or one that is not root's only, is no reading. Checked arguments are those of a module whose
    specification is the same (another version of the collection checks them again)."""
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
    except OSError:
        return None
    with os.fdopen(handle) as found:
        status = os.fstat(found.fileno())
        if not stat.S_ISREG(status.st_mode) or status.st_uid != os.geteuid() or status.st_mode & 0o077:
            return None
        try:
            data = json.load(found)
        except ValueError:
            return None
    keys = data.get('interface_keys') if isinstance(data, dict) else None
    if not isinstance(keys, dict) or not all(isinstance(value, dict) for value in keys.values()):
        return None
    calls = data.get('calls')
    if not isinstance(calls, list) or not all(
            isinstance(call, dict) and sorted(call) == ['args', 'module', 'name'] and isinstance(call['name'], str)
            and call['module'] in MODULES and isinstance(call['args'], dict) for call in calls):
        return None
    if len(set(call['name'] for call in calls)) != len(calls):
        return None
    params = data.get('params') if isinstance(data.get('params'), dict) else {}
    modules = dict((call['name'], call['module']) for call in calls)
    return calls, data['interface_keys'], dict(
        (name, found['args']) for name, found in params.items()
        if name in modules and isinstance(found, dict) and isinstance(found.get('args'), dict)
        and SPECS[modules[name]] is not None and found.get('spec') == SPECS[modules[name]])
