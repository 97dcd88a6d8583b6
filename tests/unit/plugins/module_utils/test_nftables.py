"""nft_table's pure parts: what a definition may hold, how the table is read back, and the transaction that turns
one table into another (the real kernel: tests/integration/playbooks/nft_table.yml)."""
import json
import re
from unittest import mock

import pytest

from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import Invalid
from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import parse_nft_sets
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import (
    DRIFTED, NftTable, boot_text, canonical_element, carried_sets, check_definition, defined_sets, listed_elements, listed_objects,
    interval_set, listed_set, normalized_listing, set_elements, table_owned, terse_listing)

LISTING = '''table inet wgsplit {
\tcomment "wgsplit.gateway"
\tset wgs-alice-p4 {
\t\ttype ipv4_addr
\t\tsize 65536
\t\tflags timeout
\t\tgc-interval 1d
\t}

\tset wgs-A-sent-up4 {
\t\ttype ipv4_addr . ifname
\t\tsize 65536
\t\tflags timeout
\t\tgc-interval 1d
\t\tcounter
\t}

\tchain mark-direct {
\t\tmeta mark set meta mark & 0x00ffffff | 0x00800000
\t}

\tchain classify {
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tip saddr vmap { 10.8.0.2 : goto client-alice }
\t}
}
'''


@pytest.mark.parametrize('lines', [
    ['chain c { accept; }'],
    ['chain c {', '  iifname "wg0" ip saddr { 10.8.0.2 } meta l4proto { tcp, udp } th dport 53 redirect to :53', '}'],
    ['set s { type ipv4_addr; size 10; }'],
    ['chain count {', '  iifname "wg0" oifname "wg-up-*" ip saddr . oifname @s return', '}'],
])
def test_a_definition_inside_the_table_is_taken(lines):
    check_definition(lines)


@pytest.mark.parametrize('lines, reason', [
    (['}', 'flush ruleset', 'table inet wgsplit {'], 'closes the table'),
    (['chain c { accept; }}'], 'closes the table'),
    (['chain c {'], 'open'),
    (['include "/etc/passwd"'], 'include'),
    (['chain x { accept; }', 'include"/tmp/evil.nft"'], 'include'),
    (['chain x {include"/tmp/evil.nft"', '}'], 'include'),
    (['define x = 1'], 'include'),
    (['chain c { ip saddr $x accept; }'], 'variables'),
    (['chain c { iifname "}" accept; }'], 'quotes'),
    (['chain c { iifname "wg0\\" accept; }'], 'quotes'),
    (['chain c { iifname "wg*0" accept; }'], 'quotes'),
    (['chain c { iifname "wg0**" accept; }'], 'quotes'),
    (['chain c { iifname "*" accept; }'], 'quotes'),
    (['chain c { accept; } # }'], 'comment'),
    (['chain c { accept;\n}'], 'control character'),
    (['chain c { accept; }\x00'], 'control character'),
])
def test_a_definition_that_could_leave_the_table_is_refused(lines, reason):
    with pytest.raises(Invalid, match=reason):
        check_definition(lines)


def test_the_listing_tells_ownership_chains_and_set_declarations():
    assert table_owned(LISTING) and not table_owned(LISTING.replace('wgsplit.gateway', 'other')) and not table_owned(None)
    # A table made dormant is still the collection's (and drifted: its listing differs).
    assert table_owned(LISTING.replace('\tcomment', '\tflags dormant\n\tcomment'))
    assert not table_owned(LISTING.replace('\tcomment "wgsplit.gateway"\n', '').replace(
        '\tchain classify {', '\tchain classify {\n\tcomment "wgsplit.gateway"'))
    objects = listed_objects(LISTING)
    assert sorted(objects['chain']) == ['classify', 'mark-direct'] and objects['map'] == {}
    assert listed_set(objects['set']['wgs-alice-p4']) == ('ipv4_addr', 65536, False, True)
    assert listed_set(objects['set']['wgs-A-sent-up4']) == ('ipv4_addr . ifname', 65536, True, True)


FOREIGN = 'table ip wgsplit {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n'


