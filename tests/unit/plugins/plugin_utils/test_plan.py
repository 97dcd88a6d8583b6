"""plan: marks and tables per upstream, the refusal table, sets and chains per client, the resolver,
pre-flight checks against what discovery found, removals by marker, and the secrets kept apart."""
import copy

from ansible_collections.wgsplit.gateway.plugins.module_utils.chains import render_rules
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan

KEY = 'AN4iduTGHMTHpWt659cEYnWkPAgJfpvCz0+xgHQFsFs='
OTHER_KEY = 'kCoRrDe4wPJ3mwQ5fX8G9ZVd2o4xQe0Q2bjYUuNrdW0='
SERVER = dict(name='wg0', exists=True, addresses=['10.8.0.1/24', 'fdcc::1/112'], peers=[])
DISCOVERY = dict(server=SERVER, ipsets=dict(names=[], persisted=[], max_sets=256), chains=[], kernel_chains=[],
                 routing=dict(inet=[], inet6=[]), wireguard=dict(configs=[], links=['lo', 'eth0', 'wg0']),
                 resolver=dict(config=None), metrics={}, kept_clients={}, listeners=[],
                 nftables=dict(exists=False, owned=False, sets=[]))


def upstream(name, upstream_id, **extra):
    return dict(dict(name=name, id=upstream_id, endpoint='%s.example.com:51820' % name, public_key=KEY,
                     private_key=KEY, address='10.10.%d.2/32' % upstream_id), **extra)


UPSTREAMS = [upstream('us', 1, preshared_key=OTHER_KEY), upstream('eu', 2, dns=['10.10.2.1'])]
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


def make_plan(upstreams=None, clients=None, discovery=None, **settings):
    variables = dict(dict(dns_servers=['1.1.1.1'], upstreams=upstreams or UPSTREAMS, clients=clients or CLIENTS),
                     **settings)
    discovery = discovery or DISCOVERY
    checked = check_inventory(variables, discovery['server'], kept=discovery.get('kept_clients'))
    assert checked['errors'] == []
    return plan(checked, discovery)


def discovered(**changes):
    result = copy.deepcopy(DISCOVERY)
    for key, value in changes.items():
        result[key] = dict(result[key], **value) if isinstance(result[key], dict) else value
    return result


def chains(result):
    return [item for role in ('split_client', 'wg_upstream', 'dnsmasq_split') for item in result['chains'][role]]


def chain(result, name):
    return next(item for item in chains(result) if item['chain'] == name)


def tables(result):
    return result['routing']['wg_upstream'] + result['routing']['split_client']


def set_names(result):
    return sorted(item['name'] for item in result['sets'])


def test_upstream_mark_table_and_kill_switch():
    result = make_plan()
    us = result['upstreams'][0]
    assert (us['interface'], us['mark'], us['table']) == ('wg-up-1', 0x1000000, 51001)
    inet = next(table for table in result['routing']['wg_upstream'] if table['table'] == 51001 and table['family'] == 'inet')
    assert inet['rules'] == [dict(priority=5000, fwmark=0x1000000, fwmask=0xff800000)]
    assert inet['routes'] == [dict(to='default', type='unreachable', metric=4000)]


def test_secrets_are_kept_apart_from_the_plan():
    result = make_plan()
    assert [(spec['name'], spec['private_key'], spec['preshared_key']) for spec in result['secrets']['wg_upstream']] == [
        ('wg-up-1', KEY, OTHER_KEY), ('wg-up-2', KEY, None)]
    assert result['secrets']['wg_upstream'][0] == dict(
        name='wg-up-1', private_key=KEY, public_key=KEY, preshared_key=OTHER_KEY, endpoint='us.example.com:51820',
        addresses=['10.10.1.2/32'], allowed_ips=['0.0.0.0/0'], persistent_keepalive=25, mtu=1420, table='51001',
        rp_filter=2)
    public = dict(result, secrets=None)
    assert OTHER_KEY not in repr(public)
    assert not [upstream for upstream in result['upstreams'] if 'private_key' in upstream or 'preshared_key' in upstream]


