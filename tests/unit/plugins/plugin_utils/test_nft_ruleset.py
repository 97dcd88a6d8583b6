"""The nftables backend's table as the plan renders it: the iptables backend's decisions (plan.py), with verdict maps
and interval sets (loaded into a real kernel by the integration tests and the lab)."""
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan
from test_plan import CLIENTS, UPSTREAMS, discovered, make_plan, upstream


def nft_plan(**settings):
    return make_plan(backend='nftables', **settings)


def chain(result, name):
    """The rules of a chain of the table's definition (one per line, or the inside of a one-line chain)."""
    lines = result['nftables']['definition']
    start = next(index for index, line in enumerate(lines) if line.startswith('chain %s {' % name))
    if lines[start].endswith('}'):
        return [rule.strip() for rule in lines[start][len('chain %s {' % name):-1].split(';') if rule.strip()]
    end = lines.index('}', start)
    return [line.strip() for line in lines[start + 1:end]]


def test_the_iptables_objects_are_not_planned_and_the_table_is():
    result = nft_plan()
    assert result['sets'] == [] and all(not chains for chains in result['chains'].values())
    assert result['nftables']['table'] == 'wgsplit'
    assert result['nftables_removed'] == dict(split_client=None, dnsmasq_split=None)
    guard = ['chain forward {', '  type filter hook forward priority mangle; policy accept;',
             '  iifname "wg0" oifname != "wg-up-*" meta mark & 0xff000000 != 0x00000000 reject']
    # The gateway's own queries to an upstream's resolvers (as WGSPLIT_OUTPUT), when an upstream has some.
    output = ['chain output {', '  type filter hook output priority mangle; policy accept;',
              '  ip daddr { 10.10.2.1 } oifname != "wg-up-*" reject', '}']
    assert result['nftables']['fallback'] == ['chain not-classified {', '  type filter hook prerouting priority raw; policy accept;',
                                              '  iifname "wg0" meta mark set meta mark | 0xff800000', '}'] + guard + ['}'] + output
    # The guard (as the iptables chain's), first in the chain that counts: should the ip rules or routes be gone, a
    # proxied or unclassified packet is refused, not sent direct.
    definition = result['nftables']['definition']
    assert definition[definition.index(guard[0]):][:3] == guard
    assert definition[-4:] == output
    assert 'chain output {' not in nft_plan(upstreams=[UPSTREAMS[0], upstream('eu', 2)])['nftables']['definition']


def test_a_client_chain_matches_direct_first_then_proxy_then_its_default():
    result = nft_plan()
    assert chain(result, 'client-alice') == [
        'ip daddr { 198.51.100.7/32 } goto mark-direct', 'ip daddr @wgs-alice-d4 goto mark-direct',
        'ip6 daddr @wgs-alice-d6 goto mark-direct', 'ip daddr { 203.0.113.0/24 } goto mark-up-1',
        'ip daddr @wgs-alice-p4 goto mark-up-1', 'ip6 daddr @wgs-alice-p6 goto mark-up-1', 'goto mark-direct']
    assert chain(result, 'client-carol')[-1] == 'goto mark-up-2'  # default_action: proxy


def test_overlapping_networks_of_one_action_are_merged_for_the_interval_set():
    clients = [dict(CLIENTS[0], rules=[dict(type='ip', value=value) for value in
                                       ('10.1.0.0/16', '10.1.2.0/24', '10.2.0.0/16', '10.3.0.0/16')])]
    rules = chain(nft_plan(clients=clients, dns_redirect=False), 'client-alice')
    assert rules[0] == 'ip daddr { 10.1.0.0/16, 10.2.0.0/15 } goto mark-up-1'  # first: no DNS redirect to guard


