# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own nftables table (module nft_table, split_pending): replaced as a whole in one `nft -f`
transaction, but for the sets the resolver fills (`sets`), which keep their elements while their declaration holds.

The table is the collection's by its comment (TABLE_MARKER). Its definition is what the caller gives; the kernel's
terse listing right after the change is kept beside the boot file, so a later reading that differs from it (a rule
deleted by someone else, the table gone) is drift the next run repairs, whatever nft prints for what it was given.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import Invalid, interface_name, safe_strings
from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import nft_elements
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import (
    BootState, StateModule, forget_learned, learned_lock, learned_saved, list_delta, read_text)

TABLE_NAME = re.compile(r'[a-z][a-z0-9_-]{0,31}')
SET_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_-]{0,63}')
# The sets' element types: an address, or an address and an interface name (accounting: the path a packet takes).
SET_TYPES = ('ipv4_addr', 'ipv6_addr', 'ipv4_addr . ifname', 'ipv6_addr . ifname')
TABLE_MARKER = 'wgsplit.gateway'
MAX_SET_SIZE = 2 ** 31 - 1
COLLECTION_TABLE = 'wgsplit'  # the table the plan fills (plugin_utils/nft_ruleset.py), which split_info reads
BOOT_HEADER = '# Written by wgsplit.gateway.nft_table: loaded at boot by wgsplit-restore.service. Do not edit.'
# A definition is the inside of `table inet NAME { ... }`: what could reach out of it is refused (a brace that
# closes the table, an include, a variable), and quoted strings hold names only.
# A quoted name; a trailing * is nft's wildcard (interface names that start with the rest).
QUOTED = re.compile(r'"(?:[A-Za-z0-9_.=+:/ -]*|[A-Za-z0-9_.=+:/ -]+\*)"')
FORBIDDEN_WORDS = re.compile(r'\b(include|define|redefine|undefine)\b|\$')
DRIFTED = '(the kernel differs from what the collection applied)'
# Every set is declared with the timeout flag (no element is given a timeout): the kernel then stores it in its
# resizable hash. With a size alone it picks a fixed hash whose buckets for that size are allocated at once, about
# 2 MiB per set of 65,536: 4 GB and seconds of page clearing for the 2,000 sets of 1,000 dual-stack clients. Its
# walk for expired elements, which none is, runs once a day instead of every second (2,000 walks a second).
RESIZABLE = ('flags timeout', 'gc-interval 1d')


def check_definition(lines):
    """Raise Invalid naming the first line that could act outside the table or that nft could misread."""
    depth = 0
    for number, line in enumerate(lines, 1):
        safe_strings(line, 'definition line %d' % number)
        bare = QUOTED.sub(' ', line)  # a space: `include"x"` must still read as the word include
        if '"' in bare or '#' in bare:
            raise Invalid('definition line %d: only names go in quotes, and no comment: %s' % (number, line))
        if FORBIDDEN_WORDS.search(bare):
            raise Invalid('definition line %d: include, define and variables are not allowed: %s' % (number, line))
        for char in bare:
            depth += {'{': 1, '}': -1}.get(char, 0)
            if depth < 0:
                raise Invalid('definition line %d closes the table: %s' % (number, line))
    if depth:
        raise Invalid('the definition leaves %d brace(s) open' % depth)


def defined_sets(lines):
    """The names of the sets a (checked) definition declares at its top level: made again with its chains in each
    transaction, their elements those it gives (a rule list's networks), not state kept between runs."""
    names, depth = [], 0
    for line in lines:
        words = line.split()
        if depth == 0 and len(words) >= 2 and words[0] == 'set':
            names.append(words[1].strip('"'))
        bare = QUOTED.sub(' ', line)  # braces count outside quotes only, as check_definition counts them
        depth += bare.count('{') - bare.count('}')
    return names


def set_declaration(item, elements=False):
    """A set as the table holds it; with `elements`, the elements the caller gives too (the boot file)."""
    given = ' elements = { %s };' % ', '.join(item['elements']) if elements and item['elements'] else ''
    counter = ' counter;' if item['counter'] else ''
    storage = '; '.join(RESIZABLE)
    return 'set %s { type %s; size %d; %s;%s%s }' % (item['name'], item['type'], item['size'], storage, counter, given)