def test_refusal_table_for_unclassified_packets_and_marks_without_their_rule():
    result = make_plan()
    for inet in ('inet', 'inet6'):
        refusal = next(table for table in result['routing']['split_client'] if table['family'] == inet)
        assert refusal['table'] == 51000
        assert refusal['routes'] == [dict(to='default', type='unreachable', metric=4000)]
        # Any upstream bit on a packet of wg0 that the upstream rules did not take (the raw table's "not
        # classified" mark has them all): one rule per bit of the id field, none on unmarked packets (the
        # reverse-path checks of replies look up with mark 0), none without the interface (other software's marks).
        assert refusal['rules'][:8] == [dict(priority=5001, iif='wg0', fwmark=1 << bit, fwmask=1 << bit)
                                        for bit in range(24, 32)]
    raw = [item for item in result['chains']['split_client'] if item['table'] == 'raw'][0]
    assert raw['jump_from'] == ['PREROUTING'] and result['chains']['split_client'][-1] is raw
    assert raw['rules'] == [dict(comment='wgsplit not classified yet', in_interface='wg0', action='mark',
                                 mark=0xff800000, mask=0xff800000)]


def test_upstream_resolvers_are_routed_through_the_tunnel():
    result = make_plan()
    eu = [table for table in tables(result) if table['table'] == 51002]
    # The gateway's own queries only: a client's packet to that address is classified as any other (not classified
    # or another upstream's mark: refused or through its own upstream, never through eu because of the address).
    assert [rule for rule in eu[0]['rules'] if 'to' in rule] == [dict(priority=5000, iif='lo', to='10.10.2.1')]
    assert [rule for rule in eu[1]['rules'] if 'to' in rule] == []


def test_configurable_mask_shifts_marks():
    result = make_plan(mark_mask=0xff00, table_base=1000)
    us = result['upstreams'][0]
    assert (us['mark'], us['table']) == (0x200, 1001)
    assert chain(result, 'WGSPLIT_CLIENTS')['rules'][-1] == dict(comment='wgsplit not a split client', action='mark',
                                                                 mark=0x100, mask=0xff00)
    refusal = result['routing']['split_client'][0]['rules']
    assert [rule['fwmark'] for rule in refusal if 'fwmark' in rule] == [1 << bit for bit in range(9, 16)]


def test_id_that_does_not_fit_the_mask_is_an_error():
    result = make_plan(mark_mask=0x7)
    assert "upstream 'eu': id 2 does not fit" not in ' '.join(result['errors'])
    result = make_plan(mark_mask=0x3)
    assert "upstream 'eu': id 2 does not fit wgsplit_mark_mask 0x3 (at most 1)" in result['errors']


def test_sets_per_client_action_and_family():
    result = make_plan()
    families = dict(wgs_alice_d4='inet', wgs_alice_d6='inet6', wgs_alice_p4='inet', wgs_alice_p6='inet6',
                    wgs_bob_p4='inet', wgs_carol_d4='inet')
    assert result['sets'][:len(families)] == [dict(name=key.replace('_', '-'), family=inet, type='hash:ip', timeout=86400,
                                                   maxelem=65536) for key, inet in sorted(families.items())]


def test_resolver_line_per_domain_lists_what_each_clients_nearest_rule_says():
    lines = make_plan()['resolver']['lines']
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


def test_resolver_configuration_is_rendered_from_canonical_values():
    config = make_plan(dns_servers=['1.1.1.1', '2606:4700::1111'], resolver_max_ttl=120)['resolver']['config']
    lines = config.splitlines()
    assert lines[0].startswith('# Written by wgsplit.gateway')
    assert 'interface=wg0' in lines and 'max-ttl=120' in lines and 'max-cache-ttl=120' in lines
    assert lines.index('server=1.1.1.1') < lines.index('server=2606:4700::1111') < lines.index(
        'server=/bank.example/127.53.0.1')
    # So few domains share one back resolver, which has the default servers and a line per domain.
    backs = [item['text'].splitlines() for item in make_plan()['resolver']['backs']]
    assert len(backs) == 1 and 'server=1.1.1.1' in backs[0] and 'ipset=/bank.example/wgs-carol-d4' in backs[0]


def test_proxied_only_through_one_upstream_with_resolvers_asks_them_and_children_revert():
    clients = [dict(name='bob', address='10.8.0.3', upstream='eu', rules=[
        dict(type='domain', value='example.com'), dict(type='domain', value='www.example.com', action='direct')])]
    assert make_plan(clients=clients)['resolver']['lines'] == [
        'ipset=/example.com/wgs-bob-p4', 'server=/example.com/10.10.2.1',
        'ipset=/www.example.com/wgs-bob-d4', 'server=/www.example.com/#']


