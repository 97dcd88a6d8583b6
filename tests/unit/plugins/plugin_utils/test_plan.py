"""plan: marks and tables per upstream, sets per client, the chain's rules and the resolver lines."""
import copy

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan, stale_sets

KEY = 'AN4iduTGHMTHpWt659cEYnWkPAgJfpvCz0+xgHQFsFs='
SETTINGS = dict(server_interface='wg0', server_networks=['10.8.0.1/24', 'fdcc::1/112'])


def upstream(name, upstream_id, **extra):
    return dict(dict(name=name, id=upstream_id, endpoint='%s.example.com:51820' % name, public_key=KEY,
                     private_key=KEY, address='10.10.%d.2/32' % upstream_id), **extra)


UPSTREAMS = [upstream('us', 1), upstream('eu', 2, dns=['10.10.2.1'])]
CLIENTS = [
    dict(name='alice', address=['10.8.0.2', 'fdcc::2'], upstream='us', rules=[
        dict(type='domain', value='google.com'),
        dict(type='domain', value='maps.google.com', action='direct'),
        dict(type='ip', value='203.0.113.0/24'),
        dict(type='ip', value='198.51.100.7', action='direct'),
        dict(type='ip', value='192.0.2.1', enabled=False)]),
    dict(name='bob', address='10.8.0.3', upstream='eu', rules=[
        dict(type='domain', value='google.com'), dict(type='domain', value='video.example.net')]),
    dict(name='carol', address='10.8.0.4', upstream='eu', default_action='proxy', rules=[
        dict(type='domain', value='bank.example', action='direct')]),
    dict(name='dave', address='10.8.0.5', upstream='us', enabled=False, rules=[dict(type='domain', value='x.org')]),
]


def make_plan(upstreams=None, clients=None, **settings):
    errors, checked_upstreams, checked_clients = check_inventory(upstreams or UPSTREAMS, clients or CLIENTS,
                                                                 SETTINGS['server_networks'])
    assert errors == []
    return plan(checked_upstreams, checked_clients, dict(SETTINGS, **settings))


def test_upstream_mark_table_and_kill_switch():
    us = make_plan()['upstreams'][0]
    assert (us['interface'], us['mark'], us['mask'], us['table']) == ('wg-up-1', 0x1000000, 0xff000000, 51001)
    inet = us['routing'][0]
    assert inet['rules'] == [dict(priority=5000, fwmark=0x1000000, fwmask=0xff000000)]
    assert inet['routes'] == [dict(to='default', type='unreachable', metric=4000)]
    assert 'private_key' not in us and 'preshared_key' not in us


def test_upstream_resolvers_are_routed_through_the_tunnel():
    eu = make_plan()['upstreams'][1]
    assert dict(priority=5000, to='10.10.2.1') in eu['routing'][0]['rules']
    assert dict(priority=5000, to='10.10.2.1') not in eu['routing'][1]['rules']


def test_configurable_mask_shifts_marks():
    us = make_plan(mark_mask=0xff00, table_base=100)['upstreams'][0]
    assert (us['mark'], us['table']) == (0x100, 101)


def test_id_that_does_not_fit_the_mask_is_an_error():
    result = make_plan(mark_mask=0x3)
    assert "upstream 'eu': id 2 does not fit" not in ' '.join(result['errors'])
    result = make_plan(mark_mask=0x1)
    assert "upstream 'eu': id 2 does not fit wgsplit_mark_mask 0x1 (at most 1)" in result['errors']


def test_sets_per_client_action_and_family():
    result = make_plan()
    assert [item['name'] for item in result['sets']] == [
        'wgs-alice-d4', 'wgs-alice-d6', 'wgs-alice-p4', 'wgs-alice-p6', 'wgs-bob-p4', 'wgs-carol-d4']
    assert dict(name='wgs-alice-p6', family='inet6') in result['sets']


def test_resolver_line_per_domain_lists_what_each_clients_nearest_rule_says():
    lines = make_plan()['resolver_lines']
    assert lines == [
        'ipset=/bank.example/wgs-carol-d4',
        'ipset=/google.com/wgs-alice-p4,wgs-alice-p6,wgs-bob-p4',
        # bob has no rule for maps.google.com: his google.com rule still covers it.
        'ipset=/maps.google.com/wgs-alice-d4,wgs-alice-d6,wgs-bob-p4',
        # Only bob proxies it, through eu, which has a resolver: asked through eu's tunnel.
        'server=/maps.google.com/10.10.2.1',
        'ipset=/video.example.net/wgs-bob-p4',
        'server=/video.example.net/10.10.2.1',
    ]


def test_proxied_only_through_one_upstream_with_resolvers_asks_them_and_children_revert():
    clients = [dict(name='bob', address='10.8.0.3', upstream='eu', rules=[
        dict(type='domain', value='example.com'), dict(type='domain', value='www.example.com', action='direct')])]
    assert make_plan(clients=clients)['resolver_lines'] == [
        'ipset=/example.com/wgs-bob-p4', 'server=/example.com/10.10.2.1',
        'ipset=/www.example.com/wgs-bob-d4', 'server=/www.example.com/#']


