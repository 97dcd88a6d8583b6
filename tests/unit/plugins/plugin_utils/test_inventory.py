"""check_inventory: defaults, canonical forms, and one precise message per kind of bad input (bad_inventory.yml)."""
import copy
import json
import os

import pytest
import yaml

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.settings import SETTINGS

KEY = 'AN4iduTGHMTHpWt659cEYnWkPAgJfpvCz0+xgHQFsFs='
SERVER = dict(exists=True, addresses=['10.8.0.1/24', 'fdcc::1/112'], peers=[])
UPSTREAMS = [dict(name='us', id=1, endpoint='us.example.com:51820', public_key=KEY, private_key=KEY,
                  address='10.10.0.2/32')]
CLIENTS = [dict(name='alice', address='10.8.0.2', upstream='us', rules=[
    dict(type='domain', value='Google.COM.'),
    dict(type='ip', value='203.0.113.0/24'),
    dict(type='domain', value='maps.google.com', action='direct'),
])]
VARIABLES = dict(dns_servers=['1.1.1.1'], upstreams=UPSTREAMS, clients=CLIENTS)
NULL = object()  # a key present with the value null (a blank key in YAML)

with open(os.path.join(os.path.dirname(__file__), 'bad_inventory.yml')) as cases_file:
    CASES = yaml.safe_load(cases_file)


def apply_case(case):
    variables = copy.deepcopy(VARIABLES)
    changes = list(case.get('set', {}).items()) + [(path, NULL) for path in case.get('set_null', [])]
    for path, value in changes:
        kind, key = path.split('.', 1)
        if kind == 'settings':
            item = variables
        else:
            index, key = key.split('.', 1)
            item = variables[kind][int(index)]
            if key.startswith('rules.'):
                number, key = key.split('.')[1:]
                item = item['rules'][int(number)]
        if value is None:
            del item[key]
        else:
            item[key] = None if value is NULL else value
    if 'add_client' in case:
        variables['clients'].append(case['add_client'])
    if 'add_upstream' in case:
        variables['upstreams'].append(dict(UPSTREAMS[0], **case['add_upstream']))
    if 'replace_clients' in case:
        variables['clients'] = case['replace_clients']
    return variables


def test_valid_inventory_gets_defaults_and_canonical_forms():
    result = check_inventory(VARIABLES, SERVER)
    assert result['errors'] == [] and result['warnings'] == []
    upstream = result['upstreams'][0]
    assert upstream['address'] == ['10.10.0.2/32']
    assert upstream['allowed_ips'] == ['0.0.0.0/0']
    assert (upstream['persistent_keepalive'], upstream['mtu'], upstream['enabled']) == (25, 1420, True)
    alice = result['clients'][0]
    assert alice['address'] == ['10.8.0.2']
    assert alice['default_action'] == 'direct' and alice['enabled'] and alice['upstream_enabled']
    assert [(rule['value'], rule['action'], rule['enabled']) for rule in alice['rules']] == [
        ('google.com', 'proxy', True), ('203.0.113.0/24', 'proxy', True), ('maps.google.com', 'direct', True)]
    settings = result['settings']
    assert settings == dict(dict((name, default) for name, (default, check) in SETTINGS.items()),
                            dns_servers=['1.1.1.1'])


@pytest.mark.parametrize('raw, canonical', [
    ('Straße.de', 'xn--strae-oqa.de'),  # IDNA 2008 / UTS 46, as browsers: not strasse.de
    ('BÜCHER.example.', 'xn--bcher-kva.example'),
    ('xn--strae-oqa.de', 'xn--strae-oqa.de'),
    ('EXAMPLE.com', 'example.com'),
])
def test_domains_are_written_as_the_resolver_matches_them(raw, canonical):
    variables = copy.deepcopy(VARIABLES)
    variables['clients'][0]['rules'] = [dict(type='domain', value=raw)]
    result = check_inventory(variables, SERVER)
    assert result['errors'] == []
    assert result['clients'][0]['rules'][0]['value'] == canonical


def test_values_are_rewritten_to_their_canonical_form():
    variables = copy.deepcopy(VARIABLES)
    variables['upstreams'][0].update(endpoint='[2001:DB8:0::1]:51820', address=['FDCC:0::2/128', '10.10.0.2'],
                                     allowed_ips=['::/0'], dns=['10.10.0.1/32'], mtu='1400', id='1')
    variables['clients'][0].update(address='10.8.0.2/32', rules=[dict(type='ip', value='2001:DB8::/32')])
    variables['clients'][0]['address'] = ['10.8.0.2/32', 'FDCC::2']
    variables.update(mark_mask='0xff000000', dns_servers=['2606:4700:0:0::1111'])
    result = check_inventory(variables, SERVER)
    assert result['errors'] == []
    upstream = result['upstreams'][0]
    assert upstream['endpoint'] == '[2001:db8::1]:51820'
    assert upstream['address'] == ['fdcc::2/128', '10.10.0.2/32']
    assert upstream['dns'] == ['10.10.0.1'] and upstream['mtu'] == 1400 and upstream['id'] == 1
    assert result['clients'][0]['address'] == ['10.8.0.2', 'fdcc::2']
    assert result['clients'][0]['rules'][0]['value'] == '2001:db8::/32'
    assert result['settings']['mark_mask'] == 0xff000000
    assert result['settings']['dns_servers'] == ['2606:4700::1111']