def test_same_domain_proxy_and_direct_goes_direct():
    clients = [dict(name='bob', address='10.8.0.3', upstream='us', rules=[
        dict(type='domain', value='example.com'), dict(type='domain', value='example.com', action='direct')])]
    assert make_plan(clients=clients)['resolver']['lines'] == ['ipset=/example.com/wgs-bob-d4']


def test_each_client_has_its_own_chain_the_last_match_wins():
    result = make_plan()
    alice = chain(result, 'wgs-alice')
    assert (alice['table'], alice['jump_from']) == ('mangle', [])
    assert [(rule['mark'], rule.get('destination') or rule.get('match_set'), rule.get('family'))
            for rule in alice['rules']] == [
        (0x800000, None, None),  # default: direct
        (0x1000000, '203.0.113.0/24', None),
        (0x1000000, 'wgs-alice-p4', 'inet'),
        (0x1000000, 'wgs-alice-p6', 'inet6'),
        (0x800000, '198.51.100.7/32', None),  # direct matches last: matched both ways goes direct
        (0x800000, 'wgs-alice-d4', 'inet'),
        (0x800000, 'wgs-alice-d6', 'inet6'),
        (0xff800000, None, None),  # DNS, redirected to the gateway: "not classified", refused if still forwarded
        (0xff800000, None, None),
    ]
    assert [(rule.get('protocol'), rule.get('destination_port')) for rule in alice['rules'][-2:]] == [('udp', 53), ('tcp', 53)]
    assert all(rule['action'] == 'mark' and rule['mask'] == 0xff800000 for rule in alice['rules'])
    assert 'protocol' not in chain(make_plan(dns_redirect=False), 'wgs-alice')['rules'][-1]  # nothing to guard
    carol = chain(result, 'wgs-carol')['rules']
    assert carol[0] == dict(comment='wgsplit carol proxy by default', action='mark', mark=0x2000000, mask=0xff800000)
    assert not [item for item in chains(result) if 'dave' in item['chain']]


def test_every_connection_gets_a_mark_direct_or_upstream():
    result = make_plan()
    mark_chain = [item for item in result['chains']['split_client'] if item['table'] == 'mangle' and item['chain'] == 'WGSPLIT'][0]
    assert mark_chain['jump_from'] == ['PREROUTING']
    rules = mark_chain['rules']
    # Only a classified connection's mark replaces "not classified" (a flushed client chain leaves it refused).
    assert rules[0] == dict(comment='wgsplit keep the mark of a connection', in_interface='wg0', match_connmark=0,
                            match_connmask=0xff800000, match_connmark_negate=True, action='connmark_restore',
                            mask=0xff800000)
    # A packet the raw chain did not mark (that chain or its jump gone) is "not classified" all the same: classified,
    # never left unmarked (direct).
    assert rules[1] == dict(comment='wgsplit no raw mark: not classified yet', in_interface='wg0', match_mark=0,
                            match_mask=0xff800000, action='mark', mark=0xff800000, mask=0xff800000)
    # Its packets leave the chain: nothing after changes a restored mark.
    assert rules[2] == dict(comment='wgsplit a classified connection', in_interface='wg0', match_mark=0xff800000,
                            match_mask=0xff800000, match_mark_negate=True, action='return')
    assert [(rule['action'], rule.get('ctdir'), rule.get('target')) for rule in rules[3:5]] == [
        ('mark', 'REPLY', None), ('jump', None, 'WGSPLIT_CLIENTS')]
    # The server's own networks are always direct, even for a client proxying by default.
    assert rules[5:7] == [dict(comment='wgsplit server network', in_interface='wg0', destination=network,
                               action='mark', mark=0x800000, mask=0xff800000) for network in ('10.8.0.0/24', 'fdcc::/112')]
    assert rules[-1]['action'] == 'connmark_save' and rules[-1]['match_mark_negate'] is True
    dispatch = chain(result, 'WGSPLIT_CLIENTS')['rules']
    assert [(rule.get('source'), rule['action'], rule.get('target')) for rule in dispatch] == [
        ('10.8.0.2', 'goto', 'wgs-alice'), ('fdcc::2', 'goto', 'wgs-alice'), ('10.8.0.3', 'goto', 'wgs-bob'),
        ('10.8.0.4', 'goto', 'wgs-carol'), (None, 'mark', None)]
    names = [item['chain'] for item in result['chains']['split_client']]
    assert names.index('wgs-alice') < names.index('WGSPLIT_CLIENTS') < names.index('WGSPLIT')


