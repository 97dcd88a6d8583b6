"""resolver: the resolvers' files as the plan renders them (a front resolver sending each listed domain to the back
resolver of its combination), and what a run must do about what is in place."""
import collections
from unittest import mock

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from ansible_collections.wgsplit.gateway.plugins.module_utils import instances
from ansible_collections.wgsplit.gateway.plugins.plugin_utils import resolver

SETTINGS = dict(server_interface='wg0', resolver_cache_size=10000, resolver_max_ttl=300, dns_servers=['192.0.2.53'],
                resolver_instances=32)
ENTRIES = [resolver.entry('example.com', ['wgs-alice-p4'], ['#']),
           resolver.entry('example.org', ['wgs-alice-p4'], ['#']),
           resolver.entry('video.example.net', ['wgs-bob-p4'], ['10.10.2.1']),
           resolver.entry('www.example.com', ['wgs-alice-p4'], ['#']),
           resolver.entry('maps.example.org', ['wgs-alice-d4', 'wgs-bob-p4'], ['#'])]
OWN = (0, 1000)  # every combination a back resolver of its own (the default packs combinations this small together)
FRONT, BACKS = resolver.layout(SETTINGS, ENTRIES, packing=OWN)


def in_place(**changes):
    """split_info's `resolver` with FRONT and BACKS running, and the changes."""
    found = dict(config=FRONT, config_mode='0600', config_dir_mode='0700', unit=resolver.UNIT_TEXT,
                 back_unit=resolver.BACK_UNIT_TEXT, enabled=True, active=True,
                 backs=dict((resolver.back_path(number), dict(text=text, mode='0600')) for number, text in BACKS),
                 backs_active=[resolver.back_unit(number) for number, _text in BACKS],
                 backs_enabled=[resolver.back_unit(number) for number, _text in BACKS])
    found.update(changes)
    return found


def option_lines(text, prefix):
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_one_back_resolver_per_combination_most_domains_first():
    assert [number for number, _text in BACKS] == [1, 2, 3]
    first, second, third = [text.splitlines() for _number, text in BACKS]
    # alice's proxy set with the default servers: three domains.
    assert first[:2] == [resolver.BACK_MARKER, 'listen-address=127.53.0.1']
    assert 'cache-size=0' in first and first[-2:] == ['server=192.0.2.53', 'ipset=/#/wgs-alice-p4']
    assert second[-2:] == ['server=192.0.2.53', 'ipset=/#/wgs-alice-d4,wgs-bob-p4']
    # An upstream's resolvers are server=/#/ lines: the next run tells them from the default servers.
    assert third[-2:] == ['server=/#/10.10.2.1', 'ipset=/#/wgs-bob-p4']


def test_front_resolver_sends_each_domain_to_its_back_and_holds_no_ipset_line():
    assert option_lines(FRONT, 'ipset=') == []
    assert option_lines(FRONT, 'server=') == [
        'server=192.0.2.53',
        'server=/example.com/127.53.0.1', 'server=/example.org/127.53.0.1', 'server=/video.example.net/127.53.0.3',
        # www.example.com asks the back of its parent: no line; maps.example.org another one.
        'server=/maps.example.org/127.53.0.2']
    lines = FRONT.splitlines()
    assert instances.ours(FRONT) and lines[0] == resolver.MARKER
    assert 'interface=wg0' in lines and 'bind-dynamic' in lines and 'max-cache-ttl=300' in lines
    assert not instances.ours('interface=wg0\nbind-dynamic\n')


def test_combinations_beyond_the_limit_share_the_last_back_with_a_line_per_domain():
    front, backs = resolver.layout(dict(SETTINGS, resolver_instances=2), ENTRIES, packing=OWN)
    assert [number for number, _text in backs] == [1, 2]
    shared = backs[1][1].splitlines()
    assert option_lines(backs[1][1], 'ipset=') == ['ipset=/maps.example.org/wgs-alice-d4,wgs-bob-p4',
                                                   'ipset=/video.example.net/wgs-bob-p4']
    assert 'server=/video.example.net/10.10.2.1' in shared and 'server=192.0.2.53' in shared
    assert 'server=/maps.example.org/127.53.0.2' in front
    # One back: the old cost (a line per domain), one hop further.
    front, backs = resolver.layout(dict(SETTINGS, resolver_instances=1), ENTRIES, packing=OWN)
    assert len(backs) == 1 and len(option_lines(backs[0][1], 'ipset=/')) == len(ENTRIES)
    assert option_lines(front, 'server=/') == ['server=/example.com/127.53.0.1', 'server=/example.org/127.53.0.1',
                                               'server=/video.example.net/127.53.0.1']


