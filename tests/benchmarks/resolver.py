"""Benchmark: what domain rules cost the resolver, on the real dnsmasq, with the plan's own configuration files.

Two network namespaces: a client, and a gateway whose WireGuard server interface (wg0, wireguard-go) has the client
as its peer, over a veth pair. The gateway runs the front resolver and its back resolvers exactly as the plan renders
them (split_plan of an inventory of N clients x R domain rules each, one upstream), the client sets, and a stand-in
for the default resolvers that answers every name at once (dnsmasq, address=/#/). dnsperf asks unique names under
the clients' listed domains (every query a cache miss, forwarded and put into a set), 100 outstanding. Three
gateways are measured, in turns:
  one-rule     N clients x 1 domain rule (the reference);
  rules        N clients x R domain rules, the layout the plan chooses (back resolvers per combination);
  one-back     the same rules in a single back resolver (wgsplit_resolver_instances: 1): what one dnsmasq with a
               line per domain costs, as the collection's resolver was before.
Each is asked from two places: from the client through its tunnel (what a client sees: rate, and average latency
against one-rule's), and on the gateway itself (dnsperf in the gateway's namespace, asking the front resolver's
address: no tunnel limits the rate, the resolvers alone saturate the CPU). Figures are the medians of the turns.
With --backend nftables the sets are the nftables backend's table and the back resolvers fill them with nftset= lines.
Run as root:
    python3 tests/benchmarks/resolver.py [--clients 100] [--rules 1000] [--seconds 10] [--turns 3] [--backend nftables]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
from conftest import COLLECTIONS_TREE  # noqa: E402  (this checkout as ansible_collections/wgsplit/gateway)
sys.path.insert(0, COLLECTIONS_TREE)
from ansible_collections.wgsplit.gateway.plugins.module_utils.metrics import parse_nft_sets  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.module_utils.nftables import boot_text  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.module_utils.sets import create_line  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.inventory import check_inventory  # noqa: E402
from ansible_collections.wgsplit.gateway.plugins.plugin_utils.plan import plan  # noqa: E402

KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='
SERVER = dict(exists=True, addresses=['10.8.0.1/16'], peers=None)
DEFAULT_DNS = '192.0.2.53'  # the stand-in default resolver, on the gateway's loopback
UNDERLAY_CLIENT, UNDERLAY_GATEWAY, WG_PORT = '172.30.0.2', '172.30.0.1', 51820
PLACES = ('client', 'gateway')  # dnsperf through the client's tunnel, and on the gateway itself


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def domain(client, number):
    return 'site%d-%d.example' % (number, client)


def planned(clients, rules, instances, backend):
    """The plan's resolver files and sets for clients x rules domain rules, all proxied through one upstream."""
    upstream = dict(name='up1', id=1, endpoint='192.0.2.1:51820', public_key=KEY, private_key=KEY, address='10.10.1.2/32')
    entries = [dict(name='c%d' % index, address='10.8.%d.%d' % ((index + 2) // 256, (index + 2) % 256), upstream='up1',
                    rules=[dict(type='domain', value=domain(index, number)) for number in range(rules)])
               for index in range(clients)]
    variables = dict(dns_servers=[DEFAULT_DNS], upstreams=[upstream], clients=entries, resolver_instances=instances,
                     accounting=False, rule_set_max_entries=10000000, backend=backend)
    checked = check_inventory(variables, SERVER)
    assert not checked['errors'], checked['errors'][:3]
    result = plan(checked, dict(server=SERVER))
    assert not result['errors'], result['errors'][:3]
    sets = [create_line(item['name'], dict(type=item['type'], family=item['family'], maxelem=item['maxelem'],
                                           timeout=item.get('timeout'), counters=False), None)
            for item in result['sets']]
    table = result['nftables']
    return dict(front=result['resolver']['config'], backs=result['resolver']['backs'], sets='\n'.join(sets) + '\n',
                table=table and boot_text(table['table'], table['sets'], table['definition']),
                count=len(table['sets']) if table else len(sets), lines=len(result['resolver']['lines']))


def queries(clients, rules, count):
    """Unique names, spread over every client and rule (round robin), as dnsperf data files' lines: one per place, so
    that what one place asked is not in the front resolver's cache when the other asks."""
    return dict((place, ''.join('%s%d.%s A\n' % (place[0], index, domain(index % clients, (index // clients) % rules))
                                for index in range(count))) for place in PLACES)


class Lab(object):
    def __init__(self, nftables=False):
        self.nftables = nftables
        tag = uuid.uuid4().hex[:6]
        self.client, self.gateway = 'dns-c-' + tag, 'dns-g-' + tag
        self.directory = tempfile.mkdtemp(prefix='wgsplit-resolver-bench-')
        self.processes = []
        self.resolvers = []

    def __enter__(self):
        for name in (self.client, self.gateway):
            run(['ip', 'netns', 'add', name])
            self.netns(name, 'ip', 'link', 'set', 'lo', 'up')
        run(['ip', 'link', 'add', 'dnu0', 'netns', self.client, 'type', 'veth', 'peer', 'name', 'dnu0', 'netns', self.gateway])
        for name, underlay in ((self.client, UNDERLAY_CLIENT), (self.gateway, UNDERLAY_GATEWAY)):
            self.netns(name, 'ip', 'addr', 'add', underlay + '/24', 'dev', 'dnu0')
            self.netns(name, 'ip', 'link', 'set', 'dnu0', 'up')
        client_key, gateway_key = self.key('client'), self.key('gateway')
        gateway_peer = ['listen-port', str(WG_PORT), 'peer', self.public(client_key), 'allowed-ips', '10.8.0.2/32']
        self.tunnel(self.gateway, 'wg0', gateway_key, gateway_peer, '10.8.0.1/16')
        client_peer = ['peer', self.public(gateway_key), 'endpoint', '%s:%d' % (UNDERLAY_GATEWAY, WG_PORT),
                       'allowed-ips', '10.8.0.0/16']
        self.tunnel(self.client, 'dnc0', client_key, client_peer, '10.8.0.2/16')
        self.netns(self.gateway, 'ip', 'addr', 'add', DEFAULT_DNS + '/32', 'dev', 'lo')
        self.processes.append(self.dnsmasq('default.conf', '\n'.join([
            'listen-address=%s' % DEFAULT_DNS, 'bind-interfaces', 'no-resolv', 'no-hosts', 'pid-file=',
            'address=/#/198.51.100.7', 'dns-forward-max=1000']) + '\n'))
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for process in self.processes + self.resolvers:
            process.kill()
        for name in (self.client, self.gateway):
            subprocess.run(['ip', 'netns', 'delete', name], check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def netns(self, name, *argv, **kwargs):
        return run(['ip', 'netns', 'exec', name] + list(argv), **kwargs)

    def key(self, name):
        path = os.path.join(self.directory, name + '.key')
        with open(path, 'w') as handle:
            handle.write(run(['wg', 'genkey']).stdout)
        return path

    def public(self, key_path):
        with open(key_path) as handle:
            return run(['wg', 'pubkey'], input=handle.read()).stdout.strip()

    def tunnel(self, namespace, interface, key_path, settings, cidr):
        """A wireguard-go interface in the namespace (userspace, as on these machines), configured and up."""
        environment = dict(os.environ, WG_PROCESS_FOREGROUND='1')
        self.processes.append(subprocess.Popen(['ip', 'netns', 'exec', namespace, 'wireguard-go', interface], env=environment,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _attempt in range(50):
            if subprocess.run(['ip', 'netns', 'exec', namespace, 'wg', 'show', interface], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, check=False).returncode == 0:
                break
            time.sleep(0.1)
        self.netns(namespace, 'wg', 'set', interface, 'private-key', key_path, *settings)
        self.netns(namespace, 'ip', 'addr', 'add', cidr, 'dev', interface)
        self.netns(namespace, 'ip', 'link', 'set', interface, 'up')

    def dnsmasq(self, file_name, text):
        path = os.path.join(self.directory, file_name)
        with open(path, 'w') as handle:
            handle.write(text + 'user=root\n')  # no privilege drop in a benchmark namespace
        return subprocess.Popen(['ip', 'netns', 'exec', self.gateway, 'dnsmasq', '--keep-in-foreground', '--conf-file=' + path],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def configure(self, setup):
        """The plan's sets, back resolvers and front resolver (those of the previous setup stopped)."""
        for process in self.resolvers:
            process.kill()
            process.wait()
        self.netns(self.gateway, 'ipset', 'destroy')
        subprocess.run(['ip', 'netns', 'exec', self.gateway, 'nft', 'delete', 'table', 'inet', 'wgsplit'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if setup['table']:
            self.netns(self.gateway, 'nft', '-f', '-', input=setup['table'])
        else:
            self.netns(self.gateway, 'ipset', 'restore', input=setup['sets'])
        self.resolvers = [self.dnsmasq('back-%d.conf' % number, back['text'])
                          for number, back in enumerate(setup['backs'], 1)]
        self.resolvers.append(self.dnsmasq('front.conf', setup['front']))
        time.sleep(1 + len(setup['backs']) / 50.0)

    def dnsperf(self, place, data, seconds):
        path = os.path.join(self.directory, 'queries')
        with open(path, 'w') as handle:
            handle.write(data)
        namespace = self.client if place == 'client' else self.gateway
        out = self.netns(namespace, 'dnsperf', '-s', '10.8.0.1', '-d', path, '-l', str(seconds), '-q', '100').stdout
        rate = float(re.search(r'Queries per second:\s+([0-9.]+)', out).group(1))
        latency = float(re.search(r'Average Latency \(s\):\s+([0-9.]+)', out).group(1))
        lost = int(re.search(r'Queries lost:\s+([0-9]+)', out).group(1))
        # Every answer is the same address: a set the resolvers fed holds it.
        if self.nftables:
            listing = self.netns(self.gateway, 'nft', '-j', 'list', 'table', 'inet', 'wgsplit').stdout
            filled = len([item for item in parse_nft_sets(listing).values() if item['entries']])
        else:
            headers = self.netns(self.gateway, 'ipset', 'list', '-t').stdout
            filled = len([count for count in re.findall(r'Number of entries: ([0-9]+)', headers) if count != '0'])
        return rate, latency * 1000, lost, filled


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--clients', type=int, default=100)
    parser.add_argument('--rules', type=int, default=1000)
    parser.add_argument('--seconds', type=float, default=10)
    parser.add_argument('--turns', type=int, default=3)
    parser.add_argument('--backend', choices=['iptables', 'nftables'], default='iptables')
    args = parser.parse_args()
    if not all(shutil.which(tool) for tool in ('dnsperf', 'dnsmasq', 'wireguard-go', 'wg')):
        print('resolver benchmark skipped: dnsperf, dnsmasq, wireguard-go or wg is not installed (tests/setup.sh installs'
              ' them)')
        return
    started = time.monotonic()
    setups = [('one-rule', planned(args.clients, 1, 250, args.backend), queries(args.clients, 1, 2000000)),
              ('rules', planned(args.clients, args.rules, 250, args.backend), queries(args.clients, args.rules, 2000000)),
              ('one-back', planned(args.clients, args.rules, 1, args.backend), queries(args.clients, args.rules, 2000000))]
    print('resolver: %d clients x %d domain rules planned in %.1f s' % (args.clients, args.rules, time.monotonic() - started))
    figures = dict(((name, place), []) for name, _setup, _data in setups for place in PLACES)
    with Lab(args.backend == 'nftables') as lab:
        for _turn in range(args.turns):
            for name, setup, data in setups:
                lab.configure(setup)
                for place in PLACES:
                    figures[name, place].append(lab.dnsperf(place, data[place], args.seconds))
    print('resolver (%s backend): unique names (cache misses) forwarded and put into the client sets, 100 outstanding;'
          ' median of %d turns of %g s' % (args.backend, args.turns, args.seconds))
    for place, title in (('client', 'asked by a client through its WireGuard tunnel'),
                         ('gateway', 'asked on the gateway itself (no tunnel)')):
        print('  %s:' % title)
        reference = statistics.median(turn[0] for turn in figures['one-rule', place])
        reference_latency = statistics.median(turn[1] for turn in figures['one-rule', place])
        for name, setup, _data in setups:
            turns = figures[name, place]
            rate, latency = statistics.median(turn[0] for turn in turns), statistics.median(turn[1] for turn in turns)
            print('    %-9s %7d domain lines, %3d back resolvers: %8.0f queries/s (%5.1f%% of one-rule), average latency'
                  ' %6.2f ms (%+.2f ms), %d lost, client sets filled %d of %d'
                  % (name, setup['lines'], len(setup['backs']), rate, 100 * rate / reference, latency,
                     latency - reference_latency, sum(turn[2] for turn in turns), min(turn[3] for turn in turns),
                     setup['count']))


if __name__ == '__main__':
    main()