def test_disabled_upstream_warns_and_does_not_split():
    upstreams = [upstream('us', 1, enabled=False), UPSTREAMS[1]]
    result = make_plan(upstreams=upstreams)
    assert result['warnings'] == ["client 'alice' is not split: its upstream 'us' is disabled"]
    assert [item['chain'] for item in chains(result) if item['chain'].startswith('wgs-')] == ['wgs-bob', 'wgs-carol']
    assert [item['name'] for item in result['upstreams']] == ['eu']
    assert [rule['out_interface'] for rule in chain(result, 'WGSPLIT_SNAT')['rules']] == ['wg-up-2']
    assert 51001 not in [table['table'] for table in tables(result)]


def test_upstream_disabled_for_one_client_is_as_if_absent():
    clients = copy.deepcopy(CLIENTS)
    clients[0]['upstream_enabled'] = False
    result = make_plan(clients=clients)
    assert 'wgs-alice' not in [item['chain'] for item in chains(result)]
    assert not [line for line in result['resolver']['lines'] if 'alice' in line]


def test_dns_redirect_per_client_address_and_protocol():
    rules = chain(make_plan(), 'WGSPLIT_DNS')['rules']
    assert len(rules) == 2 * 4  # alice (two addresses), bob, carol
    assert rules[0] == dict(comment='wgsplit alice dns', in_interface='wg0', source='10.8.0.2', protocol='udp',
                            destination_port=53, action='redirect', to_ports=53)
    assert make_plan(dns_redirect=False)['chains']['dnsmasq_split'] == []


def test_a_proxied_or_unclassified_packet_leaves_by_an_upstream_or_not_at_all():
    """The guard, first in the mangle chain from FORWARD (which counts too, when asked): should the ip rules or routes
    be gone, routing would send an upstream's mark or "not classified" the main table's way."""
    guard = dict(comment='wgsplit proxied or not classified, not through an upstream', in_interface='wg0',
                 out_interface_prefix='wg-up-', out_interface_negate=True, match_mark=0, match_mask=0xff000000,
                 match_mark_negate=True, action='drop')
    for settings in (dict(), dict(accounting=False)):
        rules = chain(make_plan(**settings), 'WGSPLIT_COUNT')
        assert rules['table'] == 'mangle' and rules['jump_from'] == ['FORWARD']
        assert rules['rules'][0] == guard
    assert len(chain(make_plan(accounting=False), 'WGSPLIT_COUNT')['rules']) == 1
    assert render_rules('WGSPLIT_COUNT', [guard], ['inet'])['inet'] == [
        '-A WGSPLIT_COUNT -i wg0 ! -o wg-up-+ -m mark ! --mark 0x0/0xff000000 -m comment --comment "wgsplit proxied or'
        ' not classified, not through an upstream" -j DROP']


def test_the_gateways_queries_to_an_upstreams_resolvers_leave_by_an_upstream_or_not_at_all():
    """The OUTPUT guard: should the `iif lo to` rules be gone, the main table would send the resolver's queries for
    proxied names direct (a DNS leak); one rule per resolver of an enabled upstream, in either family."""
    guard = chain(make_plan(), 'WGSPLIT_OUTPUT')
    assert guard['table'] == 'mangle' and guard['jump_from'] == ['OUTPUT']
    assert guard['rules'] == [dict(comment='wgsplit upstream resolver, not through an upstream', destination='10.10.2.1',
                                   out_interface_prefix='wg-up-', out_interface_negate=True, action='drop')]
    assert render_rules('WGSPLIT_OUTPUT', guard['rules'], ['inet', 'inet6']) == dict(inet=[
        '-A WGSPLIT_OUTPUT -d 10.10.2.1/32 ! -o wg-up-+ -m comment --comment "wgsplit upstream resolver, not through an'
        ' upstream" -j DROP'], inet6=[])
    upstreams = [upstream('us', 1, dns=['2001:db8::53', '9.9.9.9']), upstream('eu', 2, dns=['10.10.2.1'], enabled=False)]
    assert [rule['destination'] for rule in chain(make_plan(upstreams=upstreams), 'WGSPLIT_OUTPUT')['rules']] == [
        '2001:db8::53', '9.9.9.9']
    # No upstream resolver, no chain (no hook on the gateway's own traffic); one made before goes.
    assert 'WGSPLIT_OUTPUT' not in [item['chain'] for item in chains(make_plan(upstreams=[UPSTREAMS[0], upstream('eu', 2)]))]
    found = discovered(chains=[dict(table='mangle', chain='WGSPLIT_OUTPUT', family='inet')])
    result = make_plan(upstreams=[UPSTREAMS[0], upstream('eu', 2)], discovery=found)
    assert [item for item in result['chains']['split_client'] if item['chain'] == 'WGSPLIT_OUTPUT'] == [
        dict(table='mangle', chain='WGSPLIT_OUTPUT', jump_from=['OUTPUT'], state='absent')]
    # Once, also when the set prefix starts its name (a client chain is a mangle chain with the prefix).
    result = make_plan(upstreams=[UPSTREAMS[0], upstream('eu', 2)], discovery=found, set_prefix='WGSPLIT')
    assert [item['chain'] for item in result['chains']['split_client']].count('WGSPLIT_OUTPUT') == 1