def test_classification_restores_known_marks_keeps_unknown_ones_refused_and_dispatches_by_source():
    rules = chain(nft_plan(), 'classify')
    assert rules[:5] == [
        'type filter hook prerouting priority mangle; policy accept;', 'iifname != "wg0" return',
        'ct mark & 0xff800000 vmap { 0x00800000 : goto restore-direct, 0x01000000 : goto restore-up-1,'
        ' 0x02000000 : goto restore-up-2 }',
        'ct mark & 0xff800000 != 0 meta mark set meta mark | 0xff800000 return', 'ct direction reply goto mark-direct']
    assert rules[-7:] == [
        # A split client's DNS stays "not classified" (local once redirected, refused if the redirect is gone).
        'meta l4proto { tcp, udp } th dport 53 ip saddr { 10.8.0.2, 10.8.0.3, 10.8.0.4 } return',
        'ip saddr vmap { 10.8.0.2 : goto client-alice, 10.8.0.3 : goto client-bob, 10.8.0.4 : goto client-carol }',
        'ip saddr { 10.8.0.2, 10.8.0.3, 10.8.0.4 } return',  # a client the map missed stays "not classified"
        'meta l4proto { tcp, udp } th dport 53 ip6 saddr { fdcc::2 } return',
        'ip6 saddr vmap { fdcc::2 : goto client-alice }', 'ip6 saddr { fdcc::2 } return', 'goto mark-direct']
    # No DNS left unclassified without the redirect; encrypted DNS with it when refused.
    assert 'th dport' not in ' '.join(chain(nft_plan(dns_redirect=False), 'classify'))
    assert 'meta l4proto { tcp, udp } th dport { 53, 853 } ip saddr { 10.8.0.2, 10.8.0.3, 10.8.0.4 } return' in \
        chain(nft_plan(block_encrypted_dns=True), 'classify')
    assert 'meta l4proto { tcp, udp } th dport 853 ip saddr { 10.8.0.2, 10.8.0.3, 10.8.0.4 } return' in \
        chain(nft_plan(block_encrypted_dns=True, dns_redirect=False), 'classify')


def test_marks_keep_other_softwares_bits_on_the_packet_and_the_connection():
    result = nft_plan()
    assert chain(result, 'mark-up-1') == ['meta mark set meta mark & 0x007fffff | 0x01000000',
                                          'ct mark set ct mark & 0x007fffff | 0x01000000']
    assert chain(result, 'restore-direct') == ['meta mark set meta mark & 0x007fffff | 0x00800000']


def test_a_disabled_upstream_has_no_mark_chain_and_its_clients_are_not_dispatched():
    assert 'chain mark-up-2' in '\n'.join(nft_plan()['nftables']['definition'])
    disabled = nft_plan(upstreams=[dict(UPSTREAMS[0]), dict(UPSTREAMS[1], enabled=False)])
    text = '\n'.join(disabled['nftables']['definition'])
    assert 'mark-up-2' not in text and 'client-bob' not in text and 'client-carol' not in text


def test_dns_redirect_masquerade_and_encrypted_dns_follow_their_settings():
    text = '\n'.join(nft_plan(block_encrypted_dns=True)['nftables']['definition'])
    assert 'iifname "wg0" ip saddr { 10.8.0.2, 10.8.0.3, 10.8.0.4 } meta l4proto { tcp, udp } th dport 53 redirect to :53' in text
    assert 'oifname { "wg-up-1", "wg-up-2" } masquerade' in text
    assert 'th dport 853 reject' in text
    # Left "not classified" before the dispatch (refused should the encrypted-dns chain be gone), only when asked.
    assert 'th dport { 53, 853 } ip saddr' in text[text.index('chain classify {'):]
    assert 'dport 853' not in '\n'.join(nft_plan()['nftables']['definition'])
    quiet = '\n'.join(nft_plan(dns_redirect=False)['nftables']['definition'])
    assert 'dns-redirect' not in quiet and 'encrypted-dns' not in quiet


def test_counting_uses_the_plans_accounting_sets_with_counters_per_element():
    result = nft_plan()
    sets = dict((item['name'], item) for item in result['nftables']['sets'])
    assert sets['wgs-A-sent-up4'] == dict(name='wgs-A-sent-up4', type='ipv4_addr . ifname', size=65536, counter=True,
                                          elements=['10.8.0.2 . "wg-up-1"', '10.8.0.3 . "wg-up-2"', '10.8.0.4 . "wg-up-2"'])
    assert sets['wgs-alice-p4'] == dict(name='wgs-alice-p4', type='ipv4_addr', size=65536, counter=False, elements=None)
    rules = chain(result, 'forward')
    assert rules[2:4] == ['iifname "wg0" oifname "wg-up-*" ip saddr . oifname @wgs-A-sent-up4 return',
                          'iifname "wg0" ip saddr @wgs-A-sent-direct4 return']
    assert 'oifname "wg0" iifname "wg-up-*" ip daddr . iifname @wgs-A-recv-up4 return' in rules
    assert len(chain(nft_plan(accounting=False), 'forward')) == 2  # its hook, the guard


