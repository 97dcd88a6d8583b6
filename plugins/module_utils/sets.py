# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ipsets the collection owns, created, redefined and filled in one transaction (module ipset_set, split_pending)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import address as canonical_address
from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import SET_NAME, Invalid, interface_name, safe_strings
from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import parse_set_headers
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    BootState, StateModule, empty_list, forget_learned, learned_lock, learned_saved, list_delta, prefix_text)

MAX_NAME_LENGTH = 31
SET_TYPE = re.compile(r'(hash|bitmap|list):[a-z,]+')
# Options that define a set; hashsize is left out on purpose (the kernel grows it).
DEFINING_OPTIONS = ('maxelem', 'timeout', 'counters')
DEFAULT_MAXELEM = 65536
# Options of `ipset save` create lines that are one word (the others are followed by their value).
FLAG_OPTIONS = ('counters', 'comment', 'skbinfo', 'forceadd')
# What each set of `sets` may give for itself (else the top-level option of the same name).
PER_SET_OPTIONS = ('type', 'maxelem', 'timeout', 'counters', 'members')


def parse_save(text):
    """Parse `ipset save NAME` into {'type', 'family', 'maxelem', 'timeout', 'members'} (None: no set)."""
    sets = parse_save_all(text)
    return next(iter(sets.values())) if sets else None


def parse_save_all(text):
    """Parse `ipset save` (any number of sets) into {name: parse_save shape}."""
    sets = {}
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == 'create':
            options = create_options(words[3:])
            sets[words[1]] = dict(type=words[2], family=options.get('family', 'inet'),
                                  maxelem=int(options.get('maxelem', DEFAULT_MAXELEM)),
                                  timeout=int(options['timeout']) if 'timeout' in options else None,
                                  counters='counters' in options, members=[])
        elif words[0] == 'add' and words[1] in sets:
            # A member's own "timeout N" (and similar per-member options) is not part of its identity.
            sets[words[1]]['members'].append(words[2])
    for header in sets.values():
        header['members'].sort()
    return sets


def create_options(words):
    """{option: value} of the words after a create line's type; a flag (counters) has the value True."""
    options, index = {}, 0
    while index < len(words):
        if words[index] in FLAG_OPTIONS:
            options[words[index]] = True
            index += 1
        else:
            options[words[index]] = words[index + 1] if index + 1 < len(words) else ''
            index += 2
    return options


def normalize_member(member, set_type, family):
    """The member as `ipset save` prints it; raises ValueError with a reason."""
    member = member.strip()
    if set_type == 'hash:net,iface':
        network, _comma, interface = member.partition(',')
        try:
            interface = interface_name(interface)
        except Invalid as error:
            raise ValueError('%s: %s' % (interface or 'the interface after the comma', error))
        return '%s,%s' % (normalize_member(network, 'hash:net', family), interface)
    if set_type not in ('hash:ip', 'hash:net'):
        if not member or any(char.isspace() for char in member):
            raise ValueError('a member is one word')
        return member
    want_version = 6 if family == 'inet6' else 4
    if set_type == 'hash:ip':
        if '/' in member:
            raise ValueError('a hash:ip set takes single addresses, use type hash:net for networks')
        address = ipaddress.ip_address(canonical_address(member))
        if address.version != want_version:
            raise ValueError('not an IPv%d address' % want_version)
        return str(address)
    version, length, text = prefix_text(member)
    if version != want_version:
        raise ValueError('not an IPv%d network' % want_version)
    if length == 0:
        raise ValueError('hash:net cannot hold a /0 network')
    return text


def create_line(name, definition, hashsize):
    words = ['create', name, definition['type'], 'family', definition['family']]
    if hashsize:
        words += ['hashsize', str(hashsize)]
    words += ['maxelem', str(definition['maxelem'])]
    if definition['timeout'] is not None:
        words += ['timeout', str(definition['timeout'])]
    if definition['counters']:
        words.append('counters')
    return ' '.join(words)


def restore_script(name, current, wanted, hashsize, referenced):
    """The `ipset restore` input that turns `current` into `wanted` (both parse_save shapes or None)."""
    if wanted is None:
        return ['destroy %s' % name]
    lines = []
    if current is None:
        lines.append(create_line(name, wanted, hashsize))
        lines += ['add %s %s' % (name, member) for member in wanted['members']]
    elif rebuilt(current, wanted):
        if current['family'] != wanted['family'] and not referenced:
            # The kernel cannot swap sets of different families; nothing uses this one.
            lines += ['destroy %s' % name, create_line(name, wanted, hashsize)]
            lines += ['add %s %s' % (name, member) for member in wanted['members']]
        else:
            spare = swap_name(name)
            lines.append(create_line(spare, wanted, hashsize))
            lines += ['add %s %s' % (spare, member) for member in wanted['members']]
            lines += ['swap %s %s' % (spare, name), 'destroy %s' % spare]
    elif not wanted['members']:
        # Emptied whatever it holds when the lock is taken (the timer's save may have filled it since the reading).
        lines.append('flush %s' % name)
    else:
        missing, extra = list_delta(current['members'], wanted['members'])
        lines += ['del %s %s' % (name, member) for member in extra]
        lines += ['add %s %s' % (name, member) for member in missing]
    return lines