def test_encrypted_dns_refused_only_when_asked():
    assert 'WGSPLIT_FILTER' not in [item['chain'] for item in chains(make_plan())]
    rules = chain(make_plan(block_encrypted_dns=True), 'WGSPLIT_FILTER')
    assert rules['table'] == 'filter' and rules['jump_from'] == ['FORWARD']
    assert rules['rules'][0] == dict(comment='wgsplit alice no encrypted dns', in_interface='wg0', source='10.8.0.2',
                                     protocol='tcp', destination_port=853, action='reject')
    # A new connection is left "not classified" too, last in the client's chain (the last mark wins): refused by the
    # refusal table should the filter chain or its jump be gone.
    mask = make_plan()['settings']['mark_mask']
    guard = [dict(comment='wgsplit alice no encrypted dns', protocol=protocol, destination_port=853, action='mark',
                  mark=mask, mask=mask) for protocol in ('tcp', 'udp')]
    assert chain(make_plan(block_encrypted_dns=True), 'wgs-alice')['rules'][-2:] == guard
    assert 'no encrypted dns' not in str(chain(make_plan(), 'wgs-alice')['rules'])


def test_hundred_dual_stack_clients_with_domain_and_ip_rules_fit_the_kernel():
    upstreams = [upstream('u%d' % number, number) for number in range(1, 5)]
    clients = [dict(name='client%03d' % number, address=['10.8.0.%d' % (number + 2), 'fdcc::%x' % (number + 2)],
                    upstream='u%d' % (number % 4 + 1),
                    rules=[dict(type='domain', value='site%d.example' % number),
                           dict(type='domain', value='shared.example'),
                           dict(type='ip', value='198.51.100.%d' % number),
                           dict(type='ip', value='203.0.113.0/24', action='direct')])
               for number in range(100)]
    result = make_plan(upstreams=upstreams, clients=clients)
    assert len(set_names(result)) == 200 + 8  # and the accounting sets: four per family
    # One domain for all 100: its line would name 200 sets, longer than dnsmasq reads.
    assert result['errors'] == ['domain shared.example feeds 200 client sets: its resolver line (3421 characters) is'
                                ' longer than dnsmasq reads (1024); fewer clients with a rule on it, or a shorter'
                                ' wgsplit_set_prefix']
    for client in clients[25:]:
        client['rules'] = client['rules'][:1] + client['rules'][2:]
    result = make_plan(upstreams=upstreams, clients=clients)
    assert result['errors'] == []
    shared = [line for line in result['resolver']['lines'] if line.startswith('ipset=/shared.example/')][0]
    assert len(shared.split('/')[2].split(',')) == 50 and len(shared) <= 1024


# Pre-flight ----------------------------------------------------------------------------------------
def test_set_budget_counts_foreign_sets():
    foreign = ['f2b-%d' % number for number in range(252)]
    result = make_plan(discovery=discovered(ipsets=dict(names=foreign)))
    # Six client sets and eight accounting sets.
    assert result['errors'] == ['the clients need 14 ipsets but only 4 are free (kernel limit 256, 252 used by other'
                                ' software): fewer clients with domain rules, or raise ip_set max_sets']


def test_a_set_of_the_collection_name_made_by_someone_else_is_refused():
    result = make_plan(discovery=discovered(ipsets=dict(names=['wgs-bob-p4'])))
    assert result['errors'] == ['set wgs-bob-p4 exists and was not made by the collection; remove it or change'
                                ' wgsplit_set_prefix']
    assert make_plan(discovery=discovered(ipsets=dict(names=['wgs-bob-p4'], persisted=['wgs-bob-p4'])))['errors'] == []


