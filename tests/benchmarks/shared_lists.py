"""Benchmark: clients that share rule lists of many networks, applied by the split_client role to the real kernel in
a throwaway network namespace (hundred_clients.py's). Each client references one of the lists, files as users load
them (client N the list N modulo their number); every list holds its own networks (every other /24: none merge). Prints what the
kernel holds (sets, their members, mangle rules or the table's size), how long a first run, a run that changes
nothing and a run that adds one network to a list take, and the kernel memory the first run left in use
(unreclaimable slab, vmalloc and per-CPU memory before and after: roughly, on a quiet machine).
Run as root:
    python3 tests/benchmarks/shared_lists.py [--clients 250] [--lists 3] [--networks 100000] [--backend nftables]
"""
import argparse
import ipaddress
import os
import subprocess
import tempfile

from hundred_clients import KEY, gateway_namespace

FIRST_NETWORK = int(ipaddress.ip_address('11.0.0.0'))


def write_lists(directory, lists, networks, extra=False):
    """List files as users load them (one network a line); list 0 with one more network when `extra`."""
    paths = []
    for number in range(lists):
        lines = ['%s/24' % ipaddress.ip_address(FIRST_NETWORK + (number * networks + index) * 512) for index in range(networks)]
        lines += ['198.18.0.0/24'] if extra and number == 0 else []
        paths.append(os.path.join(directory, 'list%d.txt' % number))
        with open(paths[-1], 'w') as out:
            out.write('\n'.join(lines) + '\n')
    return paths


def inventory(clients, paths, backend):
    return dict(wgsplit_upstreams=[dict(name='u1', id=1, endpoint='192.0.2.1:51820', public_key=KEY, private_key=KEY,
                                        address='10.10.1.2/32')],
                wgsplit_clients=[dict(name='client%04d' % number, upstream='u1', rule_sets=['list%d' % (number % len(paths))],
                                      address=['10.8.%d.%d' % (number // 250, number % 250 + 2), 'fdcc::%x' % (number + 2)])
                                 for number in range(clients)],
                wgsplit_rule_sets=[dict(name='list%d' % number, file=path) for number, path in enumerate(paths)],
                wgsplit_dns_servers=['192.0.2.53'], wgsplit_manage_packages=False, wgsplit_backend=backend)


def output(netns, *argv):
    return subprocess.run(['ip', 'netns', 'exec', netns] + list(argv), check=True, stdout=subprocess.PIPE,
                          text=True).stdout


def kernel_mib():
    """The kernel's unreclaimable slab, vmalloc and per-CPU memory (where sets and rules live), in MiB."""
    with open('/proc/meminfo') as meminfo:
        values = dict((line.split(':')[0], int(line.split()[1])) for line in meminfo)
    return sum(values[key] for key in ('SUnreclaim', 'VmallocUsed', 'Percpu')) / 1024.0


def held(netns, backend):
    """What the kernel holds after the first run, in words."""
    if backend == 'nftables':
        table = output(netns, 'nft', 'list', 'table', 'inet', 'wgsplit')
        return 'table inet wgsplit: %d named sets, %.1f MB listed' % (table.count('\n\tset '), len(table) / 1e6)
    sets = output(netns, 'ipset', 'list', '-t').count('Name: ')
    members = len([line for line in output(netns, 'ipset', 'save').splitlines() if line.startswith('add ')])
    rules = len([line for line in output(netns, 'iptables-save', '-t', 'mangle').splitlines() if line.startswith('-A ')])
    return '%d ipsets holding %d members, %d mangle rules' % (sets, members, rules)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--clients', type=int, default=250)
    parser.add_argument('--lists', type=int, default=3)
    parser.add_argument('--networks', type=int, default=100000, help='networks in each list')
    parser.add_argument('--backend', choices=['iptables', 'nftables'], default='iptables')
    args = parser.parse_args()
    with gateway_namespace() as (netns, apply), tempfile.TemporaryDirectory() as lists:
        paths = write_lists(lists, args.lists, args.networks)
        before = kernel_mib()
        first = apply(inventory(args.clients, paths, args.backend))
        used = kernel_mib() - before
        kernel = held(netns, args.backend)
        second = apply(inventory(args.clients, paths, args.backend))
        write_lists(lists, args.lists, args.networks, extra=True)
        change = apply(inventory(args.clients, paths, args.backend))
        removal = apply(dict(inventory(args.clients, paths, args.backend), wgsplit_state='absent'))
    print('%d clients sharing %d lists of %d networks, backend %s: %s; about %.0f MiB more kernel memory'
          % (args.clients, args.lists, args.networks, args.backend, kernel, used))
    print('%-40s %8s %8s' % ('split_client role run', 'seconds', 'changed'))
    for label, (elapsed, changed, _tasks) in (('first run', first), ('second run (same inventory)', second),
                                              ('one network added to a list', change), ('absent', removal)):
        print('%-40s %8.1f %8s' % (label, elapsed, changed))


if __name__ == '__main__':
    main()