def redefined(current, wanted):
    """Whether a set's type, family or defining options change (then it is rebuilt, not edited in place)."""
    return any(current[key] != wanted[key] for key in ('type', 'family') + DEFINING_OPTIONS)


def rebuilt(current, wanted):
    """Whether the set is built anew beside it and swapped in (one step for the packets): its definition changes,
    or members are both removed and added. Networks merged or split (10.0.0.0/24 giving way to 10.0.0.0/23) edited
    in place would leave an address that both cover matched by neither between the delete and the add, and a run
    stopped there would keep it so. Not a set that counts: its members' counters would start again."""
    if redefined(current, wanted):
        return True
    missing, extra = list_delta(current['members'], wanted['members'])
    return bool(missing and extra) and not wanted['counters']


def swap_name(name):
    return name[:MAX_NAME_LENGTH - 5] + '.swap'


class IpsetSet(StateModule):
    """State is {name: set or None} over the names given."""

    def __init__(self, module):
        super(IpsetSet, self).__init__(module)
        self.definitions = set_definitions(module.params)
        self.names = sorted(self.definitions)
        self.referenced = {}

    def check(self):
        if self.params['sets'] == []:
            self.module.fail_json(msg=empty_list('sets'))
        names = [item['name'] for item in self.params['sets'] or []]
        repeated = sorted(set(name for name in names if names.count(name) > 1))
        if repeated:
            self.module.fail_json(msg='sets names %s more than once' % ', '.join(repeated))
        for name, definition in self.definitions.items():
            if not SET_NAME.fullmatch(name or ''):
                self.module.fail_json(msg='name %r must be 1 to %d of A-Z a-z 0-9 _ . : -' % (name, MAX_NAME_LENGTH))
            if not SET_TYPE.fullmatch(definition['type']):
                self.module.fail_json(msg='type %r is not an ipset type (for example hash:ip, hash:net)' % definition['type'])
            try:
                safe_strings(definition['members'] or [], 'members')
            except ValueError as error:
                self.module.fail_json(msg=str(error))

    def read(self):
        argv = ['ipset', 'save'] + (self.names if len(self.names) == 1 else [])
        rc, out, err = self.cmd.run(argv, check=False)
        if rc != 0:
            if 'does not exist' in err:
                return dict((name, None) for name in self.names)
            self.module.fail_json(msg='%s failed: %s' % (' '.join(argv), err.strip()))
        sets = parse_save_all(out)
        for name in self.names:
            if sets.get(name) is not None and self.forgets_learned(name):
                sets[name]['learned'] = learned_saved(name)
        return dict((name, sets.get(name)) for name in self.names)

    def forgets_learned(self, name):
        """Whether the task gives every member of a set that counts nothing (a resolver's set emptied of a removed
        domain): then a save of what the resolver learned into it is a difference (its addresses would come back)."""
        definition = self.definitions[name]
        return definition['members'] is not None and self.params['exclusive'] and not definition['counters']

    def references(self, current):
        existing = [name for name in self.names if current[name] is not None]
        if not existing:
            return {}
        argv = ['ipset', 'list', '-t'] + (existing if len(existing) == 1 else [])
        return dict((name, header['references']) for name, header in parse_set_headers(self.cmd.run(argv)[1]).items())

    def want(self, current):
        self.referenced = self.references(current)
        return dict((name, self.want_set(name, current[name], self.referenced.get(name, 0) > 0))
                    for name in self.names)

    def want_set(self, name, current, referenced):
        params, definition = self.params, self.definitions[name]
        if params['state'] == 'absent':
            # In check mode the task that drops the reference (earlier in the play) has not run either:
            # report the removal rather than fail on a reference that a real run would not meet.
            if current is not None and referenced and not self.module.check_mode:
                self.module.fail_json(msg='set %s is still referenced (by a firewall rule or a list:set);'
                                          ' remove the reference first' % name)
            return None
        wanted = dict(type=definition['type'], family=definition['family'],
                      maxelem=definition['maxelem'] or DEFAULT_MAXELEM, timeout=definition['timeout'],
                      counters=definition['counters'])
        if current is not None and current['family'] != wanted['family'] and referenced:
            self.module.fail_json(msg='set %s is family %s and still referenced; it cannot become %s'
                                      % (name, current['family'], wanted['family']))
        kept = current['members'] if current is not None else []
        if definition['members'] is None:
            members = kept if current is not None and current['type'] == wanted['type'] else []
        else:
            members = set(self.normalized_members(name))
            if not params['exclusive']:
                members.update(kept)
        if len(members) > wanted['maxelem']:
            self.module.fail_json(msg='set %s would hold %d members, more than maxelem %d'
                                      % (name, len(members), wanted['maxelem']))
        wanted['members'] = sorted(members)
        if current is not None:
            self.check_swap_name_free(name, current, wanted)
        if self.forgets_learned(name):
            wanted['learned'] = False
        return wanted

    def normalized_members(self, name):
        definition = self.definitions[name]
        members = []
        for member in definition['members']:
            try:
                members.append(normalize_member(member, definition['type'], definition['family']))
            except ValueError as error:
                self.module.fail_json(msg='set %s: member %r is invalid: %s' % (name, member, error))
        return members

    def check_swap_name_free(self, name, current, wanted):
        if not rebuilt(current, wanted):
            return
        spare = swap_name(name)
        if self.cmd.run(['ipset', 'list', '-n', spare], check=False)[0] == 0:
            self.module.fail_json(msg='cannot rebuild set %s: a set named %s already exists' % (name, spare))

    def apply(self, current, wanted):
        lines = []
        for name in self.names:
            if current[name] != wanted[name]:
                lines += restore_script(name, current[name], wanted[name], self.params['hashsize'],
                                        self.referenced.get(name, 0) > 0)
        with learned_lock():
            self.cmd.run(['ipset', '-exist', 'restore'], data='\n'.join(lines) + '\n')
            for name in self.names:
                # What the resolver had learned into a set that is removed or loses members must not come back at boot.
                if wanted[name] is None or wanted[name].get('learned') is False or (
                        current[name] is not None and not set(current[name]['members']) <= set(wanted[name]['members'])):
                    forget_learned(name)

    def boot(self, wanted):
        if not self.params['persist']:
            return False
        boot_state = BootState(self.module, 'ipset', self.cmd)
        # Every file is kept (a list, not a generator that any() would stop at the first change).
        changes = [boot_state.keep('%s.save' % name, self.boot_lines(name, wanted[name])) for name in self.names]
        return any(changes)

    def boot_lines(self, name, wanted):
        if wanted is None:
            return None
        lines = [create_line(name, wanted, self.params['hashsize'])]
        if self.definitions[name]['members'] is not None:
            lines += ['add %s %s' % (name, member) for member in wanted['members']]
        return lines

    def describe(self, state):
        described = dict((name, dict(state='absent') if value is None else dict(state='present', **value))
                         for name, value in state.items())
        return described[self.names[0]] if len(self.names) == 1 else described

    def report(self, current, wanted):
        sets = dict((name, self.report_set(current[name], wanted[name])) for name in self.names)
        return dict(sets[self.names[0]], sets=sets)

    @staticmethod
    def report_set(current, wanted):
        current_members = current['members'] if current else []
        wanted_members = wanted['members'] if wanted else []
        added, removed = list_delta(current_members, wanted_members)
        recreated = bool(current and wanted and rebuilt(current, wanted))
        return dict(state='present' if wanted else 'absent', added=added, removed=removed, recreated=recreated,
                    member_count=len(wanted_members))