def test_missing_server_interface_is_refused():
    result = make_plan(discovery=discovered(server=dict(exists=False, addresses=[])))
    assert result['errors'] == ['wgsplit_server_interface: wg0 does not exist']


def test_port_53_held_by_another_resolver_on_all_addresses_is_refused():
    listeners = [dict(protocol='udp', address='127.0.0.53', port=53, pid=10, process='systemd-resolve', ours=False),
                 dict(protocol='tcp', address='0.0.0.0', port=53, pid=77, process='dnsmasq', ours=False),
                 dict(protocol='udp', address='10.8.0.1', port=53, pid=88, process='dnsmasq', ours=True)]
    result = make_plan(discovery=discovered(listeners=listeners))
    assert result['errors'] == ['port 53 (tcp) on 0.0.0.0 is held by dnsmasq (pid 77): the resolver could not listen'
                                ' on wg0; stop it or make it listen elsewhere (loopback is fine but for 127.53.0.0/24)']
    assert make_plan(discovery=discovered(listeners=listeners[::2]))['errors'] == []
    # The back resolvers' addresses are the collection's: another program there is refused too.
    back = [dict(protocol='udp', address='127.53.0.7', port=53, pid=99, process='unbound', ours=False)]
    assert make_plan(discovery=discovered(listeners=back))['errors'] == [
        'port 53 (udp) on 127.53.0.7 is held by unbound (pid 99): the back resolvers listen on 127.53.0.1 to'
        ' 127.53.0.250; stop it or make it listen elsewhere']
    assert make_plan(discovery=discovered(listeners=[dict(back[0], ours=True)]))['errors'] == []


def test_foreign_upstream_interface_or_configuration_is_refused():
    foreign_link = discovered(wireguard=dict(links=['wg0', 'wg-up-1']))
    assert make_plan(discovery=foreign_link)['errors'] == [
        "upstream 'us': wg-up-1 exists and was not made by the collection (no configuration with its marker);"
        " choose another id or remove it"]
    foreign_config = discovered(wireguard=dict(configs=[dict(name='wg-up-2', path='/etc/wireguard/wg-up-2.conf',
                                                             owned=False)]))
    assert "upstream 'eu': wg-up-2 exists" in make_plan(discovery=foreign_config)['errors'][0]
    ours = discovered(wireguard=dict(links=['wg-up-1'], configs=[dict(name='wg-up-1', path='x', owned=True)]))
    assert make_plan(discovery=ours)['errors'] == []


# Removals ------------------------------------------------------------------------------------------
def test_removals_are_what_carries_the_collections_marker_and_is_no_longer_planned():
    found = discovered(
        ipsets=dict(names=['wgs-alice-p4', 'wgs-gone-p4', 'wgs-foreign', 'f2b-sshd'],
                    persisted=['wgs-alice-p4', 'wgs-gone-p4', 'mine-standalone']),
        chains=[dict(table='mangle', chain='wgs-gone', family='inet'), dict(table='mangle', chain='wgs-alice', family='inet'),
                dict(table='mangle', chain='MY_OWN', family='inet'), dict(table='filter', chain='WGSPLIT_FILTER',
                                                                          family='inet')],
        routing=dict(inet=[51000, 51001, 51003, 100], inet6=[51003]),
        wireguard=dict(links=['wg-up-3', 'wg-up-9'], configs=[dict(name='wg-up-3', path='a', owned=True),
                                                              dict(name='wg-up-9', path='b', owned=False),
                                                              dict(name='wg-up-1', path='c', owned=True)]))
    removed = make_plan(discovery=found)['removed']
    assert removed['sets'] == ['wgs-gone-p4']
    # Removed in the same mangle_mark call as the chains that stay, after them.
    assert make_plan(discovery=found)['chains']['split_client'][-2:] == [
        dict(table='filter', chain='WGSPLIT_FILTER', jump_from=['FORWARD'], state='absent'),
        dict(table='mangle', chain='wgs-gone', jump_from=[], state='absent')]
    assert make_plan(discovery=found)['routing']['wg_upstream'][-2:] == [
        dict(table=51003, family='inet', state='absent'), dict(table=51003, family='inet6', state='absent')]
    assert make_plan(discovery=found)['secrets']['wg_upstream'][-1] == dict(name='wg-up-3', state='absent')