def test_big_combinations_have_a_back_of_their_own_small_ones_share_backs_of_a_bounded_size():
    def combination(name, count, sets):
        return [resolver.entry('%s%d.test' % (name, number), sets, ['#']) for number in range(count)]
    entries = combination('big', 101, ['s1']) + combination('small', 100, ['s2']) + combination('other', 60, ['s3'])
    entries += combination('more', 950, ['s4']) + combination('tiny', 1, ['s5'])
    backs = resolver.instances(entries, 250)
    assert [(combination, len(items)) for combination, items in backs] == [
        ((('s4',), ('#',)), 950), ((('s1',), ('#',)), 101), (None, 161)]
    assert [len(items) for _combination, items in resolver.instances(entries, 250, packing=(100, 150))] == [950, 101, 100, 61]
    # Beyond the limit, the last back takes the rest.
    backs = resolver.instances(entries, 2)
    assert [(combination, len(items)) for combination, items in backs] == [((('s4',), ('#',)), 950), (None, 262)]
    # The defaults: 100 and 1,000.
    assert (resolver.SMALL, resolver.SHARED_LINES) == (100, 1000)


def test_units_each_back_enabled_on_its_own_before_the_front_and_bound_to_it_in_no_way():
    unit, back = resolver.UNIT_TEXT, resolver.BACK_UNIT_TEXT
    # The front names no back: a change of the backs changes no unit. Each back has its own link at boot.
    assert 'wgsplit-resolver-back' not in unit and '\nWants=' not in unit and '\nWants=' not in back
    assert unit.endswith('[Install]\nWantedBy=multi-user.target\n') and back.endswith('[Install]\nWantedBy=multi-user.target\n')
    assert '\nBefore=wgsplit-resolver.service\n' in back
    assert 'ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file=%s\n' % resolver.RESOLVER_CONFIG in unit
    # The front's restart and stop touch no back, whatever the systemd version (PartOf= restarts them, and
    # StopPropagatedFrom= changed meaning between versions).
    for binding in ('PartOf=', 'BindsTo=', 'Requires=', 'Propagate', 'Requisite='):
        assert binding not in back and binding not in unit
    assert '--conf-file=/etc/wgsplit/resolver/back-%i.conf\n' in back
    for text in (unit, resolver.BACK_UNIT_TEXT):
        assert text.startswith('# Written by wgsplit.gateway') and 'NoNewPrivileges=yes\n' in text


def test_the_table_in_place_is_read_back_from_the_layout_and_from_the_old_single_resolver():
    lines = resolver.lines(ENTRIES)
    assert resolver.stale_sets(resolver.in_place_lines(FRONT, [text for _n, text in BACKS]), lines) == []
    assert resolver.upstream_servers(resolver.in_place_lines(FRONT, [text for _n, text in BACKS])) == ['10.10.2.1']
    old = 'server=1.1.1.1\nipset=/video.example.net/wgs-bob-p4\nserver=/video.example.net/10.10.2.1\n'
    assert resolver.in_place_lines(old, []) == ['ipset=/video.example.net/wgs-bob-p4', 'server=/video.example.net/10.10.2.1']
    # A back resolver that is gone feeds nothing.
    assert resolver.in_place_lines(FRONT, []) == []


DOMAINS = ['a.test', 'b.test', 'x.a.test', 'y.x.a.test', 'b.a.test', 'c.test']
SETS = ['s1', 's2', 's3']


@st.composite
def tables(draw):
    chosen = draw(st.lists(st.sampled_from(DOMAINS), min_size=1, unique=True))
    entries = [resolver.entry(domain, draw(st.lists(st.sampled_from(SETS), min_size=1, unique=True)),
                              draw(st.sampled_from([['#'], ['10.10.2.1'], ['10.10.3.1', 'fd00::53']])))
               for domain in sorted(chosen, key=lambda name: (name.count('.'), name))]
    return entries, draw(st.integers(1, 4)), (draw(st.integers(0, 3)), draw(st.integers(1, 5)))


def served(table, name):
    """What dnsmasq does for a name, given lines: the sets of its most specific ipset= line."""
    fed = dict((line.split('/')[1], line.split('/')[2]) for line in table if line.startswith('ipset=/'))
    return next((fed[domain] for domain in resolver.ancestors(name) if domain in fed), None)


