"""Where a destination of a client's network rules goes, read back from what each backend is given (the iptables
chains with the lists' network sets, the nftables table with its interval sets) against the contract: a destination a
client's direct rules match goes direct, else one its proxy rules match goes through its upstream, else its default
(docs/contract.md 2), whether the rule is its own or comes from one of its lists, shared with other clients."""
import ipaddress

from hypothesis import given, settings, strategies as st

from test_plan import make_plan

# Networks of a small space, so that rules overlap often; list entries no wider than /8 (IPv6 /16) (rule_lists).
V4 = st.builds(lambda prefix, number: str(ipaddress.ip_network((198 << 24 | 18 << 16 | number << 8, prefix), strict=False)),
               st.integers(15, 26), st.integers(0, 511))
V6 = st.builds(lambda prefix, number: str(ipaddress.ip_network((0x20010db8 << 96 | number << 80, prefix), strict=False)),
               st.integers(32, 56), st.integers(0, 3))


def rules(networks):
    return st.builds(lambda value, action: dict(type='ip', value=value, action=action), networks,
                     st.sampled_from(['proxy', 'direct']))


RULE = rules(st.one_of(V4, V6))
DESTINATIONS = st.lists(st.one_of(st.builds(lambda number: str(ipaddress.ip_address(198 << 24 | 18 << 16 | number)),
                                            st.integers(0, 2 ** 17 - 1)),
                                  st.builds(lambda number: str(ipaddress.ip_address(0x20010db8 << 96 | number << 72)),
                                            st.integers(0, 2 ** 10 - 1))),
                        min_size=1, max_size=20)


@st.composite
def inventories(draw):
    lists = [dict(name='list%d' % index, rules=draw(st.lists(RULE, min_size=1, max_size=6))) for index in range(3)]
    clients = []
    for index in range(draw(st.integers(1, 4))):
        dual_stack = draw(st.booleans())
        addresses = ['10.8.0.%d' % (index + 2)] + (['fdcc::%x' % (index + 2)] if dual_stack else [])
        clients.append(dict(name='c%d' % index, address=addresses, upstream='us',
                            default_action=draw(st.sampled_from(['proxy', 'direct'])),
                            rule_sets=draw(st.lists(st.sampled_from([item['name'] for item in lists]), max_size=3)),
                            # Its own rules of its families only (the inventory check refuses the others).
                            rules=draw(st.lists(RULE if dual_stack else rules(V4), max_size=3))))
    return lists, clients


def contract_path(client, lists, destination):
    """'direct' or 'upstream' for a destination, from the inventory alone."""
    rules = client['rules'] + [rule for item in lists if item['name'] in client['rule_sets'] for rule in item['rules']]
    address = ipaddress.ip_address(destination)
    matched = set(rule['action'] for rule in rules if address in ipaddress.ip_network(rule['value']))
    action = 'direct' if 'direct' in matched else 'proxy' if matched else client['default_action']
    return 'upstream' if action == 'proxy' else 'direct'


def contains(networks, destination):
    address = ipaddress.ip_address(destination)
    return any(address in ipaddress.ip_network(network) for network in networks)


def iptables_path(result, client, destination):
    """Every rule of the client's chain that matches marks, the last wins (the DNS rules match no address)."""
    members = dict((item['name'], item.get('members') or []) for item in result['sets'])
    chain = next(item for item in result['chains']['split_client'] if item['chain'] == 'wgs-' + client['name'])
    path = None
    for rule in chain['rules']:
        if 'protocol' in rule:
            continue
        if 'destination' in rule and not contains([rule['destination']], destination):
            continue
        if 'match_set' in rule and not contains(members[rule['match_set']], destination):
            continue
        path = 'direct' if rule['mark'] == 0x00800000 else 'upstream'
    return path


def nft_path(result, client, destination):
    """The first rule of the client's chain that matches sends the packet to its mark chain."""
    lines = result['nftables']['definition']
    named = dict((line.split()[1], line[line.index('elements = {') + 12:line.index('}')].split(','))
                 for line in lines if line.startswith('set '))
    start = lines.index('chain client-%s {' % client['name'])
    for line in lines[start + 1:lines.index('}', start)]:
        words = line.split()
        if words[0] == 'goto':
            return 'direct' if words[1] == 'mark-direct' else 'upstream'
        version = 6 if words[0] == 'ip6' else 4
        if ipaddress.ip_address(destination).version != version:
            continue
        networks = named[words[2][1:]] if words[2].startswith('@') else line[line.index('{') + 1:line.index('}')].split(',')
        if contains([network.strip() for network in networks], destination):
            return 'direct' if words[-1] == 'mark-direct' else 'upstream'
    return None


@settings(max_examples=150, deadline=None)
@given(inventories(), DESTINATIONS)
def test_each_backend_sends_each_destination_where_the_rules_say(inventory, destinations):
    lists, clients = inventory
    iptables = make_plan(clients=clients, rule_sets=lists, dns_redirect=False)
    nftables = make_plan(clients=clients, rule_sets=lists, dns_redirect=False, backend='nftables')
    for client in clients:
        versions = set(ipaddress.ip_address(address).version for address in client['address'])
        for destination in destinations:
            if ipaddress.ip_address(destination).version not in versions:
                continue  # a family the client has no address of sends it no packet
            expected = contract_path(client, lists, destination)
            assert iptables_path(iptables, client, destination) == expected, (client['name'], destination)
            assert nft_path(nftables, client, destination) == expected, (client['name'], destination)


@settings(max_examples=50, deadline=None)
@given(inventories())
def test_clients_of_the_same_lists_match_the_same_network_sets(inventory):
    lists, clients = inventory
    result = make_plan(clients=clients, rule_sets=lists, dns_redirect=False)
    by_lists = {}
    for client in clients:
        chain = next(item for item in result['chains']['split_client'] if item['chain'] == 'wgs-' + client['name'])
        listed = set((rule['family'], rule['match_set']) for rule in chain['rules'] if 'listed' in rule.get('comment', ''))
        by_lists.setdefault((frozenset(client['rule_sets']), len(client['address'])), []).append(listed)
    for found in by_lists.values():
        assert all(listed == found[0] for listed in found)
    # One set per combination, action and family: never a network copied into a client's chain from a list.
    own = set(rule['value'] for client in clients for rule in client['rules'])
    destinations = [rule['destination'] for item in result['chains']['split_client'] for rule in item['rules']
                    if 'destination' in rule and item['chain'].startswith('wgs-c')]
    assert all(ipaddress.ip_network(value) in [ipaddress.ip_network(network) for network in own]
               for value in destinations)


HOST = st.builds(lambda number: str(ipaddress.ip_address(198 << 24 | 18 << 16 | number)), st.integers(0, 2 ** 17 - 1))
WHOLE = st.sampled_from(['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'])  # inventory rules may be this wide


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(RULE, rules(st.one_of(HOST, WHOLE))), max_size=12), st.sampled_from([4, 6]),
       st.sampled_from(['proxy', 'direct']))
def test_merged_networks_are_what_ipaddress_collapses(rules, version, action):
    from ansible_collections.wgsplit.gateway.plugins.plugin_utils.network_sets import merged
    wanted = [ipaddress.ip_network(rule['value']) for rule in rules
              if rule['action'] == action and ipaddress.ip_network(rule['value']).version == version]
    collapsed = [str(half) for network in ipaddress.collapse_addresses(wanted)
                 for half in (network.subnets() if network.prefixlen == 0 else [network])]  # hash:net takes no /0
    assert merged(rules, action, version) == collapsed
