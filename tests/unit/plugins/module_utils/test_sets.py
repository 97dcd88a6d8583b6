import pytest

from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import parse_set_headers
from ansible_collections.wgsplit.gateway.plugins.module_utils import sets

SAVE = """create s hash:net family inet hashsize 1024 maxelem 1000 timeout 0 bucketsize 12 initval 0x1
add s 10.0.0.0/24 timeout 100
add s 10.0.0.1
"""


def test_parse_save_ignores_hashsize_and_member_timeouts():
    assert sets.parse_save(SAVE) == dict(type='hash:net', family='inet', maxelem=1000, timeout=0,
                                              counters=False, members=['10.0.0.0/24', '10.0.0.1'])


def test_parse_save_reads_flags_and_ignores_member_counts():
    text = ('create a hash:net,iface family inet hashsize 1024 maxelem 100 counters bucketsize 12 initval 0x1c6e9958\n'
            'add a 10.8.0.3,wg-up-12 packets 7 bytes 420\n')
    assert sets.parse_save(text) == dict(type='hash:net,iface', family='inet', maxelem=100, timeout=None,
                                              counters=True, members=['10.8.0.3,wg-up-12'])


def test_parse_save_of_nothing():
    assert sets.parse_save('') is None


def test_references_come_from_the_set_headers():
    listing = 'Name: s\nReferences: 2\nNumber of entries: 0\n\nName: t\nType: hash:ip\nReferences: 0\n'
    assert dict((name, header['references']) for name, header in parse_set_headers(listing).items()) == {'s': 2, 't': 0}


def test_parse_save_all_splits_sets():
    text = ('create a hash:ip family inet hashsize 1024 maxelem 65536\nadd a 10.0.0.2\nadd a 10.0.0.1\n'
            'create b hash:ip family inet6 hashsize 1024 maxelem 65536\n')
    parsed = sets.parse_save_all(text)
    assert parsed['a']['members'] == ['10.0.0.1', '10.0.0.2']
    assert parsed['b'] == dict(type='hash:ip', family='inet6', maxelem=65536, timeout=None, counters=False, members=[])


@pytest.mark.parametrize('member, set_type, family, expected', [
    ('10.0.0.1/32', 'hash:net', 'inet', '10.0.0.1'),
    ('10.0.0.7/24', 'hash:net', 'inet', '10.0.0.0/24'),
    ('fd00:0::1/128', 'hash:net', 'inet6', 'fd00::1'),
    ('fd00::1', 'hash:ip', 'inet6', 'fd00::1'),
    ('10.0.0.1,udp:53', 'hash:ip,port', 'inet', '10.0.0.1,udp:53'),
    ('10.8.0.2/32,wg-up-1', 'hash:net,iface', 'inet', '10.8.0.2,wg-up-1'),
    ('fd00:0::2,wg-up-1', 'hash:net,iface', 'inet6', 'fd00::2,wg-up-1'),
])
def test_normalize_member(member, set_type, family, expected):
    assert sets.normalize_member(member, set_type, family) == expected


@pytest.mark.parametrize('member, set_type, family, reason', [
    ('10.0.0.0/24', 'hash:ip', 'inet', 'hash:net'),
    ('fd00::1', 'hash:net', 'inet', 'not an IPv4'),
    ('0.0.0.0/0', 'hash:net', 'inet', '/0'),
    ('10.0.0.300', 'hash:net', 'inet', 'not an IPv4 or IPv6 network'),
    ('fe80::1%eth0', 'hash:net', 'inet6', 'scope IDs'),
    ('10.0.0.1\nadd x 1.2.3.4', 'hash:ip', 'inet', 'control character|does not appear'),
    ('10.8.0.2', 'hash:net,iface', 'inet', 'the interface after the comma'),
    ('10.8.0.2,wg+', 'hash:net,iface', 'inet', 'wildcard'),
    ('10.8.0.2,wg0 add', 'hash:net,iface', 'inet', '^wg0 add: '),
    ('fd00::2,wg0', 'hash:net,iface', 'inet', 'not an IPv4'),
])
def test_normalize_member_rejects(member, set_type, family, reason):
    with pytest.raises(ValueError, match=reason):
        sets.normalize_member(member, set_type, family)