def resolve(front, backs, name):
    """What the layout does for a name: the front's most specific server= line picks a back; that back's catch-all
    line, or its most specific line."""
    routes = dict((line.split('/')[1], line.split('/')[2]) for line in front.splitlines() if line.startswith('server=/'))
    address = next((routes[domain] for domain in resolver.ancestors(name) if domain in routes), None)
    back = [text.splitlines() for _number, text in backs if 'listen-address=%s' % address in text.splitlines()]
    if address is None or not back:
        return None
    catch_all = [line.split('/', 2)[2] for line in back[0] if line.startswith('ipset=/#/')]
    return catch_all[0] if catch_all else served(back[0], name)


@hypothesis_settings(max_examples=200, deadline=None)
@given(tables())
def test_property_the_layout_feeds_every_name_the_sets_of_its_nearest_rule(drawn):
    entries, limit, packing = drawn
    front, backs = resolver.layout(dict(SETTINGS, resolver_instances=limit), entries, packing=packing)
    assert len(backs) <= limit
    lines = resolver.lines(entries)
    for name in DOMAINS + ['z.' + domain for domain in DOMAINS]:
        assert resolve(front, backs, name) == served(lines, name), name
    back_texts = [text for _number, text in backs]
    assert resolver.stale_sets(resolver.in_place_lines(front, back_texts), lines) == []
    assert sorted(resolver.upstream_servers(resolver.in_place_lines(front, back_texts))) == sorted(resolver.upstream_servers(lines))


def test_stale_sets_are_those_that_lost_a_domain():
    old = ['ipset=/google.com/wgs-alice-p4,wgs-bob-p4', 'ipset=/x.org/wgs-bob-p4', 'server=/x.org/#']
    assert resolver.stale_sets(old, ['ipset=/google.com/wgs-alice-p4,wgs-bob-p4', 'ipset=/y.org/wgs-bob-p4']) == ['wgs-bob-p4']
    assert resolver.stale_sets(old, ['ipset=/google.com/wgs-alice-p4', 'ipset=/x.org/wgs-bob-p4']) == ['wgs-bob-p4']
    grown = ['ipset=/google.com/wgs-alice-p4,wgs-bob-p4', 'ipset=/x.org/wgs-bob-p4', 'ipset=/z.org/wgs-bob-p4']
    assert resolver.stale_sets(old, grown) == []
    assert resolver.stale_sets([], ['ipset=/google.com/wgs-alice-p4']) == []


def test_a_more_specific_rule_added_empties_the_set_its_names_were_fed_to():
    old = ['ipset=/example.com/wgs-alice-d4']
    # sub.example.com's addresses were in the direct set (its parent's line); now they go to the proxy set only.
    assert resolver.stale_sets(old, ['ipset=/example.com/wgs-alice-d4', 'ipset=/sub.example.com/wgs-alice-p4']) == \
        ['wgs-alice-d4']
    # A more specific line that still feeds the parent's sets takes nothing away.
    assert resolver.stale_sets(old, ['ipset=/example.com/wgs-alice-d4', 'ipset=/sub.example.com/wgs-alice-d4,wgs-bob-p4']) == []


def test_a_journal_counts_apart_from_the_files_in_place():
    # A run moved d.test's sub.d.test from the direct set to eu's proxy set and stopped after the restart, before
    # emptying the direct set again: the old resolver may have refilled it with sub.d.test's addresses meanwhile.
    front = resolver.MARKER + '\nipset=/d.test/direct4\nipset=/sub.d.test/eu4\n'
    journal = 'ipset=/d.test/direct4\n'
    table = resolver.in_place_lines(front, [], journal)
    assert table == ['ipset=/d.test/direct4', 'ipset=/sub.d.test/eu4', resolver.TABLE_BREAK, 'ipset=/d.test/direct4']
    # Merged, the files' more specific sub.d.test line would hide what the journal's resolvers fed.
    assert resolver.stale_sets(table, ['ipset=/d.test/direct4', 'ipset=/sub.d.test/eu4']) == ['direct4']
    assert resolver.stale_sets(table[:2], ['ipset=/d.test/direct4', 'ipset=/sub.d.test/eu4']) == []
    # The next journal keeps every table apart, however many runs stopped midway.
    written = resolver.files(in_place(journal=journal), FRONT, BACKS, table)['journal']
    again = resolver.in_place_lines(front, [], written)
    assert resolver.tables(again) == [table[:2], table[:2], ['ipset=/d.test/direct4']]
    assert resolver.stale_sets(again, ['ipset=/d.test/direct4', 'ipset=/sub.d.test/eu4']) == ['direct4']