def declaration(item):
    """What makes a set the same set (else it is deleted and made again, its elements lost)."""
    return (item['type'], item['size'], item['counter'], True)


def element_text(address, interface=None):
    """An element as nft writes it: an address, or an address and an interface name in quotes."""
    return address if interface is None else '%s . "%s"' % (address, interface)


def canonical_element(value, set_type):
    """An element as this module compares it: the address as Python prints it, an interface name quoted; raises
    Invalid with the reason."""
    parts = [part.strip() for part in value.split(' . ')]
    if len(parts) != len(set_type.split(' . ')):
        raise Invalid('%r is not an element of type %s' % (value, set_type))
    try:
        address = ipaddress.ip_address(parts[0])
    except ValueError:
        raise Invalid('%r: %r is not an address' % (value, parts[0]))
    if address.version != (4 if set_type.startswith('ipv4') else 6):
        raise Invalid('%r is not an element of type %s' % (value, set_type))
    if len(parts) == 1:
        return str(address)
    interface = parts[1][1:-1] if len(parts[1]) > 1 and parts[1][0] == parts[1][-1] == '"' else parts[1]
    return element_text(str(address), interface_name(interface))


def listed_elements(text, names=None):
    """{set name: its elements, as canonical_element gives them} of `nft -j list` output (a set, or a table), of the
    sets `names` only when given (other sets of a table may hold elements of kinds these sets never hold)."""
    return dict((item['set']['name'], [element_text(str(ipaddress.ip_address(address)), interface)
                                       for address, interface, _counted in nft_elements(item['set'])])
                for item in json.loads(text).get('nftables', [])
                if 'set' in item and (names is None or item['set']['name'] in names))


def set_elements(text):
    """The elements of `nft -j list set` output, as canonical_element gives them."""
    return [element for elements in listed_elements(text).values() for element in elements]


def listed_objects(listing):
    """{kind: {name: declaration lines}} of a terse listing's chains, sets and maps (first level of the table)."""
    found = dict(chain={}, set={}, map={})
    current = None
    for line in (listing or '').splitlines():
        words = line.split()
        if line.startswith('\t') and not line.startswith('\t\t') and len(words) >= 2 and words[0] in found:
            current = found[words[0]].setdefault(words[1], [])
        elif line.startswith('\t\t') and current is not None:
            current.append(line.strip())
        elif line.startswith('\t}'):
            current = None
    return found


def terse_listing(run, table):
    """(rc, stderr, the kernel's terse listing of table inet `table`, or None when it has none), with `run` a
    CommandRunner's. Cut from `nft -t list ruleset inet` (other software's ip and ip6 tables, iptables-nft's, left
    out), which reads no set element: nft 1.0.6 reads every element of the table for `nft -t list table` (250
    clients sharing lists of 300,000 networks: 3.1 s, the ruleset 0.02 s)."""
    rc, out, err = run(['nft', '-t', 'list', 'ruleset', 'inet'], check=False)
    lines = out.split('\n') if rc == 0 else []
    try:
        start = lines.index('table inet %s {' % table)
    except ValueError:
        return rc, err, None
    try:
        end = lines.index('}', start)  # the table's own closing brace: the lines inside are indented
    except ValueError:
        return 1, 'the listing of table inet %s ends before its closing brace' % table, None
    return rc, err, '\n'.join(lines[start:end + 1]) + '\n'


def table_owned(listing):
    """Whether a terse listing is of a table with the collection's comment, among the lines before its first set or
    chain (a flag such as dormant comes first: the table is still the collection's, and drifted)."""
    for line in (listing or '').splitlines()[1:]:
        if line == '\tcomment "%s"' % TABLE_MARKER:
            return True
        if not line.startswith('\t') or line.startswith(('\tset ', '\tmap ', '\tchain ')):
            return False
    return False


def normalized_listing(listing):
    """A terse listing with the table's sets, maps and chains in order of kind and name: the kernel lists them in the
    order they were made, which a run that keeps some sets and adds others changes against a boot that makes all."""
    if listing is None:
        return None
    header, blocks, current = [], [], None
    for line in listing.splitlines():
        if line.startswith(('\tset ', '\tmap ', '\tchain ')):
            current = [line]
            blocks.append(current)
        elif current is not None and line != '}':
            current.append(line)
        elif current is None:
            header.append(line)
    blocks = [[line for line in block if line] for block in blocks]
    return '\n'.join(header + ['\n'.join(block) for block in sorted(blocks, key=lambda block: block[0].split()[:2])]
                     + ['}']) + '\n'


