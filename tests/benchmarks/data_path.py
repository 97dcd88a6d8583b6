"""Benchmark: what the collection's routing, classification and byte counting cost a forwarded flow, on real packets.

Three network namespaces (client, gateway, far end) joined by veth pairs; the gateway's link to the client is named
like the server interface (wg0) and masquerades out of its other link, as wg-easy does. Six gateway setups are
measured in the same run, in turns:
  nat              the NAT rule only (the reference);
  routing          the NAT rule and the plan's ip rules and tables (each upstream's mark rule and kill switch, the
                   refusal table), as policy_route adds them: what policy routing itself costs;
  split            the routing, and the plan's chains and sets for N clients x R rules (domain and IP rules), loaded
                   exactly as the modules render them (mangle_mark.render_rules, ipset_set.create_line), byte counting on;
  no-counting      the same with wgsplit_accounting: false;
  nft-split        the routing, and wgsplit_backend: nftables, the plan's table loaded as nft_table writes its boot
                   file, counting on;
  nft-no-counting  the same with wgsplit_accounting: false.
The measured client is the last of the dispatch chain (the longest walk) and goes direct (the namespaces have no
upstream tunnel). Offloads are off on every veth, so each packet crosses the rules as on a real link. Each
measurement has namespaces of its own: once a namespace has had an ip rule of its own, the kernel looks routes up
through its rules (and the local and main tables apart) for good, which a reused namespace would carry into `nat`.
Figures: one TCP flow's throughput (iperf3, 4 s after a first second left out: slow start) and new TCP connections
per second (short connects from Python). Each turn measures every setup once, `nat` first; a setup's share of `nat` is
the median over the turns of its figure against the same turn's `nat` (these machines' speed drifts by 10% and more
within a minute: a ratio of two medians taken apart would carry the drift), printed with its lowest and highest.
Run as root:
    python3 tests/benchmarks/data_path.py [--clients 250] [--rules 10] [--turns 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
from conftest import COLLECTIONS_TREE  # noqa: E402  (this checkout as ansible_collections/wgsplit/gateway)
sys.path.insert(0, COLLECTIONS_TREE)
from ansible_collections.wgsplit.gateway.plugins.module_utils.sets import create_line  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.module_utils.chains import render_rules  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import boot_text  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.module_utils.netstate import ROUTE_PROTOCOL  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.module_utils.routing import added_lines  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan  # noqa: E402

KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='
SERVER = dict(exists=True, addresses=['10.8.0.1/16'], peers=None)
FAR, FAR_PORT = '172.31.0.2', 5201
CONNECT_SERVER = r'''
import socket, sys
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('0.0.0.0', int(sys.argv[1]))); server.listen(1024)
while True:
    server.accept()[0].close()
'''
CONNECT_CLIENT = r'''
import socket, sys, time
end, count = time.monotonic() + float(sys.argv[2]), 0
while time.monotonic() < end:
    connection = socket.create_connection((sys.argv[1], int(sys.argv[3])), 2)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')  # RST: no TIME_WAIT
    connection.close()
    count += 1
print(count / float(sys.argv[2]))
'''


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def netns(name, *argv, **kwargs):
    return run(['ip', 'netns', 'exec', name] + list(argv), **kwargs)


def address(index):
    """Client addresses in 10.8.0.0/16 from .2 on (the plan needs them inside the server interface's network)."""
    number = index + 2
    return '10.8.%d.%d' % (number // 256, number % 256)


def planned(clients, rules, accounting, backend='iptables'):
    upstreams = [dict(name='up%d' % number, id=number, endpoint='192.0.2.%d:51820' % number, public_key=KEY,
                      private_key=KEY, address='10.10.%d.2/32' % number) for number in (1, 2)]
    entries = [dict(name='c%d' % index, address=address(index), upstream='up%d' % (index % 2 + 1),
                    rules=[dict(type='domain', value='site%d-%d.example' % (index, number)) for number in range(rules // 2)] +
                    [dict(type='ip', value='198.18.%d.%d' % (index % 256, number)) for number in range(rules - rules // 2)])
               for index in range(clients)]
    variables = dict(dns_servers=['192.0.2.53'], upstreams=upstreams, clients=entries, accounting=accounting, backend=backend)
    checked = check_inventory(variables, SERVER)
    assert not checked['errors'], checked['errors'][:3]
    result = plan(checked, dict(server=SERVER))
    assert not result['errors'], result['errors'][:3]
    return result


def routing_input(result):
    """The plan's IPv4 ip rules and routes (wg_upstream's tables, split_client's refusal table) as `ip -batch` lines."""
    lines = [line for table in result['routing']['wg_upstream'] + result['routing']['split_client']
             if table['family'] == 'inet' for line in added_lines(table, ROUTE_PROTOCOL)]
    return dict(routing='\n'.join(lines) + '\n')


def table_input(result):
    """The nftables backend: the table as nft_table's boot file loads it, and the routing."""
    table = result['nftables']
    return dict(routing_input(result), nft=boot_text(table['table'], table['sets'], table['definition']))


def restore_inputs(result):
    """The routing, and the ipset restore and iptables-restore texts of the plan's sets and split_client chains (IPv4)."""
    sets = []
    for item in result['sets']:
        if item['family'] != 'inet':
            continue
        definition = dict(type=item['type'], family='inet', maxelem=item['maxelem'], timeout=item.get('timeout'),
                          counters=item.get('counters', False))
        sets.append(create_line(item['name'], definition, None))
        sets += ['add %s %s' % (item['name'], member) for member in item.get('members', [])]
    tables = {}
    for chain in result['chains']['split_client']:
        lines = tables.setdefault(chain['table'], [])
        lines.insert(0, ':%s - [0:0]' % chain['chain'])
        lines += render_rules(chain['chain'], chain['rules'], ['inet']).get('inet', [])
        lines += ['-A %s -j %s' % (parent, chain['chain']) for parent in chain['jump_from']]
    text = ''.join('*%s\n%s\nCOMMIT\n' % (table, '\n'.join(lines)) for table, lines in tables.items())
    return dict(routing_input(result), ipset='\n'.join(sets) + '\n', iptables=text)


class Lab(object):
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.client, self.gateway, self.far = 'dp-c-' + tag, 'dp-g-' + tag, 'dp-f-' + tag
        self.processes = []

    def __enter__(self):
        for name in (self.client, self.gateway, self.far):
            run(['ip', 'netns', 'add', name])
        run(['ip', 'link', 'add', 'dpc0', 'netns', self.client, 'type', 'veth', 'peer', 'name', 'wg0', 'netns', self.gateway])
        run(['ip', 'link', 'add', 'eth0', 'netns', self.gateway, 'type', 'veth', 'peer', 'name', 'dpf0', 'netns', self.far])
        for name, link, cidr in ((self.client, 'dpc0', None), (self.gateway, 'wg0', '10.8.0.1/16'),
                                 (self.gateway, 'eth0', '172.31.0.1/24'), (self.far, 'dpf0', FAR + '/24')):
            if cidr:
                netns(name, 'ip', 'addr', 'add', cidr, 'dev', link)
            netns(name, 'ip', 'link', 'set', link, 'up')
            netns(name, 'ip', 'link', 'set', 'lo', 'up')
            if shutil.which('ethtool'):
                netns(name, 'ethtool', '-K', link, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx', 'off')
        netns(self.gateway, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
        netns(self.far, 'ip', 'route', 'add', 'default', 'via', '172.31.0.1')
        self.processes.append(subprocess.Popen(['ip', 'netns', 'exec', self.far, 'iperf3', '-s', '-p', str(FAR_PORT)],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.processes.append(subprocess.Popen(['ip', 'netns', 'exec', self.far, sys.executable, '-c', CONNECT_SERVER,
                                                str(FAR_PORT + 1)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
        for name in (self.client, self.gateway, self.far):
            subprocess.run(['ip', 'netns', 'delete', name], check=False)

    def use_client(self, client_address):
        netns(self.client, 'ip', 'addr', 'flush', 'dev', 'dpc0')
        netns(self.client, 'ip', 'addr', 'add', client_address + '/16', 'dev', 'dpc0')
        netns(self.client, 'ip', 'route', 'replace', 'default', 'via', '10.8.0.1')

    def configure(self, inputs):
        """The NAT rule, and the collection's routing, sets, chains or table that `inputs` gives."""
        netns(self.gateway, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth0', '-j', 'MASQUERADE')
        if 'routing' in inputs:
            netns(self.gateway, 'ip', '-batch', '-', input=inputs['routing'])
        if 'nft' in inputs:
            netns(self.gateway, 'nft', '-f', '-', input=inputs['nft'])
        if 'iptables' in inputs:
            netns(self.gateway, 'ipset', 'restore', input=inputs['ipset'])
            netns(self.gateway, 'iptables-restore', '--noflush', input=inputs['iptables'])

    def throughput(self, seconds):
        out = netns(self.client, 'iperf3', '-c', FAR, '-p', str(FAR_PORT), '-O', '1', '-t', str(seconds), '-J').stdout
        return json.loads(out)['end']['sum_received']['bits_per_second']

    def connection_rate(self, seconds):
        out = netns(self.client, sys.executable, '-c', CONNECT_CLIENT, FAR, str(seconds), str(FAR_PORT + 1)).stdout
        return float(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--clients', type=int, default=250)
    parser.add_argument('--rules', type=int, default=10)
    parser.add_argument('--turns', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=4)
    args = parser.parse_args()
    if not shutil.which('iperf3'):
        print('data path benchmark skipped: iperf3 is not installed (tests/setup.sh installs it)')
        return
    split = planned(args.clients, args.rules, True)
    setups = [('nat', {}), ('routing', routing_input(split)), ('split', restore_inputs(split)),
              ('no-counting', restore_inputs(planned(args.clients, args.rules, False)))]
    if shutil.which('nft'):
        for name, accounting in (('nft-split', True), ('nft-no-counting', False)):
            setups.append((name, table_input(planned(args.clients, args.rules, accounting, 'nftables'))))
    rules = sum(1 for line in setups[2][1]['iptables'].splitlines() if line.startswith('-A '))
    figures = dict((name, dict(throughput=[], connections=[])) for name, _inputs in setups)
    for _turn in range(args.turns):
        for name, inputs in setups:
            with Lab() as lab:
                lab.use_client(address(args.clients - 1))
                lab.configure(inputs)
                figures[name]['throughput'].append(lab.throughput(args.seconds))
                figures[name]['connections'].append(lab.connection_rate(args.seconds))
    print('data path: one TCP flow and new connections through a gateway with %d clients x %d rules (%d IPv4 rules'
          ' in the collection\'s iptables chains; nftables: verdict maps), the last client, direct; median of %d turns'
          % (args.clients, args.rules, rules, args.turns))
    for name, _inputs in setups:
        throughput = share(figures, name, 'throughput', '%5.2f Gbit/s', 1e9)
        print('  %-16s %s   %s' % (name, throughput, share(figures, name, 'connections', '%6.0f connections/s', 1)))


def share(figures, name, kind, figure_format, unit):
    """'median figure (median share of the same turn's nat, lowest to highest)'."""
    values = figures[name][kind]
    shares = [100.0 * value / reference for value, reference in zip(values, figures['nat'][kind])]
    text = figure_format % (statistics.median(values) / unit)
    return '%s (%5.1f%% of nat, %3.0f to %3.0f%%)' % (text, statistics.median(shares), min(shares), max(shares))


if __name__ == '__main__':
    main()
