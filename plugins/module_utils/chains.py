# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables chains the collection owns and their jumps (module mangle_mark, split_pending)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import (
    BUILTIN_CHAINS, CHAIN_NAME, SET_NAME, Invalid, address, endpoint, format_endpoint, interface_name, network, safe_strings)
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    LEGACY_BOOT_FAMILIES, BootState, StateModule, ordered_unique)

MAX_CHAIN_LENGTH = 28
FULL_MASK = 0xffffffff
# The order in which the kernel's conntrack match prints states.
CTSTATE_ORDER = ('INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT')
# Characters iptables-save prints without quotes (xtables_save_string).
UNQUOTED_CHARS = frozenset('_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')
COMMENT_CHARS = UNQUOTED_CHARS | frozenset('.:/ ,=')
SAVE_COMMANDS = {'inet': 'iptables-save', 'inet6': 'ip6tables-save'}
RESTORE_COMMANDS = {'inet': 'iptables-restore', 'inet6': 'ip6tables-restore'}
TABLES = ['raw', 'mangle', 'nat', 'filter']
# An interface name has at most 15 characters; iptables' wildcard + is one of them.
INTERFACE_PREFIX_MAX = 14


class RuleError(ValueError):
    pass


def address_family(value):
    return 'inet6' if ':' in network(value, strict=False) else 'inet'


def rule_families(rule, families):
    """The families (of those managed) whose table gets this rule."""
    named = set()
    for key in ('source', 'destination'):
        if rule.get(key):
            named.add(address_family(rule[key]))
    if rule.get('to_destination'):
        named.add(address_family(to_destination_host(rule['to_destination'])))
    if rule.get('family'):
        if named and named != {rule['family']}:
            raise RuleError('family %s does not match its addresses' % rule['family'])
        named = {rule['family']}
    if len(named) > 1:
        raise RuleError('mixes IPv4 and IPv6 addresses')
    return [family for family in families if not named or family in named]


def render_address(value):
    return network(value, strict=False)


def to_destination_host(value):
    """The address of a DNAT target 'address', 'address:port' or '[v6]:port'."""
    try:
        return address(value)
    except Invalid:
        host = endpoint(value)[0]
        return address(host)


def render_to_destination(value):
    try:
        return address(value)
    except Invalid:
        return format_endpoint(*endpoint(value))


def chain_name(value):
    if not CHAIN_NAME.fullmatch(value or ''):
        raise RuleError('chain %r must be 1 to %d of A-Z a-z 0-9 _ -' % (value, MAX_CHAIN_LENGTH))
    return value


def set_name(value):
    if not SET_NAME.fullmatch(value or ''):
        raise RuleError('set name %r must be 1 to 31 of A-Z a-z 0-9 _ . : -' % (value,))
    return value


def render_hex(value):
    return '0x%x' % value


def render_comment(text):
    if any(char not in COMMENT_CHARS for char in text):
        raise RuleError('comment %r may hold only letters, digits and "_-.:/ ,="' % text)
    if text and all(char in UNQUOTED_CHARS for char in text):
        return text
    return '"%s"' % text


def render_interface(flag, rule, key):
    """`-i NAME`, or `-i PREFIX+` (every interface whose name starts with PREFIX) for KEY_prefix; not both."""
    name, prefix = rule.get(key), rule.get(key + '_prefix')
    if name and prefix:
        raise RuleError('%s and %s_prefix are mutually exclusive' % (key, key))
    if prefix:
        stem = interface_name(prefix[:-1] if prefix.endswith('+') else prefix)
        if len(stem) > INTERFACE_PREFIX_MAX:
            raise RuleError('%s_prefix %r is longer than %d characters' % (key, stem, INTERFACE_PREFIX_MAX))
        return [flag, stem + '+']
    return [flag, interface_name(name)] if name else []