def listed_set(lines):
    """(type, size, counter, resizable) of a set's listed declaration lines, as `declaration` gives them."""
    values = dict(line.split(None, 1) for line in lines if ' ' in line)
    size = values.get('size')
    return (values.get('type'), int(size) if size and size.isdigit() else None, 'counter' in lines,
            all(line in lines for line in RESIZABLE))


def interval_set(lines):
    """Whether a set's listed declaration lines flag it interval (a rule list's networks: neither filled nor counted)."""
    return any(line.startswith('flags ') and 'interval' in [flag.strip() for flag in line[6:].split(',')] for line in lines)


def carried_sets(sets, listed, flush):
    """The resolver's sets (no elements given) made again with the same type (another size, an earlier build's
    declaration) whose elements go into the new set in the same transaction: what the resolver learned stays, as
    its cached answers do. Not those to flush (their domains changed)."""
    return sorted(item['name'] for item in sets if item['elements'] is None and item['name'] in listed
                  and item['name'] not in (flush or []) and listed[item['name']] != declaration(item)
                  and listed[item['name']][::2] == declaration(item)[::2])  # type and counter


def boot_text(table, sets, definition):
    """The boot file: the table replaced as a whole (a restore run twice does not add its rules twice)."""
    return '\n'.join([BOOT_HEADER,
                      'add table inet %s' % table,
                      'delete table inet %s' % table,
                      'table inet %s {' % table,
                      '\tcomment "%s"' % TABLE_MARKER]
                     + ['\t' + set_declaration(item, elements=True) for item in sets]
                     + ['\t' + line for line in definition] + ['}', ''])


def fallback_text(table, fallback):
    """What the boot restore loads when the boot file is missing or fails: the caller's refusing definition."""
    return boot_text(table, [], fallback)


