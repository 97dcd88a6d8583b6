"""canonical: every value parsed once and written back in the form the parser prints; hostile text refused."""
import ipaddress
import unicodedata

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.wgsplit.gateway.plugins.module_utils import canonical

KEY = 'CUjF7TMWtRvzaUmyXzD8i29hWkpSMjhzjId1lBmsRxA='


@pytest.mark.parametrize('value, expected', [
    ('192.0.2.1:51820', ('192.0.2.1', 51820)),
    ('[2001:DB8:0::1]:51820', ('2001:db8::1', 51820)),
    ('US.Example.com.:1', ('us.example.com', 1)),
])
def test_endpoint(value, expected):
    assert canonical.endpoint(value) == expected


@pytest.mark.parametrize('value', ['us.example.com', '2001:db8::1:51820', 'host:70000', 'host:0', 'host:01',
                                   '[::::]:5', '[10.0.0.1]:5', 'a b:5', 'host:5\nPostUp = id', '[fe80::1%eth0]:5',
                                   'host_1:5', ':5', 'host:', 5, None, ['host:5']])
def test_endpoint_rejects(value):
    with pytest.raises(canonical.Invalid):
        canonical.endpoint(value)


@pytest.mark.parametrize('parse, value', [
    (canonical.address, 'fe80::1%x\nPreUp = id'),
    (canonical.address, 'fe80::1%eth0'),
    (canonical.interface_address, 'fe80::1%eth0/64'),
    (canonical.network, '::%x/0'),
    (canonical.network, '10.0.0.0/24\n'),
    (canonical.host_address, '10.0.0.0/24'),
    (canonical.address, ' 10.0.0.1'),
    (canonical.address, 10),
])
def test_addresses_refuse_scope_ids_and_control_characters(parse, value):
    with pytest.raises(canonical.Invalid):
        parse(value)


def test_addresses_are_written_as_ipaddress_prints_them():
    assert canonical.address('FDCC:0::2') == 'fdcc::2'
    assert canonical.interface_address('10.10.0.2') == '10.10.0.2/32'
    assert canonical.network('2001:DB8::/32') == '2001:db8::/32'
    assert canonical.network('10.0.0.5/8', strict=False) == '10.0.0.0/8'
    assert canonical.host_address('10.0.0.1/32') == '10.0.0.1'
    with pytest.raises(canonical.Invalid, match='host bits set .the network is 10.0.0.0/8'):
        canonical.network('10.0.0.5/8')


def test_wireguard_key_never_echoes_the_value():
    with pytest.raises(canonical.Invalid) as error:
        canonical.wireguard_key('secret-but-wrong')
    assert 'secret' not in str(error.value)
    with pytest.raises(canonical.Invalid):
        canonical.wireguard_key(KEY + '\n')
    assert canonical.wireguard_key(KEY) == KEY


@pytest.mark.parametrize('value', ['a\u200bb', 'a\u2028b', 'a\x00', 'a\tb', 'a b', '', 'é\u0301\u202e'])
def test_plain_text_refuses_invisible_and_control_characters(value):
    with pytest.raises(canonical.Invalid):
        canonical.plain_text(value)


def character_by_character(value):
    """plain_text's rule, spelled out: no whitespace, no character of Unicode's categories C and Z."""
    return not any(char.isspace() or unicodedata.category(char)[0] in 'CZ' for char in value)


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=1, max_size=12) | st.text(alphabet=st.characters(max_codepoint=127), min_size=1, max_size=12))
def test_plain_text_takes_what_a_look_at_each_character_takes(value):
    # Its fast path (printable ASCII without a space) must take nothing the character loop refuses, and the reverse.
    try:
        taken = canonical.plain_text(value) == value
    except canonical.Invalid:
        taken = False
    assert taken == character_by_character(value)


def test_safe_strings_names_the_nested_value():
    with pytest.raises(canonical.Invalid, match=r'rules\[1\]\.comment holds a control character \(U\+000A\)'):
        canonical.safe_strings([{'comment': 'ok'}, {'comment': 'a\nb'}], 'rules')
    assert canonical.safe_strings({'a': ['x y', 1, None]}) == {'a': ['x y', 1, None]}


@pytest.mark.parametrize('value, low, high, expected', [(5, 1, 9, 5), ('0x10', 0, 99, 16), ('42', 0, 99, 42)])
def test_integer(value, low, high, expected):
    assert canonical.integer(value, low, high) == expected


@pytest.mark.parametrize('value', [True, 1.5, '1e3', '-1', [], None, 100])
def test_integer_rejects(value):
    with pytest.raises(canonical.Invalid):
        canonical.integer(value, 0, 99)


def test_a_refusal_keeps_its_hint_apart_from_its_reason():
    # A list file's line is named by number with the reason alone: the hint would show part of the line.
    with pytest.raises(canonical.Invalid) as refused:
        canonical.network('10.20.30.40/24')
    assert refused.value.reason == 'has host bits set'
    assert str(refused.value) == 'has host bits set (the network is 10.20.30.0/24)'
    with pytest.raises(canonical.Invalid) as refused:
        canonical.network('10.20.30.400/24')
    assert refused.value.reason == str(refused.value) == 'not an IPv4 or IPv6 network'


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='0123456789./', max_size=20) | st.builds(
    lambda octets, length: '.'.join(str(octet) for octet in octets) + ('' if length is None else '/%d' % length),
    st.lists(st.integers(0, 300), min_size=4, max_size=4), st.none() | st.integers(0, 40)))
def test_the_ipv4_fast_path_says_what_ipaddress_says_or_leaves_it_to_ipaddress(text):
    fast = canonical.ipv4_network_text(text)
    try:
        printed = str(ipaddress.ip_network(text))
    except ValueError:
        printed = None
    if fast is not None:
        assert fast == printed
    if printed in (text, text + '/32'):
        assert fast == printed  # written as ipaddress prints it: the fast path takes it
