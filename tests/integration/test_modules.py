"""Run each module's integration playbook through ansible-playbook inside a throwaway network namespace.

Each playbook asserts its own lifecycle (create, again, check mode, modify, absent) against the real
kernel; the namespace keeps the host's sets, rules and routes out of reach and is deleted afterwards.
The modules also write files (/etc/wgsplit, the restore unit under /etc/systemd/system): each playbook
runs in a mount namespace of its own where /etc is an overlay whose writes land in a temporary
directory, so the host's /etc is never written; /run/wgsplit (split_pending's calls kept) is a tmpfs of its own
(on the host, it leaves the empty root-only directory a gateway run makes).
"""
import os
import subprocess
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# Run "$@" with a private /etc (the host's /etc as the lower layer, writes in a tmpfs at $1) and /run/wgsplit.
PRIVATE_ETC = '''set -e
mount -t tmpfs wgsplit-etc "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay wgsplit-etc -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
install -d -m 0700 /run/wgsplit
mount -t tmpfs -o mode=0700 wgsplit-run /run/wgsplit
shift
exec "$@"
'''
PLAYBOOKS = sorted(name[:-4] for name in os.listdir(os.path.join(HERE, 'playbooks')) if name.endswith('.yml'))


@pytest.fixture
def namespace():
    name = 'wgsplit-it-%s' % uuid.uuid4().hex[:8]
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    subprocess.run(['ip', '-n', name, 'link', 'set', 'lo', 'up'], check=True)
    yield name
    subprocess.run(['ip', 'netns', 'delete', name], check=False)


@pytest.mark.parametrize('playbook', PLAYBOOKS)
def test_module_lifecycle(playbook, namespace, collection_env, tmp_path):
    host_etc = etc_files()
    result = subprocess.run(
        ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', PRIVATE_ETC, 'private-etc', str(tmp_path),
         'ip', 'netns', 'exec', namespace, 'ansible-playbook', '-i', 'localhost,', '-e', 'netns=%s' % namespace,
         os.path.join(HERE, 'playbooks', playbook + '.yml')],
        env=collection_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert result.returncode == 0, result.stdout[-6000:]
    assert etc_files() == host_etc, 'the playbook wrote the host\'s /etc'


def etc_files():
    """What the modules could write on the host: the collection's directory and the system units."""
    found = []
    for top in ('/etc/wgsplit', '/etc/systemd/system'):
        for directory, _dirs, files in os.walk(top):
            found += [os.path.join(directory, name) for name in files]
    return sorted(found)