def test_same_domain_proxy_and_direct_goes_direct():
    clients = [dict(name='bob', address='10.8.0.3', upstream='us', rules=[
        dict(type='domain', value='example.com'), dict(type='domain', value='example.com', action='direct')])]
    assert make_plan(clients=clients)['resolver_lines'] == ['ipset=/example.com/wgs-bob-d4']


def test_client_rules_direct_before_proxy_per_address():
    rules = make_plan()['client_rules']
    assert rules[:2] == [dict(comment='wgsplit server network', destination='10.8.0.0/24', action='return'),
                         dict(comment='wgsplit server network', destination='fdcc::/112', action='return')]
    alice = [rule for rule in rules if rule['comment'].startswith('wgsplit alice')]
    assert [(rule['source'], rule['action'], rule.get('destination') or rule.get('match_set')) for rule in alice] == [
        ('10.8.0.2', 'return', '198.51.100.7/32'),
        ('10.8.0.2', 'return', 'wgs-alice-d4'),
        ('10.8.0.2', 'mark', '203.0.113.0/24'),
        ('10.8.0.2', 'mark', 'wgs-alice-p4'),
        ('fdcc::2', 'return', 'wgs-alice-d6'),
        ('fdcc::2', 'mark', 'wgs-alice-p6'),
    ]
    carol = [rule for rule in rules if rule['comment'].startswith('wgsplit carol')]
    assert carol[-1] == dict(comment='wgsplit carol proxy by default', source='10.8.0.4', action='mark',
                             mark=0x2000000, mask=0xff000000)
    assert not [rule for rule in rules if 'dave' in rule['comment']]


def test_disabled_upstream_warns_and_does_not_split():
    upstreams = [upstream('us', 1, enabled=False), UPSTREAMS[1]]
    result = make_plan(upstreams=upstreams)
    assert result['warnings'] == ["client 'alice' is not split: its upstream 'us' is disabled"]
    assert [client['name'] for client in result['clients']] == ['bob', 'carol']
    assert [item['name'] for item in result['upstreams']] == ['eu']
    assert [rule['out_interface'] for rule in result['snat_rules']] == ['wg-up-2']


def test_upstream_disabled_for_one_client_is_as_if_absent():
    clients = copy.deepcopy(CLIENTS)
    clients[0]['upstream_enabled'] = False
    result = make_plan(clients=clients)
    assert 'alice' not in [client['name'] for client in result['clients']]
    assert not [line for line in result['resolver_lines'] if 'alice' in line]


def test_dns_redirect_per_client_address_and_protocol():
    rules = make_plan()['dns_rules']
    assert len(rules) == 2 * 4  # alice (two addresses), bob, carol
    assert rules[0] == dict(comment='wgsplit alice dns', in_interface='wg0', source='10.8.0.2', protocol='udp',
                            destination_port=53, action='redirect', to_ports='53')
    assert make_plan(dns_redirect=False)['dns_rules'] == []


def test_hundred_dual_stack_clients_with_domain_and_ip_rules_fit_the_kernel():
    upstreams = [upstream('u%d' % number, number) for number in range(1, 5)]
    clients = [dict(name='client%03d' % number, address=['10.8.0.%d' % (number + 1), 'fdcc::%x' % (number + 1)],
                    upstream='u%d' % (number % 4 + 1),
                    rules=[dict(type='domain', value='site%d.example' % number),
                           dict(type='domain', value='shared.example'),
                           dict(type='ip', value='198.51.100.%d' % number),
                           dict(type='ip', value='203.0.113.0/24', action='direct')])
               for number in range(100)]
    result = make_plan(upstreams=upstreams, clients=clients)
    assert result['errors'] == []
    assert len(result['sets']) == 200
    shared = [line for line in result['resolver_lines'] if line.startswith('ipset=/shared.example/')][0]
    assert len(shared.split('/')[2].split(',')) == 200


def test_set_budget_counts_foreign_sets():
    result = make_plan(foreign_sets=252)
    assert result['errors'] == ['the clients need 6 ipsets but only 4 are free (kernel limit 256, 252 used by other'
                                ' software): fewer clients with domain rules, or raise ip_set max_sets']


def test_stale_sets_are_those_that_lost_a_domain():
    old = 'ipset=/google.com/wgs-alice-p4,wgs-bob-p4\nipset=/x.org/wgs-bob-p4\nserver=/x.org/#\n'
    assert stale_sets(old, ['ipset=/google.com/wgs-alice-p4,wgs-bob-p4', 'ipset=/y.org/wgs-bob-p4']) == ['wgs-bob-p4']
    assert stale_sets(old, ['ipset=/google.com/wgs-alice-p4', 'ipset=/x.org/wgs-bob-p4']) == ['wgs-bob-p4']
    grown = ['ipset=/google.com/wgs-alice-p4,wgs-bob-p4', 'ipset=/x.org/wgs-bob-p4', 'ipset=/z.org/wgs-bob-p4']
    assert stale_sets(old, grown) == []
    assert stale_sets(None, ['ipset=/google.com/wgs-alice-p4']) == []
