import pytest

from ansible_collections.wgsplit.gateway.plugins.module_utils import routing


@pytest.mark.parametrize('entry, expected', [
    ({'priority': 100, 'src': 'all', 'fwmark': '0x10000', 'fwmask': '0xff0000', 'table': '7', 'protocol': '233'},
     'priority 100 from all fwmark 0x10000/0xff0000 lookup 7 protocol 233'),
    ({'priority': 101, 'src': '10.8.0.2', 'fwmark': '0x1', 'iif': 'wg0', 'table': '7'},
     'priority 101 from 10.8.0.2 fwmark 0x1 iif wg0 lookup 7 protocol 233'),
    ({'priority': 102, 'src': '10.8.0.0', 'srclen': 24, 'dst': '1.2.3.0', 'dstlen': 24, 'oif': 'x', 'table': '7'},
     'priority 102 from 10.8.0.0/24 to 1.2.3.0/24 oif x lookup 7 protocol 233'),
    # As `ip -N -j rule` prints an inverted rule and one whose interface does not exist yet.
    ({'priority': 5001, 'not': None, 'src': 'all', 'fwmark': '0', 'fwmask': '0xff000000', 'table': '7'},
     'priority 5001 not from all fwmark 0x0/0xff000000 lookup 7 protocol 233'),
    ({'priority': 5001, 'src': 'all', 'fwmark': '0', 'fwmask': '0xff800000', 'iif': 'wg0', 'iif_detached': None,
      'table': '7'}, 'priority 5001 from all fwmark 0x0/0xff800000 iif wg0 lookup 7 protocol 233'),
])
def test_rule_json_renders_like_the_spec(entry, expected):
    assert routing.render_rule(routing.rule_from_json(entry), 'inet', 7, 233) == expected


def test_rule_with_unmanaged_options_is_refused():
    with pytest.raises(ValueError, match='options this module does not manage'):
        routing.rule_from_json({'priority': 1, 'tos': '0x10', 'src': 'all', 'table': '7'})


def test_rule_spec_renders_like_the_kernel():
    rule = {'priority': 5, 'from': '10.8.0.2/32', 'fwmark': 0x100, 'fwmask': 0xffffffff}
    assert routing.render_rule(rule, 'inet', 9, 233) == 'priority 5 from 10.8.0.2 fwmark 0x100 lookup 9 protocol 233'
    inverted = {'priority': 6, 'invert': True, 'fwmark': 0, 'fwmask': 0xff000000}
    assert routing.render_rule(inverted, 'inet', 9, 77) == 'priority 6 not from all fwmark 0x0/0xff000000 lookup 9' \
        ' protocol 77'


@pytest.mark.parametrize('rule', [
    {'priority': 5, 'iif': 'wg0\nrule flush'},
    {'priority': 5, 'to': 'fe80::1%wg0'},
])
def test_rule_spec_with_hostile_values_is_refused(rule):
    with pytest.raises(ValueError):
        routing.render_rule(rule, 'inet6', 9, 233)


@pytest.mark.parametrize('entry, family, expected', [
    ({'type': 'unreachable', 'dst': 'default', 'metric': 4000}, 'inet', 'unreachable default metric 4000'),
    ({'type': 'unreachable', 'dst': 'default', 'dev': 'lo', 'metric': 1024}, 'inet6', 'unreachable default'),
    ({'dst': 'default', 'dev': 'wg-up-1'}, 'inet', 'default dev wg-up-1'),
    ({'dst': '10.0.0.1', 'gateway': '192.0.2.1', 'dev': 'eth0'}, 'inet', '10.0.0.1 via 192.0.2.1 dev eth0'),
])
def test_route_json_renders_like_the_spec(entry, family, expected):
    assert routing.render_route(routing.route_from_json(entry), family) == expected


def test_route_spec_defaults():
    assert routing.render_route({'type': 'unreachable', 'to': '0.0.0.0/0', 'metric': 4000}, 'inet') == \
        'unreachable default metric 4000'
    assert routing.render_route({'to': '10.3.0.9/16', 'dev': 'd'}, 'inet') == '10.3.0.0/16 dev d'


def test_route_spec_of_the_wrong_family():
    with pytest.raises(ValueError, match='not an IPv6'):
        routing.render_route({'to': '10.0.0.0/8', 'dev': 'd'}, 'inet6')


def test_batch_adds_before_it_deletes_and_skips_deleting_what_replace_swaps():
    current = dict(rules=['priority 1 from all lookup 9'], routes=['default dev a', 'unreachable default metric 4000'])
    wanted = dict(rules=['priority 2 from all lookup 9'], routes=['default dev b'])
    assert routing.batch_lines(9, 233, current, wanted) == [
        'rule add priority 2 from all lookup 9',
        'route replace default dev b table 9 proto 233',
        'route del unreachable default metric 4000 table 9 proto 233',
        'rule del priority 1 from all lookup 9',
    ]


def test_canonical_orders_rules_by_priority_number():
    state = routing.canonical(['priority 10 from all lookup 9', 'priority 9 from all lookup 9'], [])
    assert state['rules'] == ['priority 9 from all lookup 9', 'priority 10 from all lookup 9']


def test_route_next_hop_with_a_scope_id_is_refused():
    with pytest.raises(ValueError, match='scope IDs'):
        routing.render_route({'to': 'default', 'via': 'fe80::1%eth0'}, 'inet6')
    with pytest.raises(ValueError, match='whitespace'):
        routing.render_route({'to': 'default', 'via': 'fe80::1 dev lo table 254'}, 'inet6')