def test_nothing_to_do_when_everything_is_in_place():
    planned = resolver.files(in_place(), FRONT, BACKS)
    call = planned['instances']
    assert (call['configs'], call['remove'], call['retire'], call['journal'], call['restart']) == ([], [], [], None, False)
    assert (planned['write_config'], planned['write_unit'], planned['start'], planned['apply']) == (False, False, False, False)
    # The call, were it made, would still hold every unit and name every back (it is declarative).
    assert call['backs'] == [resolver.back_unit(number) for number, _text in BACKS]
    assert [item['path'] for item in call['units']] == [resolver.BACK_UNIT_PATH, resolver.UNIT_PATH]


@pytest.mark.parametrize('drift, expected', [
    (dict(config=None, config_mode=None, config_dir_mode=None), (True, False, False)),
    (dict(config=FRONT + 'address=/x/1.2.3.4\n'), (True, False, False)),
    (dict(config_mode='0644'), (True, False, False)),
    (dict(config_dir_mode='0755'), (True, False, False)),
    (dict(backs={}), (True, False, False)),
    (dict(unit=None), (False, True, True)),
    (dict(unit=resolver.UNIT_TEXT.replace('RestartSec=2', 'RestartSec=3')), (False, True, True)),
    (dict(back_unit=resolver.BACK_UNIT_TEXT.replace('NoNewPrivileges=yes\n', '')), (False, True, True)),
    (dict(enabled=False), (False, False, True)),
    (dict(active=False), (False, False, True)),
])
def test_each_drift_is_repaired(drift, expected):
    planned = resolver.files(in_place(**drift), FRONT, BACKS)
    assert (planned['write_config'], planned['write_unit'], planned['start']) == expected
    assert planned['apply']
    # What the resolvers served is kept until the run's end whenever a file changes.
    assert (planned['journal'] is not None) == (expected[0] or expected[1])


def test_a_back_resolver_that_does_not_run_is_started_by_itself():
    # Starting the front resolver, when it runs, starts nothing it wants.
    planned = resolver.files(in_place(backs_active=['wgsplit-resolver-back@1.service']), FRONT, BACKS)
    assert planned['start_backs'] == ['wgsplit-resolver-back@2.service', 'wgsplit-resolver-back@3.service']
    assert not planned['start'] and planned['journal'] is None and planned['apply']


def test_a_back_resolver_not_enabled_at_boot_is_enabled_and_one_no_longer_asked_disabled():
    left = 'wgsplit-resolver-back@9.service'
    planned = resolver.files(in_place(backs_enabled=['wgsplit-resolver-back@1.service', left]), FRONT, BACKS)
    assert planned['enable_backs'] == ['wgsplit-resolver-back@2.service', 'wgsplit-resolver-back@3.service']
    # Not running, enabled: it would start at boot, asked by no one.
    assert planned['stop_backs'] == planned['instances']['retire'] == [left] and planned['apply'] and not planned['start']
    assert not resolver.files(in_place(), FRONT, BACKS)['apply']


def test_a_journal_found_restarts_the_resolvers_and_counts_as_in_place():
    journal = 'ipset=/gone.test/wgs-old-p4\nserver=/gone.test/10.10.9.1\n'
    planned = resolver.files(in_place(journal=journal), FRONT, BACKS, ['ipset=/gone.test/wgs-old-p4'])
    assert planned['interrupted'] and planned['journal'] == 'ipset=/gone.test/wgs-old-p4\n'
    assert planned['instances']['restart'] and planned['instances']['journal'] == dict(path=resolver.JOURNAL, text=planned['journal'], keep=False)
    table = resolver.in_place_lines(FRONT, [text for _n, text in BACKS], journal)
    assert resolver.stale_sets(table, resolver.lines(ENTRIES)) == ['wgs-old-p4']
    assert resolver.upstream_servers(table) == ['10.10.2.1', '10.10.9.1']


