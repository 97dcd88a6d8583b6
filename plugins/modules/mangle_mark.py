#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: mangle_mark
short_description: Own iptables chains (marks, connmarks, NAT, filter) and their jumps, applied atomically
version_added: 0.1.0
description:
  - Makes the whole rule list of one chain that this module owns (or of each chain of I(chains)) exactly
    the list given, and makes sure each chain in I(jump_from) jumps to it exactly once (a missing jump is
    inserted as the first rule; one already there stays where it is).
  - Rules are structured data (source, destination set with negation, conntrack state, mark match,
    MARK with value and mask, CONNMARK save and restore with mask, NAT targets) rendered in the exact
    form C(iptables-save) prints, so comparing is exact and a second run changes nothing.
  - The change is one C(iptables-restore --noflush) transaction per table and family, touching only the
    owned chains and their jumps, however many chains are given. Rules, chains and marks of other software
    are never read into the change.
  - With I(persist=true) the chain is written to C(/etc/wgsplit/iptables/), which
    C(wgsplit-restore.service) loads at boot after the ipsets.
extends_documentation_fragment:
  - wgsplit.gateway.attributes
options:
  chain:
    description:
      - The chain this module owns (not a built-in chain), 1 to 28 of C(A-Z a-z 0-9 _ -).
      - One of I(chain) and I(chains) is required.
    type: str
  table:
    description: The table of the chain.
    type: str
    choices: [raw, mangle, nat, filter]
    default: mangle
  jump_from:
    description: Built-in (or other) chains that jump to I(chain) once (inserted first when missing).
    type: list
    elements: str
    default: [PREROUTING]
  family:
    description: Which of iptables and ip6tables to manage.
    type: str
    choices: [inet, inet6, both]
    default: inet
  rules:
    description:
      - The rules of the chain, in order. A rule whose addresses are of one family is put only in that
        family's table.
    type: list
    elements: dict
    default: []
    suboptions: &rule_options
      comment:
        description: A comment (letters, digits and C(_-.:/ ,=) only).
        type: str
      family:
        description: Put the rule only into this family's table. Inferred from the addresses when omitted.
        type: str
        choices: [inet, inet6]
      source:
        description: Source address or network.
        type: str
      destination:
        description: Destination address or network.
        type: str
      in_interface:
        description: Incoming interface.
        type: str
      out_interface:
        description: Outgoing interface.
        type: str
      protocol:
        description: Protocol.
        type: str
        choices: [tcp, udp, icmp, ipv6-icmp]
      destination_port:
        description: Destination port (needs I(protocol) C(tcp) or C(udp)).
        type: int
      match_set:
        description: Name of an ipset to match.
        type: str
      match_set_flags:
        description: Which address(es) of the packet to look up in I(match_set).
        type: str
        default: dst
        choices: [dst, src, 'src,dst', 'dst,src']
      match_set_negate:
        description: Match packets whose address is NOT in I(match_set).
        type: bool
        default: false
      ctstate:
        description: Conntrack states to match (for example C([NEW])).
        type: list
        elements: str
      ctdir:
        description: Match packets of this direction of their connection (C(REPLY) for replies).
        type: str
        choices: [ORIGINAL, REPLY]
      match_mark:
        description: Match packets whose mark, under I(match_mask), equals this value.
        type: int
      match_mask:
        description: Mask for I(match_mark).
        type: int
        default: 0xffffffff
      match_mark_negate:
        description: Match packets whose mark, under I(match_mask), does NOT equal I(match_mark).
        type: bool
        default: false
      match_connmark:
        description: Match packets whose connection's mark, under I(match_connmask), equals this value.
        type: int
      match_connmask:
        description: Mask for I(match_connmark).
        type: int
        default: 0xffffffff
      match_connmark_negate:
        description: Match packets whose connection's mark, under I(match_connmask), does NOT equal I(match_connmark).
        type: bool
        default: false
      action:
        description:
          - C(mark) sets I(mark) under I(mask) (C(MARK --set-xmark)).
          - C(connmark_save) copies the packet mark under I(mask) to the connection,
            C(connmark_restore) copies it back.
          - C(dnat) needs I(to_destination), C(redirect) needs I(to_ports), C(jump) and C(goto) need I(target)
            (after C(goto), the target chain returns to the chain that jumped here, not to this one).
        type: str
        required: true
        choices: [mark, connmark_save, connmark_restore, return, accept, drop, reject, masquerade, dnat, redirect, jump,
                  goto]
      mark:
        description: The mark value for C(action=mark); must lie within I(mask).
        type: int
      mask:
        description: The bits that C(mark), C(connmark_save) and C(connmark_restore) may change.
        type: int
        default: 0xffffffff
      to_destination:
        description: C(dnat) target address, with an optional C(:port).
        type: str
      to_ports:
        description: C(redirect) target port.
        type: int
      target:
        description: The chain C(jump) jumps to (or C(goto) goes to).
        type: str
  chains:
    description:
      - Many chains in one call, in the order they should be created (a chain before a chain that jumps to
        it); each takes the options I(chain), I(table), I(jump_from), I(rules) and I(state) of a single chain.
      - Chains of one table are changed in one transaction per family, so they may jump to each other.
      - With I(chains), the top-level I(chain), I(table), I(jump_from), I(rules) and I(state) are not used.
    type: list
    elements: dict
    suboptions:
      chain:
        description: The chain.
        type: str
        required: true
      table:
        description: Its table.
        type: str
        choices: [raw, mangle, nat, filter]
        default: mangle
      jump_from:
        description: Chains that jump to it once (inserted first when missing).
        type: list
        elements: str
        default: [PREROUTING]
      rules:
        description: Its rules, as I(rules).
        type: list
        elements: dict
        default: []
        suboptions: *rule_options
      state:
        description: C(absent) removes its jumps, then the chain.
        type: str
        choices: [present, absent]
        default: present
  state:
    description: C(absent) removes the jumps, then the chain.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description: Write the chain to C(/etc/wgsplit/iptables/) so that it is restored at boot.
    type: bool
    default: true