@pytest.mark.parametrize('before, after', [('', ''), (FOREIGN, ''), ('', FOREIGN), (FOREIGN, FOREIGN.replace('ip ', 'ip6 '))])
def test_the_tables_listing_is_cut_from_the_terse_ruleset(before, after):
    # `nft -t list ruleset inet` reads no set element (`nft -t list table` read them all): the table's own lines, from its
    # header to its closing brace, whatever other software's tables (one of the same name in another family) surround.
    run = mock.Mock(return_value=(0, before + LISTING + after, ''))
    assert terse_listing(run, 'wgsplit') == (0, '', LISTING)
    assert run.call_args[0][0] == ['nft', '-t', 'list', 'ruleset', 'inet']
    assert terse_listing(mock.Mock(return_value=(0, before + after, '')), 'wgsplit') == (0, '', None)
    assert terse_listing(mock.Mock(return_value=(1, '', 'Operation not permitted')), 'wgsplit') == (1, 'Operation not permitted', None)
    cut = terse_listing(mock.Mock(return_value=(0, LISTING[:-3], '')), 'wgsplit')  # output cut short: a failure
    assert cut[0] == 1 and cut[2] is None and 'closing brace' in cut[1]


@pytest.mark.parametrize('lines, interval', [
    (['type ipv4_addr', 'flags interval'], True), (['type ipv4_addr', 'flags interval,timeout'], True),
    (['type ipv4_addr', 'flags timeout'], False), (['type ipv4_addr', 'comment "flags interval"'], False), ([], False)])
def test_a_rule_lists_interval_set_is_told_by_its_flags(lines, interval):
    assert interval_set(lines) is interval


@pytest.mark.parametrize('value, set_type, canonical', [
    ('10.8.0.2', 'ipv4_addr', '10.8.0.2'),
    ('FDCC:0::2', 'ipv6_addr', 'fdcc::2'),
    ('10.8.0.2 . wg-up-1', 'ipv4_addr . ifname', '10.8.0.2 . "wg-up-1"'),
    ('10.8.0.2  .  "wg-up-1"', 'ipv4_addr . ifname', '10.8.0.2 . "wg-up-1"'),
])
def test_elements_are_compared_in_one_form(value, set_type, canonical):
    assert canonical_element(value, set_type) == canonical


@pytest.mark.parametrize('value, set_type', [
    ('10.8.0.2', 'ipv6_addr'), ('10.8.0.2 . wg-up-1', 'ipv4_addr'), ('10.8.0.2', 'ipv4_addr . ifname'),
    ('10.8.0.2 . "wg0 } ; flush ruleset"', 'ipv4_addr . ifname'), ('10.8.0.0/24', 'ipv4_addr'), ('x', 'ipv4_addr'),
])
def test_an_element_of_another_type_or_with_more_than_a_name_is_refused(value, set_type):
    with pytest.raises(Invalid):
        canonical_element(value, set_type)


SET_JSON = json.dumps(dict(nftables=[dict(metainfo={}), dict(set=dict(name='wgs-A-sent-up4', elem=[
    dict(elem=dict(val=dict(concat=['10.8.0.2', 'wg-up-1']), counter=dict(packets=2, bytes=120))),
    dict(elem=dict(val=dict(concat=['10.8.0.3', 'wg-up-2']), counter=dict(packets=0, bytes=0)))])),
    dict(set=dict(name='wgs-alice-p4', elem=['192.0.2.7', '192.0.2.8'])), dict(chain=dict(name='classify'))]))


def test_elements_and_counters_are_read_from_the_json_listing():
    assert set_elements(SET_JSON) == ['10.8.0.2 . "wg-up-1"', '10.8.0.3 . "wg-up-2"', '192.0.2.7', '192.0.2.8']
    assert parse_nft_sets(SET_JSON) == {
        'wgs-A-sent-up4': dict(entries=2, counters={'10.8.0.2,wg-up-1': 120, '10.8.0.3,wg-up-2': 0}),
        'wgs-alice-p4': dict(entries=2, counters={})}


class FakeModule:
    check_mode = False

    def __init__(self, **params):
        self.params = dict(dict(table='wgsplit', definition=None, sets=[], flush=None, fallback=None, state='present'),
                           **params)
        self.warn = mock.Mock()


def item(name, set_type='ipv4_addr', elements=None, counter=False, size=65536):
    return dict(name=name, type=set_type, size=size, counter=counter, elements=elements)


def table(**params):
    state_module = NftTable(FakeModule(**params))
    state_module.listing = LISTING
    return state_module


CURRENT = dict(present=True, owned=True, applied=DRIFTED,
               sets={'wgs-alice-p4': ('ipv4_addr', 65536, False, True), 'wgs-A-sent-up4': ('ipv4_addr . ifname', 65536, True, True)},
               elements={'wgs-A-sent-up4': ['10.8.0.2 . "wg-up-1"', '10.8.0.3 . "wg-up-2"']}, filled=[])


