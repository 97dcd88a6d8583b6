"""The collection as a user gets it: built with ansible-galaxy, installed into an empty collections path.

The tarball ships no lab keys, demo or tooling, carries the licence galaxy.yml declares, and every plugin
and role entry point documents itself from the installed copy (ansible-doc).
"""
import json
import os
import subprocess
import tarfile

import pytest

from conftest import ROOT

SHIPPED_NOT = ('molecule/', 'demo/', 'tests/lab/', 'tests/benchmarks/', 'tests/sanity/', '.ci/', '.hypothesis/')


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(tarball member names, environment whose collections path holds only the installed tarball)."""
    work = tmp_path_factory.mktemp('tarball')
    subprocess.run(['ansible-galaxy', 'collection', 'build', '--output-path', str(work), ROOT], check=True,
                   stdout=subprocess.DEVNULL)
    tarball = next(str(path) for path in work.iterdir() if path.name.endswith('.tar.gz'))
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    collections = work / 'collections'
    subprocess.run(['ansible-galaxy', 'collection', 'install', '--offline', '-p', str(collections), tarball],
                   check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR='1')
    return names, env


def test_the_tarball_ships_no_lab_keys_demo_or_tooling(installed):
    names = installed[0]
    assert [name for name in names if name.startswith(SHIPPED_NOT) or '__pycache__' in name] == []
    assert 'LICENSE' in names and 'README.md' in names and 'docs/contract.md' in names


def test_the_licence_is_the_one_galaxy_yml_declares():
    with open(os.path.join(ROOT, 'LICENSE')) as licence:
        assert 'GNU GENERAL PUBLIC LICENSE' in licence.read(200)
    with open(os.path.join(ROOT, 'galaxy.yml')) as galaxy:
        assert 'GPL-3.0-or-later' in galaxy.read()


@pytest.mark.parametrize('plugin_type', ['module', 'filter', 'role'])
def test_every_plugin_documents_itself_from_the_installed_collection(installed, plugin_type):
    env = installed[1]
    listed = subprocess.run(['ansible-doc', '-t', plugin_type, '--list', '--json', 'wgsplit.gateway'], env=env,
                            check=True, stdout=subprocess.PIPE, text=True).stdout
    names = sorted(json.loads(listed))
    expected = {'module': 9, 'filter': 2, 'role': 4}[plugin_type]
    assert len(names) == expected, names
    shown = subprocess.run(['ansible-doc', '-t', plugin_type, '--json'] + names, env=env, check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert shown.stderr.strip() == '', shown.stderr
    documented = json.loads(shown.stdout)
    assert sorted(documented) == names
