# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Routing tables the collection owns and the rules that look them up (module policy_route, split_pending)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import address, interface_name, safe_strings
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    ROUTE_PROTOCOL, BootState, StateModule, kernel_prefix, list_delta, ordered_unique, owned_table)

FULL_MASK = 0xffffffff
KNOWN_RULE_KEYS = frozenset(('priority', 'not', 'src', 'srclen', 'dst', 'dstlen', 'fwmark', 'fwmask', 'iif',
                             'iif_detached', 'oif', 'oif_detached', 'table', 'protocol', 'flags'))
DEFAULT_METRIC = {'inet': 0, 'inet6': 1024}
FAMILY_FLAG = {'inet': '-4', 'inet6': '-6'}


def render_prefix(value, family):
    """A network as `ip` prints it: 'default', a bare host address or address/len."""
    if value in (None, 'default', 'all'):
        return value
    network, text = kernel_prefix(value)
    if network.version != (6 if family == 'inet6' else 4):
        raise ValueError('%s is not an %s address' % (value, 'IPv6' if family == 'inet6' else 'IPv4'))
    return text


def render_rule(rule, family, table, protocol):
    """`ip rule` arguments (after add/del) for a rule spec; also the rule's identity."""
    words = ['priority', str(rule['priority'])] + (['not'] if rule.get('invert') else [])
    source = render_prefix(rule.get('from') or 'all', family)
    words += ['from', 'all' if source == 'default' else source]
    if rule.get('to'):
        words += ['to', render_prefix(rule['to'], family)]
    if rule.get('fwmark') is not None:
        mask = rule.get('fwmask', FULL_MASK)
        words += ['fwmark', '0x%x' % rule['fwmark'] + ('' if mask == FULL_MASK else '/0x%x' % mask)]
    for key in ('iif', 'oif'):
        if rule.get(key):
            words += [key, interface_name(rule[key])]
    words += ['lookup', str(table), 'protocol', str(protocol)]
    return ' '.join(words)


def rule_from_json(entry):
    """A rule of `ip -N -j rule show` in the spec shape render_rule takes."""
    unknown = sorted(set(entry) - KNOWN_RULE_KEYS)
    if unknown:
        raise ValueError('a rule with priority %s looks up this table with options this module does not manage'
                         ' (%s); delete it by hand' % (entry.get('priority'), ', '.join(unknown)))
    rule = dict(priority=entry['priority'], iif=entry.get('iif'), oif=entry.get('oif'), invert='not' in entry)
    if entry.get('src', 'all') != 'all':
        rule['from'] = '%s/%s' % (entry['src'], entry.get('srclen', 128 if ':' in entry['src'] else 32))
    if entry.get('dst'):
        rule['to'] = '%s/%s' % (entry['dst'], entry.get('dstlen', 128 if ':' in entry['dst'] else 32))
    if 'fwmark' in entry:
        rule['fwmark'] = int(entry['fwmark'], 16)
        rule['fwmask'] = int(entry.get('fwmask', '0xffffffff'), 16)
    return rule


def render_route(route, family):
    """`ip route` arguments (before `table N proto P`) for a route spec; also the route's identity."""
    kind = route.get('type') or 'unicast'
    words = [] if kind == 'unicast' else [kind]
    words.append(render_prefix(route.get('to') or 'default', family))
    if kind == 'unicast':
        if route.get('via'):
            words += ['via', address(route['via'])]
        if route.get('dev'):
            words += ['dev', interface_name(route['dev'])]
    metric = route.get('metric')
    if metric is not None and metric != DEFAULT_METRIC[family]:
        words += ['metric', str(metric)]
    return ' '.join(words)


def route_from_json(entry):
    """A route of `ip -j route show table N` in the spec shape render_route takes."""
    return {'type': entry.get('type', 'unicast'), 'to': entry['dst'], 'via': entry.get('gateway'),
            'dev': entry.get('dev'), 'metric': entry.get('metric', 0)}


def route_key(rendered):
    """What the kernel keys a route by within a table: destination and metric (replace swaps the rest)."""
    words = rendered.split()
    if words[0] in ('unreachable', 'blackhole', 'prohibit', 'throw'):
        words = words[1:]
    metric = words[words.index('metric') + 1] if 'metric' in words else '0'
    return (words[0], metric)