class NftTable(StateModule):
    """State: {'present', 'owned', 'applied' (the definition the kernel holds as applied, or DRIFTED), 'sets'
    ({name: (type, size)} of the resolver's sets), 'filled' (the sets to flush that hold elements)}."""

    def __init__(self, module):
        super(NftTable, self).__init__(module)
        self.table = self.params['table']
        self.boot_state = BootState(module, 'nftables', self.cmd)
        self.listing = None
        self.applied = None  # the transaction applied, as reported (carried addresses counted, not listed)
        self.carried = {}  # {set name: elements} read for carried_sets, those that fit the set made again
        self.defined = []  # the sets the definition declares (defined_sets)

    def check(self):
        params = self.params
        if not TABLE_NAME.fullmatch(self.table or ''):
            self.module.fail_json(msg='table %r must be 1 to 32 of a-z 0-9 _ -, starting with a letter' % self.table)
        names = [item['name'] for item in params['sets'] or []]
        for name in names + list(params['flush'] or []):
            if not SET_NAME.fullmatch(name or ''):
                self.module.fail_json(msg='set name %r must be 1 to 64 of A-Z a-z 0-9 _ -, not starting with a digit' % name)
        repeated = sorted(set(name for name in names if names.count(name) > 1))
        if repeated:
            self.module.fail_json(msg='sets names %s more than once' % ', '.join(repeated))
        for item in params['sets'] or []:
            if not 1 <= item['size'] <= MAX_SET_SIZE:
                self.module.fail_json(msg='set %s: size %d must be from 1 to %d' % (item['name'], item['size'], MAX_SET_SIZE))
        unknown = sorted(set(params['flush'] or []) - set(names)) if params['definition'] is not None else []
        if unknown:
            self.module.fail_json(msg='flush names sets that are not in sets: %s' % ', '.join(unknown))
        for option in ('definition', 'fallback'):
            try:
                check_definition(params[option] or [])
            except Invalid as error:
                self.module.fail_json(msg='%s: %s' % (option, error))
        self.defined = defined_sets(params['definition'] or [])
        twice = sorted(set(self.defined) & set(names))
        if twice:
            self.module.fail_json(msg='sets declared both in sets and in the definition: %s' % ', '.join(twice))
        for item in params['sets'] or []:
            if item['elements'] is not None:
                try:
                    item['elements'] = sorted(set(canonical_element(value, item['type']) for value in item['elements']))
                except Invalid as error:
                    self.module.fail_json(msg='set %s: %s' % (item['name'], error))

    def path(self, suffix):
        return self.boot_state.path(self.table + suffix)

    def read_listing(self):
        rc, err, listing = terse_listing(self.cmd.run, self.table)
        if rc != 0:
            self.module.fail_json(msg='nft list ruleset failed: %s' % err.strip())
        return None if listing is None else normalized_listing(listing)

    def filled(self, names):
        """The sets of `names` (sets of the table) that hold elements, or whose learned addresses are saved (emptied by
        hand, the timer's save would fill them again)."""
        return sorted(name for name in names if learned_saved(name) or self.elements(name))

    def read(self):
        self.listing = self.read_listing()
        if self.listing is None:
            return dict(present=False)
        owned = table_owned(self.listing)
        objects = listed_objects(self.listing)
        in_step = read_text(self.path('.listing')) == self.listing
        managed = [item['name'] for item in self.params['sets'] if item['elements'] is not None and item['name'] in objects['set']]
        # The definition's own sets are its part of the listing (drift: the listing kept beside the boot file).
        sets = dict((name, listed_set(lines)) for name, lines in objects['set'].items() if name not in self.defined)
        carried = carried_sets(self.params['sets'], sets, self.params['flush']) if self.params['definition'] is not None else []
        # One listing of the table for them all (an upgrade makes every set again: one call, not one per set).
        listed = listed_elements(self.cmd.run(['nft', '-j', 'list', 'table', 'inet', self.table])[1], carried) if carried else {}
        self.carried = self.fitting(dict((name, sorted(set(listed.get(name, [])))) for name in carried))
        return dict(present=True, owned=owned,
                    applied=(read_text(self.path('.nft')) if in_step else DRIFTED),
                    sets=sets,
                    elements=dict((name, self.elements(name)) for name in managed),
                    filled=self.filled(sorted(set(self.params['flush'] or []) & set(objects['set']))))

    def fitting(self, carried):
        """The carried sets whose learned addresses fit the size of the set made again (a warning for the others:
        they start empty, as after a change of their domains)."""
        sizes = dict((item['name'], item['size']) for item in self.params['sets'])
        for name, elements in sorted(carried.items()):
            if len(elements) > sizes[name]:
                self.module.warn('set %s: the %d addresses the resolver learned do not fit its new size %d; it starts'
                                 ' empty and refills as clients resolve again' % (name, len(elements), sizes[name]))
        return dict((name, elements) for name, elements in carried.items() if elements and len(elements) <= sizes[name])

    def elements(self, name):
        return sorted(set_elements(self.cmd.run(['nft', '-j', 'list', 'set', 'inet', self.table, name])[1]))

    def want(self, current):
        params = self.params
        if current['present'] and not current['owned']:
            self.module.fail_json(msg='table inet %s exists and was not made by the collection (no comment "%s");'
                                      ' rename it or choose another table' % (self.table, TABLE_MARKER))
        if params['state'] == 'absent':
            return dict(present=False)
        if params['definition'] is None:  # only flush the resolver's sets named
            return dict(current, filled=[]) if current['present'] else current
        return dict(present=True, owned=True, applied=boot_text(self.table, params['sets'], params['definition']),
                    sets=dict((item['name'], declaration(item)) for item in params['sets']),
                    elements=dict((item['name'], item['elements']) for item in params['sets'] if item['elements'] is not None),
                    filled=[])

    def transaction(self, current, wanted, shown=False):
        """The `nft -f` input: every chain, map and set of the table replaced, but the resolver's sets whose
        declaration holds (their elements stay), and the sets to flush emptied. Shown (the result): the addresses
        carried into a set made again are counted in a comment, not listed (they tell which sites clients visit,
        and an upgrade carries every set's)."""
        table = 'inet %s' % self.table
        if not wanted['present']:
            return 'delete table %s\n' % table
        lines = []
        if self.params['definition'] is not None:
            objects = listed_objects(self.listing) if current['present'] else dict(chain={}, set={}, map={})
            lines.append('table %s { comment "%s"; }' % (table, TABLE_MARKER) if not current['present'] else
                         'add table %s' % table)
            lines += ['flush chain %s %s' % (table, name) for name in objects['chain']]
            lines += ['delete map %s %s' % (table, name) for name in objects['map']]
            lines += ['delete chain %s %s' % (table, name) for name in objects['chain']]
            lines += ['delete set %s %s' % (table, name) for name in objects['set']
                      if name in self.defined or current['sets'].get(name) != wanted['sets'].get(name)]
            lines += ['table %s {' % table] + ['\t' + set_declaration(item) for item in self.params['sets']]
            lines += ['\t' + line for line in self.params['definition']] + ['}']
            for name, elements in sorted(wanted['elements'].items()):
                kept = current.get('sets', {}).get(name) == wanted['sets'][name]
                have = current.get('elements', {}).get(name, []) if kept else []
                missing, extra = list_delta(have, elements)
                lines += ['delete element %s %s { %s }' % (table, name, ', '.join(extra))] if extra else []
                lines += ['add element %s %s { %s }' % (table, name, ', '.join(missing))] if missing else []
            lines += [('# %s: %d addresses the resolver learned, kept' % (name, len(elements))) if shown else
                      'add element %s %s { %s }' % (table, name, ', '.join(elements))
                      for name, elements in sorted(self.carried.items())]
        lines += ['flush set %s %s' % (table, name) for name in current.get('filled', [])]
        return '\n'.join(lines) + '\n'

    def apply(self, current, wanted):
        # What the resolver learned into a set emptied or dropped here goes with it: the boot restore must not
        # put it back (the restore script's save takes the same lock). A set made again keeps its elements
        # (carried) but its save goes too: it declares the set as it was, against the boot file's declaration (the
        # timer saves the new one within minutes).
        gone = set(current.get('filled', []))
        gone.update(name for name, declaration in current.get('sets', {}).items()
                    if declaration != wanted.get('sets', {}).get(name))
        self.applied = self.transaction(current, wanted, shown=True)
        with learned_lock():
            self.cmd.run(['nft', '-f', '-'], data=self.transaction(current, wanted))
            for name in sorted(gone):
                forget_learned(name)

    def reached(self, state, wanted):
        if not wanted['present'] or self.params['definition'] is None:
            return state['present'] == wanted['present'] and not state.get('filled')
        return state['present'] and state['owned'] and not state['filled']

    def boot(self, wanted):
        """Boot file, its fallback, and the names of the sets the resolver fills (saved by the restore script)."""
        if self.params['state'] == 'absent':
            changed = False
            for suffix in ('.nft', '.fallback', '.learned', '.listing'):
                changed = self.boot_state.remove(self.table + suffix) or changed
            return changed
        if self.params['definition'] is None:
            return False
        if self.applied is not None and self.listing is not None:
            # What the kernel lists for this definition (read() after the change): a later listing that differs is
            # drift. State, not a boot file: it is not what this returns.
            self.boot_state.write(self.table + '.listing', self.listing)
        # The fallback first: a run stopped between the two leaves a boot file with its fallback, never one without.
        changed = self.boot_state.write(self.table + '.fallback', fallback_text(self.table, self.params['fallback'] or []))
        changed = self.boot_state.write(self.table + '.nft', wanted['applied']) or changed
        learned = ''.join(item['name'] + '\n' for item in self.params['sets'] if item['elements'] is None)
        return self.boot_state.write(self.table + '.learned', learned) or changed

    def describe(self, state):
        if not state['present']:
            return ''
        return state['applied'] if state.get('applied') else ''

    def report(self, current, wanted):
        """The transaction applied, or (check mode) the one a run would apply."""
        if self.applied is not None:
            return dict(transaction=self.applied)
        return dict(transaction=self.transaction(current, wanted, shown=True) if current != wanted else '')


ARGUMENTS = dict(
    argument_spec=dict(
        table=dict(type='str', default=COLLECTION_TABLE),
        definition=dict(type='list', elements='str'),
        sets=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str', required=True),
            type=dict(type='str', required=True, choices=list(SET_TYPES)),
            size=dict(type='int', default=65536),
            counter=dict(type='bool', default=False),
            elements=dict(type='list', elements='str'))),
        flush=dict(type='list', elements='str'),
        fallback=dict(type='list', elements='str'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    ),
    required_if=[('state', 'present', ('definition', 'flush'), True)],
)