def test_the_transaction_replaces_chains_keeps_sets_whose_declaration_holds_and_edits_elements_in_place():
    sets = [item('wgs-alice-p4'), item('wgs-A-sent-up4', 'ipv4_addr . ifname', ['10.8.0.2 . "wg-up-1"', '10.8.0.4 . "wg-up-1"'],
                                       counter=True)]
    state_module = table(sets=sets, definition=['chain classify { accept; }'])
    wanted = state_module.want(CURRENT)
    lines = state_module.transaction(CURRENT, wanted).splitlines()
    assert lines[:5] == ['add table inet wgsplit', 'flush chain inet wgsplit mark-direct', 'flush chain inet wgsplit classify',
                         'delete chain inet wgsplit mark-direct', 'delete chain inet wgsplit classify']
    assert not [line for line in lines if line.startswith('delete set')]
    assert lines[-2:] == ['delete element inet wgsplit wgs-A-sent-up4 { 10.8.0.3 . "wg-up-2" }',
                          'add element inet wgsplit wgs-A-sent-up4 { 10.8.0.4 . "wg-up-1" }']
    assert 'table inet wgsplit {' in lines and '\tchain classify { accept; }' in lines


def test_a_set_whose_declaration_changes_is_made_again_with_every_element():
    sets = [item('wgs-alice-p4', size=1024), item('wgs-A-sent-up4', 'ipv4_addr . ifname', ['10.8.0.2 . "wg-up-1"'])]
    state_module = table(sets=sets, definition=[])
    lines = state_module.transaction(CURRENT, state_module.want(CURRENT)).splitlines()
    assert 'delete set inet wgsplit wgs-alice-p4' in lines and 'delete set inet wgsplit wgs-A-sent-up4' in lines
    assert lines[-1] == 'add element inet wgsplit wgs-A-sent-up4 { 10.8.0.2 . "wg-up-1" }'


def test_sets_are_declared_resizable_and_a_fixed_one_is_made_again():
    # With a size alone the kernel allocates a fixed hash's buckets for that size at once (about 2 MiB per set).
    state_module = table(sets=[item('wgs-alice-p4')], definition=[])
    lines = state_module.transaction(CURRENT, state_module.want(CURRENT)).splitlines()
    assert '\tset wgs-alice-p4 { type ipv4_addr; size 65536; flags timeout; gc-interval 1d; }' in lines
    assert 'delete set inet wgsplit wgs-alice-p4' not in lines
    fixed = dict(CURRENT, sets={'wgs-alice-p4': listed_set(['type ipv4_addr', 'size 65536'])})
    assert 'delete set inet wgsplit wgs-alice-p4' in state_module.transaction(fixed, state_module.want(fixed)).splitlines()


def test_a_resolver_set_made_again_with_its_type_keeps_what_the_resolver_learned():
    sets = [item('wgs-alice-p4'), item('wgs-bob-p4'), item('wgs-carol-p4'), item('wgs-dave-p4', size=1),
            item('wgs-A-sent-up4', 'ipv4_addr . ifname', [], counter=True)]
    listed = {'wgs-alice-p4': ('ipv4_addr', 65536, False, False),  # an earlier build's: made again, carried
              'wgs-bob-p4': ('ipv4_addr', 65536, False, False),  # its domains changed: flushed, not carried
              'wgs-carol-p4': ('ipv4_addr', 65536, False, True),  # the same declaration: kept as it is
              'wgs-dave-p4': ('ipv4_addr', 65536, False, True),  # smaller now: carried if what it holds fits
              'wgs-A-sent-up4': ('ipv4_addr . ifname', 65536, True, False)}  # its elements are given: not carried
    carried = carried_sets(sets, listed, ['wgs-bob-p4'])
    assert carried == ['wgs-alice-p4', 'wgs-dave-p4']
    assert carried_sets(sets, dict(listed, **{'wgs-alice-p4': ('ipv6_addr', 65536, False, False)}), ['wgs-bob-p4']) == ['wgs-dave-p4']
    state_module = table(sets=sets, definition=[], flush=['wgs-bob-p4'])
    state_module.carried = state_module.fitting({'wgs-alice-p4': ['192.0.2.1', '192.0.2.2'],
                                                 'wgs-dave-p4': ['192.0.2.1', '192.0.2.2']})
    assert state_module.module.warn.call_args_list == [mock.call(
        'set wgs-dave-p4: the 2 addresses the resolver learned do not fit its new size 1; it starts empty and refills'
        ' as clients resolve again')]
    current = dict(CURRENT, sets=listed)
    lines = state_module.transaction(current, state_module.want(current)).splitlines()
    assert 'delete set inet wgsplit wgs-alice-p4' in lines
    assert 'add element inet wgsplit wgs-alice-p4 { 192.0.2.1, 192.0.2.2 }' in lines
    assert not [line for line in lines if 'element inet wgsplit wgs-dave-p4' in line]  # two do not fit in one
    shown = state_module.transaction(current, state_module.want(current), shown=True).splitlines()
    assert shown == [line for line in lines if 'add element' not in line] + [
        '# wgs-alice-p4: 2 addresses the resolver learned, kept']  # which sites clients visit stays out of the result