def test_a_changed_back_takes_a_number_no_file_in_place_has_and_unchanged_ones_keep_theirs():
    in_place = dict(BACKS)
    changed = ENTRIES + [resolver.entry('more.example.org', ['wgs-alice-d4', 'wgs-bob-p4', 'wgs-carol-p4'], ['#'])]
    _front, backs = resolver.layout(SETTINGS, changed, packing=OWN, in_place=in_place)
    assert [number for number, _text in backs] == [1, 2, 3, 4]
    assert dict(backs)[1] == in_place[1] and dict(backs)[3] == in_place[3]
    # alice's proxy set gains a domain: its back's meaning changes, so it moves to a number not in place.
    grown = ENTRIES + [resolver.entry('new.test', ['wgs-alice-p4'], ['#'])]
    _front, backs = resolver.layout(SETTINGS, grown, packing=OWN, in_place=in_place)
    assert [number for number, _text in backs] == [1, 2, 3]  # one back per combination: alice's keeps its line
    one, _backs = resolver.layout(SETTINGS, grown, packing=(100, 1000), in_place=in_place)
    assert 'server=/new.test/127.53.0.4' in one  # the shared back's lines changed: a new number
    # Numbers out of range in place are not taken over.
    assert [n for n, _t in resolver.layout(SETTINGS, ENTRIES, packing=OWN, in_place={999: BACKS[0][1]})[1]] == [1, 2, 3]


def test_only_the_files_that_differ_are_written_backs_before_the_front():
    found = in_place(config=None)
    found['backs'] = dict(found['backs'])
    found['backs'][resolver.back_path(2)] = dict(text='x', mode='0600')
    planned = resolver.files(found, FRONT, BACKS)
    configs = planned['instances']['configs']
    assert [item['path'] for item in configs] == [resolver.back_path(2), resolver.RESOLVER_CONFIG]
    # Each names what a change of it restarts: the front's the front alone; a back's its back, and the front too when
    # the number is in place (its meaning changes under the front's cache)...
    assert [item['restarts'] for item in configs] == [['wgsplit-resolver-back@2.service', 'wgsplit-resolver.service'],
                                                      ['wgsplit-resolver.service']]
    # ...or runs; a new number's its back alone (it starts).
    del found['backs'][resolver.back_path(2)]
    assert resolver.files(found, FRONT, BACKS)['instances']['configs'][0]['restarts'] == [
        'wgsplit-resolver-back@2.service', 'wgsplit-resolver.service']
    found['backs_active'] = []
    assert resolver.files(found, FRONT, BACKS)['instances']['configs'][0]['restarts'] == ['wgsplit-resolver-back@2.service']


def test_back_resolvers_no_longer_planned_are_stopped_and_their_files_removed():
    front, backs = resolver.layout(SETTINGS, ENTRIES[:2], packing=OWN)
    planned = resolver.files(in_place(), front, backs)
    assert planned['instances']['retire'] == ['wgsplit-resolver-back@2.service', 'wgsplit-resolver-back@3.service']
    assert planned['instances']['remove'] == [resolver.back_path(2), resolver.back_path(3)]
    assert not planned['write_unit'] and not planned['start']  # no unit names them
    # A unit's change restarts what it defines: the template every back planned, the front's the front.
    restarts = [item['restarts'] for item in planned['instances']['units']]
    assert restarts == [['wgsplit-resolver-back@1.service'], ['wgsplit-resolver.service']]
    assert planned['instances']['backs'] == ['wgsplit-resolver-back@1.service']


def test_removal_plans_only_the_paths_and_stops_every_back():
    planned = resolver.files(in_place(), None, [])
    assert planned['config'] is None and not planned['start'] and planned['stop'] and planned['apply']
    call = planned['instances']
    assert call['state'] == 'absent' and call['retire'] == [resolver.back_unit(number) for number, _text in BACKS]
    assert [item['path'] for item in call['units']] == ['/etc/systemd/system/wgsplit-resolver.service',
                                                        '/etc/systemd/system/wgsplit-resolver-back@.service']
    assert (call['directory'], call['journal']) == ('/etc/wgsplit/resolver', dict(path='/etc/wgsplit/resolver/previous.lines'))
    nothing = resolver.files(dict(unit=None, active=False), None, [])
    assert not nothing['stop'] and not nothing['apply']
    # Anything of the collection's left (a journal alone, a back's file) makes the call.
    assert resolver.files(dict(journal='x'), None, [])['apply']
    assert resolver.files(dict(backs={resolver.back_path(4): dict(text='x', mode='0600')}), None, [])['apply']