def set_definitions(params):
    """{name: {family, type, maxelem, timeout, counters, members}} of the sets the task names, however it names
    them: what a set of `sets` leaves out comes from the top-level option."""
    if params['sets'] is not None:
        items = params['sets']
    else:
        items = [dict(name=name, family=params['family']) for name in ([params['name']] if params['name'] else params['names'])]
    definitions = {}
    for item in items:
        definition = dict((key, params[key] if item.get(key) is None else item[key]) for key in PER_SET_OPTIONS)
        definitions[item['name']] = dict(definition, family=item['family'])
    return definitions


# The module's arguments (AnsibleModule keywords), also checked by split_pending for each call it reads.
ARGUMENTS = dict(
    argument_spec=dict(
        name=dict(type='str'),
        names=dict(type='list', elements='str'),
        sets=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            family=dict(type='str', default='inet', choices=['inet', 'inet6']),
            type=dict(type='str'),
            maxelem=dict(type='int'),
            timeout=dict(type='int'),
            counters=dict(type='bool'),
            members=dict(type='list', elements='str'))),
        type=dict(type='str', default='hash:net'),
        family=dict(type='str', default='inet', choices=['inet', 'inet6']),
        maxelem=dict(type='int'),
        hashsize=dict(type='int'),
        timeout=dict(type='int'),
        counters=dict(type='bool', default=False),
        members=dict(type='list', elements='str'),
        exclusive=dict(type='bool', default=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        persist=dict(type='bool', default=True),
    ),
    mutually_exclusive=[('name', 'names', 'sets'), ('sets', 'family')],
    required_one_of=[('name', 'names', 'sets')],
)
