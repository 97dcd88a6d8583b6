"""shadowed: a proxy network inside one of the client's direct networks goes direct (a destination in both goes
direct); the plan warns of it, once for the clients that share the same rules."""
import ipaddress

from hypothesis import given, strategies as st

from ansible_collections.wgsplit.gateway.plugins.plugin_utils import shadowed
from test_rule_sets import client, make
from test_plan import CLIENTS, make_plan


def rule(value, action='proxy'):
    return dict(type='ip', value=value, action=action, enabled=True)


def own_only(rules, families=(4, 6)):
    return shadowed.shadowed(shadowed.Lists([]), rules, families)


def test_a_proxy_network_inside_a_direct_one_is_found_with_the_network_that_holds_it():
    rules = [rule('10.0.0.0/8', 'direct'), rule('10.1.2.0/24'), rule('10.1.2.0/24', 'direct'), rule('11.0.0.0/24'),
             rule('2001:db8::/32', 'direct'), rule('2001:db8:1::/48'), rule('2001:db9::/48'), rule('10.0.0.0/7'),
             rule('198.51.100.7', 'direct'), rule('198.51.100.7'), rule('192.0.2.0/25', 'direct'), rule('192.0.2.128/25', 'direct'),
             rule('192.0.2.0/24'), dict(type='domain', value='10.example', action='direct', enabled=True)]
    # The largest holder is named; 10.0.0.0/7 holds 10.0.0.0/8, it is not in it; 192.0.2.0/24 is in no one of them.
    assert own_only(rules) == [('10.1.2.0/24', '10.0.0.0/8'), ('198.51.100.7/32', '198.51.100.7/32'),
                               ('2001:db8:1::/48', '2001:db8::/32')]
    assert own_only(rules, families=[6]) == [('2001:db8:1::/48', '2001:db8::/32')]
    assert own_only([rule('10.1.0.0/16', 'direct')]) == []


def test_a_direct_rule_of_the_clients_own_over_a_listed_proxy_network_is_an_exception_not_a_warning():
    lists = shadowed.Lists([rule('203.0.113.0/24'), rule('198.51.100.0/24'), rule('198.51.0.0/16', 'direct')])
    assert shadowed.shadowed(lists, [rule('203.0.0.0/8', 'direct')], [4]) == [('198.51.100.0/24', '198.51.0.0/16')]


def test_the_plan_warns_once_for_clients_with_the_same_rules_and_names_the_first_pairs():
    lists = [dict(name='national', rules=[rule('203.0.0.0/8', 'direct'), rule('198.51.0.0/16', 'direct')])]
    own = [dict(type='ip', value='203.0.113.%d/32' % number) for number in range(5)]
    clients = [client('alice', '10.8.0.2', rule_sets=['national'], rules=own),
               client('bob', '10.8.0.3', rule_sets=['national', 'proxied']),
               client('carol', '10.8.0.4', rule_sets=['national', 'proxied']),
               client('dave', '10.8.0.5', rule_sets=['national'])]
    lists.append(dict(name='proxied', rules=[rule('198.51.100.0/24')]))
    warnings = make(clients, lists, files={})['warnings']
    assert warnings == [
        "client 'alice': proxy networks inside a direct network go direct (a destination in both goes direct):"
        " 203.0.113.0/32 within 203.0.0.0/8, 203.0.113.1/32 within 203.0.0.0/8, 203.0.113.2/32 within 203.0.0.0/8"
        " and 2 more",
        "client 'bob' and 1 more with the same rules: proxy networks inside a direct network go direct (a destination"
        " in both goes direct): 198.51.100.0/24 within 198.51.0.0/16"]
    assert make_plan(clients=CLIENTS)['warnings'] == []  # a direct address beside a proxy network: no warning


networks = st.builds(lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
                     st.integers(0, 2 ** 32 - 1), st.integers(0, 32))


def held(network, directs):
    return any(network.subnet_of(direct) for direct in directs)


@given(st.lists(networks, max_size=12), st.lists(networks, max_size=12))
def test_exactly_the_proxy_networks_one_direct_network_holds_are_found(direct, proxy):
    rules = [rule(str(net), 'direct') for net in direct] + [rule(str(net)) for net in proxy]
    found = own_only(rules)
    assert [pair[0] for pair in found] == sorted(set(str(net) for net in proxy if held(net, direct)))
    assert all(ipaddress.ip_network(proxy).subnet_of(ipaddress.ip_network(holder)) and ipaddress.ip_network(holder) in direct
               for proxy, holder in found)


@given(st.lists(networks, max_size=8), st.lists(networks, max_size=8), st.lists(networks, max_size=8),
       st.lists(networks, max_size=8))
def test_listed_and_own_proxy_networks_are_found_as_said(listed_direct, listed_proxy, own_direct, own_proxy):
    listed = [rule(str(net), 'direct') for net in listed_direct] + [rule(str(net)) for net in listed_proxy]
    own = [rule(str(net), 'direct') for net in own_direct] + [rule(str(net)) for net in own_proxy]
    found = dict(shadowed.shadowed(shadowed.Lists(listed), own, [4]))
    expected = set(str(net) for net in listed_proxy if held(net, listed_direct))
    expected |= set(str(net) for net in own_proxy if held(net, listed_direct + own_direct))
    assert set(found) == expected