def test_absent_removes_everything_found_parents_first():
    found = discovered(chains=[dict(table='mangle', chain=name, family='inet')
                               for name in ('wgs-alice', 'WGSPLIT_CLIENTS', 'WGSPLIT')],
                       routing=dict(inet=[51000, 51001], inet6=[51000]),
                       ipsets=dict(names=['wgs-alice-p4'], persisted=['wgs-alice-p4']),
                       wireguard=dict(configs=[dict(name='wg-up-1', path='c', owned=True)]))
    checked = check_inventory(dict(state='absent'), None)
    result = plan(checked, found)
    assert result['errors'] == []
    assert [(item['chain'], item['state']) for item in result['chains']['split_client']] == [
        ('WGSPLIT', 'absent'), ('WGSPLIT_CLIENTS', 'absent'), ('wgs-alice', 'absent')]
    assert result['routing'] == dict(
        split_client=[dict(table=51000, family='inet', state='absent'), dict(table=51000, family='inet6', state='absent')],
        wg_upstream=[dict(table=51001, family='inet', state='absent')], dnsmasq_split=[])
    assert result['removed']['sets'] == ['wgs-alice-p4']
    assert result['secrets']['wg_upstream'] == [dict(name='wg-up-1', state='absent')]
    assert result['resolver']['config'] is None


def test_resolvers_the_running_resolver_still_asks_stay_refused_until_it_restarts():
    # eu no longer has a resolver; the resolver in place still asks 10.10.2.1 for names only bob proxies.
    upstreams = [UPSTREAMS[0], upstream('eu', 2)]
    old = 'server=1.1.1.1\nipset=/video.example.net/wgs-bob-p4\nserver=/video.example.net/10.10.2.1\n'
    result = make_plan(upstreams=upstreams, discovery=discovered(resolver=dict(config=old)))
    # The same, read from a back resolver of the layout in place.
    in_place = make_plan()['resolver']
    backs = dict((item['path'], dict(text=item['text'], mode='0600')) for item in in_place['backs'])
    assert make_plan(upstreams=upstreams, discovery=discovered(resolver=dict(config=in_place['config'], backs=backs)))[
        'routing']['split_client'] == result['routing']['split_client']
    split_client = [rule for rule in result['routing']['split_client'][0]['rules'] if 'to' in rule]
    assert split_client == [dict(priority=5001, iif='lo', to='10.10.2.1')]  # until the resolver restarts, refused
    # After the restart (dnsmasq_split), the refusal table without it; the next run plans that alone.
    assert [rule for rule in result['routing']['dnsmasq_split'][0]['rules'] if 'to' in rule] == []
    assert make_plan(upstreams=upstreams)['routing']['dnsmasq_split'] == []


def test_sets_that_lost_a_domain_are_emptied():
    # alice loses her direct exception maps.google.com and bob his proxied video.example.net.
    old = '\n'.join(['ipset=/maps.google.com/wgs-alice-d4,wgs-alice-d6,wgs-bob-p4',
                     'ipset=/video.example.net/wgs-bob-p4'])
    clients = copy.deepcopy(CLIENTS)
    clients[0]['rules'] = clients[0]['rules'][:1] + [dict(type='domain', value='example.org', action='direct')]
    clients[1]['rules'] = clients[1]['rules'][:1]
    result = make_plan(clients=clients, discovery=discovered(resolver=dict(config=old)))
    emptied = dict(type='hash:ip', timeout=86400, maxelem=65536, members=[])
    assert result['resolver']['stale_sets'] == [dict(emptied, name='wgs-alice-d4', family='inet'),
                                                dict(emptied, name='wgs-alice-d6', family='inet6'),
                                                dict(emptied, name='wgs-bob-p4', family='inet')]
    # The journal outlives the resolvers' call: the role empties these sets again after the restart, then removes it.
    assert result['resolver']['instances']['journal']['keep']
    assert result['resolver']['journal_removal'] == '/etc/wgsplit/resolver/previous.lines'


def test_without_sets_to_empty_the_resolvers_call_removes_its_journal_itself():
    result = make_plan()['resolver']
    assert result['journal'] is not None and not result['stale_sets'] and not result['stale_table_sets']
    assert result['instances']['journal']['keep'] is False and result['journal_removal'] is None