def render_matches(rule):
    words = []
    if rule.get('source'):
        words += ['-s', render_address(rule['source'])]
    if rule.get('destination'):
        words += ['-d', render_address(rule['destination'])]
    words += render_interface('-i', rule, 'in_interface')
    out = render_interface('-o', rule, 'out_interface')
    if rule.get('out_interface_negate'):
        if not out:
            raise RuleError('out_interface_negate needs out_interface or out_interface_prefix')
        out = ['!'] + out
    words += out
    if rule.get('protocol'):
        words += ['-p', rule['protocol']]
    if rule.get('destination_port') is not None:
        if rule.get('protocol') not in ('tcp', 'udp'):
            raise RuleError('destination_port needs protocol tcp or udp')
        words += ['-m', rule['protocol'], '--dport', str(rule['destination_port'])]
    if rule.get('match_set'):
        words += ['-m', 'set'] + (['!'] if rule.get('match_set_negate') else [])
        words += ['--match-set', set_name(rule['match_set']), rule.get('match_set_flags') or 'dst']
    conntrack = []
    if rule.get('ctstate'):
        states = [state.upper() for state in rule['ctstate']]
        unknown = [state for state in states if state not in CTSTATE_ORDER]
        if unknown:
            raise RuleError('unknown ctstate %s' % ', '.join(unknown))
        conntrack += ['--ctstate', ','.join(s for s in CTSTATE_ORDER if s in states)]
    if rule.get('ctdir'):
        conntrack += ['--ctdir', rule['ctdir']]
    if conntrack:
        words += ['-m', 'conntrack'] + conntrack
    for match, key in (('mark', 'match_mark'), ('connmark', 'match_connmark')):
        if rule.get(key) is not None:
            mask = rule.get(key.replace('mark', 'mask'), FULL_MASK)
            value = render_hex(rule[key])
            words += ['-m', match] + (['!'] if rule.get(key + '_negate') else [])
            words += ['--mark', value if mask == FULL_MASK else '%s/%s' % (value, render_hex(mask))]
    if rule.get('comment'):
        words += ['-m', 'comment', '--comment', render_comment(rule['comment'])]
    return words


def render_target(rule, family):
    action = rule['action']
    mask = rule.get('mask', FULL_MASK)
    if action == 'mark':
        if rule.get('mark') is None:
            raise RuleError('action mark needs mark')
        if rule['mark'] & ~mask:
            raise RuleError('mark %s has bits outside mask %s' % (render_hex(rule['mark']), render_hex(mask)))
        return ['-j', 'MARK', '--set-xmark', '%s/%s' % (render_hex(rule['mark']), render_hex(mask))]
    if action in ('connmark_save', 'connmark_restore'):
        verb = '--save-mark' if action == 'connmark_save' else '--restore-mark'
        return ['-j', 'CONNMARK', verb, '--nfmask', render_hex(mask), '--ctmask', render_hex(mask)]
    if action == 'reject':
        kind = 'icmp6-port-unreachable' if family == 'inet6' else 'icmp-port-unreachable'
        return ['-j', 'REJECT', '--reject-with', kind]
    if action == 'dnat':
        if not rule.get('to_destination'):
            raise RuleError('action dnat needs to_destination')
        return ['-j', 'DNAT', '--to-destination', render_to_destination(rule['to_destination'])]
    if action == 'redirect':
        if rule.get('to_ports') is None:
            raise RuleError('action redirect needs to_ports')
        return ['-j', 'REDIRECT', '--to-ports', str(rule['to_ports'])]
    if action in ('jump', 'goto'):
        if not rule.get('target'):
            raise RuleError('action %s needs target' % action)
        return ['-j' if action == 'jump' else '-g', chain_name(rule['target'])]
    return ['-j', action.upper()]


def render_rules(chain, rules, families):
    """{family: [rule line as iptables-save prints it]}; raises RuleError naming the rule."""
    rendered = dict((family, []) for family in families)
    for index, rule in enumerate(rules):
        try:
            safe_strings(rule, 'rule')
            for family in rule_families(rule, families):
                rendered[family].append(' '.join(['-A', chain] + render_matches(rule) + render_target(rule, family)))
        except (RuleError, ValueError) as error:
            label = repr(rule.get('comment') or 'rule %d' % (index + 1))
            raise RuleError('%s of chain %s: %s' % (label, chain, error))
    return rendered


def parse_save(text):
    """From `iptables-save -t TABLE`, read once for every chain asked: (declared chains, {chain: its rules},
    {(parent, chain): how many plain jumps from parent to chain})."""
    declared, rules, jumps = set(), {}, {}
    for line in text.splitlines():
        if line.startswith(':'):
            declared.add(line[1:].split(' ', 1)[0])
        elif line.startswith('-A '):
            words = line.split()
            rules.setdefault(words[1], []).append(line)
            if len(words) == 4 and words[2] == '-j':
                jumps[(words[1], words[3])] = jumps.get((words[1], words[3]), 0) + 1
    return declared, rules, jumps


def chain_state(parsed, chain, parents):
    """One chain of a parse_save result: whether it exists, its rules, and per parent how many jumps to it."""
    declared, rules, jumps = parsed
    return dict(exists=chain in declared, rules=rules.get(chain, []),
                jumps=dict((parent, jumps.get((parent, chain), 0)) for parent in parents))


