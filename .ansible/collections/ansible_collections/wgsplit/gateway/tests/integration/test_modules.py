"""Run each module's integration playbook through ansible-playbook inside a throwaway network namespace.

Each playbook asserts its own lifecycle (create, again, check mode, modify, absent) against the real
kernel; the namespace keeps the host's sets, rules and routes out of reach and is deleted afterwards.
"""
import os
import subprocess
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOKS = sorted(name[:-4] for name in os.listdir(os.path.join(HERE, 'playbooks')) if name.endswith('.yml'))


@pytest.fixture
def namespace():
    name = 'wgsplit-it-%s' % uuid.uuid4().hex[:8]
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    subprocess.run(['ip', '-n', name, 'link', 'set', 'lo', 'up'], check=True)
    yield name
    subprocess.run(['ip', 'netns', 'delete', name], check=False)


@pytest.mark.parametrize('playbook', PLAYBOOKS)
def test_module_lifecycle(playbook, namespace, collection_env):
    result = subprocess.run(
        ['ip', 'netns', 'exec', namespace, 'ansible-playbook', '-i', 'localhost,', '-e', 'netns=%s' % namespace,
         os.path.join(HERE, 'playbooks', playbook + '.yml')],
        env=collection_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 0, result.stdout[-6000:]