def batch_lines(table, protocol, current, wanted):
    """`ip -batch` lines: add first, delete after, so lookups never fall through."""
    new_rules, old_rules = list_delta(current['rules'], wanted['rules'])
    new_routes, old_routes = list_delta(current['routes'], wanted['routes'])
    replaced = set(route_key(route) for route in new_routes) & set(route_key(route) for route in old_routes)
    lines = ['rule add %s' % rule for rule in new_rules]
    # `replace` only swaps a route of ours in place; a new one is added, so that a route of other software
    # with the same destination and metric makes the change fail instead of being overwritten.
    lines += ['route %s %s table %d proto %d' % ('replace' if route_key(route) in replaced else 'add', route, table,
                                                 protocol) for route in new_routes]
    lines += ['route del %s table %d proto %d' % (route, table, protocol) for route in old_routes
              if route_key(route) not in replaced]
    lines += ['rule del %s' % rule for rule in old_rules]
    return lines


def added_lines(spec, protocol):
    """`ip -batch` lines that add a table spec's rules and routes: its boot file (and what the data-path benchmark loads)."""
    rules = [render_rule(rule, spec['family'], spec['table'], protocol) for rule in spec['rules']]
    routes = [render_route(route, spec['family']) for route in spec['routes']]
    return (['rule add %s' % rule for rule in rules] +
            ['route add %s table %d proto %d' % (route, spec['table'], protocol) for route in routes])


def canonical(rules, routes):
    """Rules and routes without duplicates in a stable order, so equal states compare equal."""
    return dict(rules=sorted(set(rules), key=lambda rule: (int(rule.split()[1]), rule)),
                routes=sorted(set(routes)))


