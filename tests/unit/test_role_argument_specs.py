"""The roles document every setting with the one default the plan uses (plugins/plugin_utils/settings.py)."""
import os

import yaml

from ansible_collections.wgsplit.gateway.plugins.plugin_utils.settings import INVENTORY_LISTS, SETTINGS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_plan_role_documents_every_setting_with_its_default():
    with open(os.path.join(ROOT, 'roles', 'plan', 'meta', 'argument_specs.yml')) as spec_file:
        main = yaml.safe_load(spec_file)['argument_specs']['main']
    options = main['options']
    assert set(name[len('wgsplit_'):] for name in options) == set(SETTINGS)
    # The inventory's lists are described, not options (Ansible's check would copy them; split_plan checks them).
    for name in INVENTORY_LISTS:
        assert 'C(wgsplit_%s)' % name in ' '.join(main['description']), name
    for name, (default, _check) in SETTINGS.items():
        assert options['wgsplit_' + name].get('default') == default, name


def test_no_role_keeps_defaults_of_its_own():
    for role in os.listdir(os.path.join(ROOT, 'roles')):
        assert not os.path.exists(os.path.join(ROOT, 'roles', role, 'defaults', 'main.yml')), role