def definition(members, maxelem=65536, set_type='hash:net', family='inet', counters=False):
    return dict(type=set_type, family=family, maxelem=maxelem, timeout=None, counters=counters, members=members)


def test_a_set_emptied_is_flushed_whatever_it_holds_when_the_lock_is_taken():
    # Not `del` lines from the reading: the timer's save may have filled it again since (ipset_set holds the lock).
    assert sets.restore_script('s', definition(['10.0.0.1']), definition([]), None, True) == ['flush s']
    assert sets.restore_script('s', dict(definition([]), learned=True), dict(definition([]), learned=False), None, True) == ['flush s']


def test_restore_script_changes_members_in_place_when_they_only_come_or_only_go():
    assert sets.restore_script('s', definition(['a', 'b']), definition(['a', 'b', 'c']), None, True) == ['add s c']
    assert sets.restore_script('s', definition(['a', 'b']), definition(['b']), None, True) == ['del s a']


def test_restore_script_swaps_in_members_that_replace_others():
    # 10.0.0.0/24 merged into 10.0.0.0/23: deleted, then added in place, 10.0.0.1 would be in neither for a while.
    lines = sets.restore_script('s', definition(['10.0.0.0/24']), definition(['10.0.0.0/23']), None, True)
    assert lines == ['create s.swap hash:net family inet maxelem 65536', 'add s.swap 10.0.0.0/23', 'swap s.swap s',
                     'destroy s.swap']


def test_restore_script_edits_a_counting_set_in_place_so_its_other_counters_keep_counting():
    lines = sets.restore_script('s', definition(['a', 'b'], counters=True), definition(['b', 'c'], counters=True), None, True)
    assert lines == ['del s a', 'add s c']


def test_restore_script_creates():
    assert sets.restore_script('s', None, definition(['a']), 64, False) == [
        'create s hash:net family inet hashsize 64 maxelem 65536', 'add s a']


def test_restore_script_swaps_a_rebuilt_set_in_on_option_change():
    lines = sets.restore_script('s', definition(['a']), definition(['a'], maxelem=10), None, True)
    assert lines == ['create s.swap hash:net family inet maxelem 10', 'add s.swap a', 'swap s.swap s', 'destroy s.swap']


def test_restore_script_recreates_an_unreferenced_set_of_another_family():
    lines = sets.restore_script('s', definition([]), definition([], family='inet6'), None, False)
    assert lines == ['destroy s', 'create s hash:net family inet6 maxelem 65536']


def test_swap_name_fits_the_kernel_limit():
    assert len(sets.swap_name('x' * 31)) == 31


def test_restore_script_swaps_in_a_set_that_gains_counters():
    lines = sets.restore_script('s', definition(['a']), definition(['a'], counters=True), None, True)
    assert lines[0] == 'create s.swap hash:net family inet maxelem 65536 counters'


PARAMS = dict(name=None, names=None, family='inet', type='hash:net', maxelem=None, timeout=None, counters=False,
              members=None)


def test_set_definitions_take_what_a_set_leaves_out_from_the_top_level():
    params = dict(PARAMS, type='hash:ip', timeout=600, sets=[
        dict(name='c4', family='inet', type=None, maxelem=None, timeout=None, counters=None, members=None),
        dict(name='a6', family='inet6', type='hash:net,iface', maxelem=None, timeout=None, counters=True,
             members=['fd00::2,wg-up-1'])])
    definitions = sets.set_definitions(params)
    assert definitions['c4'] == dict(family='inet', type='hash:ip', maxelem=None, timeout=600, counters=False, members=None)
    assert definitions['a6'] == dict(family='inet6', type='hash:net,iface', maxelem=None, timeout=600, counters=True,
                                     members=['fd00::2,wg-up-1'])


def test_set_definitions_of_names_share_the_top_level():
    definitions = sets.set_definitions(dict(PARAMS, sets=None, names=['x', 'y'], members=['10.0.0.1']))
    assert definitions['x'] == definitions['y'] == dict(family='inet', type='hash:net', maxelem=None, timeout=None,
                                                        counters=False, members=['10.0.0.1'])
