"""check_inventory: defaults, normalisation, and one precise message per kind of bad input (bad_inventory.yml)."""
import copy
import json
import os

import pytest
import yaml

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory

KEY = 'AN4iduTGHMTHpWt659cEYnWkPAgJfpvCz0+xgHQFsFs='
SERVER_NETWORKS = ['10.8.0.1/24', 'fdcc::1/112']
UPSTREAMS = [dict(name='us', id=1, endpoint='us.example.com:51820', public_key=KEY, private_key=KEY,
                  address='10.10.0.2/32')]
CLIENTS = [dict(name='alice', address='10.8.0.2', upstream='us', rules=[
    dict(type='domain', value='Google.COM.'),
    dict(type='ip', value='203.0.113.0/24'),
    dict(type='domain', value='maps.google.com', action='direct'),
])]

with open(os.path.join(os.path.dirname(__file__), 'bad_inventory.yml')) as cases_file:
    CASES = yaml.safe_load(cases_file)


def apply_case(case):
    upstreams, clients = copy.deepcopy(UPSTREAMS), copy.deepcopy(CLIENTS)
    for path, value in case.get('set', {}).items():
        kind, index, key = path.split('.', 2)
        item = (upstreams if kind == 'upstreams' else clients)[int(index)]
        if key.startswith('rules.'):
            number, key = key.split('.')[1:]
            item = item['rules'][int(number)]
        if value is None:
            del item[key]
        else:
            item[key] = value
    if 'add_client' in case:
        clients.append(case['add_client'])
    if 'add_upstream' in case:
        upstreams.append(dict(UPSTREAMS[0], **case['add_upstream']))
    if 'replace_clients' in case:
        clients = case['replace_clients']
    return upstreams, clients


def test_valid_inventory_gets_defaults_and_normal_forms():
    errors, upstreams, clients = check_inventory(UPSTREAMS, CLIENTS, SERVER_NETWORKS)
    assert errors == []
    assert upstreams[0]['address'] == ['10.10.0.2/32']
    assert upstreams[0]['allowed_ips'] == ['0.0.0.0/0']
    assert (upstreams[0]['persistent_keepalive'], upstreams[0]['mtu'], upstreams[0]['enabled']) == (25, 1420, True)
    alice = clients[0]
    assert alice['address'] == ['10.8.0.2']
    assert alice['default_action'] == 'direct' and alice['enabled'] and alice['upstream_enabled']
    assert [(rule['value'], rule['action'], rule['enabled']) for rule in alice['rules']] == [
        ('google.com', 'proxy', True), ('203.0.113.0/24', 'proxy', True), ('maps.google.com', 'direct', True)]


def test_dns_servers_are_checked_when_given():
    assert check_inventory(UPSTREAMS, CLIENTS, SERVER_NETWORKS, ['1.1.1.1', '2606:4700::1111'])[0] == []
    assert check_inventory(UPSTREAMS, CLIENTS, SERVER_NETWORKS, [])[0] == [
        'wgsplit_dns_servers: needs at least one resolver address, not []']
    assert check_inventory(UPSTREAMS, CLIENTS, SERVER_NETWORKS, ['dns.example'])[0][0].startswith(
        "wgsplit_dns_servers: 'dns.example':")


def test_inputs_are_not_modified():
    before = copy.deepcopy(CLIENTS)
    check_inventory(UPSTREAMS, CLIENTS, SERVER_NETWORKS)
    assert CLIENTS == before


def test_every_problem_is_reported_at_once():
    upstreams, clients = apply_case({'set': {'clients.0.upstream': 'eu', 'clients.0.rules.1.value': '1.2.3.4/8'}})
    errors = check_inventory(upstreams, clients, SERVER_NETWORKS)[0]
    assert len(errors) == 2


@pytest.mark.parametrize('case', CASES, ids=[case['name'] for case in CASES])
def test_bad_inventory_is_named(case):
    upstreams, clients = apply_case(case)
    errors = check_inventory(upstreams, clients, SERVER_NETWORKS)[0]
    assert any(case['error'] in error for error in errors), errors
    if 'not_in_output' in case:
        assert case['not_in_output'] not in json.dumps(errors)
