"""Benchmark: how long playbooks/site.yml takes on a lab gateway (a systemd container of the lab image whose
WireGuard server wg0 runs), beside a yardstick Y of 20 trivial tasks on the same connection in the same run.
For each connection (SSH with pipelining, as AWX connects, and the container connection): a first run, a run
that changes nothing (changed=0 is checked), a run with one client edited, and the removal. Prints seconds,
the ratio to Y (targets: first <= 1.5 Y, no-op <= 0.5 Y, edit <= 0.6 Y), the modules each run executed on the
host (skipped tasks and controller-only tasks excluded; split_plan's task executes two) and the tasks it evaluated
(skipped ones included: each costs the strategy's round of templating and callbacks).
Run as root (Docker is started and the lab image built if needed):
    python3 tests/benchmarks/converge.py [--clients 100] [--rules 50] [--ipv4-only] [--connections ssh,docker]
                                         [--backend nftables]
"""
import argparse
import datetime
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

IMAGE = os.environ.get('WGSPLIT_LAB_IMAGE', 'wgsplit-lab:bookworm')
KEY = 'AN4iduTGHMTHpWt659cEYnWkPAgJfpvCz0+xgHQFsFs='
UPSTREAMS = 4
YARDSTICK_TASKS = 20
# The gateway's WireGuard server, as wg-easy leaves it (no peers: the clients are in the inventory).
SERVER_CONFIG = """[Interface]
Address = 10.8.0.1/16, fdcc::1/112
ListenPort = 51820
PostUp = wg set %i private-key /etc/wireguard/wg0.key
"""
# The gateway's Python, counting each module it runs (split_plan runs one or two): a line per run in COUNTED.
INTERPRETER = '/usr/local/bin/wgsplit-bench-python3'
COUNTED = '/run/wgsplit-bench-modules'
INTERPRETER_TEXT = '#!/bin/sh\necho >> %s\nexec /usr/bin/python3 "$@"\n' % COUNTED
YARDSTICK = [dict(name='Yardstick', hosts='wgsplit_gateways', gather_facts=False,
                  tasks=[{'name': 'Trivial task %d' % number, 'ansible.builtin.ping': None}
                         for number in range(YARDSTICK_TASKS)])]