def test_a_family_the_server_gives_the_peer_is_split_too():
    server = dict(SERVER, peers=[dict(public_key=KEY, allowed_ips=['10.8.0.2/32', 'fdcc::2/128']),
                                 dict(public_key=KEY, allowed_ips=['10.8.0.7/32', 'fdcc::7/128'])])
    result = check_inventory(VARIABLES, server)
    assert result['errors'] == []
    assert result['clients'][0]['address'] == ['10.8.0.2', 'fdcc::2']
    assert result['warnings'] == ["client 'alice': also split at fdcc::2, the other address its WireGuard peer has"]


def test_a_peer_network_inside_the_server_networks_is_refused():
    server = dict(SERVER, peers=[dict(public_key=KEY, allowed_ips=['10.8.0.2/32', 'fdcc::/120'])])
    errors = check_inventory(VARIABLES, server)['errors']
    assert errors == ["client 'alice': its WireGuard peer also has the network fdcc::/120, which one client cannot"
                      " stand for"]


def test_dns_servers_are_required_when_present_only():
    variables = dict(VARIABLES)
    del variables['dns_servers']
    assert check_inventory(variables, SERVER)['errors'] == ['wgsplit_dns_servers: is required']
    assert check_inventory(dict(variables, state='absent'), SERVER)['errors'] == []


def test_absent_ignores_the_lists():
    result = check_inventory(dict(state='absent', upstreams='garbage'), None)
    assert result['errors'] == [] and result['upstreams'] == [] and result['clients'] == []


def test_inputs_are_not_modified():
    before = copy.deepcopy(VARIABLES)
    check_inventory(VARIABLES, SERVER)
    assert VARIABLES == before


def test_every_problem_is_reported_at_once():
    variables = apply_case({'set': {'clients.0.upstream': 'eu', 'clients.0.rules.1.value': '1.2.3.4/8'}})
    assert len(check_inventory(variables, SERVER)['errors']) == 2


def test_clients_of_a_bad_upstream_are_not_blamed_for_naming_it():
    variables = apply_case({'set': {'upstreams.0.mtu': 1}})
    assert check_inventory(variables, SERVER)['errors'] == ["upstream 'us': mtu 1 must be from 1280 to 9000"]


@pytest.mark.parametrize('case', CASES, ids=[case['name'] for case in CASES])
def test_bad_inventory_is_named(case):
    errors = check_inventory(apply_case(case), SERVER)['errors']
    assert any(case['error'] in error for error in errors), errors
    if case.get('only'):
        assert len(errors) == 1, errors
    if 'not_in_output' in case:
        assert case['not_in_output'] not in json.dumps(errors)


@pytest.mark.parametrize('disabled', [
    dict(name='bob', address='10.8.0.2', upstream='us', enabled=False),  # alice's address, given to her
    dict(name='bob', address='10.8.0.2', upstream='us', upstream_enabled=False),
    dict(name='bob', address='10.9.0.5', upstream='us', enabled=False),  # outside the server networks now
    dict(name='bob', address='10.8.0.9', upstream='gone', enabled=False),  # its upstream removed
    dict(name='bob', address='10.8.0.9', upstream='us', rule_sets=['gone'], enabled=False),
    dict(name='bob', public_key=KEY, upstream='us', enabled=False),  # its peer gone from the server
    dict(name='bob', address='10.8.0.9', upstream='us', rules=[dict(type='ip', value='2001:db8::/32', enabled=False)]),
], ids=['address taken', 'upstream off', 'outside the networks', 'upstream gone', 'rule set gone', 'peer gone',
        'rule of a family it lacks'])
def test_what_is_disabled_behaves_as_if_absent(disabled):
    """Only a disabled item's own fields are checked: disabling an old client frees its address for a new one."""
    variables = copy.deepcopy(VARIABLES)
    variables['clients'].append(disabled)
    result = check_inventory(variables, SERVER)
    assert result['errors'] == [] and result['warnings'] == []
    assert [client['name'] for client in result['clients']] == ['alice'] + (['bob'] if 'rules' in disabled else [])
    assert check_inventory(dict(variables, clients=[dict(disabled, address='10.8.0.2 x')]), SERVER)['errors']


