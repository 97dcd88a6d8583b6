"""inventories/example is a valid inventory: it passes the check and plans without errors."""
import os

import yaml

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, 'inventories', 'example', 'group_vars', 'wgsplit_gateways', 'main.yml')
KEY = 'AN4iduTGHMTHpWt659cEYnWkPAgJfpvCz0+xgHQFsFs='  # stands in for the vaulted keys


def test_example_inventory_checks_and_plans():
    with open(EXAMPLE) as example:
        inventory = yaml.safe_load(example)
    for upstream in inventory['wgsplit_upstreams']:
        for key in ('private_key', 'preshared_key'):
            if key in upstream:
                assert upstream[key].startswith('{{ vault_'), 'keys of the example come from the vault'
                upstream[key] = KEY
    errors, upstreams, clients = check_inventory(inventory['wgsplit_upstreams'], inventory['wgsplit_clients'],
                                                 ['10.8.0.1/24', 'fdcc::1/112'])
    assert errors == []
    result = plan(upstreams, clients, dict(server_interface=inventory['wgsplit_server_interface'],
                                           server_networks=['10.8.0.1/24', 'fdcc::1/112']))
    assert result['errors'] == []
    assert [client['name'] for client in result['clients']] == ['alice', 'bob']
    assert [upstream['name'] for upstream in result['upstreams']] == ['us', 'eu']