def inventory(clients, rules, ipv4_only, backend, edited=False):
    """`clients` clients, each with `rules` rules: half proxied domains of its own (one set per family), the
    rest proxied networks and a fifth of them direct networks. Client 0 gets one more domain when edited."""
    upstreams = [dict(name='u%d' % number, id=number, endpoint='192.0.2.%d:51820' % number, public_key=KEY,
                      private_key=KEY, address='10.10.%d.2/32' % number) for number in range(1, UPSTREAMS + 1)]
    listed = []
    for number in range(clients):
        domains = rules // 2
        direct = (rules - domains) // 5
        networks = rules - domains - direct
        entries = [dict(type='domain', value='d%d.c%d.example' % (index, number)) for index in range(domains)]
        entries += [dict(type='ip', value='10.%d.%d.0/24' % (100 + index // 250, index % 250)) for index in range(networks)]
        entries += [dict(type='ip', value='198.18.%d.0/24' % index, action='direct') for index in range(direct)]
        if edited and number == 0:
            entries.append(dict(type='domain', value='edited.example'))
        address = ['10.8.%d.%d' % (number // 250, number % 250 + 2)]
        if not ipv4_only:
            address.append('fdcc::%x' % (number + 2))
        listed.append(dict(name='client%04d' % number, address=address, upstream='u%d' % (number % UPSTREAMS + 1),
                           rules=entries))
    return dict(wgsplit_upstreams=upstreams, wgsplit_clients=listed, wgsplit_dns_servers=['192.0.2.53'],
                wgsplit_backend=backend)


def docker(*argv, **kwargs):
    return subprocess.run(['docker'] + list(argv), check=True, stdout=subprocess.PIPE, text=True, **kwargs).stdout


def start_gateway(name, public_key):
    docker('run', '-d', '--name', name, '--hostname', name, '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN',
           '--device', '/dev/net/tun', '--cgroupns', 'host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
           '--tmpfs', '/run', '--tmpfs', '/run/lock', '--sysctl', 'net.ipv6.conf.all.disable_ipv6=0', IMAGE,
           '/lib/systemd/systemd')
    subprocess.run(['docker', 'exec', name, 'systemctl', 'is-system-running', '--wait'], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=180, check=False)
    docker('exec', '-i', name, 'sh', '-c', 'umask 077; mkdir -p /etc/wireguard /root/.ssh; wg genkey > /etc/wireguard/wg0.key;'
           ' cat > /etc/wireguard/wg0.conf; wg-quick up wg0 2>/dev/null', input=SERVER_CONFIG)
    docker('exec', '-i', name, 'sh', '-c', 'umask 077; cat > /root/.ssh/authorized_keys', input=public_key)
    docker('exec', '-i', name, 'sh', '-c', 'cat > %s; chmod 0755 %s' % (INTERPRETER, INTERPRETER), input=INTERPRETER_TEXT)
    return docker('inspect', '-f', '{{.NetworkSettings.IPAddress}}', name).strip()


def hosts(connection, name, address, key_file):
    if connection == 'docker':
        host = dict(ansible_connection='community.docker.docker', ansible_host=name, ansible_user='root')
    else:
        host = dict(ansible_connection='ssh', ansible_host=address, ansible_user='root',
                    ansible_ssh_private_key_file=key_file,
                    ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null')
    host['ansible_python_interpreter'] = INTERPRETER
    return dict(all=dict(children=dict(wgsplit_gateways=dict(hosts=dict(gateway=host)))))


def run(work, playbook, variables, env, gateway, show_tasks=False):
    """(seconds, changed, modules executed on the host, tasks evaluated) of one ansible-playbook run; with show_tasks,
    prints each task that ran and how long it took."""
    with open(os.path.join(work, 'inventory', 'group_vars', 'wgsplit_gateways', 'main.json'), 'w') as out:
        json.dump(variables, out)
    docker('exec', gateway, 'sh', '-c', ': > %s' % COUNTED)
    start = time.monotonic()
    process = subprocess.run(['ansible-playbook', '-i', os.path.join(work, 'inventory'), playbook],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    if process.returncode != 0:
        sys.exit(process.stdout[-6000:])
    report = json.loads(process.stdout[process.stdout.index('{'):])
    changed = sum(stats['changed'] for stats in report['stats'].values())
    evaluated = [(task['task'], result) for play in report['plays'] for task in play['tasks'] for result in task['hosts'].values()]
    ran = [(task, result) for task, result in evaluated if not result.get('skipped')]
    executed = len(docker('exec', gateway, 'cat', COUNTED).splitlines())
    if show_tasks:
        for task, result in ran:
            print('    %6.2f s  %-28s %s' % (seconds(task['duration']), result.get('action'), task['name']))
    return elapsed, changed, executed, len(evaluated)


def seconds(duration):
    start, end = (datetime.datetime.strptime(duration[key].rstrip('Z'), '%Y-%m-%dT%H:%M:%S.%f') for key in ('start', 'end'))
    return (end - start).total_seconds()


def measure(connection, work, site, yardstick, args, env, gateway):
    variables = inventory(args.clients, args.rules, args.ipv4_only, args.backend)
    figures = {}
    figures['Y'] = run(work, yardstick, {}, env, gateway)
    for label, variables in (('first', variables), ('no-op', variables),
                             ('edit', inventory(args.clients, args.rules, args.ipv4_only, args.backend, edited=True)),
                             ('removal', dict(variables, wgsplit_state='absent'))):
        if args.tasks:
            print('  %s, %s run:' % (connection, label))
        figures[label] = run(work, site, variables, env, gateway, show_tasks=args.tasks)
        if label == 'no-op' and figures['no-op'][1] != 0:
            sys.exit('%s: the run that should change nothing changed %d' % (connection, figures['no-op'][1]))
    yard = figures['Y'][0]
    print('%-7s %-8s %7s %7s %8s %7s %6s' % ('', 'run', 'seconds', 'x Y', 'changed', 'modules', 'tasks'))
    for label, target in (('Y', None), ('first', 1.5), ('no-op', 0.5), ('edit', 0.6), ('removal', None)):
        elapsed, changed, executed, tasks = figures[label]
        verdict = '' if target is None else ('  (target %.1f: %s)' % (target, 'met' if elapsed <= target * yard else 'NOT met'))
        row = (connection, label, elapsed, elapsed / yard, changed, executed, tasks, verdict)
        print('%-7s %-8s %7.1f %7.2f %8d %7d %6d%s' % row)
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--clients', type=int, default=100)
    parser.add_argument('--rules', type=int, default=50)
    parser.add_argument('--ipv4-only', action='store_true', help='clients without IPv6 (one set each, not two)')
    parser.add_argument('--connections', default='ssh,docker')
    parser.add_argument('--tasks', action='store_true', help='print the tasks each run executed, with their durations')
    parser.add_argument('--backend', choices=['iptables', 'nftables'], default='iptables')
    args = parser.parse_args()
    subprocess.run(['bash', os.path.join(ROOT, 'tests', 'lab', 'ready.sh')], check=True, stdout=subprocess.DEVNULL)
    name = 'wgsplit-bench-%s' % uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as work:
        key_file = os.path.join(work, 'id_ed25519')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key_file], check=True)
        with open(key_file + '.pub') as handle:
            public_key = handle.read()
        # Laid out as inventories/example is: the clients in group_vars (an `-e @file` of them would be parsed and
        # deep-copied twice by ansible-core, a cost of that option that no run of a real inventory pays).
        os.makedirs(os.path.join(work, 'inventory', 'group_vars', 'wgsplit_gateways'))
        yardstick = os.path.join(work, 'yardstick.yml')
        with open(yardstick, 'w') as out:
            json.dump(YARDSTICK, out)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_TREE, ANSIBLE_PIPELINING='true',
                   ANSIBLE_NOCOLOR='1', ANSIBLE_HOST_KEY_CHECKING='false', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json')
        try:
            address = start_gateway(name, public_key)
            print('converge benchmark: %d clients x %d rules (%s), %d upstreams, %s backend, on a lab gateway container'
                  % (args.clients, args.rules, 'IPv4' if args.ipv4_only else 'IPv4 and IPv6', UPSTREAMS, args.backend))
            for connection in args.connections.split(','):
                with open(os.path.join(work, 'inventory', 'hosts.json'), 'w') as out:
                    json.dump(hosts(connection, name, address, key_file), out)
                measure(connection, work, os.path.join(ROOT, 'playbooks', 'site.yml'), yardstick, args, env, name)
        finally:
            subprocess.run(['docker', 'rm', '-f', name], stdout=subprocess.DEVNULL, check=False)


if __name__ == '__main__':
    main()