def test_only_the_carried_sets_elements_are_read_from_the_table():
    listing = {'nftables': [{'set': {'name': 'wgs-alice-p4', 'elem': ['192.0.2.1']}},
                            {'set': {'name': 'own-networks', 'elem': [{'prefix': {'addr': '192.0.2.0', 'len': 24}}]}}]}
    assert listed_elements(json.dumps(listing), ['wgs-alice-p4']) == {'wgs-alice-p4': ['192.0.2.1']}


def test_a_new_table_gets_the_comment_that_makes_it_the_collections():
    state_module = table(definition=['chain c { accept; }'])
    first = state_module.transaction(dict(present=False), state_module.want(dict(present=False))).splitlines()[0]
    assert first == 'table inet wgsplit { comment "wgsplit.gateway"; }'


def test_flush_alone_changes_nothing_else():
    state_module = table(flush=['wgs-alice-p4'])
    current = dict(CURRENT, filled=['wgs-alice-p4'])
    wanted = state_module.want(current)
    assert wanted == dict(current, filled=[])
    assert state_module.transaction(current, wanted) == 'flush set inet wgsplit wgs-alice-p4\n'


def test_in_step_means_the_boot_file_in_place_and_the_listing_the_last_change_left():
    sets = [item('wgs-alice-p4')]
    state_module = table(sets=sets, definition=['chain c { accept; }'])
    wanted = state_module.want(CURRENT)
    assert wanted['applied'] == boot_text('wgsplit', [dict(sets[0])], ['chain c { accept; }'])
    assert dict(CURRENT, applied=wanted['applied'], sets=wanted['sets'], elements={}) == wanted


def test_a_table_of_that_name_without_the_comment_is_not_touched():
    state_module = table(definition=[])
    failed = []

    def fail_json(msg, **_result):
        failed.append(msg)
        raise SystemExit(1)
    state_module.module.fail_json = fail_json
    with pytest.raises(SystemExit):
        state_module.want(dict(CURRENT, owned=False))
    assert 'not made by the collection' in failed[0]


def test_the_listing_is_compared_in_one_order_whatever_order_the_sets_were_made_in():
    header, alice, counted, rest = re.split(r'\n(?=\tset |\tchain )', LISTING, maxsplit=3)
    reordered = '\n'.join([header, counted, alice, rest])
    assert reordered != LISTING and normalized_listing(reordered) == normalized_listing(LISTING)
    assert normalized_listing(LISTING.replace('size 65536', 'size 1024', 1)) != normalized_listing(LISTING)
    assert listed_objects(normalized_listing(LISTING)) == listed_objects(LISTING)


def test_the_sets_a_definition_declares_are_made_again_with_it_and_not_kept_state():
    definition = ['set listed-p4 { type ipv4_addr; flags interval; elements = { 192.0.2.0/24 }; }',
                  'set listed-p6 {', '  type ipv6_addr; flags interval', '}',
                  'chain c {', '  meta mark set 0x1', '  ip daddr @listed-p4 accept', '}']
    assert defined_sets(definition) == ['listed-p4', 'listed-p6']
    # A checked definition quotes names only (no brace inside quotes: check_definition refuses it).
    assert defined_sets(['set "quoted" { type ipv4_addr; comment "a b"; }', 'set after { type ipv4_addr; }']) == [
        'quoted', 'after']
    state_module = table(sets=[item('wgs-alice-p4')], definition=definition)
    state_module.check()
    listed = dict(CURRENT['sets'], **{'listed-p4': ('ipv4_addr', None, False, False)})
    state_module.listing = LISTING.replace('\tchain mark-direct', '\tset listed-p4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n'
                                           '\t}\n\n\tchain mark-direct')
    lines = state_module.transaction(dict(CURRENT, sets=listed), state_module.want(CURRENT)).splitlines()
    assert 'delete set inet wgsplit listed-p4' in lines  # its elements are those of the definition, not the old ones
    assert 'delete set inet wgsplit wgs-alice-p4' not in lines


def test_a_set_in_both_the_definition_and_sets_is_refused():
    state_module = table(sets=[item('listed-p4')], definition=['set listed-p4 { type ipv4_addr; }'])
    state_module.module.fail_json = mock.Mock(side_effect=SystemExit)
    with pytest.raises(SystemExit):
        state_module.check()
    assert state_module.module.fail_json.call_args == mock.call(
        msg='sets declared both in sets and in the definition: listed-p4')