notes:
  - Requires C(iptables-save) and C(iptables-restore) (and their ip6tables twins for IPv6).
seealso:
  - module: wgsplit.gateway.ipset_set
  - module: wgsplit.gateway.policy_route
'''

EXAMPLES = r'''
- name: Classify new connections of one client, keep the mark on the connection
  wgsplit.gateway.mangle_mark:
    chain: WGSPLIT
    family: both
    rules:
      - comment: restore marks of established flows
        in_interface: wg0
        action: connmark_restore
        mask: 0xff0000
      - comment: alice proxy
        in_interface: wg0
        source: 10.8.0.2
        match_set: wgsplit-c1-p4
        ctstate: [NEW]
        action: mark
        mark: 0x10000
        mask: 0xff0000
      - in_interface: wg0
        ctstate: [NEW]
        action: connmark_save
        mask: 0xff0000

- name: Send clients' DNS to the gateway resolver
  wgsplit.gateway.mangle_mark:
    chain: WGSPLIT_DNS
    table: nat
    rules:
      - {in_interface: wg0, protocol: udp, destination_port: 53, action: redirect, to_ports: 53}
      - {in_interface: wg0, protocol: tcp, destination_port: 53, action: redirect, to_ports: 53}

- name: Remove the chain and its jump
  wgsplit.gateway.mangle_mark:
    chain: WGSPLIT
    family: both
    state: absent
'''

RETURN = r'''
rules:
  description: The chain's rules per family, as C(iptables-save) prints them.
  returned: always
  type: dict
  sample: {"inet": ["-A WGSPLIT -i wg0 -j CONNMARK --restore-mark --nfmask 0xff0000 --ctmask 0xff0000"]}
restore_input:
  description: The C(iptables-restore --noflush) input per family that the change applies (empty when none).
  returned: always
  type: dict
  sample: {"inet": "*mangle\n:WGSPLIT - [0:0]\n...\nCOMMIT\n"}