def test_a_family_served_but_not_listed_is_refused_when_the_peers_cannot_be_read():
    errors = check_inventory(VARIABLES, dict(SERVER, name='wg0', peers=None))['errors']
    assert errors == ["client 'alice': the server interface also serves IPv6 (fdcc::/112) and its WireGuard peers"
                      " cannot be read (`wg show wg0 dump`) to find the client's IPv6 address: list it in address, or"
                      " make wg work on the gateway"]
    dual = copy.deepcopy(VARIABLES)
    dual['clients'][0]['address'] = ['10.8.0.2', 'fdcc::2']
    assert check_inventory(dual, dict(SERVER, peers=None))['errors'] == []


def test_a_variable_that_is_no_setting_is_named():
    result = check_inventory(dict(VARIABLES, block_encrypted_dnss=True), SERVER)
    assert result['errors'] == []
    assert result['warnings'] == ['wgsplit_block_encrypted_dnss is not a variable of the collection (a typo?): it is'
                                  ' ignored']


def test_an_ip_rule_for_the_family_the_peer_table_adds_is_taken():
    variables = copy.deepcopy(VARIABLES)
    variables['clients'][0]['rules'] = [dict(type='ip', value='2001:db8::/32')]
    server = dict(SERVER, peers=[dict(public_key=KEY, allowed_ips=['10.8.0.2/32', 'fdcc::2/128'])])
    result = check_inventory(variables, server)
    assert result['errors'] == [] and result['clients'][0]['address'] == ['10.8.0.2', 'fdcc::2']


PEER_KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='
PEERS = [dict(public_key=KEY, allowed_ips=['10.8.0.7/32', 'fdcc::7/128']),
         dict(public_key=PEER_KEY, allowed_ips=['10.8.0.9/32', '192.0.2.0/24', 'fdcc::9/128'])]


def by_key(**changes):
    """The valid inventory with alice given by her peer's key instead of her address."""
    client = dict((key, value) for key, value in CLIENTS[0].items() if key != 'address')
    client.update(dict(public_key=PEER_KEY), **changes)
    return dict(VARIABLES, clients=[client])


def test_a_client_given_by_public_key_gets_every_address_its_peer_has_in_the_server_networks():
    result = check_inventory(by_key(), dict(SERVER, peers=PEERS))
    assert result['errors'] == [] and result['warnings'] == []
    assert result['clients'][0]['address'] == ['10.8.0.9', 'fdcc::9']  # not 192.0.2.0/24: outside the server's


def test_an_address_listed_beside_the_key_must_be_the_peers():
    assert check_inventory(by_key(address='10.8.0.9'), dict(SERVER, peers=PEERS))['errors'] == []
    errors = check_inventory(by_key(address='10.8.0.7'), dict(SERVER, peers=PEERS))['errors']
    assert errors == ["client 'alice': address 10.8.0.7 is not one of its WireGuard peer's (10.8.0.9, fdcc::9)"]


def test_a_client_whose_peer_is_missing_or_disabled_is_reported_and_not_split():
    result = check_inventory(by_key(), dict(SERVER, peers=PEERS[:1]))
    assert result['errors'] == [] and result['clients'] == []
    assert result['warnings'] == ["client 'alice': no peer of the server interface has its public key (missing, or"
                                  " disabled on the server): it is not split until a run finds the peer"]


def test_a_client_whose_peer_is_missing_keeps_the_addresses_it_lists():
    result = check_inventory(by_key(address='10.8.0.9'), dict(SERVER, peers=PEERS[:1]))
    assert result['errors'] == [] and result['clients'][0]['address'] == ['10.8.0.9']
    assert result['warnings'] == ["client 'alice': no peer of the server interface has its public key (missing, or"
                                  " disabled on the server): it is split at the addresses it lists"]


def test_a_public_key_needs_the_peer_table():
    errors = check_inventory(by_key(), dict(SERVER, name='wg0', peers=None))['errors']
    assert errors == ["client 'alice': public_key needs the WireGuard peers of wg0, which cannot be read"
                      " (`wg show wg0 dump`)"]
    assert check_inventory(by_key(), None)['errors'] == [
        "wgsplit_clients: a client given by public_key only needs the server interface's peers"]


def test_one_client_per_peer_and_a_client_needs_addresses_or_a_key():
    twice = dict(VARIABLES, clients=[dict(CLIENTS[0], public_key=PEER_KEY, address='10.8.0.9'),
                                     dict(CLIENTS[0], name='bob', public_key=PEER_KEY, address='fdcc::9')])
    assert "client 'bob': public_key is also client 'alice''s" in check_inventory(twice, dict(SERVER, peers=PEERS))['errors']
    neither = dict(VARIABLES, clients=[dict((key, value) for key, value in CLIENTS[0].items() if key != 'address')])
    assert check_inventory(neither, SERVER)['errors'] == [
        "client 'alice': address or public_key is missing (the client's addresses, or its WireGuard peer's key)"]


def test_a_bad_public_key_is_refused_without_its_value():
    errors = check_inventory(by_key(public_key='not a key\nPostUp = x'), dict(SERVER, peers=PEERS))['errors']
    assert errors == ["client 'alice': public_key is not a WireGuard key (44 characters of base64)"]