def test_status_and_metrics_know_the_tables_sets():
    result = nft_plan()
    assert dict(name='wgs-alice-p4', maxelem=65536) in result['set_limits']


def test_the_resolver_fills_the_tables_sets():
    backs = nft_plan()['resolver']['backs']
    text = '\n'.join(back['text'] for back in backs)
    assert 'nftset=/google.com/4#inet#wgsplit#wgs-alice-p4,6#inet#wgsplit#wgs-alice-p6,4#inet#wgsplit#wgs-bob-p4' in text
    assert '\nipset=' not in text


def test_the_table_goes_when_the_backend_is_iptables_again_or_absent():
    found = discovered(nftables=dict(exists=True, owned=True, sets=[]))
    assert make_plan(discovery=found)['nftables_removed']['dnsmasq_split'] == dict(table='wgsplit', state='absent')
    foreign = discovered(nftables=dict(exists=True, owned=False, sets=[]))
    assert make_plan(discovery=foreign)['nftables_removed'] == dict(split_client=None, dnsmasq_split=None)


def test_a_foreign_table_of_that_name_is_refused_before_anything_changes():
    discovery = discovered(nftables=dict(exists=True, owned=False, sets=[]))
    checked = check_inventory(dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=CLIENTS, backend='nftables'),
                              discovery['server'])
    errors = plan(checked, discovery)['errors']
    assert errors == ['nftables table inet wgsplit exists and was not made by the collection (no comment "wgsplit.gateway");'
                      ' rename it, or keep wgsplit_backend iptables']


def test_a_clients_own_networks_are_an_anonymous_interval_set_its_lists_a_named_one_shared():
    lists = [dict(name='nets', rules=[dict(type='ip', value='10.1.0.0/16', action='direct'),
                                      dict(type='ip', value='10.1.2.0/24', action='direct'), dict(type='ip', value='192.0.2.0/24')])]
    clients = [dict(name='alice', address='10.8.0.2', upstream='us', rule_sets=['nets'],
                    rules=[dict(type='ip', value='203.0.113.0/24'), dict(type='ip', value='10.1.3.0/24', action='direct')]),
               dict(name='bob', address='10.8.0.3', upstream='us', rule_sets=['nets', 'nets'])]
    result = nft_plan(clients=clients, rule_sets=lists, dns_redirect=False)
    direct, proxy = network_set_names(result)
    assert chain(result, 'client-alice') == [
        'ip daddr { 10.1.3.0/24 } goto mark-direct', 'ip daddr @%s goto mark-direct' % direct,
        'ip daddr { 203.0.113.0/24 } goto mark-up-1', 'ip daddr @%s goto mark-up-1' % proxy, 'goto mark-direct']
    assert chain(result, 'client-bob') == [
        'ip daddr @%s goto mark-direct' % direct, 'ip daddr @%s goto mark-up-1' % proxy, 'goto mark-direct']
    # The list's networks once in the table, merged (an interval set takes no overlap), whatever the clients.
    assert [line for line in result['nftables']['definition'] if line.startswith('set ')] == [
        'set %s { type ipv4_addr; flags interval; elements = { 10.1.0.0/16 }; }' % direct,
        'set %s { type ipv4_addr; flags interval; elements = { 192.0.2.0/24 }; }' % proxy]
    # alice's own direct network lies inside the list's: a direct rule over direct, no warning (only proxy is checked).
    assert result['warnings'] == []


def network_set_names(result):
    """(direct, proxy) IPv4 network set names of a plan's table."""
    names = sorted(line.split()[1] for line in result['nftables']['definition'] if line.startswith('set '))
    assert [name[-2:] for name in names] == ['d4', 'p4'] and names[0][:-2] == names[1][:-2]
    return names