'''

from ansible.module_utils.basic import AnsibleModule
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


def render_matches(rule):
    words = []
    if rule.get('source'):
        words += ['-s', render_address(rule['source'])]
    if rule.get('destination'):
        words += ['-d', render_address(rule['destination'])]
    if rule.get('in_interface'):
        words += ['-i', interface_name(rule['in_interface'])]
    if rule.get('out_interface'):
        words += ['-o', interface_name(rule['out_interface'])]
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


def parse_save(text, chain, parents):
    """From `iptables-save -t TABLE`: whether `chain` exists, its rules, and per parent how many jumps to it."""
    exists = False
    rules = []
    jumps = dict((parent, 0) for parent in parents)
    prefix = '-A %s ' % chain
    for line in text.splitlines():
        if line.startswith(':%s ' % chain):
            exists = True
        elif line.startswith(prefix):
            rules.append(line)
        elif line.startswith('-A '):
            words = line.split()
            if words[1] in jumps and words[2:] == ['-j', chain]:
                jumps[words[1]] += 1
    return dict(exists=exists, rules=rules, jumps=jumps)


def chain_lines(chain, current, wanted):
    """(create, remove): iptables-restore --noflush lines turning one chain's `current` into `wanted`
    (parse_save shapes, or None). A chain is declared and filled (or flushed) first, removed last, so that
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
    """State is {'TABLE CHAIN': {family: parse_save shape or None}} over the chains given."""

    def __init__(self, module):
        super(MangleMark, self).__init__(module)
        family = self.params['family']
        self.families = ['inet', 'inet6'] if family == 'both' else [family]
        self.specs = self.managed('chains', ('chain', 'table', 'jump_from', 'rules', 'state'))
        # Tables in the order their first chain is given: the caller orders what must come first.
        self.tables = ordered_unique(spec['table'] for spec in self.specs)

    @staticmethod
    def key(spec):
        return '%s %s' % (spec['table'], spec['chain'])

    def empty(self, spec):
        return dict(exists=False, rules=[], jumps=dict((parent, 0) for parent in spec['jump_from']))

    def read(self):
        state = dict((self.key(spec), {}) for spec in self.specs)
        for table in self.tables:
            for family in self.families:
                out = self.cmd.run([SAVE_COMMANDS[family], '-t', table])[1]
                for spec in self.specs:
                    if spec['table'] == table:
                        parsed = parse_save(out, spec['chain'], spec['jump_from'])
                        state[self.key(spec)][family] = parsed if parsed['exists'] else None
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


def main():
    rule_spec = dict(
        comment=dict(type='str'),
        family=dict(type='str', choices=['inet', 'inet6']),
        source=dict(type='str'),
        destination=dict(type='str'),
        in_interface=dict(type='str'),
        out_interface=dict(type='str'),
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
    chain_spec = dict(
        chain=dict(type='str', required=True),
        table=dict(type='str', default='mangle', choices=TABLES),
        jump_from=dict(type='list', elements='str', default=['PREROUTING']),
        rules=dict(type='list', elements='dict', default=[], options=rule_spec),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    module = AnsibleModule(
        argument_spec=dict(
            chain=dict(type='str'),
            table=dict(type='str', default='mangle', choices=TABLES),
            jump_from=dict(type='list', elements='str', default=['PREROUTING']),
            rules=dict(type='list', elements='dict', default=[], options=rule_spec),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            chains=dict(type='list', elements='dict', options=chain_spec),
            family=dict(type='str', default='inet', choices=['inet', 'inet6', 'both']),
            persist=dict(type='bool', default=True),
        ),
        mutually_exclusive=[('chain', 'chains')],
        required_one_of=[('chain', 'chains')],
        supports_check_mode=True,
    )
    specs = module.params['chains'] or [module.params]
    seen = set()
    for spec in specs:
        if spec['chain'] in BUILTIN_CHAINS or not CHAIN_NAME.fullmatch(spec['chain']):
            module.fail_json(msg='chain %r must be a non-built-in chain name of 1 to %d of A-Z a-z 0-9 _ -'
                             % (spec['chain'], MAX_CHAIN_LENGTH))
        for parent in spec['jump_from']:
            if not CHAIN_NAME.fullmatch(parent):
                module.fail_json(msg='jump_from %r must be a chain name of 1 to %d of A-Z a-z 0-9 _ -'
                                 % (parent, MAX_CHAIN_LENGTH))
        if (spec['table'], spec['chain']) in seen:
            module.fail_json(msg='chain %s of table %s is given twice' % (spec['chain'], spec['table']))
        seen.add((spec['table'], spec['chain']))
    MangleMark(module).run()


if __name__ == '__main__':
    main()