def chain_lines(chain, current, wanted):
    """(create, remove): iptables-restore --noflush lines turning one chain's `current` into `wanted`
    (chain_state shapes, or None). A chain is declared and filled (or flushed) first, removed last, so that
    chains of one transaction may jump to each other."""
    if wanted is None:
        lines = ['-D %s -j %s' % (parent, chain) for parent, count in sorted(current['jumps'].items())
                 for _index in range(count)]
        if current['exists']:
            # Declaring the chain flushes it under --noflush; then it can be deleted.
            return [], lines + [':%s - [0:0]' % chain, '-X %s' % chain]
        return [], lines
    lines = [':%s - [0:0]' % chain] + wanted['rules']
    for parent, count in sorted(current['jumps'].items()):
        lines += ['-D %s -j %s' % (parent, chain)] * max(count - 1, 0)
        if count == 0:
            lines.append('-I %s 1 -j %s' % (parent, chain))
    return lines, []


def restore_input(table, changes):
    """The iptables-restore --noflush input of one table for [(chain, current, wanted)]: one transaction."""
    created, removed = [], []
    for chain, current, wanted in changes:
        create, remove = chain_lines(chain, current, wanted)
        created += create
        removed += remove
    # Flushes of removed chains come before any of them is deleted (one may jump to another).
    removed = [line for line in removed if not line.startswith('-X ')] + [line for line in removed if line.startswith('-X ')]
    return '\n'.join(['*%s' % table] + created + removed + ['COMMIT']) + '\n'


class MangleMark(StateModule):
    """State is {'TABLE CHAIN': {family: chain_state shape or None}} over the chains given."""

    def __init__(self, module):
        super(MangleMark, self).__init__(module)
        family = self.params['family']
        self.families = ['inet', 'inet6'] if family == 'both' else [family]
        self.specs = self.managed('chains', ('chain', 'table', 'jump_from', 'rules', 'state'))
        # Tables in the order their first chain is given: the caller orders what must come first.
        self.tables = ordered_unique(spec['table'] for spec in self.specs)

    def check(self):
        seen = set()
        for spec in self.specs:
            if spec['chain'] in BUILTIN_CHAINS or not CHAIN_NAME.fullmatch(spec['chain']):
                self.module.fail_json(msg='chain %r must be a non-built-in chain name of 1 to %d of A-Z a-z 0-9 _ -'
                                      % (spec['chain'], MAX_CHAIN_LENGTH))
            for parent in spec['jump_from']:
                if not CHAIN_NAME.fullmatch(parent):
                    self.module.fail_json(msg='jump_from %r must be a chain name of 1 to %d of A-Z a-z 0-9 _ -'
                                          % (parent, MAX_CHAIN_LENGTH))
            if (spec['table'], spec['chain']) in seen:
                self.module.fail_json(msg='chain %s of table %s is given twice' % (spec['chain'], spec['table']))
            seen.add((spec['table'], spec['chain']))

    @staticmethod
    def key(spec):
        return '%s %s' % (spec['table'], spec['chain'])

    def empty(self, spec):
        return dict(exists=False, rules=[], jumps=dict((parent, 0) for parent in spec['jump_from']))

    def read(self):
        state = dict((self.key(spec), {}) for spec in self.specs)
        for table in self.tables:
            for family in self.families:
                parsed = parse_save(self.cmd.run([SAVE_COMMANDS[family], '-t', table])[1])
                for spec in self.specs:
                    if spec['table'] == table:
                        chain = chain_state(parsed, spec['chain'], spec['jump_from'])
                        state[self.key(spec)][family] = chain if chain['exists'] else None
        return state

    def want(self, current):
        return dict((self.key(spec), self.want_chain(spec)) for spec in self.specs)

    def want_chain(self, spec):
        if spec['state'] == 'absent':
            return dict((family, None) for family in self.families)
        try:
            rendered = render_rules(spec['chain'], spec['rules'], self.families)
        except RuleError as error:
            self.module.fail_json(msg=str(error))
        jumps = dict((parent, 1) for parent in spec['jump_from'])
        return dict((family, dict(exists=True, rules=rendered[family], jumps=jumps)) for family in self.families)

    def restore_inputs(self, current, wanted):
        """{(table, family): restore input} for what differs, in the order of the chains given."""
        inputs = {}
        for table in self.tables:
            for family in self.families:
                changes = []
                for spec in self.specs:
                    key = self.key(spec)
                    if spec['table'] != table or current[key][family] == wanted[key][family]:
                        continue
                    before = current[key][family] or self.empty(spec)
                    if wanted[key][family] is None and not before['exists']:
                        continue
                    changes.append((spec['chain'], before, wanted[key][family]))
                if changes:
                    inputs[(table, family)] = restore_input(table, changes)
        return inputs

    def apply(self, current, wanted):
        for (table, family), text in self.restore_inputs(current, wanted).items():
            self.cmd.run([RESTORE_COMMANDS[family], '-w', '--noflush'], data=text)

    def boot(self, wanted):
        if not self.params['persist']:
            return False
        boot_state = BootState(self.module, 'iptables', self.cmd)
        # Every file is kept (a list, not a generator that any() would stop at the first change).
        changes = [boot_state.keep('%s.%s.%s.rules' % (spec['table'], spec['chain'], family),
                                   self.boot_lines(spec, wanted[self.key(spec)][family]))
                   for spec in self.specs for family in self.families]
        # The same chain's file under an earlier build's name would be restored too, with what it held then.
        changes += [boot_state.keep('%s.%s.%s.rules' % (spec['table'], spec['chain'], LEGACY_BOOT_FAMILIES[family]), None)
                    for spec in self.specs for family in self.families]
        return any(changes)

    @staticmethod
    def boot_lines(spec, wanted):
        if wanted is None:
            return None
        header = ['# Written by wgsplit.gateway.mangle_mark; restored by wgsplit-restore.service.']
        header += ['# jump: %s %s %s' % (spec['table'], parent, spec['chain']) for parent in spec['jump_from']]
        return header + ['*%s' % spec['table'], ':%s - [0:0]' % spec['chain']] + wanted['rules'] + ['COMMIT']

    def describe(self, state):
        described = dict((key, dict((family, 'absent' if value is None else value) for family, value in chain.items()))
                         for key, chain in state.items())
        return described[self.key(self.specs[0])] if self.params['chains'] is None else described

    def report(self, current, wanted):
        rules = dict((self.key(spec), dict((family, (wanted[self.key(spec)][family] or {}).get('rules', []))
                                           for family in self.families)) for spec in self.specs)
        inputs = self.restore_inputs(current, wanted)
        if self.params['chains'] is None:
            return dict(rules=rules[self.key(self.specs[0])],
                        restore_input=dict((family, text) for (table, family), text in inputs.items()))
        return dict(chains=rules, restore_input=dict(('%s %s' % key, text) for key, text in inputs.items()))