class PolicyRoute(StateModule):
    """State is {'TABLE FAMILY': canonical rules and routes} over the tables given."""

    def __init__(self, module):
        super(PolicyRoute, self).__init__(module)
        self.protocol = self.params['protocol']
        self.specs = self.managed('tables', ('table', 'family', 'rules', 'routes', 'state', 'exclusive_rules',
                                             'exclusive_routes'))
        for spec in self.specs:
            for key in ('exclusive_rules', 'exclusive_routes'):
                spec.setdefault(key, True)
        self.families = ordered_unique(spec['family'] for spec in self.specs)

    def check(self):
        seen = set()
        for spec in self.specs:
            if not owned_table(spec['table']):
                self.module.fail_json(msg='table %d is reserved (local, main, default) or out of range; use 1..252 or'
                                          ' 256..4294967295' % spec['table'])
            if (spec['table'], spec['family']) in seen:
                self.module.fail_json(msg='table %d (%s) is given twice' % (spec['table'], spec['family']))
            seen.add((spec['table'], spec['family']))
        if not 4 <= self.protocol <= 255:
            self.module.fail_json(msg='protocol %d must be from 4 to 255 (0-3 belong to the kernel)' % self.protocol)

    @staticmethod
    def key(spec):
        return '%d %s' % (spec['table'], spec['family'])

    def read(self):
        state = {}
        for family in self.families:
            flag = FAMILY_FLAG[family]
            entries = self.cmd.json(['ip', flag, '-N', '-j', 'rule', 'show'])
            for spec in self.specs:
                if spec['family'] == family:
                    state[self.key(spec)] = self.read_table(spec, entries)
        return state

    def read_table(self, spec, rule_entries):
        table, family = spec['table'], spec['family']
        try:
            rules = [render_rule(rule_from_json(entry), family, table, self.protocol) for entry in rule_entries
                     if entry.get('table') == str(table) and entry.get('protocol') == str(self.protocol)]
        except ValueError as error:
            self.module.fail_json(msg='table %d (%s): %s' % (table, family, error))
        routes = [render_route(route_from_json(entry), family)
                  for entry in self.cmd.json(['ip', FAMILY_FLAG[family], '-j', 'route', 'show', 'table', str(table),
                                              'proto', str(self.protocol)], missing='table does not exist')]
        return canonical(rules, routes)

    def rendered(self, spec):
        """(rules, routes) of a spec as `ip` takes them; fails the module naming the table on a bad value."""
        try:
            safe_strings(spec['rules'], 'rules')
            safe_strings(spec['routes'], 'routes')
            return ([render_rule(rule, spec['family'], spec['table'], self.protocol) for rule in spec['rules']],
                    [render_route(route, spec['family']) for route in spec['routes']])
        except ValueError as error:
            self.module.fail_json(msg='table %d (%s): %s' % (spec['table'], spec['family'], error))

    def want(self, current):
        return dict((self.key(spec), self.want_table(spec, current[self.key(spec)])) for spec in self.specs)

    def want_table(self, spec, current):
        rules, routes = self.rendered(spec)
        if spec['state'] == 'absent':
            return canonical([] if spec['exclusive_rules'] else set(current['rules']) - set(rules),
                             [] if spec['exclusive_routes'] else set(current['routes']) - set(routes))
        if not spec['exclusive_rules']:
            rules += current['rules']
        if not spec['exclusive_routes']:
            routes += current['routes']
        return canonical(rules, routes)

    def batches(self, current, wanted):
        """{family: ip -batch lines} for what differs: every table of a family in one batch."""
        batches = {}
        for spec in self.specs:
            key = self.key(spec)
            batches.setdefault(spec['family'], []).extend(batch_lines(spec['table'], self.protocol, current[key],
                                                                      wanted[key]))
        return batches

    def apply(self, current, wanted):
        for family, lines in self.batches(current, wanted).items():
            if lines:
                self.cmd.run(['ip', FAMILY_FLAG[family], '-batch', '-'], data='\n'.join(lines) + '\n')

    def boot(self, wanted):
        if not self.params['persist']:
            return False
        boot_state = BootState(self.module, 'route', self.cmd)
        # Every file is kept (a list, not a generator that any() would stop at the first change).
        changes = [boot_state.keep('table-%d.%s.batch' % (spec['table'], spec['family']), self.boot_lines(spec))
                   for spec in self.specs]
        return any(changes)

    def boot_lines(self, spec):
        """Only what this module was asked for is persisted, not routes that others add to the table."""
        if spec['state'] != 'present':
            return None
        return added_lines(spec, self.protocol)  # its values checked by want (rendered)

    def report(self, current, wanted):
        batches = self.batches(current, wanted)
        if self.params['tables'] is None:
            key = self.key(self.specs[0])
            return dict(rules=wanted[key]['rules'], routes=wanted[key]['routes'], batch=batches[self.specs[0]['family']])
        return dict(tables=wanted, batch=batches)

    def describe(self, state):
        return state[self.key(self.specs[0])] if self.params['tables'] is None else state


RULE_SPEC = dict(
    priority=dict(type='int', required=True),
    fwmark=dict(type='int'),
    fwmask=dict(type='int', default=FULL_MASK),
    to=dict(type='str'),
    iif=dict(type='str'),
    oif=dict(type='str'),
    invert=dict(type='bool', default=False),
    **{'from': dict(type='str', default='all')}
)
ROUTE_SPEC = dict(
    to=dict(type='str', default='default'),
    type=dict(type='str', default='unicast', choices=['unicast', 'unreachable', 'blackhole', 'prohibit', 'throw']),
    dev=dict(type='str'),
    via=dict(type='str'),
    metric=dict(type='int'),
)
TABLE_SPEC = dict(
    table=dict(type='int', required=True),
    family=dict(type='str', default='inet', choices=['inet', 'inet6']),
    rules=dict(type='list', elements='dict', default=[], options=RULE_SPEC),
    routes=dict(type='list', elements='dict', default=[], options=ROUTE_SPEC),
    state=dict(type='str', default='present', choices=['present', 'absent']),
)
# The module's arguments (AnsibleModule keywords), also checked by split_pending for each call it reads.
ARGUMENTS = dict(
    argument_spec=dict(
        TABLE_SPEC,
        table=dict(type='int'),
        protocol=dict(type='int', default=ROUTE_PROTOCOL),
        tables=dict(type='list', elements='dict', options=TABLE_SPEC),
        exclusive_rules=dict(type='bool', default=True),
        exclusive_routes=dict(type='bool', default=True),
        persist=dict(type='bool', default=True),
    ),
    mutually_exclusive=[('table', 'tables')],
    required_one_of=[('table', 'tables')],
)
