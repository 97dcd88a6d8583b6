"""Benchmark: the split_client role for 100 dual-stack clients, each with domain and IP rules, through
four upstreams, applied to the real kernel in a throwaway network namespace (a veth wg0 stands in
for the WireGuard server). Prints the ipsets and rules it made against the kernel's 256-set limit, and
how long a first run, a second (unchanged) run and a one-rule change take, and how many tasks a run that
changes nothing executes for that many clients and for 5 (the same: no task loops over clients); then
removes everything.
Run as root:
    python3 tests/benchmarks/hundred_clients.py [--clients N]
"""
import argparse
import contextlib
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

KEY = 'AN4iduTGHMTHpWt659cEYnWkPAgJfpvCz0+xgHQFsFs='
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{inventory_file}]
  roles: [wgsplit.gateway.split_client]
"""


def inventory(count, extra_rule=False):
    upstreams = [dict(name='u%d' % number, id=number, endpoint='192.0.2.%d:51820' % number, public_key=KEY,
                      private_key=KEY, address='10.10.%d.2/32' % number) for number in range(1, 5)]
    clients = []
    for number in range(count):
        # A domain shared by 25 clients: one resolver line naming 50 sets, within the 1024 characters dnsmasq reads.
        shared = [dict(type='domain', value='shared.example')] if number < 25 else []
        rules = [dict(type='domain', value='site%d.example' % number)] + shared
        rules += [dict(type='ip', value='198.51.100.%d' % (number % 250 + 1)),
                  dict(type='ip', value='2001:db8:%x::/48' % number),
                  dict(type='ip', value='203.0.113.0/24', action='direct')]
        if extra_rule and number == 0:
            rules.append(dict(type='ip', value='192.0.2.0/24'))
        clients.append(dict(name='client%03d' % number, upstream='u%d' % (number % 4 + 1), rules=rules,
                            address=['10.8.%d.%d' % (number // 250, number % 250 + 2), 'fdcc::%x' % (number + 2)]))
    return dict(wgsplit_upstreams=upstreams, wgsplit_clients=clients, wgsplit_dns_servers=['192.0.2.53'],
                wgsplit_manage_packages=False)


def run(netns, playbook, inventory_file, variables, env):
    with open(inventory_file, 'w') as out:
        json.dump(variables, out)
    start = time.monotonic()
    process = subprocess.run(['ip', 'netns', 'exec', netns, 'ansible-playbook', '-i', 'localhost,', playbook],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    if process.returncode != 0:
        sys.exit(process.stdout[-4000:])
    changed = process.stdout.split('changed=')[-1].split()[0]
    tasks = int(process.stdout.split(' ok=')[-1].split()[0])  # tasks the run executed (ok counts changed too)
    return elapsed, changed, tasks


@contextlib.contextmanager
def gateway_namespace():
    """A throwaway network namespace with a veth wg0 standing in for the WireGuard server (10.8.0.1/16, fdcc::1/112),
    and a function that applies the split_client role there to an inventory: (seconds, changed, tasks)."""
    netns = 'wgsplit-bench-%s' % uuid.uuid4().hex[:8]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_TREE, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR='1')
    subprocess.run(['ip', 'netns', 'add', netns], check=True)
    try:
        for command in (['ip', 'link', 'add', 'wg0', 'type', 'veth', 'peer', 'name', 'wg0-peer'], ['ip', 'addr', 'add', '10.8.0.1/16', 'dev', 'wg0'],
                        ['ip', 'addr', 'add', 'fdcc::1/112', 'dev', 'wg0'], ['ip', 'link', 'set', 'wg0', 'up']):
            subprocess.run(['ip', 'netns', 'exec', netns] + command, check=True)
        with tempfile.TemporaryDirectory() as work:
            playbook = os.path.join(work, 'play.yml')
            inventory_file = os.path.join(work, 'inventory.json')
            with open(playbook, 'w') as out:
                out.write(PLAYBOOK.format(inventory_file=inventory_file))
            yield netns, lambda variables: run(netns, playbook, inventory_file, variables, env)
    finally:
        subprocess.run(['ip', 'netns', 'delete', netns], check=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--clients', type=int, default=100)
    count = parser.parse_args().clients
    with gateway_namespace() as (netns, apply):
        first = apply(inventory(count))
        sets = subprocess.run(['ip', 'netns', 'exec', netns, 'ipset', 'list', '-n'], check=True,
                              stdout=subprocess.PIPE, text=True).stdout.split()
        rules = sum(len([line for line in subprocess.run(['ip', 'netns', 'exec', netns, tool, '-t', 'mangle'],
                                                         check=True, stdout=subprocess.PIPE, text=True).stdout.splitlines()
                         if line.startswith(('-A WGSPLIT', '-A wgs-'))])
                    for tool in ('iptables-save', 'ip6tables-save'))
        second = apply(inventory(count))
        change = apply(inventory(count, extra_rule=True))
        removal = apply(dict(inventory(count), wgsplit_state='absent'))
        apply(inventory(5))
        few = apply(inventory(5))
        apply(dict(inventory(5), wgsplit_state='absent'))
    print('%d dual-stack clients, 4 upstreams: %d ipsets of the kernel\'s 256, %d mangle rules (a client chain each)'
          % (count, len(sets), rules))
    print('%-40s %8s %8s' % ('split_client role run', 'seconds', 'changed'))
    for label, (elapsed, changed, _tasks) in (('first run', first), ('second run (same inventory)', second),
                                              ('one IP rule added', change), ('absent', removal)):
        print('%-40s %8.1f %8s' % (label, elapsed, changed))
    print('tasks a run that changes nothing executes: %d with %d clients, %d with 5' % (second[2], count, few[2]))


if __name__ == '__main__':
    main()