RULE_SPEC = dict(
    comment=dict(type='str'),
    family=dict(type='str', choices=['inet', 'inet6']),
    source=dict(type='str'),
    destination=dict(type='str'),
    in_interface=dict(type='str'),
    in_interface_prefix=dict(type='str'),
    out_interface=dict(type='str'),
    out_interface_prefix=dict(type='str'),
    out_interface_negate=dict(type='bool', default=False),
    protocol=dict(type='str', choices=['tcp', 'udp', 'icmp', 'ipv6-icmp']),
    destination_port=dict(type='int'),
    match_set=dict(type='str'),
    match_set_flags=dict(type='str', default='dst', choices=['dst', 'src', 'src,dst', 'dst,src']),
    match_set_negate=dict(type='bool', default=False),
    ctstate=dict(type='list', elements='str'),
    ctdir=dict(type='str', choices=['ORIGINAL', 'REPLY']),
    match_mark=dict(type='int'),
    match_mark_negate=dict(type='bool', default=False),
    match_connmark=dict(type='int'),
    match_connmask=dict(type='int', default=FULL_MASK),
    match_connmark_negate=dict(type='bool', default=False),
    match_mask=dict(type='int', default=FULL_MASK),
    action=dict(type='str', required=True, choices=['mark', 'connmark_save', 'connmark_restore', 'return', 'accept',
                                                    'drop', 'reject', 'masquerade', 'dnat', 'redirect', 'jump',
                                                    'goto']),
    mark=dict(type='int'),
    mask=dict(type='int', default=FULL_MASK),
    to_destination=dict(type='str'),
    to_ports=dict(type='int'),
    target=dict(type='str'),
)
CHAIN_SPEC = dict(
    chain=dict(type='str', required=True),
    table=dict(type='str', default='mangle', choices=TABLES),
    jump_from=dict(type='list', elements='str', default=['PREROUTING']),
    rules=dict(type='list', elements='dict', default=[], options=RULE_SPEC),
    state=dict(type='str', default='present', choices=['present', 'absent']),
)
# The module's arguments (AnsibleModule keywords), also checked by split_pending for each call it reads.
ARGUMENTS = dict(
    argument_spec=dict(
        CHAIN_SPEC,
        chain=dict(type='str'),
        chains=dict(type='list', elements='dict', options=CHAIN_SPEC),
        family=dict(type='str', default='inet', choices=['inet', 'inet6', 'both']),
        persist=dict(type='bool', default=True),
    ),
    mutually_exclusive=[('chain', 'chains')],
    required_one_of=[('chain', 'chains')],
)
