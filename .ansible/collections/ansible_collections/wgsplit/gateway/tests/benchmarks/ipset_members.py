"""Benchmark: ipset_set applying 50,000 members, and confirming them unchanged, against a plain loop of
one `ipset add` per member, measured in the same run inside a throwaway network namespace.

The module is timed twice: as the module process alone (what Ansible runs on the host, fed the same
arguments) and as a whole `ansible-playbook` run (adding Ansible's own templating and transfer of the
50,000-item list). Prints the figures and the speed-ups; the target for the module is at least 20x.
Run as root:
    python3 tests/benchmarks/ipset_members.py [--members N]
"""
import argparse
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
from conftest import COLLECTIONS_TREE  # noqa: E402  (the collection tree the tests use)

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{members_file}]
  tasks:
    - wgsplit.gateway.ipset_set:
        name: wgsplit-bench
        type: hash:ip
        maxelem: 131072
        members: "{{{{ members }}}}"
        persist: false
"""


def members(count):
    first = int(ipaddress.ip_address('10.0.0.1'))
    return [str(ipaddress.ip_address(first + index)) for index in range(count)]


def timed(argv, **kwargs):
    start = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)  # pylint: disable=subprocess-run-check
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--members', type=int, default=50000)
    count = parser.parse_args().members
    namespace = 'wgsplit-bench-%s' % uuid.uuid4().hex[:6]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_TREE, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    work = tempfile.mkdtemp(prefix='wgsplit-bench-')
    addresses = members(count)
    members_file = os.path.join(work, 'members.json')
    with open(members_file, 'w') as handle:
        json.dump({'members': addresses}, handle)
    playbook = os.path.join(work, 'bench.yml')
    with open(playbook, 'w') as handle:
        handle.write(PLAYBOOK.format(members_file=members_file))
    args_file = os.path.join(work, 'args.json')
    with open(args_file, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': {'name': 'wgsplit-bench-module', 'type': 'hash:ip', 'maxelem': 131072,
                                           'members': addresses, 'persist': False}}, handle)
    in_namespace = ['ip', 'netns', 'exec', namespace]
    run_playbook = in_namespace + ['ansible-playbook', '-i', 'localhost,', playbook]
    run_module = in_namespace + [sys.executable, os.path.join(ROOT, 'plugins', 'modules', 'ipset_set.py'), args_file]
    module_env = dict(env, PYTHONPATH=COLLECTIONS_TREE)
    subprocess.run(['ip', 'netns', 'add', namespace], check=True)
    try:
        module_apply_s = timed(run_module, env=module_env)
        module_confirm_s = timed(run_module, env=module_env)
        apply_s = timed(run_playbook, env=env)
        confirm_s = timed(run_playbook, env=env)
        saved = subprocess.run(in_namespace + ['ipset', 'save', 'wgsplit-bench'], check=True,
                               stdout=subprocess.PIPE, universal_newlines=True).stdout
        assert saved.count('\nadd ') == count, 'the module did not apply every member'
        subprocess.run(in_namespace + ['ipset', 'create', 'wgsplit-bench-loop', 'hash:ip', 'maxelem', '131072'], check=True)
        # The loop runs as a shell loop inside the namespace, so it pays for `ipset add` only.
        loop_s = timed(in_namespace + ['sh', '-ec', 'while read -r address; do ipset add wgsplit-bench-loop "$address"; done'],
                       input='\n'.join(addresses) + '\n', universal_newlines=True)
    finally:
        subprocess.run(['ip', 'netns', 'delete', namespace], check=False)
    print('ipset_set benchmark, %d members (hash:ip), one network namespace' % count)
    print('  loop of one `ipset add` per member                %8.2f s' % loop_s)
    for label, seconds in (('module apply', module_apply_s), ('module confirm unchanged', module_confirm_s),
                           ('ansible-playbook apply', apply_s), ('ansible-playbook confirm unchanged', confirm_s)):
        print('  %-35s %8.2f s  %6.1fx faster than the loop' % (label, seconds, loop_s / seconds))
    print('  target: the module at least 20x faster than the loop: %s'
          % ('met' if loop_s / max(module_apply_s, module_confirm_s) >= 20 else 'NOT met'))


if __name__ == '__main__':
    main()