def test_a_resolver_in_place_as_planned_needs_no_task():
    first = make_plan()['resolver']
    assert first['write_config'] and first['write_unit'] and first['start'] and first['apply']
    call = first['instances']
    assert [item['path'] for item in call['configs']] == [item['path'] for item in first['backs']] + ['/etc/wgsplit/resolver/dnsmasq.conf']
    assert call['front'] == 'wgsplit-resolver.service' and call['directory'] == '/etc/wgsplit/resolver'
    units = dict((item['path'], item['text']) for item in call['units'])
    found = dict(config=first['config'], config_mode='0600', config_dir_mode='0700',
                 unit=units['/etc/systemd/system/wgsplit-resolver.service'],
                 back_unit=units['/etc/systemd/system/wgsplit-resolver-back@.service'], enabled=True, active=True,
                 backs=dict((item['path'], dict(text=item['text'], mode='0600')) for item in first['backs']),
                 backs_active=['wgsplit-resolver-back@%d.service' % number for number in range(1, len(first['backs']) + 1)])
    found['backs_enabled'] = found['backs_active']
    again = make_plan(discovery=discovered(resolver=found))['resolver']
    assert not again['write_config'] and not again['write_unit'] and not again['start'] and not again['apply']
    assert again['instances']['configs'] == [] and again['journal'] is None


def test_accounting_sets_hold_each_split_clients_addresses_and_count_bytes():
    result = make_plan()
    counting = [item for item in result['sets'] if item.get('counters')]
    assert [item['name'] for item in counting] == ['wgs-A-sent-up4', 'wgs-A-sent-direct4', 'wgs-A-recv-up4',
                                                   'wgs-A-recv-direct4', 'wgs-A-sent-up6', 'wgs-A-sent-direct6',
                                                   'wgs-A-recv-up6', 'wgs-A-recv-direct6']
    by_name = dict((item['name'], item) for item in counting)
    assert by_name['wgs-A-sent-up4']['type'] == 'hash:net,iface'
    assert by_name['wgs-A-sent-up4']['members'] == ['10.8.0.2,wg-up-1', '10.8.0.3,wg-up-2', '10.8.0.4,wg-up-2']
    assert by_name['wgs-A-recv-direct6']['members'] == ['fdcc::2']
    alice = next(client for client in result['clients'] if client['name'] == 'alice')
    assert dict(set='wgs-A-recv-up6', member='fdcc::2,wg-up-1', direction='received', path='upstream') in alice['counters']
    assert len(alice['counters']) == 2 * 4  # two addresses, four counters each


def test_each_packet_is_counted_once_through_the_upstream_first():
    rules = chain(make_plan(), 'WGSPLIT_COUNT')['rules'][1:]  # after the guard
    assert [(rule.get('in_interface') or rule.get('in_interface_prefix'), rule.get('out_interface') or rule.get('out_interface_prefix'),
             rule['match_set'], rule['match_set_flags'], rule['action']) for rule in rules if rule['family'] == 'inet'] == [
        ('wg0', 'wg-up-', 'wgs-A-sent-up4', 'src,dst', 'return'), ('wg0', None, 'wgs-A-sent-direct4', 'src', 'return'),
        ('wg-up-', 'wg0', 'wgs-A-recv-up4', 'dst,src', 'return'), (None, 'wg0', 'wgs-A-recv-direct4', 'dst', 'return')]
    # Only a packet by an upstream's interface is looked up in an upstream set (a direct one pays one lookup).
    assert render_rules('WGSPLIT_COUNT', rules, ['inet'])['inet'][0].startswith(
        '-A WGSPLIT_COUNT -i wg0 -o wg-up-+ -m set --match-set wgs-A-sent-up4 src,dst')
    assert chain(make_plan(), 'WGSPLIT_COUNT')['jump_from'] == ['FORWARD']


def test_accounting_off_plans_no_counting_and_removes_what_it_made():
    names = [item['name'] for item in make_plan()['sets'] if item.get('counters')]
    found = discovered(ipsets=dict(names=names, persisted=names), chains=[dict(table='mangle', chain='WGSPLIT_COUNT', family='inet')])
    result = make_plan(accounting=False, discovery=found)
    assert not [item for item in result['sets'] if item.get('counters')]
    assert all(client['counters'] == [] for client in result['clients'])
    assert sorted(result['removed']['sets']) == sorted(names)
    # The chain stays for the guard alone.
    assert [rule['comment'] for rule in chain(result, 'WGSPLIT_COUNT')['rules']] == [
        'wgsplit proxied or not classified, not through an upstream']
