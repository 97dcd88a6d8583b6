"""Make the checkout importable and usable as the collection wgsplit.gateway.

Ansible and Python both need it at .../ansible_collections/wgsplit/gateway; when the checkout is not
already there, a symlink tree in the temporary directory provides that path.
"""
import hashlib
import os
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_tree():
    parent = os.path.dirname(ROOT)
    if os.path.basename(parent) == 'wgsplit' and os.path.basename(os.path.dirname(parent)) == 'ansible_collections':
        return os.path.dirname(os.path.dirname(parent))
    # One tree per checkout: two checkouts tested at once must not take each other's link.
    tree = os.path.join(tempfile.gettempdir(), 'wgsplit-collections-' + hashlib.sha1(ROOT.encode()).hexdigest()[:8])
    link = os.path.join(tree, 'ansible_collections', 'wgsplit', 'gateway')
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.realpath(link) != ROOT:
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(ROOT, link)
    return tree


COLLECTIONS_TREE = _collections_tree()
sys.path.insert(0, COLLECTIONS_TREE)


def _hypothesis_profiles():
    """`wgsplit` (the default, what CI runs) is derandomized: the same examples every run, so a gate never fails by
    the luck of a draw, and a failure found once is found again. `thorough` (HYPOTHESIS_PROFILE=thorough) draws new
    examples each run, 25 times as many in test_properties.py: the search for what the fixed examples miss. (The
    benchmarks import this file too, where Hypothesis need not be installed.)"""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:
        return
    settings.register_profile('wgsplit', deadline=None, database=None, print_blob=True, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.filter_too_much])
    settings.register_profile('thorough', parent=settings.get_profile('wgsplit'), derandomize=False)
    profile = os.environ.get('HYPOTHESIS_PROFILE', 'wgsplit')
    settings.load_profile(profile if profile in ('wgsplit', 'thorough') else 'wgsplit')


_hypothesis_profiles()


@pytest.fixture(scope='session')
def collection_env():
    """Environment for ansible-playbook runs that see this checkout as wgsplit.gateway."""
    env = dict(os.environ)
    env['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS_TREE
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    env['ANSIBLE_PYTHON_INTERPRETER'] = sys.executable
    env['ANSIBLE_NOCOLOR'] = '1'
    env['ANSIBLE_LOCALHOST_WARNING'] = 'false'
    env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = 'false'
    return env