def test_a_shared_back_counts_only_for_the_names_the_front_sends_it():
    # A run moving from the single resolver stopped after writing a back: the front in place still holds the line.
    old_front = 'server=1.1.1.1\nipset=/d.test/s1\n'
    back = resolver.BACK_MARKER + '\nlisten-address=127.53.0.1\nserver=1.1.1.1\nipset=/d.test/s2\n'
    assert resolver.in_place_lines(old_front, [back]) == ['ipset=/d.test/s1']
    assert resolver.stale_sets(resolver.in_place_lines(old_front, [back]), ['ipset=/d.test/s2']) == ['s1']
    # Routed there, its lines count for the names under the route only.
    front = 'server=/d.test/127.53.0.1\nserver=/e.d.test/127.53.0.2\n'
    shared = back + 'ipset=/e.d.test/s3\nipset=/x.test/s4\n'
    assert resolver.in_place_lines(front, [shared]) == ['ipset=/d.test/s2']


def small_combinations(count, size, extra=()):
    """`count` clients' combinations of `size` domains each (client 0 with `extra` domains more), one proxy set each."""
    entries = []
    for client in range(count):
        names = ['d%d.c%d.test' % (number, client) for number in range(size)] + (list(extra) if client == 0 else [])
        entries += [resolver.entry(name, ['wgs-c%d-p4' % client], ['#']) for name in names]
    return sorted(entries, key=resolver.domain_order)


def test_an_edit_of_one_client_changes_only_the_shared_back_it_is_in():
    packing = (5, 10)  # combinations of at most 5 domains share backs of at most 10 lines
    _front, before = resolver.layout(SETTINGS, small_combinations(6, 3), packing=packing)
    assert [len(option_lines(text, 'ipset=/')) for _number, text in before] == [9, 9]
    # Client 0 gains a domain: packed anew, it would come first and shift every back; it stays where it was.
    front, after = resolver.layout(SETTINGS, small_combinations(6, 3, ['new.c0.test']), packing=packing,
                                   in_place=dict(before))
    assert len(after) == 2 and len(set(after) - set(before)) == 1, 'one back replaced, the other kept as it runs'
    unchanged = (set(after) & set(before)).pop()
    assert 'ipset=/new.c0.test/wgs-c0-p4' not in unchanged[1]
    assert 'server=/new.c0.test/127.53.0.%d' % (set(after) - set(before)).pop()[0] in front
    # Without what is in place, the same table is packed as a first run packs it.
    assert [len(option_lines(text, 'ipset=/')) for _n, text in resolver.layout(
        SETTINGS, small_combinations(6, 3, ['new.c0.test']), packing=packing)[1]] == [10, 9]


def test_a_new_client_joins_the_shared_back_that_changes_anyway_else_a_new_one():
    packing = (5, 10)
    _front, before = resolver.layout(SETTINGS, small_combinations(5, 3), packing=packing)
    assert [len(option_lines(text, 'ipset=/')) for _number, text in before] == [9, 6]
    # A sixth client: the backs in place are unchanged but for the one with room, which takes it.
    grown = small_combinations(6, 3)
    _front, after = resolver.layout(SETTINGS, grown, packing=packing, in_place=dict(before))
    assert len(after) == 2 and len(set(after) - set(before)) == 1
    assert sorted(len(option_lines(text, 'ipset=/')) for _number, text in after) == [9, 9]
    # Client 0 grown by one fills its back to the brim: the newcomer goes to the other back's room, not a new back.
    _front, both = resolver.layout(SETTINGS, small_combinations(6, 3, ['new.c0.test']), packing=packing,
                                   in_place=dict(before))
    assert len(set(both) - set(before)) == 2 and sorted(len(option_lines(text, 'ipset=/')) for _n, text in both) == [9, 10]
    # Client 0 grows, and its back no longer holds all it held: what does not fit goes to the other back's room.
    _front, moved = resolver.layout(SETTINGS, small_combinations(5, 3, ['x.c0.test', 'y.c0.test']),
                                    packing=packing, in_place=dict(before))
    assert [len(option_lines(text, 'ipset=/')) for _number, text in moved] == [8, 9] and not set(moved) & set(before)


