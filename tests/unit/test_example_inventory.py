"""inventories/example is a valid inventory: it passes the check and plans without errors."""
import os

import yaml

from ansible_collections.wgsplit.gateway.plugins.filter.split import split_plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, 'inventories', 'example', 'group_vars', 'wgsplit_gateways', 'main.yml')
KEY = 'AN4iduTGHMTHpWt659cEYnWkPAgJfpvCz0+xgHQFsFs='  # stands in for the vaulted keys
ERIN = 'Xj4lYCuQ8CIfvSDt26mjQ3hH+3GTTq1p7JKwa+ZV9j8='  # erin is given by her peer's public key
DISCOVERY = dict(server=dict(name='wg0', exists=True, addresses=['10.8.0.1/24', 'fdcc::1/112'],
                             peers=[dict(public_key=ERIN, allowed_ips=['10.8.0.6/32', 'fdcc::6/128'])]))


def test_example_inventory_checks_and_plans():
    with open(EXAMPLE) as example:
        inventory = yaml.safe_load(example)
    for upstream in inventory['wgsplit_upstreams']:
        for key in ('private_key', 'preshared_key'):
            if key in upstream:
                assert upstream[key].startswith('{{ vault_'), 'keys of the example come from the vault'
                upstream[key] = KEY
    variables = dict((name[len('wgsplit_'):], value) for name, value in inventory.items())
    result = split_plan(variables, DISCOVERY)
    assert result['errors'] == []
    assert [item['chain'] for item in result['chains']['split_client'][:2]] == ['wgs-alice', 'wgs-bob']
    assert [upstream['name'] for upstream in result['upstreams']] == ['us', 'eu']
    erin = next(rule for rule in result['chains']['split_client'] if rule['chain'] == 'WGSPLIT_CLIENTS')['rules']
    assert [rule['source'] for rule in erin if rule.get('target') == 'wgs-erin'] == ['10.8.0.6', 'fdcc::6']
