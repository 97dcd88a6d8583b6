import pytest

from ansible_collections.wgsplit.gateway.plugins.modules import ipset_set

SAVE = """create s hash:net family inet hashsize 1024 maxelem 1000 timeout 0 bucketsize 12 initval 0x1
add s 10.0.0.0/24 timeout 100
add s 10.0.0.1
"""


def test_parse_save_ignores_hashsize_and_member_timeouts():
    assert ipset_set.parse_save(SAVE) == dict(type='hash:net', family='inet', maxelem=1000, timeout=0,
                                              members=['10.0.0.0/24', '10.0.0.1'])


def test_parse_save_of_nothing():
    assert ipset_set.parse_save('') is None


def test_parse_references():
    listing = 'Name: s\nReferences: 2\nNumber of entries: 0\n\nName: t\nType: hash:ip\nReferences: 0\n'
    assert ipset_set.parse_references(listing) == {'s': 2, 't': 0}


def test_parse_save_all_splits_sets():
    text = ('create a hash:ip family inet hashsize 1024 maxelem 65536\nadd a 10.0.0.2\nadd a 10.0.0.1\n'
            'create b hash:ip family inet6 hashsize 1024 maxelem 65536\n')
    sets = ipset_set.parse_save_all(text)
    assert sets['a']['members'] == ['10.0.0.1', '10.0.0.2']
    assert sets['b'] == dict(type='hash:ip', family='inet6', maxelem=65536, timeout=None, members=[])


@pytest.mark.parametrize('member, set_type, family, expected', [
    ('10.0.0.1/32', 'hash:net', 'inet', '10.0.0.1'),
    ('10.0.0.7/24', 'hash:net', 'inet', '10.0.0.0/24'),
    ('fd00:0::1/128', 'hash:net', 'inet6', 'fd00::1'),
    ('fd00::1', 'hash:ip', 'inet6', 'fd00::1'),
    ('10.0.0.1,udp:53', 'hash:ip,port', 'inet', '10.0.0.1,udp:53'),
])
def test_normalize_member(member, set_type, family, expected):
    assert ipset_set.normalize_member(member, set_type, family) == expected


@pytest.mark.parametrize('member, set_type, family, reason', [
    ('10.0.0.0/24', 'hash:ip', 'inet', 'hash:net'),
    ('fd00::1', 'hash:net', 'inet', 'not an IPv4'),
    ('0.0.0.0/0', 'hash:net', 'inet', '/0'),
    ('10.0.0.300', 'hash:net', 'inet', 'not an IPv4 or IPv6 network'),
    ('fe80::1%eth0', 'hash:net', 'inet6', 'scope IDs'),
    ('10.0.0.1\nadd x 1.2.3.4', 'hash:ip', 'inet', 'control character|does not appear'),
])
def test_normalize_member_rejects(member, set_type, family, reason):
    with pytest.raises(ValueError, match=reason):
        ipset_set.normalize_member(member, set_type, family)


def definition(members, maxelem=65536, set_type='hash:net', family='inet'):
    return dict(type=set_type, family=family, maxelem=maxelem, timeout=None, members=members)


def test_restore_script_changes_members_in_place():
    lines = ipset_set.restore_script('s', definition(['a', 'b']), definition(['b', 'c']), None, True)
    assert lines == ['del s a', 'add s c']


def test_restore_script_creates():
    assert ipset_set.restore_script('s', None, definition(['a']), 64, False) == [
        'create s hash:net family inet hashsize 64 maxelem 65536', 'add s a']


def test_restore_script_swaps_a_rebuilt_set_in_on_option_change():
    lines = ipset_set.restore_script('s', definition(['a']), definition(['a'], maxelem=10), None, True)
    assert lines == ['create s.swap hash:net family inet maxelem 10', 'add s.swap a', 'swap s.swap s', 'destroy s.swap']


def test_restore_script_recreates_an_unreferenced_set_of_another_family():
    lines = ipset_set.restore_script('s', definition([]), definition([], family='inet6'), None, False)
    assert lines == ['destroy s', 'create s hash:net family inet6 maxelem 65536']


def test_swap_name_fits_the_kernel_limit():
    assert len(ipset_set.swap_name('x' * 31)) == 31