@hypothesis_settings(max_examples=150, deadline=None)
@given(tables(), tables())
def test_property_a_layout_made_from_the_one_in_place_feeds_every_name_the_sets_of_its_nearest_rule(first, second):
    entries, limit, packing = second
    _front, in_place = resolver.layout(dict(SETTINGS, resolver_instances=first[1]), first[0], packing=first[2])
    front, backs = resolver.layout(dict(SETTINGS, resolver_instances=limit), entries, packing=packing,
                                   in_place=dict(in_place))
    assert len(backs) <= limit and len(set(number for number, _text in backs)) == len(backs)
    lines = resolver.lines(entries)
    for name in DOMAINS + ['z.' + domain for domain in DOMAINS]:
        assert resolve(front, backs, name) == served(lines, name), name
    # A back in place whose file is planned unchanged keeps its number; a changed one takes a number not in place.
    kept = dict((resolver.body_of(text), number) for number, text in sorted(in_place, reverse=True))
    for number, text in backs:
        assert number == kept[resolver.body_of(text)] if resolver.body_of(text) in kept else number not in dict(in_place)


def test_shared_backs_left_half_empty_by_removed_clients_are_packed_anew():
    packing = (5, 10)
    entries = small_combinations(30, 3)
    _front, before = resolver.layout(SETTINGS, entries, packing=packing)
    assert len(before) == 10  # three clients of three domains per back

    def without(clients, table):
        return [item for item in table if int(item['domain'].split('.c')[1].split('.')[0]) not in clients]
    # Six clients removed: each back keeps its clients, though a packing anew would need 8 backs (within a quarter
    # and one more).
    fewer = without(range(6), entries)
    _front, kept = resolver.layout(SETTINGS, fewer, packing=packing, in_place=dict(before))
    assert len(kept) == 10 and len(set(kept) & set(before)) == 6
    # Down to six clients in four backs, where two would do: packed anew.
    _front, compact = resolver.layout(SETTINGS, without(range(12, 30), fewer), packing=packing, in_place=dict(kept))
    assert [len(option_lines(text, 'ipset=/')) for _number, text in compact] == [9, 9]


def shared_sizes(backs):
    """The number of lines of each back resolver with a line per domain (shared, or the last beyond the limit)."""
    sizes = [len(option_lines(text, 'ipset=/')) for _number, text in backs]
    return [size for size, (_number, text) in zip(sizes, backs) if not option_lines(text, 'ipset=/#/')]


@hypothesis_settings(max_examples=300, deadline=None)
@given(tables(), tables(), st.integers(1, 6), st.sampled_from([resolver.BACKS_MAX, 4]))
def test_property_a_second_run_changes_nothing_even_beyond_the_back_limit_and_a_limit_raised_splits_again(
        first, second, raised, numbers):
    """`numbers`: the back addresses there are (few: a packing anew finds no numbers beside those in place)."""
    with mock.patch.object(resolver, 'BACKS_MAX', numbers):
        runs_settle(first, second, raised)


def runs_settle(first, second, raised):
    entries, limit, packing = second
    _front, in_place = resolver.layout(dict(SETTINGS, resolver_instances=first[1]), first[0], packing=first[2])
    settings = dict(SETTINGS, resolver_instances=limit)
    front, backs = resolver.layout(settings, entries, packing=packing, in_place=dict(in_place))
    second_run = resolver.layout(settings, entries, packing=packing, in_place=dict(backs))
    anew = len(resolver.instances(entries, 10 ** 6, packing))  # the backs of a packing anew, whatever the limit
    # Numbers short (those in place and a packing anew's more than there are): the next run may pack anew, once.
    short = len(set(resolver.shared_in_place(dict(in_place)).values())) + anew > resolver.BACKS_MAX
    if short and second_run != (front, backs):
        front, backs = second_run
        second_run = resolver.layout(settings, entries, packing=packing, in_place=dict(backs))
    assert second_run == (front, backs)
    # Another limit: where a layout anew fits it (and finds numbers), no shared back is over the size (or its one
    # combination's size).
    raised = min(raised, resolver.BACKS_MAX)
    _front, after = resolver.layout(dict(SETTINGS, resolver_instances=raised), entries, packing=packing, in_place=dict(backs))
    if anew <= raised and len(set(resolver.shared_in_place(dict(backs)).values())) + anew <= resolver.BACKS_MAX:
        combinations = collections.Counter((tuple(item['sets']), tuple(item['servers'])) for item in entries)
        bound = max([packing[1]] + [size for size in combinations.values() if size <= packing[0]])
        assert max(shared_sizes(after) or [0]) <= bound
